"""Consent records as FHIR R4 Consent: one per consent and child, since R4 Consent has one patient.

Scope is patient-privacy (ppc-2 then needs the patient), category LOINC 59284-0, and the rule is
the Finnish Client Data Act (ppc-1 needs a policy or policyRule). The recipient is an
Organization when the consent names one, else the sector, by identifier. The information
categories consented to are the provision's codes.
"""

from __future__ import annotations

from typing import Any

from fhir_export import coding as c
from fhir_export.identifiers import derive, reference
from fhir_export.participants import People, Resource
from fhir_export.snapshot import ConsentData

#: Act on the Processing of Client Data in Healthcare and Social Welfare (703/2023).
CLIENT_DATA_ACT = "https://finlex.fi/fi/laki/alkup/2023/20230703"
STATUS = {"active": "active", "withdrawn": "inactive", "refused": "rejected"}


def _recipient(consent: ConsentData, who: People) -> dict[str, Any]:
    if consent.recipient_organization_id in who.organizations:
        return reference(who.organizations[consent.recipient_organization_id])  # type: ignore[index]
    code = c.coding(c.SECTOR_SYSTEM, consent.recipient_sector)
    return {
        "identifier": {"system": c.SECTOR_SYSTEM, "value": code["code"]},
        "display": code["display"],
    }


def _grantor(consent: ConsentData, child_id: Any, who: People) -> dict[str, Any] | None:
    if consent.grantor_id in who.patients:
        return reference(who.patients[consent.grantor_id])
    related = who.related.get((consent.grantor_id, child_id))
    return reference(related) if related is not None else None


def consents(
    items: tuple[ConsentData, ...], who: People, custodian: Resource | None
) -> list[Resource]:
    """Every consent the recipient may see, one Consent per child it covers."""
    result = []
    for consent in items:
        for child_id in consent.subject_ids:
            if child_id not in who.patients:
                continue
            provision: dict[str, Any] = {
                "type": c.code("Consent.provision.type", "permit"),
                "period": {"start": consent.valid_from.isoformat()},
                "actor": [
                    {
                        "role": c.concept(c.V3_PARTICIPATION_TYPE, "IRCP"),
                        "reference": _recipient(consent, who),
                    }
                ],
                "code": [c.concept(c.CATEGORY_SYSTEM, cat) for cat in consent.categories],
            }
            if consent.valid_until is not None:
                provision["period"]["end"] = consent.valid_until.isoformat()
            resource: Resource = {
                "resourceType": "Consent",
                "id": derive("Consent", consent.id, child_id),
                "identifier": [{"system": c.ITEM_SYSTEM, "value": str(consent.id)}],
                "status": c.code("Consent.status", STATUS[consent.status]),
                "scope": c.concept(c.CONSENT_SCOPE, "patient-privacy"),
                "category": [c.concept(c.LOINC, "59284-0")],
                "patient": reference(who.patients[child_id]),
                "dateTime": consent.created_at.isoformat(),
                "policy": [{"authority": "https://finlex.fi", "uri": CLIENT_DATA_ACT}],
                "provision": provision,
            }
            grantor = _grantor(consent, child_id, who)
            if grantor is not None:
                resource["performer"] = [grantor]
            if custodian is not None:
                resource["organization"] = [reference(custodian)]
            result.append(resource)
    return result
