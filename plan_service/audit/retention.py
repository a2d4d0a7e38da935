"""Retention: removing whole expired segments from the start of each chain, and saying so.

The access log is kept for `AUDIT_RETENTION_DAYS` (703/2023 §11 gives the client two years to
ask). A purge removes, in each chain, the longest run of rows from its start that are all older
than the cutoff; rows inside a chain are never removed, so what stays still verifies. For each
chain cut it records a `PurgePoint` (first retained seq and the hash before it, which lets
verification accept the new start) and appends one access-log row (action "purge") with the
details. The database trigger allows these deletes only to the purge role (named in
`audit_retentionpolicy`), only because the transaction sets `plan_service.audit_purge` to the
cutoff, only when that cutoff is at least the policy's retention before the database's clock,
and only for rows older than it.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import asdict, dataclass

from django.conf import settings
from django.db import connection, transaction
from django.db.models import QuerySet
from django.utils import timezone

from plan_service.audit import chain
from plan_service.audit.models import AccessEvent, Chained, PurgePoint, RetentionPolicy

#: The chain key of purge records (a fixed key: purges are rare and need no spreading).
PURGE_KEY = "audit-purge"


@dataclass(frozen=True)
class PurgedSegment:
    """One chain's removed segment: rows [first removed, first_seq) of `log`, chain `chain`."""

    log: str
    chain: int
    first_seq: int
    prev_hash: str
    rows_removed: int


class PurgeRefusedError(ValueError):
    """The purge may not run: wrong database role, or a period shorter than the policy's."""


def _policy() -> tuple[int, str]:
    policy = RetentionPolicy.objects.filter(pk=1).values_list("days", "purge_role").first()
    if policy is None:
        raise PurgeRefusedError("no retention policy in the database (run migrate)")
    return int(policy[0]), str(policy[1])


def retention_cutoff(*, days: int | None = None) -> dt.datetime:
    """The instant before which rows have expired, by the database's clock.

    `days` defaults to `AUDIT_RETENTION_DAYS`; it may be longer than the policy the database
    holds (keeping more is always allowed) but not shorter: the trigger would refuse.
    """
    keep = settings.AUDIT_RETENTION_DAYS if days is None else days
    if keep < 1:
        raise PurgeRefusedError("retention must be at least one day")
    policy_days, _role = _policy()
    if keep < policy_days:
        raise PurgeRefusedError(
            f"retention of {keep} days is shorter than the database's policy ({policy_days} days)"
        )
    with connection.cursor() as cursor:
        cursor.execute("SELECT now() - make_interval(days => %s)", [keep])
        return cursor.fetchone()[0]


def require_purge_role() -> None:
    """Refuse unless connected as the purge role named in the database's policy."""
    _days, role = _policy()
    with connection.cursor() as cursor:
        cursor.execute("SELECT current_user")
        current = cursor.fetchone()[0]
    if not role or current != role:
        raise PurgeRefusedError(
            f"the purge runs only as the database role {role or '(none configured)'}, "
            f"not as {current}"
        )


def _expired_segment(
    model: type[Chained], chain_no: int, cutoff: dt.datetime
) -> tuple[tuple[int, str] | None, QuerySet[Chained]]:
    """The last expired row of the chain's start as (seq, row_hash), and the rows up to it."""
    keep_from = (
        model.objects.filter(chain=chain_no, recorded_at__gte=cutoff)
        .order_by("seq")
        .values_list("seq", flat=True)
        .first()
    )
    rows = model.objects.filter(chain=chain_no)
    if keep_from is not None:
        rows = rows.filter(seq__lt=keep_from)
    last = rows.order_by("-seq").values_list("seq", "row_hash").first()
    return last, rows


@transaction.atomic
def retention_purge(*, cutoff: dt.datetime, dry_run: bool = False) -> list[PurgedSegment]:
    """Remove every chain's expired start (rows older than `cutoff`) and record the cuts.

    Each chain is locked as for an append, so concurrent writers wait rather than fork. A row
    recorded at or after the cutoff ends the segment even if older rows follow it (appends may
    commit slightly out of time order); those are removed by a later purge. Idempotent: a second
    run with the same cutoff removes nothing and records nothing. With `dry_run`, reports what
    would be removed and changes nothing.
    """
    if not dry_run:
        require_purge_role()
    cutoff = cutoff.astimezone(dt.UTC)
    _allow_purge(cutoff.isoformat())
    segments = _purge(cutoff, dry_run=dry_run)
    # Close the window at once, even when the caller's transaction goes on (on an error the
    # rollback of this block undoes the setting).
    _allow_purge("")
    return segments


def _allow_purge(value: str) -> None:
    with connection.cursor() as cursor:
        # SET LOCAL, parameterised: the trigger allows deleting rows older than this instant.
        cursor.execute("SELECT set_config('plan_service.audit_purge', %s, true)", [value])


def _purge(cutoff: dt.datetime, *, dry_run: bool) -> list[PurgedSegment]:
    segments: list[PurgedSegment] = []
    for name, model in chain.LOGS.items():
        chains = model.objects.values_list("chain", flat=True).distinct().order_by("chain")
        for chain_no in list(chains):
            chain.lock_chain(model, chain_no)
            last, rows = _expired_segment(model, chain_no, cutoff)
            if last is None:
                continue
            removed = rows.count() if dry_run else rows.delete()[0]
            segments.append(PurgedSegment(str(name), chain_no, last[0] + 1, last[1], removed))
    if dry_run or not segments:
        return segments
    event = AccessEvent(
        recorded_at=timezone.now(),
        action=AccessEvent.Action.PURGE,
        outcome=AccessEvent.Outcome.SUCCESS,
        actor_kind="system",
        actor_username="audit_purge",
        object_type="audit-log",
        purpose="retention",
        legal_basis="retention period (703/2023 §11)",
        query={
            "cutoff": cutoff.isoformat(),
            "retention_days": (timezone.now() - cutoff).days,
            "segments": [asdict(s) for s in segments],
        },
        result_count=sum(s.rows_removed for s in segments),
    )
    # Purge points first: if the event lands in a chain this purge emptied, the append must
    # continue from the new purge point rather than restart from genesis.
    PurgePoint.objects.bulk_create(
        PurgePoint(
            log=s.log,
            chain=s.chain,
            first_seq=s.first_seq,
            prev_hash=s.prev_hash,
            rows_removed=s.rows_removed,
            cutoff=cutoff,
            event_id=event.pk,
        )
        for s in segments
    )
    chain.append([event], key=PURGE_KEY)
    return segments
