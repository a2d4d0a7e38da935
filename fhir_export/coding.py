"""Code systems, value sets and identifier systems of the export, and checked Coding builders.

fhir.resources checks structure but not code values (`status="banana"` passes), so every code
the export emits goes through `code()` or `coding()`, which raise `UnknownCodeError` for a value
outside the value set we bind it to. The sets below are copied from FHIR R4 4.0.1 (and from
THL / HL7 Finland for the Finnish systems); tests/fhir_export checks them again with FHIR.js.
"""

from __future__ import annotations

from typing import Any

#
# Identifier systems
#

#: Finnish personal identity code (henkilötunnus), HL7 Finland base profile.
HETU_SYSTEM = "urn:oid:1.2.246.21"
#: SOTE organisation register; organisation OIDs are its identifier values.
SOTE_ORGANIZATION_SYSTEM = "urn:oid:1.2.246.537.6.202"
#: Terhikki register of health professionals (Valvira), fi-base Practitioner slice Terhikki.
TERHIKKI_SYSTEM = "urn:oid:1.2.246.537.26"
#: SV number (yksilöintitunnus), fi-base Practitioner slice SV.
SV_SYSTEM = "urn:oid:1.2.246.537.25"
#: eArkisto - Rekisterinpitäjärekisteri: custodian ids of public custodians (fi-base).
CUSTODIAN_REGISTER_SYSTEM = "urn:oid:1.2.246.537.6.40174"
#: eArkisto - Rekisterinpitäjän laji: 1 public, 2 private (fi-base information custodian).
CUSTODIAN_KIND_SYSTEM = "urn:oid:1.2.246.537.5.40172"
#: KanTa-palvelut - Potilasasiakirjan rekisteritunnus (patient-record registers).
PATIENT_REGISTER_SYSTEM = "urn:oid:1.2.246.537.5.40150"
#: Sosiaalihuolto - Asiakirjan rekisteritunnus (social-welfare client-record registers).
SOCIAL_REGISTER_SYSTEM = "urn:oid:1.2.246.537.6.1264"
#: HL7 Finland base profiles: canonical base, and the security-label code system (TURVAKIELTO).
FI_BASE = "https://hl7.fi/fhir/finnish-base-profiles"
FI_SECURITY_LABEL = f"{FI_BASE}/CodeSystem/fi-base-security-label-cs"


def fi_profile(profile_id: str) -> str:
    """The canonical URL of a Finnish base profile (sushi-config.yaml `canonical` + id)."""
    return f"{FI_BASE}/StructureDefinition/{profile_id}"


#: THL code set: a minor's data toward the guardians (1 not capable, 2 capable and allows,
#: 3 capable and forbids, 4 unknown).
MINOR_RESTRICTION_SYSTEM = "urn:oid:1.2.246.537.5.40202.201901"

#: Until the service has an OID of its own, its local identifier and code systems live under
#: this base. Replace it with the registered OID before any production exchange.
LOCAL_BASE = "https://perhesuunnitelma.example.fi/fhir"
PLAN_SYSTEM = f"{LOCAL_BASE}/sid/plan"
PLAN_VERSION_SYSTEM = f"{LOCAL_BASE}/sid/plan-version"
PERSON_SYSTEM = f"{LOCAL_BASE}/sid/person"
FAMILY_SYSTEM = f"{LOCAL_BASE}/sid/family"
USER_SYSTEM = f"{LOCAL_BASE}/sid/user"
ITEM_SYSTEM = f"{LOCAL_BASE}/sid/plan-item"
SECTOR_SYSTEM = f"{LOCAL_BASE}/CodeSystem/sector"
CATEGORY_SYSTEM = f"{LOCAL_BASE}/CodeSystem/information-category"
PROFESSIONAL_ROLE_SYSTEM = f"{LOCAL_BASE}/CodeSystem/professional-role"
PLAN_ROLE_SYSTEM = f"{LOCAL_BASE}/CodeSystem/plan-role"
ANNOTATION_KIND_URL = f"{LOCAL_BASE}/StructureDefinition/annotation-kind"
SERVICE_DEVICE_SYSTEM = f"{LOCAL_BASE}/sid/service"
#: Marks an identifier value that was percent-encoded (`primitives.identifier_value`).
ENCODED_EXTENSION = f"{LOCAL_BASE}/StructureDefinition/percent-encoded"
ACCOUNT_SYSTEM = f"{LOCAL_BASE}/sid/account-object"
ORGANIZATION_ID_SYSTEM = f"{LOCAL_BASE}/sid/organization"

#
# HL7 code systems
#

V2_0203 = "http://terminology.hl7.org/CodeSystem/v2-0203"
V3_ROLE_CODE = "http://terminology.hl7.org/CodeSystem/v3-RoleCode"
V3_PARTICIPATION_TYPE = "http://terminology.hl7.org/CodeSystem/v3-ParticipationType"
V3_ACT_REASON = "http://terminology.hl7.org/CodeSystem/v3-ActReason"
GOAL_ACHIEVEMENT = "http://terminology.hl7.org/CodeSystem/goal-achievement"
CONDITION_CATEGORY = "http://terminology.hl7.org/CodeSystem/condition-category"
CONDITION_CLINICAL = "http://terminology.hl7.org/CodeSystem/condition-clinical"
CONSENT_SCOPE = "http://terminology.hl7.org/CodeSystem/consentscope"
LOINC = "http://loinc.org"
PROVENANCE_AGENT_TYPE = "http://terminology.hl7.org/CodeSystem/provenance-participant-type"
DICOM = "http://dicom.nema.org/resources/ontology/DCM"
RESTFUL_INTERACTION = "http://hl7.org/fhir/restful-interaction"
AUDIT_ENTITY_TYPE = "http://terminology.hl7.org/CodeSystem/audit-entity-type"
OBJECT_ROLE = "http://terminology.hl7.org/CodeSystem/object-role"
SECURITY_SOURCE_TYPE = "http://terminology.hl7.org/CodeSystem/security-source-type"
AUDIT_EVENT_TYPE = "http://terminology.hl7.org/CodeSystem/audit-event-type"
ISO_21089_LIFECYCLE = "http://terminology.hl7.org/CodeSystem/iso-21089-lifecycle"
#: IHE BALP profile of a disclosure recorded by its source (the disclosing system).
BALP_DISCLOSURE_SOURCE = (
    "https://profiles.ihe.net/ITI/BALP/StructureDefinition/IHE.BasicAudit.PrivacyDisclosure.Source"
)

#
# Value sets: system -> {code: display}. Required bindings of R4 (status codes and friends)
# are plain code sets keyed by the element they bind.
#

REQUIRED: dict[str, frozenset[str]] = {
    "CarePlan.status": frozenset(
        {"draft", "active", "on-hold", "revoked", "completed", "entered-in-error", "unknown"}
    ),
    "CarePlan.intent": frozenset({"proposal", "plan", "order", "option"}),
    "CarePlan.activity.detail.status": frozenset(
        {
            "not-started",
            "scheduled",
            "in-progress",
            "on-hold",
            "completed",
            "cancelled",
            "stopped",
            "unknown",
            "entered-in-error",
        }
    ),
    "Goal.lifecycleStatus": frozenset(
        {
            "proposed",
            "planned",
            "accepted",
            "active",
            "on-hold",
            "completed",
            "cancelled",
            "entered-in-error",
            "rejected",
        }
    ),
    "CareTeam.status": frozenset(
        {"proposed", "active", "suspended", "inactive", "entered-in-error"}
    ),
    "Consent.status": frozenset(
        {"draft", "proposed", "active", "rejected", "inactive", "entered-in-error"}
    ),
    "Consent.provision.type": frozenset({"deny", "permit"}),
    "Group.type": frozenset(
        {"person", "animal", "practitioner", "device", "medication", "substance"}
    ),
    "Bundle.type": frozenset(
        {
            "document",
            "message",
            "transaction",
            "transaction-response",
            "batch",
            "batch-response",
            "history",
            "searchset",
            "collection",
        }
    ),
    "Bundle.entry.request.method": frozenset({"GET", "HEAD", "POST", "PUT", "DELETE", "PATCH"}),
    "Provenance.entity.role": frozenset(
        {"derivation", "revision", "quotation", "source", "removal"}
    ),
    "AuditEvent.action": frozenset({"C", "R", "U", "D", "E"}),
    "AuditEvent.outcome": frozenset({"0", "4", "8", "12"}),
    "AuditEvent.agent.network.type": frozenset({"1", "2", "3", "4", "5"}),
}

CODE_SYSTEMS: dict[str, dict[str, str]] = {
    V2_0203: {"NNFIN": "National Person Identifier (Finland)", "PRN": "Provider number"},
    CUSTODIAN_KIND_SYSTEM: {"1": "Julkinen", "2": "Yksityinen"},
    PATIENT_REGISTER_SYSTEM: {"2": "Julkinen terveydenhuolto"},
    SOCIAL_REGISTER_SYSTEM: {"1": "Sosiaalihuollon asiakasasiakirjat"},
    FI_SECURITY_LABEL: {"TURVAKIELTO": "Turvakielto"},
    V3_ROLE_CODE: {"GUARD": "guardian"},
    V3_PARTICIPATION_TYPE: {"IRCP": "information recipient", "CST": "custodian"},
    V3_ACT_REASON: {"TREAT": "treatment", "HOPERAT": "healthcare operations"},
    GOAL_ACHIEVEMENT: {
        "in-progress": "In Progress",
        "improving": "Improving",
        "worsening": "Worsening",
        "no-change": "No Change",
        "achieved": "Achieved",
        "sustaining": "Sustaining",
        "not-achieved": "Not Achieved",
        "no-progress": "No Progress",
        "not-attainable": "Not Attainable",
    },
    CONDITION_CATEGORY: {"problem-list-item": "Problem List Item"},
    CONDITION_CLINICAL: {"active": "Active", "inactive": "Inactive", "resolved": "Resolved"},
    CONSENT_SCOPE: {"patient-privacy": "Privacy Consent"},
    LOINC: {"59284-0": "Patient Consent"},
    PROVENANCE_AGENT_TYPE: {"author": "Author", "custodian": "Custodian"},
    DICOM: {
        "110110": "Patient Record",
        "110153": "Source Role ID",
        "110152": "Destination Role ID",
        "110106": "Export",
        "110114": "User Authentication",
        "110122": "Login",
        "110123": "Logout",
        "110137": "User Security Attributes Changed",
    },
    RESTFUL_INTERACTION: {
        "read": "read",
        "search-type": "search type",
        "create": "create",
        "update": "update",
        "delete": "delete",
    },
    AUDIT_ENTITY_TYPE: {"1": "Person", "2": "System Object"},
    OBJECT_ROLE: {"1": "Patient", "4": "Domain Resource"},
    SECURITY_SOURCE_TYPE: {"4": "Application Server"},
    AUDIT_EVENT_TYPE: {"rest": "RESTful Operation"},
    ISO_21089_LIFECYCLE: {
        "disclose": "Disclose Record Lifecycle Event",
        "destroy": "Destroy/Delete Record Lifecycle Event",
    },
    MINOR_RESTRICTION_SYSTEM: {
        "1": "Alaikäinen ei kykene päättämään tietojensa luovuttamisesta",
        "2": "Alaikäinen kykenee päättämään ja sallii tietojen luovuttamisen huoltajalle",
        "3": "Alaikäinen kykenee päättämään ja kieltää tietojen luovuttamisen huoltajalle",
        "4": "Tieto puuttuu",
    },
    PLAN_ROLE_SYSTEM: {
        "lead": "vastuutyöntekijä (lead professional)",
        "member": "tiimin jäsen (team member)",
        "family": "perheen jäsen (member of the family)",
    },
    SECTOR_SYSTEM: {
        "social": "sosiaalihuolto (social welfare)",
        "health": "terveydenhuolto (health care)",
        "education": "kasvatus ja opetus (education)",
    },
    CATEGORY_SYSTEM: {
        "general": "yleinen (general)",
        "social": "sosiaalihuolto (social welfare)",
        "health": "terveydenhuolto (health)",
        "education": "kasvatus ja opetus (education)",
        "family": "perheen oma (family's own)",
    },
    ANNOTATION_KIND_URL: {
        "description": "description",
        "comment": "comment",
        "child_view": "the child's view",
        "guardian_view": "the guardians' view",
        "dissent": "dissent",
        "review": "review meeting",
        "progress": "progress noted in a review",
        "acknowledgement": "acknowledgement of a plan version",
    },
}


class UnknownCodeError(ValueError):
    """A code outside the value set it is bound to: a bug in the mapping, never exported."""


def code(element: str, value: str) -> str:
    """Return `value` if the required binding of `element` allows it; raise UnknownCodeError."""
    if value not in REQUIRED[element]:
        raise UnknownCodeError(f"{value!r} is not a valid code for {element}")
    return value


def coding(system: str, value: str, *, display: str | None = None) -> dict[str, Any]:
    """A Coding of `value` in `system`, checked against the codes we allow for that system.

    Systems whose codes come from the caller's own catalogue (professional roles) accept any
    non-empty code; their display comes from the caller.
    """
    known = CODE_SYSTEMS.get(system)
    if known is None:
        if system != PROFESSIONAL_ROLE_SYSTEM or not value:
            raise UnknownCodeError(f"no value set known for {system}")
        return {"system": system, "code": value, **({"display": display} if display else {})}
    if value not in known:
        raise UnknownCodeError(f"{value!r} is not in {system}")
    return {"system": system, "code": value, "display": display or known[value]}


def concept(system: str, value: str, *, text: str | None = None) -> dict[str, Any]:
    """A CodeableConcept with one checked Coding (and optional text)."""
    result: dict[str, Any] = {"coding": [coding(system, value)]}
    if text:
        result["text"] = text
    return result
