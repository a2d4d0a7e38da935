"""The hash chain over log rows: appending under a lock, verifying, and anchoring the heads.

`row_hash = sha256(prev_hash || canonical(row))`, where canonical is sorted-key JSON of the
model's HASHED_FIELDS. Each chain's appends are serialised by a transaction-scoped advisory lock,
so concurrent writers neither fork a chain nor leave a gap in `seq` (the unique (chain, seq)
constraint backs this up). A chain starts at seq 1 from the genesis hash, or, after a retention
purge, at the first retained row recorded in a `PurgePoint`; nothing else may start a chain.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import uuid
import zlib
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.db import connection, transaction

from plan_service.audit.models import AccessEvent, Chained, Disclosure, PurgePoint

GENESIS = "0" * 64

#: The logs by the name used in anchors, purge points and command output.
LOGS: dict[str, type[Chained]] = {
    PurgePoint.Log.ACCESS: AccessEvent,
    PurgePoint.Log.DISCLOSURE: Disclosure,
}

Anchor = dict[str, dict[str, object]]


def log_name(model: type[Chained]) -> str:
    """The log's name ("access" or "disclosure") for a chained model."""
    for name, candidate in LOGS.items():
        if candidate is model:
            return str(name)
    raise ValueError(f"{model.__name__} is not a chained log")


def _plain(value: object) -> object:
    if isinstance(value, uuid.UUID):
        return str(value)
    if isinstance(value, dt.datetime):
        return value.astimezone(dt.UTC).isoformat(timespec="microseconds")
    return value


def _canonical_pairs(pairs: Iterable[tuple[str, object]]) -> str:
    data = {name: _plain(value) for name, value in pairs}
    return json.dumps(data, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def canonical(row: Chained) -> str:
    """The row's hashed columns as canonical JSON.

    Values pass through each field's `to_python` first, so an in-memory row hashes exactly as
    the same row read back from the database (a uuid given as text, a number given as a string).
    """
    fields = row._meta
    pairs = (
        (name, fields.get_field(name).to_python(getattr(row, name))) for name in row.HASHED_FIELDS
    )
    return _canonical_pairs(
        (name, value)
        for name, value in pairs
        if value is not None or name not in row.HASHED_WHEN_SET
    )


def _digest(prev_hash: str, text: str) -> str:
    return hashlib.sha256((prev_hash + text).encode()).hexdigest()


def row_hash(prev_hash: str, row: Chained) -> str:
    """The hash a row must carry, given the hash of the row before it."""
    return _digest(prev_hash, canonical(row))


def choose_chain(key: str) -> int:
    """Spread writers over the configured chains by a stable key (the request id)."""
    chains = max(1, settings.AUDIT_CHAINS)
    return zlib.crc32(key.encode()) % chains if key else 0


def lock_chain(model: type[Chained], chain: int) -> None:
    """Take the chain's append lock until the end of the current transaction."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT pg_advisory_xact_lock(hashtext(%s), %s)", [model._meta.db_table, chain]
        )


def chain_start(model: type[Chained], chain: int) -> tuple[int, str]:
    """Where a chain must start: seq 1 from genesis, or the latest purge point's cut."""
    point = (
        PurgePoint.objects.filter(log=log_name(model), chain=chain)
        .order_by("-first_seq")
        .values_list("first_seq", "prev_hash")
        .first()
    )
    return (int(point[0]), str(point[1])) if point else (1, GENESIS)


def append(rows: Sequence[Chained], *, key: str) -> None:
    """Append `rows` (unsaved, same model) to one chain, inside the caller's transaction."""
    if not rows:
        return
    model = type(rows[0])
    chain = choose_chain(key)
    # Inside a request's transaction no savepoint is needed: a failure fails the request.
    with transaction.atomic(savepoint=False):
        lock_chain(model, chain)
        head = (
            model.objects.filter(chain=chain)
            .order_by("-seq")
            .values_list("seq", "row_hash")
            .first()
        )
        if head is None:
            # An empty chain continues from its purge point, if a purge emptied it.
            first, prev = chain_start(model, chain)
            seq = first - 1
        else:
            seq, prev = head
        for row in rows:
            seq += 1
            row.chain, row.seq, row.prev_hash = chain, seq, prev
            row.recorded_at = row.recorded_at.astimezone(dt.UTC)
            row.row_hash = prev = row_hash(prev, row)
        model.objects.bulk_create(rows)


#
# Verification
#


@dataclass
class VerifyResult:
    """What verification found: rows checked, and the first broken row if any.

    `broken_seq` is the position in the chain where it breaks (for a deleted row, the seq that
    is missing); `broken_id` is the id of the row found at that position, if any.
    """

    rows_checked: int
    ok: bool
    broken_chain: int | None = None
    broken_seq: int | None = None
    broken_id: str | None = None
    problem: str = ""

    def as_dict(self) -> dict[str, object]:
        return {
            "rows_checked": self.rows_checked,
            "ok": self.ok,
            "first_broken": None
            if self.ok
            else {
                "chain": self.broken_chain,
                "seq": self.broken_seq,
                "id": self.broken_id,
                "problem": self.problem,
            },
        }


def _iso(value: dt.datetime) -> str:
    return value.astimezone(dt.UTC).isoformat(timespec="microseconds")


def _converters(model: type[Chained]) -> list[Callable[[Any], object] | None]:
    """Per hashed column, the conversion `_plain` would apply (decided once, not per value)."""
    kinds = {"UUIDField": str, "DateTimeField": _iso}
    return [kinds.get(model._meta.get_field(n).get_internal_type()) for n in model.HASHED_FIELDS]


def _rows(model: type[Chained], chain: int) -> Iterator[tuple[Any, ...]]:
    # Plain tuples rather than model instances: verify reads every row, and this is ~3x faster.
    fields = ("seq", "prev_hash", "row_hash", *model.HASHED_FIELDS)
    return (
        model.objects.filter(chain=chain)
        .order_by("seq")
        .values_list(*fields)
        .iterator(chunk_size=10000)
    )


def _starts(model: type[Chained]) -> dict[int, tuple[int, str]]:
    starts: dict[int, tuple[int, str]] = {}
    points = PurgePoint.objects.filter(log=log_name(model)).order_by("chain", "first_seq")
    for chain, first_seq, prev in points.values_list("chain", "first_seq", "prev_hash"):
        starts[chain] = (first_seq, prev)  # the latest cut wins
    return starts


def verify(model: type[Chained], *, anchor: Anchor | None = None) -> VerifyResult:
    """Recompute every chain of `model`; with an anchor, also check each chain reaches it.

    Each chain must start where it should (seq 1 from genesis, or the latest recorded purge
    point with its prev_hash), continue without gaps, link each row to the previous row's hash,
    and carry the hash of its own columns. `anchor` maps chain number (as text) to
    {"seq", "row_hash"} written earlier by `anchor_heads`: a chain that no longer reaches that
    seq was truncated; a different hash at that seq means the chain was rewritten. An anchor
    older than a purge cannot be checked beyond the purge point and is accepted.
    """
    checked = 0
    anchored = {int(k): v for k, v in (anchor or {}).items()}
    starts = _starts(model)
    present = model.objects.values_list("chain", flat=True).distinct().order_by()
    names = model.HASHED_FIELDS
    optional = set(model.HASHED_WHEN_SET)
    columns = list(zip(names, _converters(model), strict=True))
    for chain in sorted(set(present) | set(anchored) | set(starts)):
        start_seq, prev = starts.get(chain, (1, GENESIS))
        expected = start_seq
        head = anchored.get(chain)
        head_seq = int(str(head["seq"])) if head else None
        hash_at_head: str | None = prev if head_seq == start_seq - 1 else None
        for values in _rows(model, chain):
            checked += 1
            seq, prev_hash, stored_hash = values[0], values[1], values[2]
            row_id = str(values[3 + names.index("id")])
            if seq != expected:
                where = "chain must start" if expected == start_seq else "missing row"
                return VerifyResult(
                    checked,
                    False,
                    chain,
                    expected,
                    row_id,
                    f"{where}: expected seq {expected}, found {seq}",
                )
            if prev_hash != prev:
                return VerifyResult(
                    checked, False, chain, seq, row_id, "prev_hash does not match the previous row"
                )
            data = {
                name: value if convert is None or value is None else convert(value)
                for (name, convert), value in zip(columns, values[3:], strict=True)
                if value is not None or name not in optional
            }
            text = json.dumps(data, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
            if _digest(prev, text) != stored_hash:
                return VerifyResult(
                    checked, False, chain, seq, row_id, "row_hash does not match the row"
                )
            if seq == head_seq:
                hash_at_head = stored_hash
            prev = stored_hash
            expected += 1
        if head is None or head_seq is None:
            continue
        last_seq = expected - 1
        if last_seq < head_seq:
            return VerifyResult(
                checked,
                False,
                chain,
                last_seq + 1,
                None,
                f"chain ends at seq {last_seq}; the anchor has seq {head_seq} (tail removed)",
            )
        if head_seq < start_seq - 1:
            continue  # the anchored row was purged since; nothing left to compare it with
        if hash_at_head != head["row_hash"]:
            return VerifyResult(
                checked, False, chain, head_seq, None, "row at the anchor differs (rewritten)"
            )
    return VerifyResult(checked, True)


def anchor_heads(model: type[Chained]) -> Anchor:
    """The current head (seq and row_hash) of every chain, to keep outside the database.

    A chain emptied by a purge is anchored at its purge point (the last purged row's hash).
    """
    heads: Anchor = {}
    chains = set(model.objects.values_list("chain", flat=True).distinct().order_by())
    chains |= set(_starts(model))
    for chain in sorted(chains):
        head = (
            model.objects.filter(chain=chain)
            .order_by("-seq")
            .values_list("seq", "row_hash")
            .first()
        )
        if head is None:
            first, prev = chain_start(model, chain)
            head = (first - 1, prev)
        heads[str(chain)] = {"seq": head[0], "row_hash": head[1]}
    return heads
