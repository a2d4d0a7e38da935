"""Access-log rows as FHIR R4 AuditEvent, in the shape of IHE Basic Audit Log Patterns (BALP).

One access-log row is already one person whose data was touched, so each row becomes one
AuditEvent with at most one patient entity ("one per patient"). Like the log itself the
AuditEvent carries identifiers only: the user by account id, the patient by identity code (when
the caller passes it) or by the service's person id, the object by its id and version. No plan
content, no names.

BALP shape: `type` is the RESTful operation (DICOM 110106 for exports, 110114 for logins) with
the interaction as `subtype`; the user agent is the requestor, the service the destination
agent; `source.observer` is the service; the patient entity has type Person and role Patient,
the object entity type System Object and role Domain Resource.
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from fhir_export import coding as c
from fhir_export import validated
from fhir_export.identifiers import derive
from fhir_export.participants import hetu_identifier
from fhir_export.primitives import ENCODED, identifier_value, is_fhir_string


@dataclass(frozen=True)
class AccessRecord:
    """One access-log row, as plain data (the caller maps it from `audit.AccessEvent`)."""

    id: uuid.UUID
    recorded_at: dt.datetime
    action: str  # read, search, create, update, delete, export, disclose, login, ...
    outcome: str  # success, denied or error
    actor_user_id: int | None = None
    subject_id: uuid.UUID | None = None
    subject_identity_code: str = ""
    plan_id: uuid.UUID | None = None
    object_type: str = ""
    object_id: str = ""
    object_version: int | None = None
    purpose: str = ""
    client_ip: str | None = None
    request_id: str = ""
    actor_username: str = ""  # shown (as agent altId) for sign-in and account events only


#: access-log action -> (type system, type code, subtype interaction or None, FHIR action)
_SHAPE: dict[str, tuple[str, str, str | None, str]] = {
    "read": (c.AUDIT_EVENT_TYPE, "rest", "read", "R"),
    "search": (c.AUDIT_EVENT_TYPE, "rest", "search-type", "E"),
    "create": (c.AUDIT_EVENT_TYPE, "rest", "create", "C"),
    "update": (c.AUDIT_EVENT_TYPE, "rest", "update", "U"),
    "delete": (c.AUDIT_EVENT_TYPE, "rest", "delete", "D"),
    "export": (c.DICOM, "110106", None, "R"),
    "disclose": (c.DICOM, "110106", None, "R"),
    "login": (c.DICOM, "110114", None, "E"),
    "login_failed": (c.DICOM, "110114", None, "E"),
    "denied": (c.AUDIT_EVENT_TYPE, "rest", None, "E"),
    "logout": (c.DICOM, "110114", None, "E"),
    "lockout": (c.DICOM, "110114", None, "E"),
    "password_change": (c.DICOM, "110137", None, "U"),
    "activation_change": (c.DICOM, "110137", None, "U"),
    "token_revoke": (c.DICOM, "110137", None, "U"),
    "admin_change": (c.DICOM, "110137", None, "U"),
    # A retention purge deletes log rows past their retention (the row names the cutoff).
    "purge": (c.AUDIT_EVENT_TYPE, "rest", None, "D"),
}
#: ISO 21089 record-lifecycle subtype of actions that are no RESTful interaction on a resource.
_LIFECYCLE_SUBTYPE = {"purge": "destroy"}
#: DICOM subtype of the user-authentication events (BALP: Login / Logout).
_AUTH_SUBTYPE = {
    "login": "110122",
    "login_failed": "110122",
    "lockout": "110122",
    "logout": "110123",
}
#: Actions whose row names the account by its (attempted) username.
ACCOUNT_ACTIONS = frozenset(
    {
        "login",
        "login_failed",
        "lockout",
        "logout",
        "password_change",
        "activation_change",
        "token_revoke",
        "admin_change",
    }
)
_OUTCOME = {"success": "0", "denied": "4", "error": "8"}
_ENCODED = {"url": c.ENCODED_EXTENSION, "valueCode": ENCODED}
SERVICE = {"identifier": {"system": c.SERVICE_DEVICE_SYSTEM, "value": "plan-service"}}


def audit_event(row: AccessRecord) -> dict[str, Any]:
    """The BALP AuditEvent of one access-log row (validated; raises on an unknown action)."""
    system, type_code, interaction, action = _SHAPE[row.action]
    user: dict[str, Any] = {
        "type": c.concept(c.V3_PARTICIPATION_TYPE, "IRCP"),
        "who": {"identifier": {"system": c.USER_SYSTEM, "value": str(row.actor_user_id)}}
        if row.actor_user_id is not None
        else {"display": "anonymous"},
        "requestor": True,
    }
    if row.client_ip:
        user["network"] = {
            "address": row.client_ip,
            "type": c.code("AuditEvent.agent.network.type", "2"),
        }
    resource: dict[str, Any] = {
        "resourceType": "AuditEvent",
        "id": derive("AuditEvent", row.id),
        "type": c.coding(system, type_code),
        "action": c.code("AuditEvent.action", action),
        "recorded": row.recorded_at.isoformat(),
        "outcome": c.code("AuditEvent.outcome", _OUTCOME[row.outcome]),
        "agent": [
            user,
            {
                "type": c.concept(c.DICOM, "110152"),
                "who": SERVICE,
                "requestor": False,
            },
        ],
        "source": {"observer": SERVICE, "type": [c.coding(c.SECURITY_SOURCE_TYPE, "4")]},
    }
    if row.action in ACCOUNT_ACTIONS and row.actor_username:
        name, encoded = identifier_value(row.actor_username)
        user["altId"] = name
        if encoded:
            user["_altId"] = {"extension": [_ENCODED]}
    if interaction is not None:
        resource["subtype"] = [c.coding(c.RESTFUL_INTERACTION, interaction)]
    elif row.action in _AUTH_SUBTYPE:
        resource["subtype"] = [c.coding(c.DICOM, _AUTH_SUBTYPE[row.action])]
    elif row.action in _LIFECYCLE_SUBTYPE:
        resource["subtype"] = [c.coding(c.ISO_21089_LIFECYCLE, _LIFECYCLE_SUBTYPE[row.action])]
    if row.purpose == "care":
        resource["purposeOfEvent"] = [c.concept(c.V3_ACT_REASON, "TREAT")]
    entities: list[dict[str, Any]] = []
    if row.subject_id is not None:
        identifier = (
            {k: v for k, v in hetu_identifier(row.subject_identity_code).items() if k != "use"}
            if row.subject_identity_code
            else {"system": c.PERSON_SYSTEM, "value": str(row.subject_id)}
        )
        entities.append(
            {
                "what": {"identifier": identifier},
                "type": c.coding(c.AUDIT_ENTITY_TYPE, "1"),
                "role": c.coding(c.OBJECT_ROLE, "1"),
            }
        )
    if row.object_id:
        system = c.PLAN_SYSTEM if row.object_type == "plan" else c.ITEM_SYSTEM
        # The object id is whatever the client put in the URL: carried exactly, encoded when
        # it is not a plain FHIR string (NBSP, controls, RTL marks), never dropped.
        value, encoded = identifier_value(row.object_id)
        if row.object_version is not None:
            value = f"{value}/{row.object_version}"
            system = c.PLAN_VERSION_SYSTEM if row.object_type == "plan" else system
        identifier: dict[str, Any] = {"system": system, "value": value}
        if encoded:
            identifier["extension"] = [_ENCODED]
        entity: dict[str, Any] = {
            "what": {"identifier": identifier},
            "type": c.coding(c.AUDIT_ENTITY_TYPE, "2"),
            "role": c.coding(c.OBJECT_ROLE, "4"),
        }
        if row.object_type and is_fhir_string(row.object_type):
            entity["description"] = row.object_type
        entities.append(entity)
    if entities:
        resource["entity"] = entities
    from fhir_export.narrative import finish

    resource = finish(resource, "fi")
    validated(resource)
    return resource


def access_record(event: Any, identity_codes: Mapping[Any, str] | None = None) -> AccessRecord:
    """THE mapping of an access-log row (`audit.AccessEvent`, read by attribute; no query) to
    the plain `AccessRecord` that `audit_event` turns into FHIR: every action maps as itself
    (`_SHAPE` decides its FHIR shape, a retention purge included).

    `identity_codes` maps person ids to identity codes for a reader entitled to them (the
    AuditEvent then names the patient by identity code); without it the person id is used.
    The account's username is carried for account events only (`ACCOUNT_ACTIONS`).
    """
    codes = identity_codes or {}
    subject_id = event.subject_id
    return AccessRecord(
        id=event.id,
        recorded_at=event.recorded_at,
        action=str(event.action),
        outcome=str(event.outcome),
        actor_user_id=event.actor_user_id,
        subject_id=subject_id,
        subject_identity_code=codes.get(subject_id, "") if subject_id is not None else "",
        plan_id=event.plan_id,
        object_type=event.object_type,
        object_id=event.object_id,
        object_version=event.object_version,
        purpose=event.purpose,
        client_ip=event.client_ip,
        request_id=event.request_id,
        actor_username=event.actor_username if event.action in ACCOUNT_ACTIONS else "",
    )


def audit_events(rows: Iterable[AccessRecord]) -> Iterator[dict[str, Any]]:
    """One AuditEvent per access-log row (each row is one patient), lazily, in input order."""
    for row in rows:
        yield audit_event(row)


@dataclass(frozen=True)
class DisclosureRecord:
    """One disclosure-log row (one person whose data left, to whom, on what basis)."""

    id: uuid.UUID
    recorded_at: dt.datetime
    recipient: str
    basis: str
    content: str
    actor_user_id: int | None = None
    recipient_organization_id: uuid.UUID | None = None
    subject_id: uuid.UUID | None = None
    plan_id: uuid.UUID | None = None
    plan_version: int | None = None


def disclosure_event(row: DisclosureRecord, language: str = "fi") -> dict[str, Any]:
    """A disclosure-log row as an IHE BALP PrivacyDisclosure.Source AuditEvent.

    type DICOM 110106 Export with subtype ISO 21089 `disclose`; the service is the source
    agent, the recipient the destination agent (its organisation by id when the registry names
    one, else its registry label), the user who pressed the button the requestor; the patient
    entity is the person, the data entity the plan version with what was disclosed, and the
    basis (statute or consent) is the entity's description. Identifiers only, as in the log.
    """
    from fhir_export.narrative import finish

    recipient: dict[str, Any] = {"display": row.recipient}
    if row.recipient_organization_id is not None:
        recipient["identifier"] = {
            "system": c.ORGANIZATION_ID_SYSTEM,
            "value": str(row.recipient_organization_id),
        }
    agents: list[dict[str, Any]] = [
        {"type": c.concept(c.DICOM, "110153"), "who": SERVICE, "requestor": False},
        {"type": c.concept(c.DICOM, "110152"), "who": recipient, "requestor": False},
        {
            "type": c.concept(c.V3_PARTICIPATION_TYPE, "IRCP"),
            "who": {"identifier": {"system": c.USER_SYSTEM, "value": str(row.actor_user_id)}}
            if row.actor_user_id is not None
            else {"display": "system"},
            "requestor": True,
        },
    ]
    entities: list[dict[str, Any]] = []
    if row.subject_id is not None:
        entities.append(
            {
                "what": {"identifier": {"system": c.PERSON_SYSTEM, "value": str(row.subject_id)}},
                "type": c.coding(c.AUDIT_ENTITY_TYPE, "1"),
                "role": c.coding(c.OBJECT_ROLE, "1"),
            }
        )
    if row.plan_id is not None:
        value = f"{row.plan_id}/{row.plan_version}" if row.plan_version else str(row.plan_id)
        entities.append(
            {
                "what": {"identifier": {"system": c.PLAN_VERSION_SYSTEM, "value": value}},
                "type": c.coding(c.AUDIT_ENTITY_TYPE, "2"),
                "role": c.coding(c.OBJECT_ROLE, "4"),
                "description": f"{row.content} | basis: {row.basis}"[:1000],
            }
        )
    resource: dict[str, Any] = {
        "resourceType": "AuditEvent",
        "id": derive("AuditEvent", "disclosure", row.id),
        "meta": {"profile": [c.BALP_DISCLOSURE_SOURCE]},
        "type": c.coding(c.DICOM, "110106"),
        "subtype": [c.coding(c.ISO_21089_LIFECYCLE, "disclose")],
        "action": c.code("AuditEvent.action", "R"),
        "recorded": row.recorded_at.isoformat(),
        "outcome": c.code("AuditEvent.outcome", "0"),
        "agent": agents,
        "source": {"observer": SERVICE, "type": [c.coding(c.SECURITY_SOURCE_TYPE, "4")]},
    }
    if entities:
        resource["entity"] = entities
    return finish(resource, language)


def disclosure_record(row: Any) -> DisclosureRecord:
    """A disclosure-log row (`audit.Disclosure`, read by attribute) as a `DisclosureRecord`."""
    return DisclosureRecord(
        id=row.id,
        recorded_at=row.recorded_at,
        recipient=row.recipient,
        basis=row.basis,
        content=row.content,
        actor_user_id=row.actor_user_id,
        recipient_organization_id=row.recipient_organization_id,
        subject_id=row.subject_id,
        plan_id=row.plan_id,
        plan_version=row.plan_version,
    )


def disclosure_events(rows: Iterable[DisclosureRecord]) -> Iterator[dict[str, Any]]:
    """One AuditEvent per disclosure-log row, lazily, in input order."""
    for row in rows:
        yield disclosure_event(row)
