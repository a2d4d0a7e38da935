"""`policy.explain` says what `policy.plan_access` decides, for every role, sector, category,
basis, consent and restriction (issue 14).

Both are checked against a reference model written from docs/permissions.md ("Information
categories"), not from the code: a change to one rule that the other does not follow, or that
the documented table does not say, fails here.
"""

from __future__ import annotations

import datetime as dt

import pytest
from django.utils import timezone

from plan_service import policy
from plan_service.categories import Category
from plan_service.consent.services import consent_create, consent_withdraw
from plan_service.participants.models import Guardianship, Person
from plan_service.plans import services
from tests import factories

pytestmark = pytest.mark.django_db

CATEGORIES = list(Category.values)

#: A role of each sector, and what the sector reads by law (docs/permissions.md).
SECTOR_ROLE = {
    "social": "child_protection_social_worker",
    "health": "public_health_nurse",
    "education": "school_curator",
}
SECTOR_DEFAULTS = {
    "social": {"general", "social"},
    "health": {"general", "health"},
    "education": {"general", "education"},
}
CONSENTED = {
    "none": [],
    "health": ["health"],
    "wide": ["social", "education", "family"],
}


def reference(
    *, lead: bool, sector: str, basis: str, consented: list[str], completed: bool
) -> tuple[dict[str, str], set[str], set[str]]:
    """(reason per category, reads, writes) as docs/permissions.md states them."""
    defaults = SECTOR_DEFAULTS[sector]
    base = {"general"} if basis == "consent" else defaults
    reasons = {}
    for category in CATEGORIES:
        if category in base:
            reasons[category] = "sector_default"
        elif lead and category == "family":
            reasons[category] = "lead"
        elif category in consented:
            reasons[category] = "consent"
        else:
            reasons[category] = "not_covered"
    reads = {c for c, r in reasons.items() if r != "not_covered"}
    writes = (reads & (defaults | {"general"})) if basis == "consent" else set(defaults)
    if lead:
        writes |= {"family"}
    return reasons, reads, set() if completed else writes


def _guardian_and_child(plan):
    guardian = Person.objects.filter(family=plan.family, kind="guardian").first()
    child = Person.objects.filter(family=plan.family, kind="child").first()
    return guardian, child


def _consent(plan, categories, sector):
    guardian, child = _guardian_and_child(plan)
    user = guardian.user if guardian.user_id else factories.link(guardian)
    return consent_create(
        actor=user,
        family=plan.family,
        grantor_id=None,
        subject_ids=[child.pk],
        categories=categories,
        purpose="yhteistyö",
        recipient_sector=sector,
    )


def _assert_agree(plan, membership, reasons, reads, writes, consents=()):
    user = membership.user
    access = policy.plan_access(user, plan)
    one_statement = policy.plan_access_for(user, plan.pk)
    answer = policy.explain(plan, membership)
    assert answer["in_force"] is True
    rows = {row["category"]: row for row in answer["categories"]}
    assert {c: rows[c]["reason"] for c in CATEGORIES} == reasons
    # explain agrees with both ways the policy decides, and both with the reference.
    for decided in (access, one_statement):
        assert set(decided.reads) == reads
        writable = set(decided.writes) if decided.may(policy.Action.CHANGE) else set()
        assert writable == writes
    assert {c for c in CATEGORIES if rows[c]["read"]} == reads
    assert {c for c in CATEGORIES if rows[c]["write"]} == writes
    for category in CATEGORIES:
        expected = sorted(str(c.pk) for c in consents if category in c.categories)
        assert sorted(rows[category]["consents"]) == expected


@pytest.mark.parametrize("completed", [False, True], ids=["active", "completed"])
@pytest.mark.parametrize("consented", sorted(CONSENTED))
@pytest.mark.parametrize("basis", ["statute", "consent"])
@pytest.mark.parametrize("sector", sorted(SECTOR_ROLE))
def test_explain_says_what_plan_access_decides_for_a_member(sector, basis, consented, completed):
    lead = factories.professional()
    plan = factories.plan(lead)
    member = factories.professional(SECTOR_ROLE[sector])
    categories = CONSENTED[consented]
    consents = []
    if basis == "consent":
        seat = _consent(plan, categories or ["general"], sector)
        consents = [seat]
        membership = services.membership_add(
            actor=lead.user,
            plan_id=plan.pk,
            professional=member,
            role="member",
            basis="consent",
            consent_id=seat.pk,
        )
        categories = categories or ["general"]
    else:
        membership = factories.add_member(plan, lead, member)
        if categories:
            consents = [_consent(plan, categories, sector)]
    if completed:
        plan = services.plan_update(
            actor=lead.user, plan_id=plan.pk, expected_version=None, data={"status": "completed"}
        )
    reasons, reads, writes = reference(
        lead=False, sector=sector, basis=basis, consented=categories, completed=completed
    )
    _assert_agree(plan, membership, reasons, reads, writes, consents)


@pytest.mark.parametrize("consented", sorted(CONSENTED))
def test_explain_says_what_plan_access_decides_for_the_lead(consented):
    lead = factories.professional()  # a social-sector lead on a statute
    plan = factories.plan(lead)
    categories = CONSENTED[consented]
    consents = [_consent(plan, categories, "social")] if categories else []
    membership = plan.memberships.get(role="lead")
    reasons, reads, writes = reference(
        lead=True, sector="social", basis="statute", consented=categories, completed=False
    )
    _assert_agree(plan, membership, reasons, reads, writes, consents)


def test_a_withdrawn_consent_stops_both_the_access_and_the_explanation():
    lead = factories.professional()
    plan = factories.plan(lead)
    nurse = factories.professional(SECTOR_ROLE["health"])
    seat = _consent(plan, ["health"], "health")
    membership = services.membership_add(
        actor=lead.user,
        plan_id=plan.pk,
        professional=nurse,
        role="member",
        basis="consent",
        consent_id=seat.pk,
    )
    guardian, _child = _guardian_and_child(plan)
    consent_withdraw(consent=seat, actor=guardian.user, reason="peruttu")
    assert policy.plan_access(nurse.user, plan) is None
    answer = policy.explain(plan, membership)
    assert answer["in_force"] is False
    assert {row["reason"] for row in answer["categories"]} == {"membership_not_in_force"}
    assert not any(row["read"] or row["write"] for row in answer["categories"])


def test_an_expired_membership_stops_both_the_access_and_the_explanation():
    lead = factories.professional()
    plan = factories.plan(lead)
    nurse = factories.professional(SECTOR_ROLE["health"])
    now = timezone.now()
    membership = factories.add_member(
        plan, lead, nurse, valid_from=now - dt.timedelta(days=2), valid_until=now
    )
    assert policy.plan_access(nurse.user, plan) is None
    answer = policy.explain(plan, membership)
    assert {row["reason"] for row in answer["categories"]} == {"membership_not_in_force"}


@pytest.mark.parametrize("who", ["guardian", "child", "blocked_guardian"])
def test_explain_says_what_plan_access_decides_for_the_family(who):
    lead = factories.professional()
    family = factories.family(child_age=13)
    guardian, child = (
        Person.objects.get(family=family, kind="guardian"),
        Person.objects.get(family=family, kind="child"),
    )
    if who == "blocked_guardian":  # a custody decision: no sight of that child's items
        Guardianship.objects.filter(guardian=guardian).update(excluded_by_custody_decision=True)
    user = factories.link(child if who == "child" else guardian)
    plan = factories.plan(lead, family)
    membership = plan.memberships.get(user=user)
    access = policy.plan_access(user, plan)
    answer = policy.explain(plan, membership)
    rows = {row["category"]: row for row in answer["categories"]}
    assert {row["reason"] for row in rows.values()} == {"family_member"}
    # The family reads every category (a restriction hides items, never categories) and
    # writes its own.
    assert {c for c in CATEGORIES if rows[c]["read"]} == set(access.reads) == set(CATEGORIES)
    assert {c for c in CATEGORIES if rows[c]["write"]} == set()  # no CHANGE right
    assert set(access.writes) == {"family"}
    if who == "blocked_guardian":
        assert access.hidden_children == frozenset({child.pk})
