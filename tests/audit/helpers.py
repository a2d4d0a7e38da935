"""Builders for audit tests: log rows appended through the real chain, and trigger bypass."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

from django.db import connection
from django.utils import timezone

from plan_service.audit import chain
from plan_service.audit.models import AccessEvent, Chained, Disclosure

TABLES = ("audit_accessevent", "audit_disclosure", "audit_purgepoint")


def key_for_chain(number: int) -> str:
    """A request id that `chain.choose_chain` maps to chain `number`."""
    for i in range(10_000):
        key = f"test-key-{i}"
        if chain.choose_chain(key) == number:
            return key
    raise AssertionError(f"no key found for chain {number}")


def access_row(**extra: Any) -> AccessEvent:
    """An access-log row with every column filled, so each can be mutated."""
    values: dict[str, Any] = {
        "recorded_at": timezone.now(),
        "action": "read",
        "outcome": "success",
        "outcome_code": 200,
        "actor_user_id": 7,
        "actor_username": "worker",
        "actor_display": "Case Worker",
        "actor_unit": "Unit A",
        "actor_hide_name": False,
        "actor_kind": "professional",
        "actor_role": "child_protection_social_worker",
        "actor_plan_role": "lead",
        "actor_organization_id": uuid.uuid4(),
        "actor_organization_name": "Org",
        "subject_id": uuid.uuid4(),
        "family_id": uuid.uuid4(),
        "plan_id": uuid.uuid4(),
        "object_type": "plan",
        "object_id": str(uuid.uuid4()),
        "object_version": 3,
        "purpose": "care",
        "legal_basis": "statute: LSL 417/2007 §30",
        "consent_id": uuid.uuid4(),
        "query": {"status": ["active"]},
        "result_count": 2,
        "request_id": "req-1",
        "client_ip": "192.0.2.10",
        "user_agent": "pytest",
    }
    values.update(extra)
    return AccessEvent(**values)


def disclosure_row(**extra: Any) -> Disclosure:
    values: dict[str, Any] = {
        "recorded_at": timezone.now(),
        "actor_user_id": 7,
        "actor_username": "worker",
        "actor_organization_id": uuid.uuid4(),
        "recipient": "Kanta",
        "recipient_organization_id": uuid.uuid4(),
        "subject_id": uuid.uuid4(),
        "family_id": uuid.uuid4(),
        "plan_id": uuid.uuid4(),
        "plan_version": 4,
        "content": "CarePlan bundle",
        "basis": "consent",
        "request_id": "req-2",
    }
    values.update(extra)
    return Disclosure(**values)


def append_rows(
    model: type[Chained], count: int, *, chain_no: int = 0, age: dt.timedelta | None = None
) -> list[Chained]:
    """Append `count` rows one by one to chain `chain_no`, each `age` old if given."""
    build = access_row if model is AccessEvent else disclosure_row
    key = key_for_chain(chain_no)
    rows = []
    for _ in range(count):
        row = build()
        if age is not None:
            row.recorded_at = timezone.now() - age
        chain.append([row], key=key)
        rows.append(row)
    return rows


def bypass_triggers() -> None:
    """Switch the append-only triggers off until the test's transaction rolls back.

    Only a table owner or superuser can do this, which is the point: the test plays an
    attacker with full database rights, and the chain must still give them away.
    """
    from tests.harness.db_roles import owner_powers

    with owner_powers(), connection.cursor() as cursor:
        for table in TABLES:
            cursor.execute(f"ALTER TABLE {table} DISABLE TRIGGER USER")


def fresh_chain_offset(spare: int = 4) -> int:
    """The first chain number from which `spare` chains hold no row of any log.

    The test database may hold committed log rows (from `live_db` tests, or an earlier run with
    `--reuse-db`); rows are never removed from the logs. A test about a chain's start (seq 1, a
    purge of the oldest rows) therefore works in chains no row has used yet: callers widen
    `AUDIT_CHAINS` to `offset + spare` and address chains `offset + n`.
    """
    from django.conf import settings
    from django.db.models import Max

    from plan_service.audit.models import PurgePoint

    used = [
        m.objects.aggregate(top=Max("chain"))["top"] for m in (AccessEvent, Disclosure, PurgePoint)
    ]
    return max([settings.AUDIT_CHAINS - 1, *(u for u in used if u is not None)]) + 1


#: The trigger `refuse_log_rows` adds (see there).
REFUSING_TRIGGER = "audit_test_refuse"


def refuse_log_rows(cursor: Any) -> None:
    """Make every access-log insert fail, as an unavailable log would: a trigger, which only
    the owner may add (the caller has the owner's rights), on a function of this session
    (replaced, not created, so that a session may do this more than once)."""
    cursor.execute(
        f"""
        CREATE OR REPLACE FUNCTION pg_temp.audit_test_refuse() RETURNS trigger
        LANGUAGE plpgsql AS $$ BEGIN RAISE EXCEPTION 'access log unavailable (test)'; END $$;
        CREATE TRIGGER {REFUSING_TRIGGER} BEFORE INSERT ON audit_accessevent
            FOR EACH ROW EXECUTE FUNCTION pg_temp.audit_test_refuse();
        """
    )
