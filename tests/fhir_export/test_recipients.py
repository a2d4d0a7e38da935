"""Export and push for a named recipient: exactly what that recipient may receive.

Two ways out (docs/fhir.md, "Download or delivery"): a push (or a bulk export for the
recipient) delivers to the recipient's system everything it may receive; a download (GET with
`?recipient=`) goes to the exporter, so it is that view cut to what the exporter reads
themself. Each test below says which it checks; `deliver` builds what a push sends.

The demo recipients: the Kanta patient-data repository (health sector by law), the children's
school (education), the social-care organisation (social) and a psychiatric unit (health) that
a guardian's consent also gives the social category. Each category of each item kind carries a
marker text; `EXPECTED` is written out by hand from docs/permissions.md (not from the policy),
and a second check compares every item with the policy's own answer.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from fhir_export import validated
from plan_service import policy
from plan_service.audit.models import Disclosure
from plan_service.consent.services import consent_create, consent_withdraw
from plan_service.participants.models import Person, Recipient
from plan_service.plans import services
from plan_service.plans.models import ITEM_MODELS, Action, Comment, Goal, Need, Plan
from tests import factories
from tests.fhir_export.resolve import bulk_resource

pytestmark = pytest.mark.django_db

CATEGORIES = ("general", "social", "health", "education", "family")
#: recipient -> the categories it may receive (sector by law + consent), by hand.
EXPECTED = {
    "kanta": {"general", "health"},
    "school": {"general", "education"},
    "social": {"general", "social"},
    "psychiatry": {"general", "health", "social"},
}
#: What the lead (a child-protection social worker) reads: the social sector's categories plus
#: the family's own (docs/permissions.md), by hand.
LEAD_READS = {"general", "social", "family"}
#: Which categories reach whom: "pushed" to the recipient, or "downloaded" by the lead for it.
WAYS = {
    "pushed": lambda name: EXPECTED[name],
    "downloaded": lambda name: EXPECTED[name] & LEAD_READS,
}


@dataclass
class Demo:
    lead: Any
    nurse: Any
    curator: Any
    plan: Plan
    recipients: dict[str, Recipient]
    child: Person
    guardian_user: Any
    consent: Any


def _marked_items(plan: Plan, author: Any, category: str, tag: str = "") -> None:
    """A need, goal, action and comment of `category`, each with its marker text."""
    mark = f"MARK-{category}{tag}"
    need = services.item_create(
        actor=author,
        plan_id=plan.pk,
        model=Need,
        data={"category": category, "title": f"{mark}-need"},
    )
    goal = services.item_create(
        actor=author,
        plan_id=plan.pk,
        model=Goal,
        data={
            "category": category,
            "title": f"{mark}-goal",
            "desired_outcome": f"{mark}-outcome",
            "need": need.pk,
        },
    )
    services.item_create(
        actor=author,
        plan_id=plan.pk,
        model=Action,
        data={
            "category": category,
            "description": f"{mark}-action",
            "goal": goal.pk,
            "responsible_kind": "organization",
            "responsible_organization": author.professional.organization_id,
        },
    )
    services.item_create(
        actor=author,
        plan_id=plan.pk,
        model=Comment,
        data={"target_type": "goal", "target_id": goal.pk, "text": f"{mark}-comment"},
    )


def build_demo() -> Demo:
    social_org = factories.organization("social", custodian_register_id="1.2.246.10.1.19.0")
    health_org = factories.organization("health")
    psych_org = factories.organization("health", name="Psykiatrian poliklinikka")
    school_org = factories.organization("education")
    lead = factories.professional("child_protection_social_worker", social_org)
    nurse = factories.professional("public_health_nurse", health_org, terhikki_number="10100123456")
    curator = factories.professional("school_curator", school_org)
    fam = factories.family(children=1, guardians=1, child_age=13)
    plan = factories.plan(lead, fam)
    factories.add_member(plan, lead, nurse)
    factories.add_member(plan, lead, curator)
    child = Person.objects.get(family=fam, kind="child")
    guardian_user = factories.link(Person.objects.get(family=fam, kind="guardian"))
    authors = {
        "general": lead.user,
        "social": lead.user,
        "family": lead.user,
        "health": nurse.user,
        "education": curator.user,
    }
    for category in CATEGORIES:
        _marked_items(plan, authors[category], category)
    consent = consent_create(
        actor=guardian_user,
        family=fam,
        grantor_id=None,
        subject_ids=[child.pk],
        categories=["social"],
        purpose="psychiatric assessment",
        recipient_organization=psych_org,
    )
    recipients = {
        "kanta": factories.recipient("repository", "health", code="kanta-potilastiedot"),
        "school": factories.recipient("organization", "education", school_org),
        "social": factories.recipient("organization", "social", social_org),
        "psychiatry": factories.recipient("organization", "health", psych_org),
    }
    return Demo(
        lead=lead,
        nurse=nurse,
        curator=curator,
        plan=Plan.objects.get(pk=plan.pk),
        recipients=recipients,
        child=child,
        guardian_user=guardian_user,
        consent=consent,
    )


@pytest.fixture
def demo() -> Demo:
    return build_demo()


def export_bytes(api: Any, user: Any, plan: Plan, recipient: Recipient) -> bytes:
    """The download: GET with `?recipient=`, as the exporter gets it."""
    response = api.as_user(user).get(f"/api/v1/plans/{plan.pk}/fhir/?recipient={recipient.code}")
    assert response.status_code == 200, response.content
    return response.content


def deliver(user: Any, plan: Plan, recipient: Recipient) -> bytes:
    """What a push sends the recipient's server (built as the push builds it; nothing sent)."""
    from django.db import transaction

    from fhir_export.bundle import to_json
    from plan_service.plans.export import plan_export_prepare

    with transaction.atomic():
        _, result = plan_export_prepare(
            actor=user, plan_id=plan.pk, recipient=recipient, to_recipient=True
        )
    return to_json(result.bundle).encode()


def got(way: str, api: Any, user: Any, plan: Plan, recipient: Recipient) -> bytes:
    if way == "pushed":
        return deliver(user, plan, recipient)
    return export_bytes(api, user, plan, recipient)


@pytest.mark.parametrize("way", sorted(WAYS))
@pytest.mark.parametrize("name", sorted(EXPECTED))
@pytest.mark.parametrize("category", CATEGORIES)
def test_markers_of_a_category_go_exactly_to_those_who_may_receive_it(
    api, demo, name, category, way
) -> None:
    text = got(way, api, demo.lead.user, demo.plan, demo.recipients[name]).decode()
    for kind in ("need", "goal", "outcome", "action", "comment"):
        present = f"MARK-{category}-{kind}" in text
        assert present == (category in WAYS[way](name)), (way, name, category, kind)


@pytest.mark.parametrize("way", sorted(WAYS))
@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_every_item_is_exported_iff_the_policy_says_the_recipient_may_receive_it(
    api, demo, name, way
) -> None:
    recipient = demo.recipients[name]
    text = got(way, api, demo.lead.user, demo.plan, recipient).decode()
    access = policy.export_access(
        demo.lead.user, demo.plan, recipient, shown_to_exporter=way == "downloaded"
    )
    checked = 0
    for model in ITEM_MODELS.values():
        for item in model.objects.filter(plan=demo.plan):
            words = [
                getattr(item, f, "")
                for f in ("title", "description", "text")
                if getattr(item, f, "")
            ]
            if not words:
                continue
            checked += 1
            assert (words[0] in text) == policy.may_read_item(access, item), (name, words[0])
    assert checked >= 4 * len(CATEGORIES)


def test_the_disclosure_log_names_the_recipient_and_each_persons_basis(api, demo) -> None:
    psychiatry = demo.recipients["psychiatry"]
    export_bytes(api, demo.lead.user, demo.plan, psychiatry)
    rows = Disclosure.objects.filter(plan_id=demo.plan.pk)
    assert {r.recipient for r in rows} == {f"{psychiatry.name} ({psychiatry.code})"}
    assert {r.recipient_organization_id for r in rows} == {psychiatry.organization_id}
    bases = {r.subject_id: r.basis for r in rows}
    assert bases[demo.child.pk] == f"statute:health;consent:{demo.consent.pk}"
    guardian = Person.objects.get(family=demo.plan.family, kind="guardian")
    assert bases[guardian.pk] == "statute:health"  # the consent names only the child


def test_a_withdrawn_consent_takes_its_categories_away(api, demo) -> None:
    consent_withdraw(actor=demo.guardian_user, consent=demo.consent, reason="no")
    text = deliver(demo.lead.user, demo.plan, demo.recipients["psychiatry"]).decode()
    assert "MARK-social" not in text
    assert "MARK-health" in text


def test_a_member_exports_for_their_own_organisation_only(api, demo) -> None:
    school, kanta = demo.recipients["school"], demo.recipients["kanta"]
    text = export_bytes(api, demo.curator.user, demo.plan, school).decode()
    assert "MARK-education" in text
    assert "MARK-social" not in text
    url = f"/api/v1/plans/{demo.plan.pk}/fhir/?recipient={kanta.code}"
    assert api.as_user(demo.curator.user).get(url).status_code == 403
    assert api.as_user(demo.nurse.user).get(url).status_code == 403  # not her organisation
    assert api.as_user(demo.guardian_user).get(url).status_code == 403


@pytest.mark.parametrize("value", ["nope", "", "x" * 200, "KANTA-POTILASTIEDOT"])
def test_an_unknown_recipient_is_a_400_naming_it(api, demo, value) -> None:
    before = Disclosure.objects.count()
    url = f"/api/v1/plans/{demo.plan.pk}/fhir/?recipient={value}"
    response = api.as_user(demo.lead.user).get(url)
    if value == "":
        assert response.status_code == 200  # absent: the lead's own download
        return
    assert response.status_code == 400, response.content
    assert response.json()["errors"][0]["field"] == "recipient"
    assert Disclosure.objects.count() == before


def test_an_inactive_recipient_is_unknown(api, demo) -> None:
    school = demo.recipients["school"]
    school.active = False
    school.save()
    url = f"/api/v1/plans/{demo.plan.pk}/fhir/?recipient={school.code}"
    assert api.as_user(demo.lead.user).get(url).status_code == 400


#
# Noninterference: what the recipient may not receive changes nothing in its Bundle.
#


@pytest.mark.parametrize("way", sorted(WAYS))
@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_invisible_writes_leave_the_recipients_bundle_byte_identical(api, demo, name, way) -> None:
    """Pushed: what the recipient may not receive. Downloaded: what the recipient may not
    receive or the lead may not read (the lead's side of issue 11's property)."""
    recipient = demo.recipients[name]
    before = got(way, api, demo.lead.user, demo.plan, recipient)
    hidden = [c for c in CATEGORIES if c not in WAYS[way](name)]
    authors = {
        "social": demo.lead.user,
        "family": demo.lead.user,
        "general": demo.lead.user,
        "health": demo.nurse.user,
        "education": demo.curator.user,
    }
    for category in hidden:
        _marked_items(demo.plan, authors[category], category, tag="-second-world")
        # ... and an edit of an existing hidden item.
        goal = Goal.objects.filter(plan=demo.plan, category=category).first()
        services.item_update(
            actor=authors[category],
            plan_id=demo.plan.pk,
            model=Goal,
            item_id=goal.pk,
            expected_version=goal.version,
            data={"title": f"MARK-{category}-changed"},
        )
    # A consent addressed to someone else is not this recipient's either.
    other = "education" if name != "school" else "social"
    consent_create(
        actor=demo.guardian_user,
        family=demo.plan.family,
        grantor_id=None,
        subject_ids=[demo.child.pk],
        categories=["family"],
        purpose="another recipient",
        recipient_sector=other,
    )
    assert Plan.objects.get(pk=demo.plan.pk).version > demo.plan.version  # the plan did move
    after = got(way, api, demo.lead.user, demo.plan, recipient)
    assert after == before


def test_a_visible_write_does_change_the_bundle(api, demo) -> None:
    """The check above would pass for an export that never changes."""
    kanta = demo.recipients["kanta"]
    before = deliver(demo.lead.user, demo.plan, kanta)
    downloaded = export_bytes(api, demo.lead.user, demo.plan, kanta)
    _marked_items(demo.plan, demo.nurse.user, "health", tag="-new")
    after = deliver(demo.lead.user, demo.plan, kanta)
    assert after != before
    assert b"MARK-health-new-goal" in after
    assert json.loads(after)["id"] != json.loads(before)["id"]
    # The lead's download moves with what the lead reads: a general item.
    _marked_items(demo.plan, demo.lead.user, "general", tag="-new")
    assert export_bytes(api, demo.lead.user, demo.plan, kanta) != downloaded


#
# Validity and fi-base shape of every recipient's Bundle
#

DOCS = (Path(__file__).parents[2] / "docs" / "fhir.md").read_text(encoding="utf-8")


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_recipient_bundles_are_valid_and_fi_base_shaped(api, demo, name, validator) -> None:
    bundle = json.loads(deliver(demo.lead.user, demo.plan, demo.recipients[name]))
    validated(bundle)  # fhir.resources R4
    assert validator.errors(bundle) == []  # @medplum/core and FHIR.js
    for entry in bundle["entry"]:
        resource = entry["resource"]
        assert resource["language"] == "fi"
        assert resource["text"]["status"] == "generated"
        assert resource["text"]["div"].startswith('<div xmlns="http://www.w3.org/1999/xhtml">')
        for profile in resource.get("meta", {}).get("profile", []):
            assert f"`{profile}`" in DOCS, profile
    kinds = {e["resource"]["resourceType"]: e["resource"] for e in bundle["entry"]}
    assert kinds["Patient"]["meta"]["profile"] == [
        "https://hl7.fi/fhir/finnish-base-profiles/StructureDefinition/fi-base-patient"
    ]
    (custodian,) = [
        a for a in kinds["Provenance"]["agent"] if a["type"]["coding"][0]["code"] == "CST"
    ]
    assert custodian["who"]["identifier"]["system"] == "urn:oid:1.2.246.537.6.40174"
    registers = [e["what"]["identifier"]["system"] for e in kinds["Provenance"]["entity"]]
    assert "urn:oid:1.2.246.537.6.1264" in registers  # the lead's social-care register


def test_terhikki_number_and_turvakielto_are_exported(api, demo) -> None:
    guardian = Person.objects.get(family=demo.plan.family, kind="guardian")
    guardian.non_disclosure = True
    guardian.save()
    bundle = json.loads(export_bytes(api, demo.lead.user, demo.plan, demo.recipients["kanta"]))
    by_type: dict[str, list[dict]] = {}
    for entry in bundle["entry"]:
        by_type.setdefault(entry["resource"]["resourceType"], []).append(entry["resource"])
    systems = {i["system"]: i["value"] for p in by_type["Practitioner"] for i in p["identifier"]}
    assert systems["urn:oid:1.2.246.537.26"] == "10100123456"
    (related,) = by_type["RelatedPerson"]
    assert related["meta"]["security"][0]["code"] == "TURVAKIELTO"
    assert "address" not in related
    assert "telecom" not in related
    (patient,) = by_type["Patient"]
    assert "security" not in patient.get("meta", {})


#
# Push per recipient: the server then holds exactly what the recipient may receive.
#


def _held(server: Any, types: set[str]) -> dict[str, dict]:
    held = {}
    for kind in types:
        for entry in server.get(f"{kind}?_count=1000").json().get("entry", []):
            resource = entry["resource"]
            resource.pop("meta", None)
            held[f"{kind}/{resource['id']}"] = resource
    return held


def _expected_on_server(bundle: dict) -> dict[str, dict]:
    types = {
        e["fullUrl"]: f"{e['resource']['resourceType']}/{e['resource']['id']}"
        for e in bundle["entry"]
    }
    out = {}
    for entry in bundle["entry"]:
        sent = bulk_resource(entry["resource"], types)
        sent.pop("meta", None)
        out[entry["request"]["url"]] = sent
    return out


TYPES = {
    "Patient",
    "RelatedPerson",
    "Group",
    "Organization",
    "Practitioner",
    "PractitionerRole",
    "CareTeam",
    "CarePlan",
    "Goal",
    "Condition",
    "Consent",
    "Provenance",
}


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_after_a_push_the_server_holds_what_the_recipient_may_receive(
    api, demo, name, settings, fhir_server
) -> None:
    settings.FHIR_PUSH_BASE_URL = fhir_server.base_url
    settings.FHIR_PUSH_BACKOFF_MS = 10
    fhir_server.hook("reset")
    fhir_server.hook("fail", status=200, count=0)
    fhir_server.hook("respond", count=0)
    recipient = demo.recipients[name]
    url = f"/api/v1/plans/{demo.plan.pk}/fhir/push/"
    response = api.as_user(demo.lead.user).post(url, {"recipient": recipient.code})
    assert response.status_code == 200, response.content
    bundle = json.loads(deliver(demo.lead.user, demo.plan, recipient))
    assert _held(fhir_server, TYPES) == _expected_on_server(bundle)
    # The push carried the recipient's whole view; the lead's download only what the lead reads.
    held = json.dumps(_held(fhir_server, TYPES), ensure_ascii=False)
    downloaded = export_bytes(api, demo.lead.user, demo.plan, recipient).decode()
    for category in EXPECTED[name]:
        assert f"MARK-{category}-goal" in held
        assert (f"MARK-{category}-goal" in downloaded) == (category in LEAD_READS)


def test_a_push_after_a_withdrawal_removes_what_is_no_longer_receivable(
    api, demo, settings, fhir_server
) -> None:
    settings.FHIR_PUSH_BASE_URL = fhir_server.base_url
    fhir_server.hook("reset")
    fhir_server.hook("fail", status=200, count=0)
    fhir_server.hook("respond", count=0)
    psychiatry = demo.recipients["psychiatry"]
    url = f"/api/v1/plans/{demo.plan.pk}/fhir/push/"
    client = api.as_user(demo.lead.user)
    assert client.post(url, {"recipient": psychiatry.code}).status_code == 200
    held = json.dumps(_held(fhir_server, TYPES))
    assert "MARK-social-goal" in held
    consent_withdraw(actor=demo.guardian_user, consent=demo.consent, reason="no")
    _marked_items(demo.plan, demo.nurse.user, "health", tag="-later")  # a newer version
    response = client.post(url, {"recipient": psychiatry.code})
    assert response.status_code == 200, response.content
    bundle = json.loads(deliver(demo.lead.user, demo.plan, psychiatry))
    held_now = _held(fhir_server, {"CarePlan", "Goal", "Condition", "Consent"})
    expected = {
        k: v
        for k, v in _expected_on_server(bundle).items()
        if k.split("/")[0] in {"CarePlan", "Goal", "Condition", "Consent"}
    }
    assert held_now == expected
    assert "MARK-social" not in json.dumps(held_now)


#
# Bulk export for a recipient: the same Bundles as one-by-one, in a fixed number of queries.
#


def _demo_plans(demo: Demo, n: int) -> list[Plan]:
    plans = [demo.plan]
    for _ in range(n - 1):
        fam = factories.family(children=1, guardians=1)
        plan = factories.plan(demo.lead, fam)
        factories.add_member(plan, demo.lead, demo.nurse)
        _marked_items(plan, demo.nurse.user, "health")
        _marked_items(plan, demo.lead.user, "social")
        plans.append(Plan.objects.get(pk=plan.pk))
    return plans


def test_bulk_export_for_a_recipient_equals_the_single_exports(demo) -> None:
    """A bulk export for a recipient delivers what single pushes would: the same Bundles,
    versions and times as the recipient sees them (`as_reader`), byte for byte."""
    from fhir_export.bundle import to_json
    from plan_service.plans.export import plan_export, plan_export_many_to

    plans = _demo_plans(demo, 3)
    psychiatry = demo.recipients["psychiatry"]
    got: list[str] = []
    plan_export_many_to(
        actor=demo.lead.user,
        plan_ids=[p.pk for p in plans],
        sink=lambda e: got.append(to_json(e.bundle)),
        recipient=psychiatry,
    )
    single = [
        to_json(
            plan_export(
                actor=demo.lead.user, plan_id=p.pk, recipient=psychiatry, to_recipient=True
            ).bundle
        )
        for p in plans
    ]
    assert got == single
    assert "MARK-social" in got[0]  # the consent covers the first family only
    assert all("MARK-social" not in g for g in got[1:])
    rows = Disclosure.objects.filter(plan_id__in=[p.pk for p in plans])
    assert rows.count() == 2 * sum(Person.objects.filter(family=p.family).count() for p in plans)


def test_bulk_export_of_the_leads_own_view_equals_the_single_downloads(demo) -> None:
    """The bulk job's form (no registry recipient): the lead's own view, decided for the whole
    chunk at once (`policy.export_own_accesses`) exactly as one download decides it."""
    from fhir_export.bundle import to_json
    from plan_service.plans.export import plan_export, plan_export_many_to

    plans = _demo_plans(demo, 3)
    got: list[str] = []
    plan_export_many_to(
        actor=demo.lead.user,
        plan_ids=[p.pk for p in plans],
        sink=lambda e: got.append(to_json(e.bundle)),
        recipient="FHIR bulk export for the lead",
    )
    single = [to_json(plan_export(actor=demo.lead.user, plan_id=p.pk).bundle) for p in plans]
    assert got == single
    assert all("MARK-social" in g for g in got)
    assert all("MARK-health" not in g for g in got)  # the lead does not read health


@pytest.mark.parametrize("for_whom", ["kanta", "the lead's own view"])
def test_bulk_export_for_a_recipient_takes_the_same_queries_for_more_plans(demo, for_whom) -> None:
    """Snapshots and reader views (history) of a chunk: constant in the number of plans, for
    a registry recipient and for the lead's own view (the bulk job's form)."""
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    from plan_service.plans.export import plan_export_many_to

    kanta = demo.recipients.get(for_whom, "FHIR bulk export for the lead")
    counts = []
    for n in (2, 6):
        plans = _demo_plans(demo, n)
        with CaptureQueriesContext(connection) as ctx:
            plan_export_many_to(
                actor=demo.lead.user,
                plan_ids=[p.pk for p in plans],
                sink=lambda e: None,
                recipient=kanta,
            )
        counts.append(len(ctx.captured_queries))
    assert counts[0] == counts[1], counts
