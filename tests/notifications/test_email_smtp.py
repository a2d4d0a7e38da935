"""Notice e-mails through Django's SMTP backend to a real SMTP server on loopback (aiosmtpd).

The demo region is built (its events queue e-mails), every demo account gets an address and a
language (fi, sv, en in turn), and the queued e-mail jobs are run. Each message must be in its
recipient's language, carry the link, and contain no plan text: the messages are scanned for
every title, description, note, comment and summary of the demo.
"""

from __future__ import annotations

import email
import io
import json
import socket
from email.policy import default as default_policy
from typing import Any

import pytest
from aiosmtpd.controller import Controller
from django.contrib.auth import get_user_model
from django.core.management import call_command
from django.db import connection

from plan_service.notifications import services
from plan_service.notifications.models import Preference
from plan_service.plans.models import Action, Comment, Dissent, Goal, Need, Plan, Review

pytestmark = pytest.mark.django_db

SUBJECTS = {
    "fi": "Uutta perhesuunnitelmapalvelussa",
    "sv": "Nytt i familjeplanstjänsten",
    "en": "Something new in the family plan service",
}


class Sink:
    def __init__(self) -> None:
        self.messages: list[tuple[list[str], bytes]] = []

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:  # noqa: N802
        self.messages.append((list(envelope.rcpt_tos), envelope.content))
        return "250 OK"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def smtp(settings) -> Any:
    sink = Sink()
    controller = Controller(sink, hostname="127.0.0.1", port=_free_port())
    controller.start()
    settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
    settings.EMAIL_HOST = "127.0.0.1"
    settings.EMAIL_PORT = controller.port
    settings.EMAIL_USE_TLS = False
    settings.SITE_URL = "https://perhesuunnitelma.example.fi"
    yield sink
    controller.stop()


def _last_job() -> int:
    with connection.cursor() as cursor:
        cursor.execute("SELECT coalesce(max(id), 0) FROM procrastinate_jobs")
        return cursor.fetchone()[0]


def _queued_emails(after: int = 0) -> list[dict[str, Any]]:
    """E-mail jobs queued since job `after` (tests with a worker leave committed jobs behind)."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT args FROM procrastinate_jobs WHERE task_name = 'send_notification_email'"
            " AND status = 'todo' AND id > %s ORDER BY id",
            [after],
        )
        return [json.loads(r[0]) if isinstance(r[0], str) else r[0] for r in cursor.fetchall()]


def _plan_texts() -> set[str]:
    texts: set[str] = set()
    for model, fields in (
        (Need, ["title", "description"]),
        (Goal, ["title", "desired_outcome", "evidence"]),
        (Action, ["description"]),
        (Review, ["notes"]),
        (Comment, ["text"]),
        (Dissent, ["text"]),
        (Plan, ["summary"]),
    ):
        for row in model.objects.values_list(*fields):
            texts |= {t.strip() for t in row if t and len(t.strip()) >= 4}
    return texts


def test_notice_emails_reach_smtp_in_each_language_without_plan_text(smtp) -> None:
    start = _last_job()
    call_command("seed_demo", stdout=io.StringIO())
    users = list(get_user_model().objects.order_by("username"))
    languages = {}
    for i, user in enumerate(users):
        user.email = f"{user.username}@example.org"
        user.save(update_fields=["email"])
        languages[user.email] = ("fi", "sv", "en")[i % 3]
        Preference.objects.create(user=user, language=languages[user.email])
    jobs = _queued_emails(start)
    assert len(jobs) >= 10  # the demo's events queued e-mails
    for args in jobs:
        services.send_email(**args)
    assert len(smtp.messages) == len(jobs)
    titles = _plan_texts()
    assert len(titles) > 20
    seen_languages = set()
    for recipients, raw in smtp.messages:
        message = email.message_from_bytes(raw, policy=default_policy)
        language = languages[recipients[0]]
        seen_languages.add(language)
        assert message["Subject"] == SUBJECTS[language]
        body = message.get_body().get_content()
        assert "https://perhesuunnitelma.example.fi/notices/" in body
        text = f"{message['Subject']}\n{body}"
        leaked = [t for t in titles if t in text]
        assert leaked == [], f"plan text in an e-mail: {leaked}"
    assert seen_languages == {"fi", "sv", "en"}


def test_no_email_for_a_kind_the_person_turned_off(smtp) -> None:
    from tests import factories

    lead = factories.professional()
    fam = factories.family()
    plan = factories.plan(lead, fam)
    guardian = factories.link(fam.members.get(kind="guardian"))
    guardian.email = "g@example.org"
    guardian.save()
    Preference.objects.create(user=guardian, language="sv", in_app=["version_to_sign"], email=[])
    before = len(_queued_emails())
    from plan_service.plans import services as plans

    plans.item_create(
        actor=lead.user, plan_id=plan.pk, model=Need, data={"category": "general", "title": "T"}
    )
    assert len(_queued_emails()) == before  # in the service only
    assert guardian.notifications.filter(kind="version_to_sign").count() == 1
