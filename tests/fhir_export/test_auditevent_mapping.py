"""One mapping from access-log rows to FHIR AuditEvent, used by every caller, for every action.

`fhir_export.auditevent.access_record` is the only mapper of an `audit.AccessEvent` (the
auditor's `export.fhir` and any other caller use it); these tests walk every action and outcome
the log can hold, a retention purge included, through it and both validators.
"""

from __future__ import annotations

import datetime as dt
import json
import uuid

import pytest

from fhir_export import validated
from fhir_export.auditevent import ACCOUNT_ACTIONS, access_record, audit_event
from plan_service.audit.models import AccessEvent
from plan_service.audit.services import record_access_batch
from tests import factories

ACTIONS = [a.value for a in AccessEvent.Action]
OUTCOMES = [o.value for o in AccessEvent.Outcome]


def _row(action: str, outcome: str, **extra: object) -> AccessEvent:
    """An access-log row as the log stores it (unsaved: the mapping reads attributes only)."""
    fields: dict[str, object] = {
        "id": uuid.uuid4(),
        "recorded_at": dt.datetime(2026, 11, 27, 12, 0, tzinfo=dt.UTC),
        "action": action,
        "outcome": outcome,
        "actor_user_id": 7,
        "actor_username": "maija.virtanen",
        "subject_id": uuid.uuid4(),
        "plan_id": uuid.uuid4(),
        "object_type": "goal",
        "object_id": str(uuid.uuid4()),
        "object_version": 3,
        "purpose": "care",
        "client_ip": "192.0.2.10",
        "request_id": "req-1",
    }
    fields.update(extra)
    return AccessEvent(**fields)


def test_every_action_of_the_log_has_a_fhir_shape() -> None:
    from fhir_export.auditevent import _SHAPE

    assert set(ACTIONS) - set(_SHAPE) == set(), "access-log actions without an AuditEvent shape"


@pytest.mark.parametrize("outcome", OUTCOMES)
@pytest.mark.parametrize("action", ACTIONS)
def test_every_action_and_outcome_maps_and_validates(action: str, outcome: str) -> None:
    row = _row(action, outcome)
    event = audit_event(access_record(row))
    validated(event)  # fhir.resources R4 (audit_event validates too; this is the proof here)
    assert event["id"]
    assert event["outcome"] == {"success": "0", "denied": "4", "error": "8"}[outcome]
    identifiers = [e["what"]["identifier"]["value"] for e in event["entity"]]
    assert str(row.subject_id) in identifiers  # the patient, by the service's person id
    assert f"{row.object_id}/3" in identifiers
    # The username travels for account events only.
    assert ("altId" in event["agent"][0]) == (action in ACCOUNT_ACTIONS)


def test_every_action_passes_both_independent_validators(validator) -> None:
    events = [
        audit_event(access_record(_row(action, outcome)))
        for action in ACTIONS
        for outcome in OUTCOMES
    ]
    for event in events:
        assert validator.errors(event) == [], event["type"]


def test_a_retention_purge_is_a_record_destruction_not_a_restful_delete() -> None:
    purge = audit_event(access_record(_row("purge", "success", subject_id=None, object_id="")))
    delete = audit_event(access_record(_row("delete", "success")))
    assert purge["action"] == delete["action"] == "D"
    assert purge["subtype"] == [
        {
            "system": "http://terminology.hl7.org/CodeSystem/iso-21089-lifecycle",
            "code": "destroy",
            "display": purge["subtype"][0]["display"],
        }
    ]
    assert delete["subtype"][0]["code"] == "delete"


def test_identity_codes_name_the_patient_when_given() -> None:
    row = _row("read", "success")
    code = "131052-308T"
    event = audit_event(access_record(row, {row.subject_id: code}))
    assert event["entity"][0]["what"]["identifier"]["value"] == code
    assert code not in json.dumps(audit_event(access_record(row)))


@pytest.mark.django_db
def test_the_auditors_fhir_export_maps_a_stored_purge(api) -> None:
    """The API uses the same mapper: a purge row in the log exports as a record destruction
    (it used to be mapped in two places, and only one of them knew a purge)."""
    auditor = factories.professional("auditor")
    record_access_batch(
        actor=auditor.user,
        action=AccessEvent.Action.PURGE,
        entries=[{"subjects": [], "object_type": "access-log", "purpose": "retention"}],
    )
    response = api.as_user(auditor.user).get("/api/v1/audit/access-log/export.fhir/")
    assert response.status_code == 200
    body = json.loads(b"".join(response.streaming_content))
    subtypes = [
        s["code"] for e in body["entry"] for s in e["resource"].get("subtype", []) if "code" in s
    ]
    assert "destroy" in subtypes
