"""Provenance of one exported plan version: who wrote it, which version, who is its custodian.

The author is whoever produced this version (their PractitionerRole, or the lead's when they are
no longer in the team). The custodian (rekisterinpitäjä) is the lead's organisation, given in the
HL7 Finland information-custodian pattern (fi-base `fi-base-information-custodian`): an agent of
type v3-ParticipationType `CST`, a role from eArkisto - Rekisterinpitäjän laji
(`urn:oid:1.2.246.537.5.40172`, 1 public, 2 private) and the organisation by identifier (type
`PRN`; a public custodian's id in `urn:oid:1.2.246.537.6.40174`, otherwise its SOTE OID in
`urn:oid:1.2.246.537.6.202`). The source register is an entity with role `source`: patient
records (`urn:oid:1.2.246.537.5.40150`) for a health custodian, social-welfare client records
(`urn:oid:1.2.246.537.6.1264`) for a social one (the pattern fi-base last proposed; see
docs/fhir.md). The version is the entity the export was derived from, by the plan-version
identifier. Its id derives from the plan id and version, so every version pushed leaves its own
Provenance and the same version twice leaves one.

For an export to a named recipient (`snapshot.reader_relative`) the plan version, its time and
its author would tell the recipient that something it may not receive changed; the Provenance
is then named by a digest of what it describes and dated by the latest item it may receive.
"""

from __future__ import annotations

import hashlib
from typing import Any

import orjson

from fhir_export import coding as c
from fhir_export.identifiers import derive, reference
from fhir_export.participants import People, Resource
from fhir_export.primitives import ORJSON_STRICT
from fhir_export.snapshot import PlanSnapshot

#: Source register by the custodian organisation's sector (Kanta registers exist for two).
SOURCE_REGISTER = {
    "health": (c.PATIENT_REGISTER_SYSTEM, "2"),
    "social": (c.SOCIAL_REGISTER_SYSTEM, "1"),
}


def content_digest(resources: list[Resource]) -> str:
    """A short digest of resources, naming a reader-relative version of the plan."""
    # The bytes of json.dumps(..., ensure_ascii=False, separators=(",", ":"), sort_keys=True),
    # as `bundle.to_json_bytes` (the digest names versions already pushed: it must not move).
    text = orjson.dumps(resources, option=orjson.OPT_SORT_KEYS | ORJSON_STRICT)
    return hashlib.sha256(text).hexdigest()[:32]


def custodian_profile(snapshot: PlanSnapshot) -> str | None:
    """The fi-base custodian profile the Provenance meets, or None when there is no custodian."""
    org = next(
        (o for o in snapshot.organizations if o.id == snapshot.custodian_organization_id), None
    )
    if org is None:
        return None
    if not org.public:
        return c.fi_profile("fi-base-information-custodian-private")
    if org.custodian_register_id:
        return c.fi_profile("fi-base-information-custodian-public")
    return None  # a public custodian without a register id meets only the abstract pattern


def _custodian_agent(snapshot: PlanSnapshot, who: People) -> dict[str, Any] | None:
    org = next(
        (o for o in snapshot.organizations if o.id == snapshot.custodian_organization_id), None
    )
    resource = who.organizations.get(snapshot.custodian_organization_id)  # type: ignore[arg-type]
    if org is None or resource is None:
        return None
    if org.public and org.custodian_register_id:
        system, value = c.CUSTODIAN_REGISTER_SYSTEM, org.custodian_register_id
    else:
        system, value = c.SOTE_ORGANIZATION_SYSTEM, org.oid
    kind = "1" if org.public else "2"
    return {
        "type": c.concept(c.V3_PARTICIPATION_TYPE, "CST", text="Rekisterinpitäjä"),
        "role": [c.concept(c.CUSTODIAN_KIND_SYSTEM, kind)],
        "who": {
            **reference(resource),
            "type": "Organization",
            "identifier": {
                "type": c.concept(c.V2_0203, "PRN"),
                "system": system,
                "value": value,
            },
            "display": resource["name"],
        },
    }


def provenance(snapshot: PlanSnapshot, who: People, targets: list[Resource]) -> Resource:
    """The Provenance of every resource in `targets` (the export's plan resources)."""
    agents: list[dict[str, Any]] = []
    author = who.roles_by_user.get(snapshot.updated_by_user_id)  # type: ignore[arg-type]
    if author is None:
        lead = next((m for m in snapshot.members if m.role == "lead" and m.ended_at is None), None)
        author = who.roles_by_user.get(lead.user_id) if lead is not None else None
    if author is not None:
        agents.append(
            {"type": c.concept(c.PROVENANCE_AGENT_TYPE, "author"), "who": reference(author)}
        )
    custodian = _custodian_agent(snapshot, who)
    if custodian is not None:
        agents.append(custodian)
    if not agents:  # Provenance.agent is 1..*; the service itself vouches for the record.
        agents.append(
            {
                "type": c.concept(c.PROVENANCE_AGENT_TYPE, "custodian"),
                "who": {"identifier": {"system": c.SERVICE_DEVICE_SYSTEM, "value": "plan-service"}},
            }
        )
    if snapshot.reader_relative:
        label = content_digest(targets)
        display = f"plan content {label[:12]}"
    else:
        label, display = str(snapshot.version), f"plan version {snapshot.version}"
    entities: list[dict[str, Any]] = [
        {
            "role": c.code("Provenance.entity.role", "source"),
            "what": {
                "identifier": {
                    "system": c.PLAN_VERSION_SYSTEM,
                    "value": f"{snapshot.plan_id}/{label}",
                },
                "display": display,
            },
        }
    ]
    custodian_org = next(
        (o for o in snapshot.organizations if o.id == snapshot.custodian_organization_id), None
    )
    if (
        custodian is not None
        and custodian_org is not None
        and custodian_org.sector in SOURCE_REGISTER
    ):
        system, value = SOURCE_REGISTER[custodian_org.sector]
        entities.append(
            {
                "role": c.code("Provenance.entity.role", "source"),
                "what": {
                    "identifier": {"system": system, "value": value},
                    "display": c.coding(system, value)["display"],
                },
            }
        )
    return {
        "resourceType": "Provenance",
        "id": derive("Provenance", snapshot.plan_id, label),
        "target": [reference(t) for t in targets],
        "recorded": snapshot.updated_at.isoformat(),
        "agent": agents,
        "entity": entities,
    }
