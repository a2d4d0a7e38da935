"""A guardian acting for a child (issue 18): signing in the child's name, every write naming
both who acted and on whose behalf, and never seeing more than the child's part of the plan.

The rules (docs/permissions.md "Acting for a child"): acting narrows what the guardian reads to
the items about the whole family or about that child (never what the child hid, never a child
the guardian is barred from), and the family's access log to the rows about that child. A
guardian signs in the name of a child under 12; a child of 12 or more signs themself.
"""

from __future__ import annotations

import pytest
from django.apps import apps
from django.core.exceptions import ValidationError
from django.utils import timezone
from rest_framework.exceptions import ValidationError as DrfValidationError

from plan_service.audit.models import AccessEvent
from plan_service.participants.acting import reset_acting_for, set_acting_for
from plan_service.participants.models import Person
from plan_service.plans import services
from plan_service.plans.models import Acknowledgement, Comment, Need
from tests import factories
from tests.conftest import Api
from tests.web.helpers import page_client, text_of

pytestmark = pytest.mark.django_db


@pytest.fixture
def family():
    """A 13-year-old and a 9-year-old, one guardian with an account, a need about each."""
    lead = factories.professional()
    fam = factories.family(children=1, guardians=1, child_age=13)
    older = Person.objects.get(family=fam, kind="child")
    guardian_person = Person.objects.get(family=fam, kind="guardian")
    younger = Person.objects.create(
        family=fam,
        kind="child",
        given_name="Young",
        family_name=fam.name,
        identity_code=factories.identity_code(9),
    )
    younger.guardianships.create(guardian=guardian_person)
    plan = factories.plan(lead, fam)
    guardian = factories.link(guardian_person)
    needs = {
        name: services.item_create(
            actor=lead.user,
            plan_id=plan.pk,
            model=Need,
            data={"category": "general", "title": f"about {name}", "concerns": [child.pk]},
        )
        for name, child in (("older", older), ("younger", younger))
    }
    return {
        "lead": lead,
        "plan": plan,
        "guardian": guardian,
        "guardian_person": guardian_person,
        "older": older,
        "younger": younger,
        "needs": needs,
    }


def _version(client: Api, plan) -> int:
    answer = client.get(f"/api/v1/plans/{plan.pk}/")
    assert answer.status_code == 200
    return answer.json()["version"]


def _rows_of(response) -> list[AccessEvent]:
    return list(AccessEvent.objects.filter(request_id=response["X-Request-Id"]))


def test_signing_for_a_child_under_12_is_the_guardians_act_in_the_childs_name(family):
    plan, guardian, younger = family["plan"], family["guardian"], family["younger"]
    client = Api(guardian, acting_for=younger.pk)
    answer = client.post(
        f"/api/v1/plans/{plan.pk}/acknowledgements/",
        {"version": _version(client, plan), "decision": "agree"},
    )
    assert answer.status_code == 201, answer.content
    ack = Acknowledgement.objects.get(pk=answer.json()["id"])
    # Who signed: the guardian (their person and account); in whose name: the child.
    assert ack.created_by_id == guardian.pk
    assert ack.person_id == family["guardian_person"].pk
    assert [str(c) for c in ack.concerns] == [str(younger.pk)]
    rows = _rows_of(answer)
    assert rows
    assert {(r.actor_user_id, r.on_behalf_of_id) for r in rows} == {(guardian.pk, younger.pk)}
    assert any(r.action == "create" and r.object_type == "acknowledgement" for r in rows)
    (history,) = ack.history.all()
    assert (history.history_user_id, history.history_on_behalf_of) == (guardian.pk, younger.pk)
    # The signature is in the child's part of the plan: the guardian acting for the older child
    # does not see it; acting for the younger (or as themselves) they do.
    listed = Api(guardian, acting_for=family["older"].pk).get(
        f"/api/v1/plans/{plan.pk}/acknowledgements/"
    )
    assert str(ack.pk) not in {r["id"] for r in listed.json()["results"]}
    listed = client.get(f"/api/v1/plans/{plan.pk}/acknowledgements/")
    assert str(ack.pk) in {r["id"] for r in listed.json()["results"]}


def test_a_child_of_12_or_more_signs_themself_not_the_guardian_in_their_name(family):
    plan, guardian, older = family["plan"], family["guardian"], family["older"]
    client = Api(guardian, acting_for=older.pk)
    answer = client.post(
        f"/api/v1/plans/{plan.pk}/acknowledgements/",
        {"version": _version(client, plan), "decision": "agree"},
    )
    assert answer.status_code == 403, answer.content
    assert not Acknowledgement.objects.filter(plan=plan).exists()
    # As themselves the guardian signs (their own signature, about nobody in particular).
    own = Api(guardian)
    answer = own.post(
        f"/api/v1/plans/{plan.pk}/acknowledgements/",
        {"version": _version(own, plan), "decision": "disagree"},
    )
    assert answer.status_code == 201
    ack = Acknowledgement.objects.get(plan=plan)
    assert ack.concerns == []
    assert ack.history.get().history_on_behalf_of is None


def test_the_plan_page_signs_for_a_young_child_and_says_an_older_one_signs_themself(family):
    plan, guardian = family["plan"], family["guardian"]
    sign_url = f"/plans/{plan.pk}/sign/"

    def acting(child):
        client = page_client(guardian)
        session = client.session
        session["acting_for"] = str(child.pk)
        session.save()
        return client

    young = acting(family["younger"])
    page = young.get(f"/plans/{plan.pk}/")
    assert page.status_code == 200
    assert f'action="{sign_url}"'.encode() in page.content
    seen = page.context["sign_form"]["seen"].value()
    done = young.post(sign_url, {"decision": "agree", "comment": "", "seen": seen})
    assert done.status_code == 302
    ack = Acknowledgement.objects.get(plan=plan)
    assert [str(c) for c in ack.concerns] == [str(family["younger"].pk)]
    assert ack.history.get().history_on_behalf_of == family["younger"].pk
    again = young.get(f"/plans/{plan.pk}/")
    assert "You last signed the plan on" in text_of(again.content)

    older = acting(family["older"])
    page = older.get(f"/plans/{plan.pk}/")
    assert f'action="{sign_url}"'.encode() not in page.content
    assert "A child aged 12 or over signs the plan themself." in text_of(page.content)
    # The signature made for the younger child is not the older one's.
    assert "You last signed the plan on" not in text_of(page.content)
    seen = page.context["sign_form"]["seen"].value()  # what the older child's part shows
    refused = older.post(sign_url, {"decision": "agree", "comment": "", "seen": seen})
    assert refused.status_code == 403
    assert Acknowledgement.objects.filter(plan=plan).count() == 1


def test_every_write_while_acting_names_who_acted_and_for_whom(family):
    """A sweep of the family's writes through the API while acting for the younger child: every
    access-log row of each request and every history row written carries both."""
    plan, guardian, younger = family["plan"], family["guardian"], family["younger"]
    client = Api(guardian, acting_for=younger.pk)  # signing in is not a request while acting
    start = timezone.now()
    base = f"/api/v1/plans/{plan.pk}"
    need = family["needs"]["younger"]
    answers = []

    def write(method: str, url: str, data=None, **headers):
        answer = client.request(method, url, data, **headers)
        assert answer.status_code in (200, 201, 204), (method, url, answer.content)
        answers.append((method, url, answer))
        return answer

    comment = write("POST", f"{base}/comments/", {"target_type": "plan", "text": "ours"}).json()
    changed = write(
        "PATCH",
        f"{base}/comments/{comment['id']}/",
        {"text": "ours, changed"},
        HTTP_IF_MATCH=f'W/"{comment["version"]}"',
    ).json()
    write(
        "POST",
        f"{base}/dissents/",
        {"target_type": "need", "target_id": str(need.pk), "text": "we disagree"},
    )
    write(
        "POST",
        f"{base}/comments/",
        {"target_type": "need", "target_id": str(need.pk), "text": "about the need"},
    )
    write("DELETE", f"{base}/comments/{comment['id']}/", HTTP_IF_MATCH=f'W/"{changed["version"]}"')
    write(
        "POST",
        f"{base}/acknowledgements/",
        {"version": _version(client, plan), "decision": "agree"},
    )
    consent = write(
        "POST",
        "/api/v1/consents/",
        {
            "family": str(plan.family_id),
            "grantor": str(family["guardian_person"].pk),
            "subjects": [str(younger.pk)],
            "categories": ["general"],
            "purpose": "school",
            "recipient_sector": "education",
            "method_detail": "service",
        },
    ).json()
    write("POST", f"/api/v1/consents/{consent['id']}/withdraw/", {"reason": "changed my mind"})

    for method, url, answer in answers:
        rows = _rows_of(answer)
        assert rows, f"{method} {url} wrote no access-log row"
        assert {(r.actor_user_id, r.on_behalf_of_id) for r in rows} == {
            (guardian.pk, younger.pk)
        }, f"{method} {url}"
    history = [
        row
        for model in apps.get_models()
        if model.__name__.startswith("Historical") and hasattr(model, "history_on_behalf_of")
        for row in model.objects.filter(history_user_id=guardian.pk, history_date__gte=start)
    ]
    touched = {type(row).__name__ for row in history}
    assert {"HistoricalComment", "HistoricalDissent", "HistoricalAcknowledgement"} <= touched
    assert "HistoricalConsent" in touched
    assert [r for r in history if r.history_on_behalf_of != younger.pk] == []


def test_acting_shows_only_the_childs_part_of_the_plan_and_of_the_family_log(family):
    plan, guardian, lead = family["plan"], family["guardian"], family["lead"]
    older_need = family["needs"]["older"]
    read = Api(lead.user).get(f"/api/v1/plans/{plan.pk}/needs/{older_need.pk}/")
    assert read.status_code == 200
    log = f"/api/v1/plans/{plan.pk}/access-log/?page_size=200"

    def subjects(client: Api) -> set[str | None]:
        answer = client.get(log)
        assert answer.status_code == 200
        return {row["subject"] for row in answer.json()["results"]}

    # As themselves the guardian sees the lead's read of the older child's need.
    assert str(family["older"].pk) in subjects(Api(guardian))
    acting = Api(guardian, acting_for=family["younger"].pk)
    seen = subjects(acting)
    assert str(family["older"].pk) not in seen
    assert seen <= {str(family["younger"].pk), None}
    needs = acting.get(f"/api/v1/plans/{plan.pk}/needs/").json()["results"]
    assert [n["title"] for n in needs] == ["about younger"]
    assert acting.get(f"/api/v1/plans/{plan.pk}/needs/{older_need.pk}/").status_code == 404


def test_what_is_written_while_acting_names_only_that_child(family):
    """The services refuse to name another child in `concerns` while acting (the API does not
    let the family name children at all; pages and commands call the services)."""
    plan, guardian = family["plan"], family["guardian"]
    token = set_acting_for(guardian.pk, family["younger"].pk)
    try:
        with pytest.raises((ValidationError, DrfValidationError)):
            services.item_create(
                actor=guardian,
                plan_id=plan.pk,
                model=Comment,
                data={"target_type": "plan", "text": "x", "concerns": [family["older"].pk]},
            )
        made = services.item_create(
            actor=guardian,
            plan_id=plan.pk,
            model=Comment,
            data={"target_type": "plan", "text": "y", "concerns": [family["younger"].pk]},
        )
    finally:
        reset_acting_for(token)
    assert made.history.get().history_on_behalf_of == family["younger"].pk


def test_a_guardian_names_no_child_a_custody_decision_bars_them_from(family):
    plan, guardian = family["plan"], family["guardian"]
    family["older"].guardianships.filter(guardian=family["guardian_person"]).update(
        excluded_by_custody_decision=True
    )
    with pytest.raises((ValidationError, DrfValidationError)):
        services.item_create(
            actor=guardian,
            plan_id=plan.pk,
            model=Comment,
            data={"target_type": "plan", "text": "x", "concerns": [family["older"].pk]},
        )
