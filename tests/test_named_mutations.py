"""Tests aimed at breakages the rest of the suite once let through (issue 21, outside audit).

Each test names the mutation it kills; docs/testing.md lists them with the mutation-testing
results. Everything runs through the real HTTP stack on real PostgreSQL.
"""

from __future__ import annotations

import datetime as dt

import pytest
import time_machine
from django.conf import settings
from django.db import connection
from django.utils import timezone

from plan_service.audit import chain
from plan_service.audit.models import Chained
from plan_service.consent.services import consent_create
from plan_service.participants.authentication import token_issue
from plan_service.participants.models import ApiToken, Person
from plan_service.plans import services
from plan_service.plans.models import Need
from tests import factories

pytestmark = pytest.mark.django_db

CATEGORIES = ("education", "family", "general", "health", "social")


def _bearer(key: str) -> dict[str, str]:
    return {"HTTP_AUTHORIZATION": f"Bearer {key}"}


#
# Mutation: bearer tokens never expire (drop `expires_at__gt=now` from the token lookup).
#


def test_a_token_past_its_expiry_is_refused_and_a_fresh_one_accepted(api):
    pro = factories.professional()
    key, token = token_issue(user=pro.user)
    assert api.get("/api/v1/me/", **_bearer(key)).status_code == 200
    ApiToken.objects.filter(pk=token.pk).update(expires_at=timezone.now() - dt.timedelta(seconds=1))
    response = api.get("/api/v1/me/", **_bearer(key))
    assert response.status_code == 401
    assert response["WWW-Authenticate"].startswith("Bearer")


def test_a_token_stops_working_once_its_lifetime_has_passed(api):
    pro = factories.professional()
    key, _ = token_issue(user=pro.user)
    ttl = dt.timedelta(hours=settings.API_TOKEN_TTL_HOURS)
    with time_machine.travel(timezone.now() + ttl - dt.timedelta(minutes=1), tick=False):
        assert api.get("/api/v1/me/", **_bearer(key)).status_code == 200
    with time_machine.travel(timezone.now() + ttl + dt.timedelta(minutes=1), tick=False):
        assert api.get("/api/v1/me/", **_bearer(key)).status_code == 401


#
# Mutation: a membership past its `valid_until` still grants access.
#


def test_a_membership_past_its_end_date_grants_nothing_while_a_current_one_does(api):
    lead = factories.professional()
    plan = factories.plan(lead)
    past, current = (
        factories.professional("public_health_nurse"),
        factories.professional("public_health_nurse"),
    )
    now = timezone.now()
    factories.add_member(
        plan,
        lead,
        past,
        valid_from=now - dt.timedelta(days=30),
        valid_until=now - dt.timedelta(days=1),
    )
    factories.add_member(plan, lead, current, valid_until=now + dt.timedelta(days=1))
    url = f"/api/v1/plans/{plan.pk}/"
    assert api.as_user(current.user).get(url).status_code == 200
    assert api.as_user(past.user).get(url).status_code == 404
    listed = api.as_user(past.user).get("/api/v1/plans/").json()
    assert listed["count"] == 0


def test_a_membership_ends_at_its_valid_until_without_anyone_acting(api):
    lead = factories.professional()
    plan = factories.plan(lead)
    nurse = factories.professional("public_health_nurse")
    until = timezone.now() + dt.timedelta(hours=2)
    factories.add_member(plan, lead, nurse, valid_until=until)
    client = api.as_user(nurse.user)
    url = f"/api/v1/plans/{plan.pk}/needs/"
    assert client.get(url).status_code == 200
    with time_machine.travel(until + dt.timedelta(seconds=1), tick=False):
        assert client.get(url).status_code == 404


#
# Mutation: a consent-based member may write every category it may read (`writes = reads`).
# Mutation: explain's per-category "read" flag replaced by `bool(access)`.
#


@pytest.fixture
def consent_member():
    """A nurse seated on the guardian's consent to social and health data (for health)."""
    lead = factories.professional()
    plan = factories.plan(lead)
    family = plan.family
    guardian = factories.link(Person.objects.filter(family=family, kind="guardian").first())
    child = Person.objects.filter(family=family, kind="child").first()
    consent = consent_create(
        actor=guardian,
        family=family,
        grantor_id=None,
        subject_ids=[child.pk],
        categories=["social", "health"],
        purpose="yhteistyö",
        recipient_sector="health",
    )
    nurse = factories.professional("public_health_nurse")
    membership = services.membership_add(
        actor=lead.user,
        plan_id=plan.pk,
        professional=nurse,
        role="member",
        basis="consent",
        consent_id=consent.pk,
    )
    for category in CATEGORIES:
        Need.objects.create(plan=plan, category=category, title=f"need {category}")
    return lead, plan, nurse, membership


def test_a_consent_based_member_reads_what_the_consent_covers_but_writes_only_its_sector(
    api, consent_member
):
    _, plan, nurse, _ = consent_member
    client = api.as_user(nurse.user)
    needs = client.get(f"/api/v1/plans/{plan.pk}/needs/", {"page_size": 100}).json()["results"]
    assert sorted(n["category"] for n in needs) == ["general", "health", "social"]
    flags = client.get(f"/api/v1/plans/{plan.pk}/").json()["permissions"]
    assert flags == {
        "plan_role": "member",
        "actions": ["change", "contribute", "view"],
        "read_categories": ["general", "health", "social"],
        "write_categories": ["general", "health"],
    }
    made = {
        category: client.post(
            f"/api/v1/plans/{plan.pk}/needs/", {"category": category, "title": "new"}
        ).status_code
        for category in CATEGORIES
    }
    assert made == {
        "general": 201,
        "health": 201,
        "social": 403,  # read on the consent, never written by a health professional
        "education": 403,
        "family": 403,
    }
    social = Need.objects.get(plan=plan, category="social", title="need social")
    etag = f'W/"{social.version}"'
    changed = client.patch(
        f"/api/v1/plans/{plan.pk}/needs/{social.pk}/", {"title": "x"}, HTTP_IF_MATCH=etag
    )
    assert changed.status_code == 403
    social.refresh_from_db()
    assert social.title == "need social"


def test_explain_says_per_category_what_the_member_reads_and_writes(api, consent_member):
    lead, plan, _, membership = consent_member
    response = api.as_user(lead.user).get(
        f"/api/v1/plans/{plan.pk}/explain/", {"member": str(membership.pk)}
    )
    assert response.status_code == 200
    body = response.json()
    assert {k: v for k, v in body.items() if k != "categories"} == {
        "member": str(membership.pk),
        "in_force": True,
        "plan_role": "member",
        "sector": "health",
        "basis": "consent",
    }
    assert [r["category"] for r in body["categories"]] == [
        "general",
        "social",
        "health",
        "education",
        "family",
    ]
    rows = {r["category"]: r for r in body["categories"]}
    assert {c: rows[c]["read"] for c in CATEGORIES} == {
        "education": False,
        "family": False,
        "general": True,
        "health": True,
        "social": True,
    }
    assert {c: rows[c]["write"] for c in CATEGORIES} == {
        "education": False,
        "family": False,
        "general": True,
        "health": True,
        "social": False,
    }
    assert {c: rows[c]["reason"] for c in CATEGORIES} == {
        "education": "not_covered",
        "family": "not_covered",
        "general": "sector_default",
        "health": "consent",
        "social": "consent",
    }
    consent_id = str(membership.consent_id)
    assert {c: rows[c]["consents"] for c in CATEGORIES} == {
        "education": [],
        "family": [],
        "general": [],
        "health": [consent_id],
        "social": [consent_id],
    }


def test_explain_of_a_statutory_member_reads_only_the_sector_defaults(api):
    lead = factories.professional()
    plan = factories.plan(lead)
    nurse = factories.professional("public_health_nurse")
    member = factories.add_member(plan, lead, nurse)
    body = (
        api.as_user(lead.user)
        .get(f"/api/v1/plans/{plan.pk}/explain/", {"member": str(member.pk)})
        .json()
    )
    rows = {r["category"]: r for r in body["categories"]}
    assert {c for c in CATEGORIES if rows[c]["read"]} == {"general", "health"}
    assert {c for c in CATEGORIES if rows[c]["write"]} == {"general", "health"}
    lead_member = plan.memberships.get(user=lead.user)
    body = (
        api.as_user(lead.user)
        .get(f"/api/v1/plans/{plan.pk}/explain/", {"member": str(lead_member.pk)})
        .json()
    )
    rows = {r["category"]: r for r in body["categories"]}
    assert {c for c in CATEGORIES if rows[c]["read"]} == {"general", "social", "family"}
    assert rows["family"]["reason"] == "lead"


#
# Mutation: a column removed from a log's HASHED_FIELDS. The column list comes from the
# database, not from the product's list.
#


def _chained_models() -> list[type[Chained]]:
    from django.apps import apps

    return [
        m
        for m in apps.get_models()
        if issubclass(m, Chained) and not m._meta.abstract and not m._meta.proxy
    ]


def test_the_chained_logs_are_the_ones_the_chain_knows():
    assert {m._meta.db_table for m in _chained_models()} == {
        m._meta.db_table for m in chain.LOGS.values()
    }
    assert len(_chained_models()) >= 2


@pytest.mark.parametrize("table", ["audit_accessevent", "audit_disclosure"])
def test_every_column_of_a_log_table_but_the_chain_hashes_is_hashed(table):
    model = next(m for m in _chained_models() if m._meta.db_table == table)
    with connection.cursor() as cursor:
        columns = {c.name for c in connection.introspection.get_table_description(cursor, table)}
    concrete = {f.column for f in model._meta.concrete_fields}
    assert columns == concrete, "the model and the table disagree"
    hashed = {model._meta.get_field(name).column for name in model.HASHED_FIELDS}
    assert len(hashed) == len(model.HASHED_FIELDS), "a column is listed twice"
    assert columns - {"prev_hash", "row_hash"} == hashed


@pytest.mark.parametrize("table", ["audit_accessevent", "audit_disclosure"])
def test_changing_any_column_of_a_log_row_changes_its_hash(table):
    """Independent of HASHED_FIELDS: every column the table has, changed, changes row_hash."""
    from tests.audit.helpers import access_row

    model = next(m for m in _chained_models() if m._meta.db_table == table)
    row = access_row() if table == "audit_accessevent" else _disclosure_row(model)
    row.chain, row.seq = 0, 1
    base = chain.row_hash(chain.GENESIS, row)
    with connection.cursor() as cursor:
        columns = [c.name for c in connection.introspection.get_table_description(cursor, table)]
    unchanged = []
    for column in columns:
        if column in ("prev_hash", "row_hash"):
            continue
        field = next(f for f in model._meta.concrete_fields if f.column == column)
        original = getattr(row, field.attname)
        setattr(row, field.attname, _other_value(field, original))
        if chain.row_hash(chain.GENESIS, row) == base:
            unchanged.append(column)
        setattr(row, field.attname, original)
    assert unchanged == []


def _disclosure_row(model: type[Chained]) -> Chained:
    import uuid

    return model(
        recorded_at=timezone.now(),
        actor_user_id=3,
        actor_username="lead",
        actor_organization_id=uuid.uuid4(),
        recipient="Kanta",
        recipient_organization_id=uuid.uuid4(),
        subject_id=uuid.uuid4(),
        family_id=uuid.uuid4(),
        plan_id=uuid.uuid4(),
        plan_version=4,
        content="plan",
        basis="statute",
        request_id="r-1",
    )


def _other_value(field, value):
    import uuid

    kind = field.get_internal_type()
    if kind == "UUIDField":
        return uuid.uuid4()
    if kind == "DateTimeField":
        return value + dt.timedelta(microseconds=1)
    if kind == "BooleanField":
        return not value
    if kind == "JSONField":
        return {"other": [value]}
    if kind == "GenericIPAddressField":
        return "198.51.100.7"
    if kind in ("CharField", "TextField"):
        return f"{value}-changed"
    return (value or 0) + 1


#
# Mutants of policy.py a sampled mutation run found alive (docs/testing.md)
#


def test_every_item_action_asks_its_own_question():
    """The item view sets take their questions from `policy.item_questions` when their classes
    are built, at import, before any test runs: a changed table would go unseen by requests
    alone, so it is asked here directly. A missing action fails closed (403 for everyone)."""
    from plan_service import policy
    from plan_service.plans import kinds

    for kind in kinds.all_kinds():
        write = policy.item_write_action(kind.model)
        names = {action: q.name for action, q in policy.item_questions(kind.model).items()}
        assert names == {
            "list": "plan.view",
            "retrieve": "plan.view",
            "create": f"plan.{write}",
            "update": f"plan.view+item.{write}",
            "partial_update": f"plan.view+item.{write}",
            "destroy": f"plan.view+item.{write}",
            "restore": "plan.view+item.manage",
            "restrict": "plan.view+item.change+may_child_restrict",
        }, kind.name


def test_consent_subjects_are_a_guardians_wards_and_a_childs_own_self():
    from plan_service import policy

    lead = factories.professional()
    family = factories.family(children=2, guardians=1, child_age=15)
    factories.plan(lead, family)
    children = list(Person.objects.filter(family=family, kind="child").order_by("pk"))
    guardian = factories.link(Person.objects.get(family=family, kind="guardian"))
    child = factories.link(children[0])

    def subjects(user):
        return sorted(p.pk for p in policy.consent_subjects_for(user, family.pk))

    assert subjects(guardian) == [c.pk for c in children]
    assert subjects(child) == [children[0].pk]
    assert subjects(lead.user) == []


def test_an_administrator_is_one_and_a_professional_is_not():
    from django.contrib.auth import get_user_model

    from plan_service import policy

    admin = get_user_model().objects.create_superuser(factories.unique("admin"), password=None)
    assert policy.is_admin(admin) is True
    assert policy.is_admin(factories.professional().user) is False


def test_a_child_hides_an_item_about_themself_only_at_their_own_wish():
    from plan_service import policy
    from plan_service.participants import assessments

    lead = factories.professional()
    family = factories.family(children=2, guardians=1, child_age=15)
    plan = factories.plan(lead, family)
    me, sibling = Person.objects.filter(family=family, kind="child").order_by("pk")
    child = factories.link(me)
    assessments.assessment_record(actor=lead.user, plan_id=plan.pk, child_id=me.pk, code=3)
    need = services.item_create(
        actor=lead.user,
        plan_id=plan.pk,
        model=Need,
        data={"category": "general", "title": "minusta", "concerns": [me.pk]},
    )
    access = policy.plan_access_for(child, plan.pk)
    assert policy.may_child_restrict(access, need, me.pk) is True
    assert policy.may_child_restrict(access, need, sibling.pk) is False
    assert policy.may_child_restrict(access, need, None) is False  # nothing of theirs to lift


def test_a_withdrawn_consent_is_no_basis_and_the_refusal_says_why():
    from django.core.exceptions import ValidationError

    from plan_service.consent.services import consent_withdraw

    lead = factories.professional()
    family = factories.family(children=1, guardians=1)
    plan = factories.plan(lead, family)
    guardian = factories.link(Person.objects.get(family=family, kind="guardian"))
    child = Person.objects.get(family=family, kind="child")
    consent = consent_create(
        actor=guardian,
        family=family,
        grantor_id=None,
        subject_ids=[child.pk],
        categories=["general", "health"],
        purpose="care",
        recipient_sector="health",
    )
    consent_withdraw(actor=guardian, consent=consent, reason="ei enää")
    nurse = factories.professional("public_health_nurse")
    with pytest.raises(ValidationError) as refused:
        factories.add_member(plan, lead, nurse, basis="consent", consent_id=consent.pk, statute="")
    assert refused.value.message_dict == {
        "basis": ["The consent is not an active consent of this family."]
    }


def test_a_guardian_consents_only_for_their_wards_and_a_child_for_themself():
    from plan_service import policy
    from plan_service.participants.models import Guardianship

    family = factories.family(children=2, guardians=1, child_age=15)
    guardian = Person.objects.get(family=family, kind="guardian")
    ward, other = Person.objects.filter(family=family, kind="child").order_by("pk")
    Guardianship.objects.filter(guardian=guardian, child=other).delete()
    assert policy.consent_grantor_mismatch(guardian, [ward]) is None
    assert policy.consent_grantor_mismatch(guardian, [ward, other]) == (
        "subjects",
        "The grantor is not guardian of every child named.",
    )
    assert policy.consent_grantor_mismatch(ward, [ward]) is None
    assert policy.consent_grantor_mismatch(ward, [other]) == (
        "subjects",
        "A child consents only for themself.",
    )
