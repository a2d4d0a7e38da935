"""Provenance of one exported plan version: who wrote it, which version, who is its custodian.

The author is whoever produced this version (their PractitionerRole, or the lead's when they are
no longer in the team); the custodian (rekisterinpitäjä) is the lead's organisation. The version
is the entity the export was derived from, named by the plan-version identifier, since a
`urn:uuid:` reference cannot carry a version. Its id derives from the plan id and version, so
every version pushed leaves its own Provenance and the same version twice leaves one.
"""

from __future__ import annotations

from typing import Any

from fhir_export import coding as c
from fhir_export.identifiers import derive, reference
from fhir_export.participants import People, Resource
from fhir_export.snapshot import PlanSnapshot


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
    custodian = who.organizations.get(snapshot.custodian_organization_id)  # type: ignore[arg-type]
    if custodian is not None:
        agents.append(
            {"type": c.concept(c.PROVENANCE_AGENT_TYPE, "custodian"), "who": reference(custodian)}
        )
    if not agents:  # Provenance.agent is 1..*; the service itself vouches for the record.
        agents.append(
            {
                "type": c.concept(c.PROVENANCE_AGENT_TYPE, "custodian"),
                "who": {"identifier": {"system": c.SERVICE_DEVICE_SYSTEM, "value": "plan-service"}},
            }
        )
    return {
        "resourceType": "Provenance",
        "id": derive("Provenance", snapshot.plan_id, snapshot.version),
        "target": [reference(t) for t in targets],
        "recorded": snapshot.updated_at.isoformat(),
        "agent": agents,
        "entity": [
            {
                "role": c.code("Provenance.entity.role", "source"),
                "what": {
                    "identifier": {
                        "system": c.PLAN_VERSION_SYSTEM,
                        "value": f"{snapshot.plan_id}/{snapshot.version}",
                    },
                    "display": f"plan version {snapshot.version}",
                },
            }
        ],
    }
