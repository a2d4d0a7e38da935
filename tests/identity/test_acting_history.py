"""A guardian acting for their child: the history rows of what they change say so, as the
access-log rows do (issue 18: "every request records both who acted and on whose behalf")."""

from __future__ import annotations

import pytest

from plan_service.participants.acting import SESSION_KEY
from plan_service.participants.models import Person
from plan_service.plans import services
from plan_service.plans.models import Comment
from tests import factories
from tests.web.helpers import page_client

pytestmark = pytest.mark.django_db


@pytest.fixture
def family_plan():
    lead = factories.professional()
    family = factories.family(children=2, guardians=1, child_age=9)
    plan = factories.plan(lead, family)
    guardian = factories.link(Person.objects.get(family=family, kind="guardian"))
    services.family_sync(plan=plan, actor=lead.user)
    child = Person.objects.filter(family=family, kind="child").order_by("given_name").first()
    return plan, guardian, child


def _comment(client, plan, text):
    answer = client.post(
        f"/plans/{plan.pk}/words/", {"target_type": "plan", "text": text, "as": "comment"}
    )
    assert answer.status_code == 302
    return Comment.objects.get(plan=plan, text=text)


def test_a_change_made_for_a_child_says_so_in_its_history_row(family_plan):
    plan, guardian, child = family_plan
    client = page_client(guardian)
    session = client.session
    session[SESSION_KEY] = str(child.pk)
    session.save()
    comment = _comment(client, plan, "for my child")
    (row,) = comment.history.all()
    assert row.history_user_id == guardian.pk
    assert row.history_on_behalf_of == child.pk


def test_a_change_made_as_oneself_names_nobody_else(family_plan):
    plan, guardian, _child = family_plan
    comment = _comment(page_client(guardian), plan, "as myself")
    (row,) = comment.history.all()
    assert row.history_on_behalf_of is None


def test_every_history_table_has_the_column():
    from django.apps import apps

    missing = [
        m._meta.label
        for m in apps.get_models()
        if m.__name__.startswith("Historical")
        and m._meta.app_label in ("plans", "participants", "consent", "emergency")
        and not any(f.name == "history_on_behalf_of" for f in m._meta.fields)
    ]
    assert missing == []
