"""The notices page (issues 16 and 19): each person's own notices, marking read, and choosing
which come in the service and by e-mail — over the same services as the API."""

from __future__ import annotations

import pytest

from plan_service.notifications.models import Kind, Notification
from plan_service.notifications.services import Notice, deliver
from plan_service.participants.models import Person
from plan_service.plans import services
from tests import factories
from tests.web.helpers import page_client, text_of

pytestmark = pytest.mark.django_db


@pytest.fixture
def fam():
    lead = factories.professional("child_protection_social_worker")
    family = factories.family(children=1, guardians=1, child_age=8)
    plan = factories.plan(lead, family)
    guardian = factories.link(Person.objects.get(family=family, kind="guardian"))
    services.family_sync(plan=plan, actor=lead.user)
    return {"lead": lead, "plan": plan, "guardian": guardian, "family": family}


def _notify(user, kind=Kind.VERSION_TO_SIGN, plan=None) -> Notification:
    (row,) = deliver([Notice(user.pk, kind, plan.pk if plan else None)])
    return row


def test_the_guardian_sees_their_notices_without_plan_content_and_marks_them_read(fam):
    first = _notify(fam["guardian"], Kind.VERSION_TO_SIGN, fam["plan"])
    second = _notify(fam["guardian"], Kind.CONSENT_ENDING, fam["plan"])
    other = _notify(fam["lead"].user, Kind.COMMENT_ON_MY_ITEM, fam["plan"])
    client = page_client(fam["guardian"])
    page = client.get("/notices/")
    assert page.status_code == 200
    assert page["Cache-Control"] == "no-store"
    text = text_of(page.content)
    assert "A new plan version to sign" in text
    assert "A consent ends soon" in text
    assert "An item of mine" not in text.lower()  # the lead's notice is the lead's alone
    assert fam["family"].name not in text  # a notice names no family, like the e-mail
    assert f'href="/plans/{fam["plan"].pk}/"' in page.content.decode()
    assert client.post("/notices/read/", {"notice": str(first.pk)}).status_code == 302
    first.refresh_from_db()
    second.refresh_from_db()
    assert first.read_at is not None
    assert second.read_at is None
    # Someone else's notice is "not found", and stays unread.
    assert client.post("/notices/read/", {"notice": str(other.pk)}).status_code == 404
    other.refresh_from_db()
    assert other.read_at is None
    assert client.post("/notices/read/").status_code == 302  # all of mine
    assert not Notification.objects.filter(recipient=fam["guardian"], read_at=None).exists()
    other.refresh_from_db()
    assert other.read_at is None


def test_a_plan_the_reader_can_no_longer_open_is_not_linked(fam):
    stranger = factories.professional("school_curator")
    _notify(stranger.user, Kind.MEMBERSHIP_ENDING, fam["plan"])
    page = page_client(stranger.user).get("/notices/").content.decode()
    assert "My place in a care team ends" in text_of(page)
    assert f"/plans/{fam['plan'].pk}/" not in page


def test_choices_made_on_the_page_are_the_apis(fam, api):
    client = page_client(fam["guardian"])
    saved = client.post(
        "/notices/preferences/",
        {
            "in_app": ["version_to_sign", "consent_ending"],
            "email": ["consent_ending"],
            "language": "sv",
        },
    )
    assert saved.status_code == 302
    answer = api.as_user(fam["guardian"]).get("/api/v1/notifications/preferences/").json()
    assert answer == {
        "language": "sv",
        "in_app": ["consent_ending", "version_to_sign"],
        "email": ["consent_ending"],
    }
    refused = client.post("/notices/preferences/", {"in_app": ["nonsense"], "language": "sv"})
    assert refused.status_code == 302
    follow = client.get(refused["Location"])
    assert b'class="msg error"' in follow.content
    again = api.as_user(fam["guardian"]).get("/api/v1/notifications/preferences/").json()
    assert again == answer  # nothing changed


def test_the_api_marks_all_read_and_refuses_bad_preferences(fam, api):
    _notify(fam["guardian"], Kind.VERSION_TO_SIGN, fam["plan"])
    _notify(fam["guardian"], Kind.REVIEW_DUE, fam["plan"])
    guardian = api.as_user(fam["guardian"])
    assert guardian.get("/api/v1/notifications/", {"unread": "true"}).json()["count"] == 2
    assert guardian.post("/api/v1/notifications/read-all/").json() == {"marked": 2}
    assert guardian.get("/api/v1/notifications/", {"unread": "true"}).json()["count"] == 0
    bad = guardian.put(
        "/api/v1/notifications/preferences/",
        {"language": "de", "in_app": [], "email": []},
    )
    assert bad.status_code == 400
    assert bad.json()["errors"][0]["field"] == "language"
    assert guardian.get("/api/v1/notifications/", {"unread": "maybe"}).status_code == 400


@pytest.mark.parametrize("page", ["x", "²", "1" * 5000, "-1"])
def test_a_bad_page_number_is_the_404_page_not_an_error(fam, page):
    client = page_client(fam["guardian"])
    assert client.get("/notices/", {"page": page}).status_code == 404
    plan = fam["plan"].pk
    assert client.get(f"/plans/{plan}/access-log/", {"page": page}).status_code == 404
