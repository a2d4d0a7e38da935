"""Noninterference (issue 11): two worlds that differ only in what a reader may not see look
the same to that reader, on every GET route of the permission matrix.

World A is the permission-matrix world (tests/harness/world.py) plus a member on a consent
basis and a general goal linked to a child-protection need. World B is A plus changes of one
kind the reader may not see, made through the services as their authors would make them. The
harness (tests/harness/differential.py) replays every GET route, with its page, filter and
version variants, as the reader in both worlds and compares status, ETag and body.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import pytest
import time_machine
from django.db import transaction
from django.utils import timezone
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from plan_service.consent.services import consent_create
from plan_service.participants import assessments
from plan_service.plans import services
from plan_service.plans.models import Comment, Goal, Need, Reason
from tests import factories
from tests.conftest import Api
from tests.harness.differential import (
    GET_ENDPOINTS,
    Seen,
    first_difference,
    normalise,
    observe,
    rename_ids,
)
from tests.harness.world import World, build_world
from tests.test_endpoint_coverage import routed_pairs

pytestmark = pytest.mark.django_db


@pytest.fixture(scope="module")
def world(django_db_setup: None, django_db_blocker: Any) -> Iterator[World]:
    """The matrix world plus what the scenarios need; built once, never committed."""
    with django_db_blocker.unblock():
        outer = transaction.atomic()
        outer.__enter__()
        try:
            w = build_world()
            _extend(w)
            yield w
        finally:
            transaction.set_rollback(True)
            outer.__exit__(None, None, None)


def _extend(w: World) -> None:
    lead, plan = w.users["lead"], w.sides["own"].plan
    family = plan.family
    counsellor = factories.professional("social_counsellor", w.pros["lead"].organization)
    consent = consent_create(
        actor=w.users["guardian"],
        family=family,
        grantor_id=None,
        subject_ids=[w.child_person.pk],
        categories=["general"],
        purpose="differential",
        recipient_sector="social",
    )
    services.membership_add(
        actor=lead,
        plan_id=plan.pk,
        professional=counsellor,
        role="member",
        basis="consent",
        consent_id=consent.pk,
    )
    w.users["consent"] = counsellor.user
    w.pros["consent"] = counsellor
    hidden_need = services.item_create(
        actor=lead,
        plan_id=plan.pk,
        model=Need,
        data={"category": "social", "title": "huostaanoton arviointi"},
    )
    linked = services.item_create(
        actor=lead,
        plan_id=plan.pk,
        model=Goal,
        data={
            "category": "general",
            "title": "linked goal",
            "desired_outcome": "o",
            "need": hidden_need.pk,
        },
    )
    w.sides["own"].items[("hidden-need", "social")] = hidden_need
    w.sides["own"].items[("linked-goal", "general")] = linked


#
# Hidden changes, one kind each
#


def _plan(w: World) -> Any:
    return w.sides["own"].plan.pk


def _create(w: World, who: str, model: Any, **data: Any) -> Any:
    return services.item_create(actor=w.users[who], plan_id=_plan(w), model=model, data=data)


def child_protection(w: World) -> None:
    """The lead's child-protection work: a new need with a goal and a comment, a reason in
    words, a change and a removal of existing child-protection items, and the removal of a
    child-protection need that a general goal the curator sees was linked to."""
    lead = w.users["lead"]
    need = services.item_create(
        actor=lead,
        plan_id=_plan(w),
        model=Need,
        data={"category": "social", "title": "lastensuojeluilmoitus"},
        reason=Reason(code="new_information", text="lastensuojeluilmoitus tehty"),
    )
    goal = _create(w, "lead", Goal, category="social", title="sijoitus", desired_outcome="o")
    _create(w, "lead", Comment, target_type="goal", target_id=goal.pk, text="salainen")
    social = w.sides["own"].items
    services.item_update(
        actor=lead,
        plan_id=_plan(w),
        model=Need,
        item_id=social[("needs", "social")].pk,
        expected_version=None,
        data={"title": "muutettu"},
        reason="kiireellinen",
    )
    services.item_delete(
        actor=lead,
        plan_id=_plan(w),
        model=Comment,
        item_id=social[("comments", "social")].pk,
        expected_version=None,
    )
    services.item_delete(
        actor=lead,
        plan_id=_plan(w),
        model=Need,
        item_id=social[("hidden-need", "social")].pk,
        expected_version=None,
    )
    services.item_update(
        actor=lead,
        plan_id=_plan(w),
        model=Goal,
        item_id=social[("linked-goal", "general")].pk,
        expected_version=None,
        data={"need": need.pk},
    )


def restricted_item(w: World) -> None:
    """A mature minor's hidden item with comments before and after hiding, and an edit."""
    lead = w.users["lead"]
    assessments.assessment_record(actor=lead, plan_id=_plan(w), child_id=w.child_person.pk, code=3)
    need = _create(w, "lead", Need, category="general", title="yksityinen asia")
    _create(w, "lead", Comment, target_type="need", target_id=need.pk, text="ennen")
    services.item_restrict(
        actor=lead,
        plan_id=_plan(w),
        model=Need,
        item_id=need.pk,
        child_id=w.child_person.pk,
        expected_version=None,
    )
    _create(w, "health", Comment, target_type="need", target_id=need.pk, text="jälkeen")
    services.item_update(
        actor=lead,
        plan_id=_plan(w),
        model=Need,
        item_id=need.pk,
        expected_version=None,
        data={"description": "lisätieto"},
    )


def assessment(w: World) -> None:
    """A maturity assessment (never shown to the guardians)."""
    assessments.assessment_record(
        actor=w.users["health"], plan_id=_plan(w), child_id=w.child_person.pk, code=1
    )


def non_consented(w: World) -> None:
    """Health and child-protection items: outside what the consent covers."""
    need = _create(w, "health", Need, category="health", title="lääkitys")
    _create(w, "health", Comment, target_type="need", target_id=need.pk, text="annostus")
    services.item_update(
        actor=w.users["health"],
        plan_id=_plan(w),
        model=Need,
        item_id=need.pk,
        expected_version=None,
        data={"title": "lääkitys muutettu"},
    )
    _create(w, "lead", Need, category="social", title="arvio")


def after_the_end(w: World) -> None:
    """Anything after a membership ended: items, the plan, the team, the family's words."""
    lead = w.users["lead"]
    need = _create(w, "lead", Need, category="general", title="uusi tarve")
    _create(w, "guardian", Comment, target_type="need", target_id=need.pk, text="kiitos")
    services.plan_update(
        actor=lead, plan_id=_plan(w), expected_version=None, data={"summary": "uusi tilanne"}
    )
    factories.add_member(w.sides["own"].plan, w.pros["lead"], w.joiner)


def health_for_the_lead(w: World) -> None:
    """The nurse's health work, which a child-protection lead does not read."""
    need = _create(w, "health", Need, category="health", title="neuvolakäynti")
    goal = _create(w, "health", Goal, category="health", title="uni", desired_outcome="o")
    _create(w, "health", Comment, target_type="goal", target_id=goal.pk, text="seuranta")
    services.item_delete(
        actor=w.users["health"],
        plan_id=_plan(w),
        model=Need,
        item_id=need.pk,
        expected_version=None,
    )


def _about(w: World, key: str, text: str) -> None:
    """The lead's work about one child: a new need about them with a comment, a change to the
    existing need about them, and a read of it (a row about that child in the family's log)."""
    lead = w.users["lead"]
    child = w.children[key]
    need = _create(w, "lead", Need, category="general", title=text, concerns=[child.pk])
    _create(w, "lead", Comment, target_type="need", target_id=need.pk, text=f"{text}: kommentti")
    existing = w.sides["own"].about[("needs", key)]
    services.item_update(
        actor=lead,
        plan_id=_plan(w),
        model=Need,
        item_id=existing.pk,
        expected_version=None,
        data={"description": f"{text}: lisätieto"},
        reason=f"{text}: syy",
    )
    assert Api(lead).get(f"/api/v1/plans/{_plan(w)}/needs/{existing.pk}/").status_code == 200


def about_the_siblings(w: World) -> None:
    """Work about the 13-year-old's siblings (the 9-year-old and the child under a marking),
    which a guardian acting for the 13-year-old may not see; and what the 13-year-old hid."""
    _about(w, "young", "nuoremman asia")
    _about(w, "marked", "turvakiellon alaisen asia")
    restricted_item(w)


def about_the_older_child(w: World) -> None:
    """Work about the 13-year-old, which a guardian acting for the 9-year-old may not see."""
    _about(w, "child", "vanhemman asia")


def about_the_barred_child(w: World) -> None:
    """Work about the child a custody decision bars the guardian from: acting for them is
    refused, and as themselves the guardian sees none of it."""
    _about(w, "barred", "rajatun asia")


@dataclass(frozen=True)
class Scenario:
    reader: str
    change: Callable[[World], None]
    witness: str  # someone who does see the change (so the comparison is not vacuous)

    @property
    def name(self) -> str:
        return f"{self.reader}-{self.change.__name__}"


SCENARIOS = [
    Scenario("curator", child_protection, witness="lead"),
    Scenario("guardian", restricted_item, witness="child"),
    Scenario("guardian", assessment, witness="lead"),
    Scenario("consent", non_consented, witness="health"),
    Scenario("ended", after_the_end, witness="guardian"),
    Scenario("lead", health_for_the_lead, witness="health"),
    # A guardian acting for each child (issue 18): the rest of the family's plan is hidden.
    Scenario("for-child", about_the_siblings, witness="guardian"),
    Scenario("for-young", about_the_older_child, witness="guardian"),
    Scenario("for-barred", about_the_barred_child, witness="child"),
    Scenario("for-marked", restricted_item, witness="child"),
]


Timed = list[tuple[dt.datetime, Callable[[World], None]]]


def in_world(
    w: World, reader: str, changes: Timed, at: Any, *, extra: bool = True, witness: str = ""
) -> tuple[list[Seen], str]:
    """Make `changes` (each at its moment), replay as `reader` at `at`, then undo it all.

    With `witness`, also return what that user reads of the plan and its history."""
    savepoint = transaction.savepoint()
    try:
        for moment, change in changes:
            with time_machine.travel(moment, tick=False):
                change(w)
        with time_machine.travel(at, tick=True):
            seen = observe(w, w.user(reader), at, extra=extra, acting_for=w.acting_for(reader))
            testimony = ""
            if witness:
                client = Api(w.users[witness])
                base = f"/api/v1/plans/{_plan(w)}/"
                testimony = "".join(
                    client.get(url).content.decode()
                    for url in (base, f"{base}history/", f"{base}access-log/")
                )
            return seen, testimony
    finally:
        transaction.savepoint_rollback(savepoint)


@pytest.mark.parametrize("scenario", SCENARIOS, ids=lambda s: s.name)
def test_the_reader_cannot_tell_the_worlds_apart(world, scenario):
    start = timezone.now()
    hidden = start + dt.timedelta(minutes=30)
    at = start + dt.timedelta(hours=1)
    a, seen_a = in_world(world, scenario.reader, [], at, witness=scenario.witness)
    b, seen_b = in_world(
        world, scenario.reader, [(hidden, scenario.change)], at, witness=scenario.witness
    )
    assert a == b, first_difference(a, b)
    # Not vacuous: someone who may see the change does see a difference.
    assert normalise(seen_a, at) != normalise(seen_b, at), scenario.witness


#
# Coverage: every GET route is replayed, and answers someone with data
#

#: GET routes no harness reader gets data from, and why that is right.
NOT_FOR_READERS = {
    "audit-access-log-list": "auditors only: they see logs, never plan content",
    "audit-disclosures-list": "auditors only",
    "audit-access-log-export-csv": "auditors only",
    "audit-access-log-export-fhir": "auditors only",
    "audit-disclosures-export-csv": "auditors only",
    "audit-verify-list": "auditors only",
    "audit-disclosures-export-fhir": "auditors only",
    "audit-emergency-access-list": "auditors only (the review queue of emergency openings)",
    "jobs-detail": "a person's own background jobs; the worlds start none (tests/jobs)",
    "client-plans-list": "machine clients only (tests/clients, noninterference there too)",
    "client-plans-fhir": "machine clients only (tests/clients, noninterference there too)",
}


def test_every_get_route_is_replayed():
    routed = {route for route, method in routed_pairs() if method == "GET"}
    replayed = {ep.route for ep in GET_ENDPOINTS}
    assert routed - replayed == set(), "GET routes the differential harness does not replay"


def test_every_replayed_route_shows_data_to_some_reader(world):
    """Each GET route answers one of the harness's readers with data (else its comparison
    would only ever compare refusals)."""
    start = timezone.now() + dt.timedelta(hours=1)
    answered: set[str] = set()
    for reader in ("lead", "guardian"):
        seen, _ = in_world(world, reader, [], start, extra=False)
        answered |= {s.request.split(" ", 1)[0] for s in seen if s.status == 200}
    silent = {ep.route for ep in GET_ENDPOINTS} - answered - set(NOT_FOR_READERS)
    assert silent == set(), "routes no reader of the harness gets data from"


#
# The same property over random sequences of visible and hidden writes
#


def _visible_ops(w: World) -> list[Callable[[World], None]]:
    general = w.sides["own"].items

    def add_need(w: World) -> None:
        _create(w, "lead", Need, category="general", title="yhteinen")

    def edit_goal(w: World) -> None:
        services.item_update(
            actor=w.users["lead"],
            plan_id=_plan(w),
            model=Goal,
            item_id=general[("goals", "general")].pk,
            expected_version=None,
            data={"evidence": f"näyttö {timezone.now().isoformat()}"},
        )

    def family_comment(w: World) -> None:
        _create(
            w,
            "guardian",
            Comment,
            target_type="goal",
            target_id=general[("goals", "general")].pk,
            text="perheen kommentti",
        )

    def summary(w: World) -> None:
        services.plan_update(
            actor=w.users["lead"],
            plan_id=_plan(w),
            expected_version=None,
            data={"summary": f"tilanne {timezone.now().isoformat()}"},
        )

    return [add_need, edit_goal, family_comment, summary]


def _hidden_ops(w: World) -> list[Callable[[World], None]]:
    social = w.sides["own"].items

    def add_social(w: World) -> None:
        _create(w, "lead", Need, category="social", title="salainen tarve")

    def edit_social(w: World) -> None:
        services.item_update(
            actor=w.users["lead"],
            plan_id=_plan(w),
            model=Goal,
            item_id=social[("goals", "social")].pk,
            expected_version=None,
            data={"evidence": "salainen näyttö"},
            reason="salainen syy",
        )

    def relink(w: World) -> None:
        need = _create(w, "lead", Need, category="social", title="toinen salainen")
        services.item_update(
            actor=w.users["lead"],
            plan_id=_plan(w),
            model=Goal,
            item_id=social[("linked-goal", "general")].pk,
            expected_version=None,
            data={"need": need.pk},
        )

    def add_and_remove(w: World) -> None:
        need = _create(w, "lead", Need, category="social", title="väliaikainen")
        services.item_delete(
            actor=w.users["lead"],
            plan_id=_plan(w),
            model=Need,
            item_id=need.pk,
            expected_version=None,
            reason="virhe",
        )

    return [add_social, edit_social, relink, add_and_remove]


OPS = st.lists(
    st.tuples(st.booleans(), st.integers(min_value=0, max_value=3)), min_size=1, max_size=6
)


@settings(
    max_examples=2,
    deadline=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(ops=OPS)
@example(ops=[(True, 0), (False, 0), (True, 2), (False, 1), (True, 3), (True, 1), (False, 2)])
def test_random_visible_and_hidden_writes_leave_no_trace_for_the_curator(world, ops):
    start = timezone.now()
    visible, hidden = _visible_ops(world), _hidden_ops(world)
    timed = [
        (start + dt.timedelta(minutes=i + 1), (hidden if secret else visible)[n], secret)
        for i, (secret, n) in enumerate(ops)
    ]
    at = start + dt.timedelta(hours=1)
    a, _ = in_world(world, "curator", [(t, op) for t, op, secret in timed if not secret], at)
    b, _ = in_world(world, "curator", [(t, op) for t, op, _secret in timed], at)
    a, b = rename_ids(a), rename_ids(b)
    assert a == b, first_difference(a, b)
