"""The pure export functions: shape, stability and safety of the Bundle (no database)."""

from __future__ import annotations

import copy
import dataclasses
import datetime as dt
import json
import os
import re
import subprocess
import sys
import uuid
from pathlib import Path
from typing import Any
from xml.etree import ElementTree

import pytest
from hypothesis import HealthCheck, given, settings

from fhir_export import coding, validated
from fhir_export.auditevent import AccessRecord, audit_event
from fhir_export.bundle import plan_bundle, to_json
from fhir_export.identifiers import derive
from fhir_export.snapshot import GoalData, NeedData, PlanSnapshot, RemarkData
from tests.fhir_export.samples import demo_snapshot
from tests.fhir_export.strategies import snapshots
from tests.harness.hypothesis_profiles import examples

SETTINGS = settings(
    max_examples=examples(60),
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)
UTC = dt.UTC


def resources(bundle: dict[str, Any], kind: str | None = None) -> list[dict[str, Any]]:
    return [e["resource"] for e in bundle["entry"] if kind in (None, e["resource"]["resourceType"])]


def references(node: Any) -> list[str]:
    """Every `reference` value anywhere in a JSON tree."""
    found: list[str] = []
    if isinstance(node, dict):
        for key, value in node.items():
            if key == "reference" and isinstance(value, str):
                found.append(value)
            else:
                found.extend(references(value))
    elif isinstance(node, list):
        for value in node:
            found.extend(references(value))
    return found


@SETTINGS
@given(snapshots(), snapshots())
def test_an_equal_snapshot_gives_a_byte_identical_bundle(
    snapshot: PlanSnapshot, other: PlanSnapshot
) -> None:
    """An equal copy (new objects), exported after an unrelated plan: no hidden state, no
    dependence on object identity."""
    first = to_json(plan_bundle(snapshot))
    plan_bundle(other)
    assert to_json(plan_bundle(copy.deepcopy(snapshot))) == first


def test_the_bundle_is_the_same_in_a_fresh_interpreter_with_other_hash_seeds() -> None:
    """Set and dict orders that depend on string hashing would change between processes."""
    here = to_json(plan_bundle(demo_snapshot()))
    script = (
        "import sys; from fhir_export.bundle import plan_bundle, to_json;"
        "from tests.fhir_export.samples import demo_snapshot;"
        "sys.stdout.write(to_json(plan_bundle(demo_snapshot())))"
    )
    root = Path(__file__).resolve().parents[2]
    for seed in ("1", "4242"):
        env = {**os.environ, "PYTHONHASHSEED": seed}
        out = subprocess.run(  # noqa: S603
            [sys.executable, "-c", script], cwd=root, env=env, capture_output=True, check=True
        ).stdout.decode()
        assert out == here


@SETTINGS
@given(snapshots())
def test_builders_are_valid_r4_with_fi_base_finish_for_every_plan_shape(
    snapshot: PlanSnapshot,
) -> None:
    """The guarantee that replaces per-Bundle pydantic validation at export time: for every
    shape of plan the builders give a Bundle the R4 models accept, every resource with its
    language and an escaped generated narrative."""
    bundle = plan_bundle(snapshot, validate=True)
    for resource in resources(bundle):
        assert resource["language"] == snapshot.language
        assert resource["text"]["status"] == "generated"
        div = resource["text"]["div"]
        assert div.startswith('<div xmlns="http://www.w3.org/1999/xhtml">')
        ElementTree.fromstring(div)  # noqa: S314 (our own output): well-formed, every value escaped
        assert "<script" not in div
    labelled = {
        f"urn:uuid:{r['id']}"
        for r in resources(bundle)
        if any(s["code"] == "TURVAKIELTO" for s in r.get("meta", {}).get("security", []))
    }
    for person in snapshot.persons:
        for r in resources(bundle):
            if r["resourceType"] in ("Patient", "RelatedPerson") and any(
                i["value"] == person.identity_code for i in r["identifier"]
            ):
                assert (f"urn:uuid:{r['id']}" in labelled) == person.non_disclosure
    if snapshot.reader_relative:
        assert f"plan version {snapshot.version}" not in to_json(bundle)


@SETTINGS
@given(snapshots())
def test_every_reference_resolves_inside_the_bundle(snapshot: PlanSnapshot) -> None:
    bundle = plan_bundle(snapshot)
    full_urls = {e["fullUrl"] for e in bundle["entry"]}
    assert set(references(bundle)) <= full_urls


@SETTINGS
@given(snapshots())
def test_every_entry_is_a_put_of_its_derived_id_under_a_urn_uuid(snapshot: PlanSnapshot) -> None:
    bundle = plan_bundle(snapshot)
    assert bundle["type"] == "transaction"
    ids = [e["resource"]["id"] for e in bundle["entry"]]
    assert len(ids) == len(set(ids))
    for entry in bundle["entry"]:
        resource = entry["resource"]
        assert entry["fullUrl"] == f"urn:uuid:{resource['id']}"
        assert entry["request"] == {
            "method": "PUT",
            "url": f"{resource['resourceType']}/{resource['id']}",
        }


@SETTINGS
@given(snapshots())
def test_one_careplan_per_child_each_about_its_patient(snapshot: PlanSnapshot) -> None:
    bundle = plan_bundle(snapshot)
    patients = {f"urn:uuid:{p['id']}" for p in resources(bundle, "Patient")}
    plans = resources(bundle, "CarePlan")
    assert len(plans) == len(snapshot.children) == len(patients)
    assert {p["subject"]["reference"] for p in plans} == patients
    groups = resources(bundle, "Group")
    assert len(groups) == 1
    group_url = f"urn:uuid:{groups[0]['id']}"
    for plan in plans:
        assert plan["supportingInfo"] == [{"reference": group_url}]
        assert plan["identifier"] == [
            {"system": coding.PLAN_SYSTEM, "value": str(snapshot.plan_id)}
        ]
    (team,) = resources(bundle, "CareTeam")
    assert team["subject"]["reference"] == group_url


@SETTINGS
@given(snapshots())
def test_identity_codes_appear_only_as_identifiers(snapshot: PlanSnapshot) -> None:
    bundle = plan_bundle(snapshot)
    codes = {p.identity_code for p in snapshot.persons}
    for entry in bundle["entry"]:
        assert not any(code in entry["fullUrl"] + entry["request"]["url"] for code in codes)
        resource = dict(entry["resource"])
        holders = resource.pop("identifier", [])
        assert not any(code in json.dumps(resource) for code in codes)
        for identifier in holders:
            if identifier["value"] in codes:
                assert identifier["system"] == coding.HETU_SYSTEM
                assert identifier["type"]["coding"][0]["code"] == "NNFIN"
    patient_codes = {i["value"] for p in resources(bundle, "Patient") for i in p["identifier"]}
    assert patient_codes == {p.identity_code for p in snapshot.children}


@SETTINGS
@given(snapshots())
def test_nothing_refers_to_items_outside_the_snapshot(snapshot: PlanSnapshot) -> None:
    """Remarks, progress and links about items the recipient cannot see are left out."""
    bundle = plan_bundle(snapshot)
    text = to_json(bundle)
    visible = {
        i.id for i in (*snapshot.needs, *snapshot.goals, *snapshot.actions, *snapshot.reviews)
    }
    for remark in snapshot.remarks:
        if remark.target_type != "plan" and remark.target_id not in visible:
            assert derive("Goal", remark.target_id) not in text
    for goal in snapshot.goals:
        if goal.need_id is not None and goal.need_id not in {n.id for n in snapshot.needs}:
            assert derive("Condition", goal.need_id) not in text


def _base(**extra: Any) -> dict[str, Any]:
    now = dt.datetime(2026, 1, 5, 12, tzinfo=UTC)
    return {
        "id": uuid.uuid4(),
        "version": 1,
        "category": "general",
        "created_at": now,
        "updated_at": now,
        **extra,
    }


def _with(snapshot: PlanSnapshot, **changes: Any) -> PlanSnapshot:
    return dataclasses.replace(snapshot, **changes)


@pytest.fixture
def small() -> PlanSnapshot:
    from tests.fhir_export.samples import demo_snapshot

    return demo_snapshot()


def test_dissent_stays_an_annotation_on_the_goal_it_disputes(small: PlanSnapshot) -> None:
    goal = GoalData(**_base(), title="Aamut sujuvat", desired_outcome="Ajoissa kouluun")
    dissent = RemarkData(
        **_base(), kind="dissent", target_type="goal", target_id=goal.id, text="Eri mieltä"
    )
    bundle = plan_bundle(_with(small, goals=(goal,), remarks=(dissent,)))
    (fhir_goal,) = resources(bundle, "Goal")
    (note,) = fhir_goal["note"]
    assert note["text"] == "Eri mieltä"
    assert note["extension"] == [{"url": coding.ANNOTATION_KIND_URL, "valueCode": "dissent"}]
    assert "Eri mieltä" not in json.dumps(resources(bundle, "CarePlan"))


def test_goal_has_target_measure_and_achievement(small: PlanSnapshot) -> None:
    goal = GoalData(
        **_base(),
        title="Puhe",
        desired_outcome="Kolmen sanan lauseet",
        evidence="Puheterapeutin arvio",
        target_date=dt.date(2026, 6, 1),
        achievement="improving",
    )
    (fhir_goal,) = resources(plan_bundle(_with(small, goals=(goal,))), "Goal")
    assert fhir_goal["target"] == [
        {
            "measure": {"text": "Puheterapeutin arvio"},
            "detailString": "Kolmen sanan lauseet",
            "dueDate": "2026-06-01",
        }
    ]
    assert fhir_goal["achievementStatus"]["coding"][0] == {
        "system": coding.GOAL_ACHIEVEMENT,
        "code": "improving",
        "display": "Improving",
    }


def test_item_hidden_from_guardians_carries_the_thl_label(small: PlanSnapshot) -> None:
    need = NeedData(**_base(restricted=True), title="Uni")
    (condition,) = resources(plan_bundle(_with(small, needs=(need,))), "Condition")
    assert condition["meta"]["security"] == [
        {
            "system": coding.MINOR_RESTRICTION_SYSTEM,
            "code": "3",
            "display": coding.CODE_SYSTEMS[coding.MINOR_RESTRICTION_SYSTEM]["3"],
        }
    ]


def test_a_code_outside_its_value_set_is_refused(small: PlanSnapshot) -> None:
    with pytest.raises(coding.UnknownCodeError):
        coding.code("CarePlan.status", "banana")
    with pytest.raises(coding.UnknownCodeError):
        plan_bundle(_with(small, goals=(GoalData(**_base(), title="x", achievement="banana"),)))


def test_provenance_names_author_custodian_and_version(small: PlanSnapshot) -> None:
    bundle = plan_bundle(small)
    (provenance,) = resources(bundle, "Provenance")
    types = {a["type"]["coding"][0]["code"]: a["who"]["reference"] for a in provenance["agent"]}
    organizations = {f"urn:uuid:{o['id']}" for o in resources(bundle, "Organization")}
    assert types["CST"] in organizations  # fi-base information custodian
    (custodian,) = [a for a in provenance["agent"] if a["type"]["coding"][0]["code"] == "CST"]
    assert custodian["type"]["coding"][0]["system"] == coding.V3_PARTICIPATION_TYPE
    assert custodian["role"][0]["coding"][0]["system"] == "urn:oid:1.2.246.537.5.40172"
    assert custodian["who"]["identifier"]["type"]["coding"][0]["code"] == "PRN"
    assert custodian["who"]["identifier"]["value"]
    assert types["author"] in {f"urn:uuid:{r['id']}" for r in resources(bundle, "PractitionerRole")}
    assert (
        provenance["entity"][0]["what"]["identifier"]["value"] == f"{small.plan_id}/{small.version}"
    )
    assert provenance["id"] == derive("Provenance", small.plan_id, small.version)
    targets = {t["reference"] for t in provenance["target"]}
    assert {f"urn:uuid:{p['id']}" for p in resources(bundle, "CarePlan")} <= targets


def test_organization_is_identified_by_its_sote_oid(small: PlanSnapshot) -> None:
    for org in resources(plan_bundle(small), "Organization"):
        (identifier,) = org["identifier"]
        assert identifier["system"] == "urn:oid:1.2.246.537.6.202"
        assert re.fullmatch(r"1\.2\.246\.10\.\d+\.10\.0", identifier["value"])


def test_a_new_version_keeps_resource_ids_but_adds_a_provenance(small: PlanSnapshot) -> None:
    first = plan_bundle(small)
    second = plan_bundle(_with(small, version=small.version + 1))
    ids = lambda b, kind: {r["id"] for r in resources(b, kind)}  # noqa: E731
    assert ids(first, "CarePlan") == ids(second, "CarePlan")
    assert ids(first, "Provenance") != ids(second, "Provenance")


def test_access_row_exports_as_balp_auditevent_with_identifiers_only() -> None:
    row = AccessRecord(
        id=uuid.uuid4(),
        recorded_at=dt.datetime(2026, 1, 5, 12, tzinfo=UTC),
        action="read",
        outcome="success",
        actor_user_id=7,
        subject_id=uuid.uuid4(),
        subject_identity_code="010120A901R",
        plan_id=uuid.uuid4(),
        object_type="goal",
        object_id=str(uuid.uuid4()),
        object_version=3,
        purpose="care",
        client_ip="10.0.0.1",
    )
    event = audit_event(row)
    validated(event)
    assert event["type"]["code"] == "rest"
    assert event["subtype"][0]["code"] == "read"
    assert event["action"] == "R"
    assert event["outcome"] == "0"
    patient, data = event["entity"]
    assert patient["what"] == {
        "identifier": {
            "type": coding.concept(coding.V2_0203, "NNFIN"),
            "system": coding.HETU_SYSTEM,
            "value": "010120A901R",
        }
    }
    assert patient["role"]["code"] == "1"
    assert data["what"]["identifier"]["value"] == f"{row.object_id}/3"
    assert [a["requestor"] for a in event["agent"]] == [True, False]
    assert audit_event(row) == event  # stable id, same row same resource


GOLDEN = Path(__file__).parent / "golden" / "demo_bundle.json"


def _by_type(bundle: dict[str, Any], kind: str) -> list[dict[str, Any]]:
    return [e["resource"] for e in bundle["entry"] if e["resource"]["resourceType"] == kind]


def test_demo_bundle_says_what_the_hand_written_input_says(small: PlanSnapshot) -> None:
    """An oracle written by hand from tests/fhir_export/samples.py (the input) and the FHIR R4
    specification, not from the export's output: who is who, and what the plan holds."""
    bundle = plan_bundle(small)
    assert bundle["resourceType"] == "Bundle"
    assert bundle["type"] == "transaction"
    hetu = "urn:oid:1.2.246.21"

    def codes(resource: dict[str, Any]) -> set[str]:
        return {i["value"] for i in resource.get("identifier", []) if i.get("system") == hetu}

    patients = {p["name"][0]["given"][0]: p for p in _by_type(bundle, "Patient")}
    assert {n: (p["name"][0]["family"], p["birthDate"]) for n, p in patients.items()} == {
        "Aino": ("Virtanen", "2018-01-05"),
        "Eetu": ("Virtanen", "2021-01-05"),
    }
    assert codes(patients["Aino"]) == {"050118A901R"}
    assert codes(patients["Eetu"]) == {"050121A902J"}
    ref = {f"urn:uuid:{p['id']}": name for name, p in patients.items()}
    # Both guardians are guardians of both children: four relations.
    relations = {
        (r["name"][0]["given"][0], ref[r["patient"]["reference"]], frozenset(codes(r)))
        for r in _by_type(bundle, "RelatedPerson")
        if any(c["code"] == "GUARD" for rel in r["relationship"] for c in rel["coding"])
    }
    assert relations == {
        ("Mikko", "Aino", frozenset({"140388-9039"})),
        ("Mikko", "Eetu", frozenset({"140388-9039"})),
        ("Sanna", "Aino", frozenset({"020790-904A"})),
        ("Sanna", "Eetu", frozenset({"020790-904A"})),
    }
    organizations = {
        o["name"]: {i["value"] for i in o["identifier"]} for o in _by_type(bundle, "Organization")
    }
    assert organizations == {
        "Aurinkolaakson hyvinvointialue": {"1.2.246.10.1234567.10.0"},
        "Aurinkolaakson kaupunki": {"1.2.246.10.7654321.10.0"},
    }
    plans = {ref[c["subject"]["reference"]]: c for c in _by_type(bundle, "CarePlan")}
    assert set(plans) == {"Aino", "Eetu"}
    for plan in plans.values():
        assert (plan["status"], plan["intent"], plan["period"]["start"]) == (
            "active",
            "plan",
            "2026-01-05",
        )
        assert plan["description"] == "Vanhemmat asuvat erillään ja lapset vuoroviikoin molemmilla."
    # The need, the goal and the action concern Eetu only.
    [condition] = _by_type(bundle, "Condition")
    assert condition["code"]["text"] == "Eetun puheen kehityksen tukeminen"
    assert ref[condition["subject"]["reference"]] == "Eetu"
    [goal] = _by_type(bundle, "Goal")
    assert goal["description"]["text"] == "Eetu tulee ymmärretyksi päiväkodissa"
    assert ref[goal["subject"]["reference"]] == "Eetu"
    assert goal["achievementStatus"]["coding"][0]["code"] == "improving"
    [target] = goal["target"]
    assert target["dueDate"] == "2026-07-01"
    assert target["detailString"] == "Eetu kertoo päivästään kolmen sanan lausein."
    assert goal["addresses"] == [{"reference": f"urn:uuid:{condition['id']}"}]
    assert [a["detail"]["description"] for a in plans["Eetu"].get("activity", [])] == [
        "Lähete puheterapeutin arvioon."
    ]
    assert plans["Aino"].get("activity", []) == []
    assert plans["Eetu"]["goal"] == [{"reference": f"urn:uuid:{goal['id']}"}]
    # The consent covers both children: one Consent resource each.
    consents = _by_type(bundle, "Consent")
    assert sorted(ref[c["patient"]["reference"]] for c in consents) == ["Aino", "Eetu"]
    assert {c["status"] for c in consents} == {"active"}


def test_demo_bundle_matches_the_golden_file(small: PlanSnapshot) -> None:
    """A change detector, not an oracle (the oracle is the test above): the golden file was
    written from the export itself, so it only shows that the output changed. Regenerate it
    only on purpose and review the diff:
    `python -c "from tests.fhir_export.test_bundle import write_golden; write_golden()"`."""
    bundle = plan_bundle(small)
    assert bundle == json.loads(GOLDEN.read_text(encoding="utf-8"))
    round_trip = validated(bundle).model_dump(mode="json", exclude_none=True)
    # The model writes UTC as "Z" where we write "+00:00": the same instant.
    canonical = json.dumps(bundle, sort_keys=True).replace("+00:00", "Z")
    assert json.dumps(round_trip, sort_keys=True) == canonical


def write_golden() -> None:
    from tests.fhir_export.samples import demo_snapshot

    text = json.dumps(plan_bundle(demo_snapshot()), indent=1, ensure_ascii=False)
    GOLDEN.write_text(text + "\n", encoding="utf-8")
