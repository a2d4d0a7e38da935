"""The transaction Bundle of one plan version for one recipient, and its canonical JSON.

Every entry has a `urn:uuid:` fullUrl (references between entries use it, and the server
resolves them on transaction) and a `request` of `PUT <type>/<derived id>`: a repeated push of
the same version updates the same resources instead of creating duplicates, and no URL carries
an identity code. Entries come in a fixed order and ids are derived (see `identifiers`), so the
same snapshot always gives byte-identical JSON.
"""

from __future__ import annotations

import json
from typing import Any

from fhir_export import coding as c
from fhir_export import validated
from fhir_export.careplan import content
from fhir_export.consent import consents
from fhir_export.identifiers import derive, full_url
from fhir_export.participants import Resource, care_team, people
from fhir_export.provenance import provenance
from fhir_export.snapshot import PlanSnapshot


def plan_resources(snapshot: PlanSnapshot) -> list[Resource]:
    """Every resource of the export, in Bundle order, as plain dicts (not yet validated)."""
    who = people(snapshot)
    plans, items = content(snapshot, who)
    team = care_team(snapshot, who)
    custodian = who.organizations.get(snapshot.custodian_organization_id)  # type: ignore[arg-type]
    consent_resources = consents(snapshot.consents, who, custodian)
    described = [*plans, *items, team, *consent_resources]
    return [*who.resources(), *described, provenance(snapshot, who, described)]


def entry(resource: Resource) -> dict[str, Any]:
    """A transaction entry that creates or replaces `resource` under its derived id."""
    method = c.code("Bundle.entry.request.method", "PUT")
    return {
        "fullUrl": full_url(resource["id"]),
        "resource": resource,
        "request": {"method": method, "url": f"{resource['resourceType']}/{resource['id']}"},
    }


def plan_bundle(snapshot: PlanSnapshot) -> dict[str, Any]:
    """The transaction Bundle of `snapshot`, validated against the R4 models, as a dict.

    Raises pydantic's ValidationError on a structural error and `coding.UnknownCodeError` on a code
    outside its value set; both are bugs, never something to send.
    """
    bundle = {
        "resourceType": "Bundle",
        "id": derive("Bundle", snapshot.plan_id, snapshot.version),
        "type": c.code("Bundle.type", "transaction"),
        "entry": [entry(r) for r in plan_resources(snapshot)],
    }
    validated(bundle)
    return bundle


def to_json(resource: dict[str, Any]) -> str:
    """Canonical JSON (keys in the order built, no spaces), identical for identical input."""
    return json.dumps(resource, ensure_ascii=False, separators=(",", ":"))
