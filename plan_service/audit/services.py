"""Writing the access and disclosure logs. Each call appends one row per person touched.

Callers pass who acted, what was done to which object, and whose data it was; the request facts
(request id, address, user agent) come from the request context. Writes of plan data log in the
transaction of the change; reads log before the response leaves, and a failure to log fails the
read (the view answers 503).
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

from django.db import transaction
from django.utils import timezone

from plan_service.audit import chain, parties
from plan_service.audit.context import note_logged_read, request_facts
from plan_service.audit.models import AccessEvent, Disclosure

if TYPE_CHECKING:
    from django.contrib.auth.models import AbstractBaseUser, AnonymousUser

    from plan_service.policy import PlanAccess

Act = AccessEvent.Action
#: The actor kind of rows written by a machine client's request (its token or credentials).
ACTOR_MACHINE_CLIENT = "machine_client"


def family_subjects(family_ids: Iterable[uuid.UUID]) -> dict[uuid.UUID, list[uuid.UUID]]:
    """Person ids of each family, in one query: whose data a plan-level touch concerns (the
    registry answers, see `parties`)."""
    return parties.family_people(family_ids)


def _unstorable(ch: str) -> bool:
    return ch == "\x00" or "\ud800" <= ch <= "\udfff"


#: What PostgreSQL's text cannot hold: NUL and lone surrogates (`_unstorable`), found at C speed.
_UNSTORABLE = re.compile("[\x00\ud800-\udfff]")


def storable(value: str, limit: int | None = None) -> str:
    """`value` as a text column can hold it: what the client sent, kept as exactly as possible.

    PostgreSQL stores neither NUL nor lone surrogates; those are written as Python-style
    escapes (`\\x00`, `\\udc80`), so the row still says what was sent. Text longer than the
    column is cut to fit, ending in `…`, so no client input makes the log write fail.
    """
    if _UNSTORABLE.search(value):
        value = "".join(
            (f"\\x{ord(ch):02x}" if ch == "\x00" else f"\\u{ord(ch):04x}")
            if _unstorable(ch)
            else ch
            for ch in value
        )
    if limit is not None and len(value) > limit:
        value = value[: limit - 1] + "…"
    return value


#: The text columns of an access-log row and their lengths.
_TEXT_LIMITS = {
    f.name: f.max_length
    for f in AccessEvent._meta.get_fields()
    if f.get_internal_type() == "CharField" and getattr(f, "max_length", None)
}


def _storable_columns(values: dict[str, Any]) -> dict[str, Any]:
    return {
        k: storable(v, _TEXT_LIMITS[k]) if k in _TEXT_LIMITS and isinstance(v, str) else v
        for k, v in values.items()
    }


def _printable(value: Any) -> Any:
    """A logged query as the client sent it, less what PostgreSQL cannot store (NUL, lone
    surrogates, which become U+FFFD)."""
    if isinstance(value, str):
        return "".join("\ufffd" if _unstorable(ch) else ch for ch in value)
    if isinstance(value, dict):
        return {_printable(k): _printable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_printable(v) for v in value]
    return value


def _actor_columns(actor: AbstractBaseUser | AnonymousUser | None) -> dict[str, object]:
    if actor is None or not actor.is_authenticated:
        return {"actor_kind": "anonymous"}
    describe = getattr(actor, "actor_log_columns", None)
    if describe is not None:
        # An actor that is not a person (a machine client, plan_service.clients) describes
        # itself: no user id, its own name and organisation (docs/clients.md).
        return dict(describe())
    return {
        "actor_user_id": actor.pk,
        "actor_username": actor.get_username(),
        "actor_display": actor.get_full_name() or actor.get_username(),  # type: ignore[union-attr]
        **parties.actor_facts(actor),
    }


def record_access(
    *,
    actor: AbstractBaseUser | AnonymousUser | None,
    action: str,
    subjects: Iterable[uuid.UUID | None],
    access: PlanAccess | None = None,
    **columns: Any,
) -> None:
    """Append one access-log row per subject (one row with no subject when there is none).

    `columns` are AccessEvent columns: family_id, plan_id, object_type, object_id,
    object_version, outcome, outcome_code, query, result_count, purpose, legal_basis.
    """
    record_access_batch(
        actor=actor, action=action, access=access, entries=[{"subjects": subjects, **columns}]
    )


def record_access_batch(
    *,
    actor: AbstractBaseUser | AnonymousUser | None,
    action: str,
    entries: Iterable[dict[str, Any]],
    access: PlanAccess | None = None,
) -> None:
    """Log one action on many objects (a list, a search) with one append: constant queries.

    Each entry holds `subjects` and the AccessEvent columns of one object.
    """
    facts = request_facts()
    now = timezone.now()
    common = _actor_columns(actor)
    if access is not None:
        common["actor_plan_role"] = access.membership.role
        common["consent_id"] = access.membership.consent_id
    rows: list[dict[str, Any]] = []
    for entry in entries:
        values = dict(entry)
        if values.get("query") is not None:
            values["query"] = _printable(values["query"])
        people = list(dict.fromkeys(values.pop("subjects"))) or [None]
        legal_basis = values.pop("legal_basis", "") or (access.legal_basis if access else "")
        object_id = values.pop("object_id", "")
        values.setdefault("outcome", AccessEvent.Outcome.SUCCESS)
        values.setdefault("purpose", "care")
        if access is not None and access.emergency is not None:
            values["purpose"] = "emergency"  # every row of a break-glass access says so
        columns = _storable_columns(
            {
                "object_id": str(object_id or ""),
                "legal_basis": legal_basis,
                "request_id": facts.request_id,
                "user_agent": facts.user_agent,
                **common,
                **values,
            }
        )
        shared = {
            "recorded_at": now,
            "action": action,
            "client_ip": facts.client_ip,
            "on_behalf_of_id": facts.on_behalf_of,
            **columns,
        }
        rows.extend({**shared, "subject_id": subject} for subject in people)
    chain.append_values(AccessEvent, rows, key=facts.request_id or str(uuid.uuid4()))
    note_logged_read()


def record_log_read(
    *,
    actor: AbstractBaseUser,
    object_type: str,
    people: Iterable[tuple[uuid.UUID | None, uuid.UUID | None]],
    result_count: int,
    query: dict[str, Any] | None,
    action: str = AccessEvent.Action.SEARCH,
) -> None:
    """Log an auditor's read of log rows (the API or the console page): one row per person
    those rows are about, the query recorded, never the results.

    `people` are the (family, subject) pairs of the rows shown. Rows about no person (logins,
    purges) add nothing; when no row concerns a person, one row without a subject is written.
    """
    by_family: dict[uuid.UUID | None, list[uuid.UUID]] = {}
    for family_id, subject_id in people:
        if subject_id is not None:
            by_family.setdefault(family_id, []).append(subject_id)
    common: dict[str, Any] = {
        "object_type": object_type,
        "query": query,
        "result_count": result_count,
        "purpose": "audit",
        "legal_basis": "supervision",
    }
    entries = [
        {"subjects": subjects, "family_id": family_id, **common}
        for family_id, subjects in by_family.items()
    ] or [{"subjects": [], **common}]
    record_access_batch(actor=actor, action=action, entries=entries)


def record_disclosure(
    *,
    actor: AbstractBaseUser | AnonymousUser | None,
    recipient: str,
    subjects: Iterable[uuid.UUID],
    family_id: uuid.UUID,
    plan_id: uuid.UUID,
    plan_version: int,
    content: str,
    basis: str,
    recipient_organization_id: uuid.UUID | None = None,
    bases: dict[uuid.UUID, str] | None = None,
) -> None:
    """Append one disclosure-log row per person whose data left the service.

    `bases` gives a person's own basis where it differs from `basis` (a consent naming them).
    """
    record_disclosure_batch(
        actor=actor,
        entries=[
            {
                "recipient": recipient,
                "subjects": subjects,
                "family_id": family_id,
                "plan_id": plan_id,
                "plan_version": plan_version,
                "content": content,
                "basis": basis,
                "recipient_organization_id": recipient_organization_id,
                "bases": bases,
            }
        ],
    )


def record_disclosure_batch(
    *, actor: AbstractBaseUser | AnonymousUser | None, entries: Iterable[dict[str, Any]]
) -> None:
    """The disclosures of many plans (a bulk export chunk) in one chain append.

    Each entry holds the arguments of `record_disclosure` for one plan.
    """
    facts = request_facts()
    now = timezone.now()
    actor_columns = _actor_columns(actor)
    rows: list[dict[str, Any]] = []
    for entry in entries:
        bases = entry.get("bases") or {}
        shared = {
            "recorded_at": now,
            "actor_user_id": actor_columns.get("actor_user_id"),
            "actor_username": actor_columns.get("actor_username", ""),
            "actor_organization_id": actor_columns.get("actor_organization_id"),
            "recipient": entry["recipient"],
            "recipient_organization_id": entry.get("recipient_organization_id"),
            "family_id": entry["family_id"],
            "plan_id": entry["plan_id"],
            "plan_version": entry["plan_version"],
            "content": entry["content"],
            "request_id": facts.request_id,
        }
        rows.extend(
            {**shared, "subject_id": subject, "basis": bases.get(subject, entry["basis"])}
            for subject in dict.fromkeys(entry["subjects"])
        )
    chain.append_values(Disclosure, rows, key=facts.request_id or str(uuid.uuid4()))
    note_logged_read()


def _denied_target(object_type: str, object_id: str, plan_id: uuid.UUID | None) -> parties.Target:
    """What a refused request was aimed at, asked of the owning apps without the policy.

    This is the log's own bookkeeping and its result never reaches the caller. A plan named in
    the URL decides; otherwise a family or consent id in the URL names the people.
    """
    if plan_id is not None:
        return parties.target("plan", plan_id) or parties.Target()
    target_id = _uuid(object_id)
    found = parties.target(object_type, target_id) if target_id is not None else None
    return found or parties.Target()


def _uuid(value: str) -> uuid.UUID | None:
    try:
        return uuid.UUID(value)
    except ValueError:
        return None


def record_denied(
    *,
    actor: AbstractBaseUser | AnonymousUser | None,
    status_code: int,
    object_type: str,
    object_id: str,
    plan_id: uuid.UUID | None,
) -> None:
    """Log a refused attempt in its own transaction (the request's own was rolled back).

    One row per person the attempt was aimed at (the plan's family, or the family or consent
    named in the URL), so an auditor can answer "who tried to reach this child's data"; one row
    without a subject when the target does not exist.
    """
    with transaction.atomic():
        target = _denied_target(object_type, object_id, plan_id)
        record_access(
            actor=actor,
            action=Act.DENIED,
            outcome=AccessEvent.Outcome.DENIED,
            outcome_code=status_code,
            subjects=target.people,
            family_id=target.family_id,
            plan_id=target.plan_id,
            object_type=object_type,
            object_id=object_id,
        )
