"""The transaction Bundle of one plan version for one recipient, and its canonical JSON.

Every entry has a `urn:uuid:` fullUrl (references between entries use it, and the server
resolves them on transaction) and a `request` of `PUT <type>/<derived id>`: a repeated push of
the same version updates the same resources instead of creating duplicates, and no URL carries
an identity code. Entries come in a fixed order and ids are derived (see `identifiers`), so the
same snapshot always gives byte-identical JSON.
"""

from __future__ import annotations

from typing import Any

import orjson

from fhir_export import coding as c
from fhir_export import validated
from fhir_export.careplan import content
from fhir_export.consent import consents
from fhir_export.identifiers import derive, full_url, reference
from fhir_export.narrative import finish
from fhir_export.participants import Resource, care_team, people
from fhir_export.primitives import ORJSON_STRICT
from fhir_export.provenance import content_digest, custodian_profile, provenance
from fhir_export.snapshot import PlanSnapshot


def plan_resources(snapshot: PlanSnapshot) -> list[Resource]:
    """Every resource of the export, in Bundle order, as plain dicts (not yet validated).

    Each carries its fi-base finish (`narrative.finish`): meta.profile, language, narrative.
    """
    who = people(snapshot)
    plans, items = content(snapshot, who)
    team = care_team(snapshot, who)
    custodian = who.organizations.get(snapshot.custodian_organization_id)  # type: ignore[arg-type]
    consent_resources = consents(snapshot.consents, who, custodian)
    patients = frozenset(reference(p)["reference"] for p in who.patients.values())
    language = snapshot.language

    def done(resources: list[Resource]) -> list[Resource]:
        return [finish(r, language, patient_refs=patients) for r in resources]

    described = done([*plans, *items, team, *consent_resources])
    origin = finish(
        provenance(snapshot, who, described), language, extra_profile=custodian_profile(snapshot)
    )
    return [*done(who.resources()), *described, origin]


def entry(resource: Resource) -> dict[str, Any]:
    """A transaction entry that creates or replaces `resource` under its derived id."""
    method = c.code("Bundle.entry.request.method", "PUT")
    return {
        "fullUrl": full_url(resource["id"]),
        "resource": resource,
        "request": {"method": method, "url": f"{resource['resourceType']}/{resource['id']}"},
    }


def plan_bundle(snapshot: PlanSnapshot, *, validate: bool = False) -> dict[str, Any]:
    """The transaction Bundle of `snapshot`, as a dict.

    Every code goes through `coding` (raises `UnknownCodeError` outside its value set). The
    structure is not re-validated per Bundle: the builders are proven valid over every plan
    shape by property tests (tests/fhir_export/test_bundle.py, Hypothesis over
    tests/fhir_export/strategies.py, with fhir.resources and the two Node validators), which
    costs nothing at export time. `validate=True` also runs the fhir.resources R4 models and
    raises pydantic's ValidationError on a structural error (tests and `--validate`).
    """
    resources = plan_resources(snapshot)
    label: object = snapshot.version
    if snapshot.reader_relative:
        label = content_digest(resources)
    bundle = {
        "resourceType": "Bundle",
        "id": derive("Bundle", snapshot.plan_id, label),
        "type": c.code("Bundle.type", "transaction"),
        "entry": [entry(r) for r in resources],
    }
    if validate:
        validated(bundle)
    return bundle


def to_json_bytes(resource: dict[str, Any]) -> bytes:
    """Canonical JSON as UTF-8 (keys in the order built, no spaces), identical for identical
    input: byte for byte `json.dumps(resource, ensure_ascii=False, separators=(",", ":"))`
    (tests/fhir_export/test_serialisation.py checks it over generated plans of every shape),
    made by orjson, which the bulk export needs for its speed."""
    return orjson.dumps(resource, option=ORJSON_STRICT)


def to_json(resource: dict[str, Any]) -> str:
    """`to_json_bytes` as text."""
    return to_json_bytes(resource).decode()
