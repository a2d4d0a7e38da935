"""The hash chain over log rows: appending under a lock, and verifying.

`row_hash = sha256(prev_hash || canonical(row))`, where canonical is sorted-key JSON of the
model's HASHED_FIELDS. Each chain's appends are serialised by a transaction-scoped advisory lock,
so concurrent writers neither fork a chain nor leave a gap in `seq`.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import uuid
import zlib
from collections.abc import Iterator, Sequence
from dataclasses import dataclass

from django.conf import settings
from django.db import connection, transaction

from plan_service.audit.models import Chained

GENESIS = "0" * 64


def _plain(value: object) -> object:
    if isinstance(value, uuid.UUID):
        return str(value)
    if isinstance(value, dt.datetime):
        return value.astimezone(dt.UTC).isoformat(timespec="microseconds")
    return value


def canonical(row: Chained) -> str:
    """The row's hashed columns as canonical JSON."""
    data = {name: _plain(getattr(row, name)) for name in row.HASHED_FIELDS}
    return json.dumps(data, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def row_hash(prev_hash: str, row: Chained) -> str:
    return hashlib.sha256((prev_hash + canonical(row)).encode()).hexdigest()


def choose_chain(key: str) -> int:
    """Spread writers over the configured chains by a stable key (the request id)."""
    chains = max(1, settings.AUDIT_CHAINS)
    return zlib.crc32(key.encode()) % chains if key else 0


def append(rows: Sequence[Chained], *, key: str) -> None:
    """Append `rows` (unsaved, same model) to one chain, inside the caller's transaction."""
    if not rows:
        return
    model = type(rows[0])
    chain = choose_chain(key)
    with transaction.atomic():
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT pg_advisory_xact_lock(hashtext(%s), %s)", [model._meta.db_table, chain]
            )
        head = (
            model.objects.filter(chain=chain)
            .order_by("-seq")
            .values_list("seq", "row_hash")
            .first()
        )
        seq, prev = head if head else (0, GENESIS)
        for row in rows:
            seq += 1
            row.chain, row.seq, row.prev_hash = chain, seq, prev
            row.recorded_at = row.recorded_at.astimezone(dt.UTC)
            row.row_hash = prev = row_hash(prev, row)
        model.objects.bulk_create(rows)


@dataclass
class VerifyResult:
    """What verification found: rows checked, and the first broken row if any."""

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


def _rows(model: type[Chained], chain: int) -> Iterator[Chained]:
    return model.objects.filter(chain=chain).order_by("seq").iterator(chunk_size=5000)


def verify(
    model: type[Chained], *, anchor: dict[str, dict[str, object]] | None = None
) -> VerifyResult:
    """Recompute every chain of `model`; with an anchor, also check each head reaches it.

    `anchor` maps chain number (as text) to {"seq", "row_hash"} written by `anchor_heads` earlier:
    a chain that no longer reaches that seq was truncated; a different hash there was rewritten.
    The first chain start may be a purge point (`prev_hash` of a retained segment is trusted only
    when the chain's first row is the one a purge recorded).
    """
    checked = 0
    chains = model.objects.values_list("chain", flat=True).distinct().order_by("chain")
    anchored = {int(k): v for k, v in (anchor or {}).items()}
    for chain in sorted(set(chains) | set(anchored)):
        expected_seq: int | None = None
        prev: str | None = None
        last_seq, last_hash = 0, GENESIS
        for row in _rows(model, chain):
            checked += 1
            if expected_seq is None:
                # The chain's first row: seq 1 from genesis, or a purge point with a stored prev.
                if row.seq == 1 and row.prev_hash != GENESIS:
                    return _broken(checked, row, "first row does not start from genesis")
                prev = row.prev_hash
                expected_seq = row.seq
            if row.seq != expected_seq:
                return _broken(checked, row, f"expected seq {expected_seq}")
            if row.prev_hash != prev:
                return _broken(checked, row, "prev_hash does not match the previous row")
            if row_hash(prev, row) != row.row_hash:
                return _broken(checked, row, "row_hash does not match the row")
            prev = row.row_hash
            expected_seq += 1
            last_seq, last_hash = row.seq, row.row_hash
        if chain in anchored:
            head = anchored[chain]
            if last_seq < int(head["seq"]):
                return VerifyResult(
                    checked,
                    False,
                    chain,
                    last_seq + 1,
                    None,
                    f"chain ends at {last_seq}, anchor has {head['seq']}",
                )
            at = model.objects.filter(chain=chain, seq=head["seq"]).first()
            if at is None or at.row_hash != head["row_hash"]:
                return VerifyResult(
                    checked,
                    False,
                    chain,
                    int(head["seq"]),
                    str(at.pk) if at else None,
                    "row at anchor differs from the anchor",
                )
        del last_hash
    return VerifyResult(checked, True)


def _broken(checked: int, row: Chained, problem: str) -> VerifyResult:
    return VerifyResult(checked, False, row.chain, row.seq, str(row.pk), problem)


def anchor_heads(model: type[Chained]) -> dict[str, dict[str, object]]:
    """The current head (seq and row_hash) of every chain, to keep outside the database."""
    heads: dict[str, dict[str, object]] = {}
    for chain in model.objects.values_list("chain", flat=True).distinct():
        seq, digest = (
            model.objects.filter(chain=chain).order_by("-seq").values_list("seq", "row_hash")[0]
        )
        heads[str(chain)] = {"seq": seq, "row_hash": digest}
    return heads
