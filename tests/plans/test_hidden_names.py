"""A professional whose safety requires it is shown to families by their unit, never by name
(`Professional.hide_name_from_family`): in items, history, the history pages and the plan page,
as in the family's access log. The team still sees the name."""

from __future__ import annotations

import pytest

from plan_service.participants.models import Person
from tests import factories
from tests.web.helpers import page_client

pytestmark = pytest.mark.django_db

UNIT = "Itäinen lastensuojelun tiimi"


@pytest.fixture
def setting():
    lead = factories.professional("child_protection_social_worker", unit=UNIT)
    lead.hide_name_from_family = True
    lead.save(update_fields=["hide_name_from_family"])
    lead.user.first_name, lead.user.last_name = "Salla", "Salainen"
    lead.user.save(update_fields=["first_name", "last_name"])
    family = factories.family(children=1, guardians=1)
    plan = factories.plan(lead, family)
    guardian = factories.link(Person.objects.get(family=family, kind="guardian"))
    return lead, guardian, plan


def _write_goal(api, lead, plan):
    created = api.as_user(lead.user).post(
        f"/api/v1/plans/{plan.pk}/goals/",
        {"category": "general", "title": "yhteinen tavoite", "desired_outcome": "o"},
    )
    assert created.status_code == 201, created.content
    return created.json()


def test_a_family_reader_sees_the_unit_and_the_team_sees_the_name(api, setting):
    lead, guardian, plan = setting
    goal = _write_goal(api, lead, plan)
    base = f"/api/v1/plans/{plan.pk}"
    for user, shown, hidden in ((guardian, UNIT, "Salainen"), (lead.user, "Salla Salainen", None)):
        client = api.as_user(user)
        item = client.get(f"{base}/goals/{goal['id']}/").json()
        assert item["created_by"] == shown
        assert item["updated_by"] == shown
        history = client.get(f"{base}/history/").content.decode()
        assert shown in history
        document = client.get(f"{base}/document/").content.decode()  # the read model's
        assert shown in document
        if hidden:
            assert hidden not in history
            assert hidden not in document
            assert hidden not in client.get(f"{base}/goals/").content.decode()
            team = client.get(f"{base}/members/").json()["results"]
            assert UNIT in [m["name"] for m in team]
            assert hidden not in str(team)


def test_the_family_history_pages_name_the_unit(api, setting):
    lead, guardian, plan = setting
    _write_goal(api, lead, plan)
    client = page_client(guardian)
    for tail in ("", "history/", "history/1/", "history/diff/?from=1&to=2"):
        response = client.get(f"/plans/{plan.pk}/{tail}")
        assert response.status_code == 200, tail
        page = response.content.decode()
        assert "Salainen" not in page, tail
    assert UNIT in client.get(f"/plans/{plan.pk}/history/").content.decode()


def test_comments_on_the_family_plan_page_name_the_unit(api, setting):
    lead, guardian, plan = setting
    goal = _write_goal(api, lead, plan)
    said = api.as_user(lead.user).post(
        f"/api/v1/plans/{plan.pk}/comments/",
        {"target_type": "goal", "target_id": goal["id"], "text": "hyvä alku"},
    )
    assert said.status_code == 201, said.content
    family_page = page_client(guardian).get(f"/plans/{plan.pk}/").content.decode()
    assert "hyvä alku" in family_page
    assert "Salainen" not in family_page
    assert UNIT in family_page
    # The same words, answered in place (htmx), name the unit too.
    fragment = page_client(guardian).post(
        f"/plans/{plan.pk}/words/",
        {"target_type": "goal", "target_id": goal["id"], "text": "kiitos", "as": "comment"},
        HTTP_HX_REQUEST="true",
    )
    assert fragment.status_code == 200
    assert "Salainen" not in fragment.content.decode()
    # The team sees the name.
    assert "Salla Salainen" in page_client(lead.user).get(f"/plans/{plan.pk}/").content.decode()


def test_without_a_unit_the_family_pages_name_the_organisation(api, setting):
    """The team list and an action's "who" on the family's plan page follow the same rule as
    everything else (`name_for_family`): the unit, else the organisation, never a blank."""
    lead, guardian, plan = setting
    lead.unit = ""
    lead.save(update_fields=["unit"])
    organisation = lead.organization.name
    action = api.as_user(lead.user).post(
        f"/api/v1/plans/{plan.pk}/actions/",
        {
            "category": "general",
            "description": "tapaaminen",
            "responsible_kind": "member",
            "responsible_user": lead.user.pk,
        },
    )
    assert action.status_code == 201, action.content
    page = page_client(guardian).get(f"/plans/{plan.pk}/").content.decode()
    assert "Salainen" not in page
    assert page.count(organisation) >= 2  # the team list and the action's "who"
    # The team's own page names them.
    team = page_client(lead.user).get(f"/plans/{plan.pk}/team/")
    assert team.status_code == 200
    assert "Salla Salainen" in team.content.decode()


@pytest.mark.parametrize("count", [1, 2, 7, 8, 12])
def test_names_are_looked_up_alike_by_the_compiled_statement_and_the_orm(count):
    """`user_names` compiles its lookup per count of users up to eight, and asks the ORM for
    more: both give each user's name, and a hiding professional's unit or organisation only
    to a family, with users that are not professionals and unknown ids among them (one unknown
    id: 2, 3 and 8 ids compiled, 9 and 13 by the ORM)."""
    from plan_service import prepared
    from plan_service.plans import visibility
    from plan_service.plans.visibility import user_names

    people = []
    for i in range(count):
        if i % 3 == 0:
            pro = factories.professional(unit=UNIT if i % 2 else "")
            pro.hide_name_from_family = True
            pro.save(update_fields=["hide_name_from_family"])
            pro.user.first_name, pro.user.last_name = "Piilo", f"Nimi{i}"
            pro.user.save(update_fields=["first_name", "last_name"])
            people.append((pro.user, UNIT if i % 2 else pro.organization.name))
        else:
            user = factories.user()
            people.append((user, None))
    ids = [u.pk for u, _ in people] + [None, 2_000_000_000]
    compiled = len(ids) - 1 <= visibility._COMPILED_NAMES
    prepared._templates.clear()
    for family in (True, False):
        names = user_names(ids, for_family=family)
        assert set(names) == {u.pk for u, _ in people}
        for user, instead in people:
            expected = user.get_full_name() or user.get_username()
            assert names[user.pk] == (instead if family and instead else expected)
    assert any(k[0] == "user_names" for k in prepared._templates) is compiled
