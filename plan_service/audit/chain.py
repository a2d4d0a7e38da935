"""The hash chain over log rows: appending under a lock, verifying, and anchoring the heads.

`row_hash = sha256(prev_hash || canonical(row))`, where canonical is sorted-key JSON of the
model's HASHED_FIELDS. Each chain's appends are serialised by a transaction-scoped advisory lock,
so concurrent writers neither fork a chain nor leave a gap in `seq` (the unique (chain, seq)
constraint backs this up). A chain starts at seq 1 from the genesis hash, or, after a retention
purge, at the first retained row recorded in a `PurgePoint`; nothing else may start a chain.
"""

from __future__ import annotations

import datetime as dt
import functools
import hashlib
import json
import uuid
import zlib
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from django.conf import settings
from django.db import connection, transaction
from django.db.models import Q, QuerySet

from plan_service import prepared
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


def _refuse_floats(name: str, value: object) -> None:
    """A chained row's JSON holds no floating-point numbers: PostgreSQL's jsonb keeps a number
    as its decimal value, so some come back in another form (1e+20 as an integer, -0.0 as 0.0),
    and the row read back would no longer hash as it was appended: `verify` would report a
    tampered row that nobody touched. The append refuses them before anything is written
    (`verify` does not: a row changed to hold one is reported as not matching its hash)."""
    if isinstance(value, float):
        raise ValueError(f"{name}: a chained log row cannot hold the number {value!r}")
    if isinstance(value, dict):
        for member in value.values():
            _refuse_floats(name, member)
    elif isinstance(value, list | tuple):
        for member in value:
            _refuse_floats(name, member)


def _plain_of(field: Any) -> Callable[[object], object]:
    """`_plain(field.to_python(value))` for one field, with the value's usual type checked first.

    The log append runs this for every column of every row (a plan list writes ~200 rows), so
    a value already of the field's own type skips `to_python`; anything else goes through it,
    which is what makes an in-memory row hash exactly as the same row read back.
    """
    to_python = field.to_python
    kind = field.get_internal_type()
    native = {
        "CharField": str,
        "TextField": str,
        "BooleanField": bool,
        "BigIntegerField": int,
        "IntegerField": int,
        "PositiveIntegerField": int,
        "PositiveSmallIntegerField": int,
        "SmallIntegerField": int,
    }.get(kind)
    if kind == "UUIDField":

        def plain(value: object) -> object:
            if value is None:
                return None
            return str(value if type(value) is uuid.UUID else to_python(value))

    elif kind == "DateTimeField":

        def plain(value: object) -> object:
            if value is None:
                return None
            moment = value if isinstance(value, dt.datetime) else to_python(value)
            return moment.astimezone(dt.UTC).isoformat(timespec="microseconds")

    elif native is not None:

        def plain(value: object) -> object:
            return value if value is None or type(value) is native else to_python(value)

    else:

        def plain(value: object) -> object:
            return _plain(to_python(value))

    return plain


@dataclass(frozen=True)
class _Column:
    """One column of a chained model: how a row's value is given, stored and hashed."""

    attname: str
    column: str
    default: Callable[[], object]
    plain: Callable[[object], object]
    #: A JSON column: what the append is given must hold no float (`_refuse_floats`).
    json: bool = False


def _columns(model: type[Chained]) -> tuple[_Column, ...]:
    """The model's concrete columns, decided once per model (not per value)."""
    cached = _COLUMNS.get(model)
    if cached is None:
        cached = tuple(
            _Column(
                f.attname,
                f.column,
                f.get_default,
                _plain_of(f),
                f.get_internal_type() == "JSONField",
            )
            for f in model._meta.concrete_fields
        )
        _COLUMNS[model] = cached
    return cached


_COLUMNS: dict[type[Chained], tuple[_Column, ...]] = {}


def _canonical_json(value: object) -> str:
    """JSON as the chain hashes it: sorted keys at every level, compact, not ASCII-escaped.
    A whole row (`_canonical_text`), each member of a row the append builds (`_Splitter`) and
    each row `verify` reads back are written by it, so they cannot differ.

    A plain string (most members of a row: ids, names, codes) goes straight to the string
    encoder `json.dumps` itself uses for it, without building an encoder per call: a plan
    list's ~190 rows build ~600 such members."""
    if type(value) is str:
        return _encode_string(value)
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


#: What `json.dumps(text, ensure_ascii=False)` returns for a `str` (the C encoder, where built).
_encode_string = json.encoder.encode_basestring


def _canonical_text(model: type[Chained], values: dict[str, object]) -> str:
    """Canonical JSON of a row's hashed columns, from its plain values (`_columns`' `plain`)."""
    optional = model.HASHED_WHEN_SET
    data = {
        name: values[name]
        for name in model.HASHED_FIELDS
        if values[name] is not None or name not in optional
    }
    return _canonical_json(data)


def _row_values(row: Chained) -> dict[str, object]:
    return {c.attname: c.plain(getattr(row, c.attname)) for c in _columns(type(row))}


def canonical(row: Chained) -> str:
    """The row's hashed columns as canonical JSON.

    Values pass through each field's `to_python` first, so an in-memory row hashes exactly as
    the same row read back from the database (a uuid given as text, a number given as a string).
    """
    return _canonical_text(type(row), _row_values(row))


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


#: A column a row does not give (it takes the field's default).
_UNSET = object()
#: Columns the database function fills in under the lock.
_PLACED = frozenset({"seq", "prev_hash", "row_hash"})


@dataclass(frozen=True)
class _Layout:
    """How one model's rows are cut into canonical text and sent to the append function.

    The canonical text is sorted-key JSON, so it is the hashed members in the order of their
    sorted names, each `"name":value`: built member by member, a batch's rows (which share most
    values) reuse the text of a value that is the very object the row before had.
    """

    #: (column index, `"name":`, hashed only when set) of each hashed column but seq, in
    #: canonical order, cut where seq stands.
    before_seq: tuple[tuple[int, str, bool], ...]
    after_seq: tuple[tuple[int, str, bool], ...]
    chain_at: int


@functools.cache
def _layout(model: type[Chained]) -> _Layout:
    columns = _columns(model)
    index = {c.attname: i for i, c in enumerate(columns)}
    optional = frozenset(model.HASHED_WHEN_SET)
    order = sorted(model.HASHED_FIELDS)
    unhashed = set(index) - set(order) - _PLACED
    if unhashed or "seq" not in order:
        # The append function stores each row's columns from its canonical text.
        raise ValueError(f"{model.__name__} must hash seq and every column but {sorted(_PLACED)}")
    members = [(index[name], json.dumps(name) + ":", name in optional) for name in order]
    cut = order.index("seq")
    return _Layout(
        before_seq=tuple(members[:cut]),
        after_seq=tuple(members[cut + 1 :]),
        chain_at=index["chain"],
    )


class _Splitter:
    """Cuts rows' canonical text around their seq: `canonical == head + str(seq) + tail`.

    One per append: it remembers each member's text for the value object it was made from,
    so the next row giving that very object (not merely an equal one: {"n": 1} == {"n": True})
    reuses it.
    """

    def __init__(self, layout: _Layout, width: int) -> None:
        self.layout = layout
        self.last_value: list[object] = [_UNSET] * width
        self.last_text: list[str] = [""] * width

    def _members(self, plain: Sequence[object], members: tuple[tuple[int, str, bool], ...]) -> str:
        texts = []
        last_value, last_text = self.last_value, self.last_text
        for i, name, optional in members:
            value = plain[i]
            if value is None and optional:
                continue
            if value is not last_value[i]:
                last_value[i] = value
                last_text[i] = name + _canonical_json(value)
            texts.append(last_text[i])
        return ",".join(texts)

    def split(self, plain: Sequence[object]) -> tuple[str, str]:
        before = self._members(plain, self.layout.before_seq)
        after = self._members(plain, self.layout.after_seq)
        return (
            "{" + before + ("," if before else "") + '"seq":',
            ("," + after if after else "") + "}",
        )


def _canonical_split(model: type[Chained], values: dict[str, object]) -> tuple[str, str]:
    """A row's canonical JSON cut around its seq (`values` by attribute name, plain)."""
    columns = _columns(model)
    return _Splitter(_layout(model), len(columns)).split([values[c.attname] for c in columns])


#: What parts the rows of an append, and what cuts a row where its seq goes: JSON text escapes
#: every control character, so neither can occur inside a row's canonical text.
_ROW_SEPARATOR = "\x1e"
_SEQ_CUT = "\x1f"


def _payload(model: type[Chained], rows: Sequence[Mapping[str, object]], chain: int) -> str:
    """What `audit_chain_append` takes for `rows`: each row's canonical text with its seq cut
    out, the rows apart by `_ROW_SEPARATOR`. The function stores each row's columns from that
    same text (every column but prev_hash and row_hash is hashed, `_layout`)."""
    columns = _columns(model)
    names = frozenset(c.attname for c in columns)
    layout = _layout(model)
    splitter = _Splitter(layout, len(columns))
    texts = []
    # The rows of one append share most values (the same actor, time, plan, recipient, often
    # the very same objects): a value that is the object converted for the row before is not
    # converted again (`plain` is a pure function of its value).
    last_given: list[object] = [_UNSET] * len(columns)
    last_plain: list[object] = [None] * len(columns)
    for given in rows:
        if not names.issuperset(given):
            unknown = sorted(set(given) - names)
            raise TypeError(f"{model.__name__} has no column {', '.join(unknown)}")
        plain: list[object] = []
        for i, c in enumerate(columns):
            value = given.get(c.attname, _UNSET)
            if value is _UNSET:
                plain.append(c.plain(c.default()))
            elif value is last_given[i]:
                plain.append(last_plain[i])
            else:
                plain.append(c.plain(value))
                if c.json:
                    _refuse_floats(c.attname, plain[i])
                last_plain[i] = plain[i]
                last_given[i] = value
        plain[layout.chain_at] = chain
        head, tail = splitter.split(plain)
        texts.append(head + _SEQ_CUT + tail)
    return _ROW_SEPARATOR.join(texts)


def append_values(
    model: type[Chained], rows: Sequence[Mapping[str, object]], *, key: str
) -> list[tuple[int, str, str]]:
    """Append rows given as column values (by attribute name; a column left out takes its
    field's default) to one chain of `model`, in one round trip; return each row's
    (seq, prev_hash, row_hash).

    The database function `audit_chain_append` (migrations audit 0005, 0012-0014) takes the
    chain's lock until the end of the caller's transaction, reads the head, hashes each row
    exactly as `row_hash` does and inserts it with the columns of that same canonical text.
    Plain values rather than model instances: a plan list appends ~200 rows per request.
    """
    if not rows:
        return []
    chain = choose_chain(key)
    payload = _payload(model, rows, chain)
    # Bound on the server: the payload (about 1 KB a row; a plan list appends ~190 rows) goes
    # as a parameter instead of being quoted into the statement's text on the client.
    with prepared.server_cursor() as cursor:
        cursor.execute(
            "SELECT seq, prev_hash, row_hash FROM audit_chain_append(%s, %s, %s, %s::text)",
            [model._meta.db_table, log_name(model), chain, payload],
        )
        return [(int(seq), str(prev), str(digest)) for seq, prev, digest in cursor.fetchall()]


def append(rows: Sequence[Chained], *, key: str) -> None:
    """Append `rows` (unsaved model instances, same model) to one chain, in one round trip;
    the rows get their chain, seq and hashes back (`append_values`)."""
    if not rows:
        return
    model = type(rows[0])
    chain = choose_chain(key)
    for row in rows:
        row.recorded_at = row.recorded_at.astimezone(dt.UTC)
    given = [{c.attname: getattr(row, c.attname) for c in _columns(model)} for row in rows]
    placed = append_values(model, given, key=key)
    for row, (seq, prev, digest) in zip(rows, placed, strict=True):
        row.chain, row.seq, row.prev_hash, row.row_hash = chain, seq, prev, digest
        row._state.adding = False
        row._state.db = connection.alias


#
# Verification
#


@dataclass(frozen=True)
class Break:
    """One place where a chain is broken: the position, the row found there, what is wrong."""

    chain: int
    seq: int | None
    id: str | None
    problem: str

    def as_dict(self) -> dict[str, object]:
        return {"chain": self.chain, "seq": self.seq, "id": self.id, "problem": self.problem}


@dataclass
class VerifyResult:
    """What verification found: rows checked, every break in every chain, and per chain a
    summary. `broken_*` repeat the first break (by chain, then position) for older callers.

    A break's `seq` is the position in the chain where it breaks (for a deleted row, the seq
    that is missing); `id` is the id of the row found at that position, or for a removed tail
    the id the anchor recorded for the missing head.
    """

    rows_checked: int
    ok: bool
    broken_chain: int | None = None
    broken_seq: int | None = None
    broken_id: str | None = None
    problem: str = ""
    breaks: list[Break] = field(default_factory=list)
    chains: dict[int, dict[str, object]] = field(default_factory=dict)

    @classmethod
    def of(
        cls, checked: int, breaks: list[Break], chains: dict[int, dict[str, object]]
    ) -> VerifyResult:
        if not breaks:
            return cls(checked, True, chains=chains)
        first = breaks[0]
        return cls(checked, False, first.chain, first.seq, first.id, first.problem, breaks, chains)

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
            "breaks": [b.as_dict() for b in self.breaks],
            "chains": {str(n): summary for n, summary in sorted(self.chains.items())},
        }


def _converters(model: type[Chained]) -> list[Callable[[Any], object]]:
    """Per hashed column, the conversion the append hashes it with (`_columns`' `plain`), so
    verifying and appending share one canonical form; decided once, not per value."""
    plain = {c.attname: c.plain for c in _columns(model)}
    return [plain[name] for name in model.HASHED_FIELDS]


def _rows(model: type[Chained], chain: int) -> Iterator[tuple[Any, ...]]:
    # Plain tuples rather than model instances: verify reads every row, and this is ~3x faster.
    fields = ("seq", "prev_hash", "row_hash", *model.HASHED_FIELDS)
    return (
        model.objects.filter(chain=chain)
        .order_by("seq")
        .values_list(*fields)
        .iterator(chunk_size=10000)
    )


def last_seqs(model: type[Chained]) -> dict[int, int]:
    """The last seq of every chain of `model` now: a cut of the log that later appends do not
    move (`up_to`).

    A chain's rows are numbered under its lock, which its appender holds until it commits, so
    every row up to the last one committed is committed too. One statement, each chain found by
    an index probe (a loose scan of the (chain, seq) constraint), not a scan of the log.
    """
    table = connection.ops.quote_name(model._meta.db_table)
    with connection.cursor() as cursor:
        cursor.execute(
            f"""
            WITH RECURSIVE chains(chain) AS (
                (SELECT chain FROM {table} ORDER BY chain LIMIT 1)
                UNION ALL
                SELECT (SELECT t.chain FROM {table} t WHERE t.chain > chains.chain
                         ORDER BY t.chain LIMIT 1)
                  FROM chains WHERE chains.chain IS NOT NULL
            )
            SELECT chain, (SELECT max(t.seq) FROM {table} t WHERE t.chain = chains.chain)
              FROM chains WHERE chain IS NOT NULL
            """  # noqa: S608 (the model's own table name)
        )
        return dict(cursor.fetchall())


def up_to(rows: QuerySet[Any], seqs: Mapping[int, int]) -> QuerySet[Any]:
    """`rows` without any appended after the cut `seqs` (`last_seqs`) was taken."""
    cut = Q(pk__in=[])
    for chain, seq in seqs.items():
        cut |= Q(chain=chain, seq__lte=seq)
    return rows.filter(cut)


def _starts(model: type[Chained]) -> dict[int, tuple[int, str]]:
    starts: dict[int, tuple[int, str]] = {}
    points = PurgePoint.objects.filter(log=log_name(model)).order_by("chain", "first_seq")
    for chain, first_seq, prev in points.values_list("chain", "first_seq", "prev_hash"):
        starts[chain] = (first_seq, prev)  # the latest cut wins
    return starts


def verify(model: type[Chained], *, anchor: Anchor | None = None) -> VerifyResult:
    """Recompute every chain of `model`, report every break; with an anchor, also check each
    chain reaches it.

    Each chain must start where it should (seq 1 from genesis, or the latest recorded purge
    point with its prev_hash), continue without gaps, link each row to the previous row's hash,
    and carry the hash of its own columns. After a break, checking goes on from the row found
    (its stored hash becomes the link), so one tampered row is one break and later breaks in
    the same or other chains are reported too.

    `anchor` maps chain number (as text) to {"seq", "row_hash"[, "id"]} written earlier by
    `anchor_heads`: a chain that no longer reaches that seq was truncated; a different hash at
    that seq means the chain was rewritten. Rows after the anchored head are accepted (they are
    newer than the anchor). An anchor older than a purge cannot be checked beyond the purge
    point and is accepted.
    """
    checked = 0
    breaks: list[Break] = []
    chains: dict[int, dict[str, object]] = {}
    anchored = {int(k): v for k, v in (anchor or {}).items()}
    starts = _starts(model)
    present = last_seqs(model)
    names = model.HASHED_FIELDS
    id_index = 3 + names.index("id")
    optional = set(model.HASHED_WHEN_SET)
    columns = list(zip(names, _converters(model), strict=True))
    for chain in sorted(set(present) | set(anchored) | set(starts)):
        start_seq, prev = starts.get(chain, (1, GENESIS))
        expected = start_seq
        head = anchored.get(chain)
        head_seq = int(str(head["seq"])) if head else None
        hash_at_head: str | None = prev if head_seq == start_seq - 1 else None
        rows = 0
        found: list[Break] = []
        # In a transaction: Django streams a server-side cursor only inside one; in
        # autocommit (an API read) it declares it WITH HOLD, and PostgreSQL copies the
        # chain's whole result before the first row.
        with transaction.atomic():
            for values in _rows(model, chain):
                rows += 1
                seq, prev_hash, stored_hash = values[0], values[1], values[2]
                row_id = str(values[id_index])
                problems = []
                if seq != expected:
                    where = "chain must start" if expected == start_seq else "missing row"
                    problems.append(f"{where}: expected seq {expected}, found {seq}")
                if prev_hash != prev:
                    problems.append("prev_hash does not match the previous row")
                data = {
                    name: convert(value)
                    for (name, convert), value in zip(columns, values[3:], strict=True)
                    if value is not None or name not in optional
                }
                if _digest(prev_hash, _canonical_json(data)) != stored_hash:
                    problems.append("row_hash does not match the row")
                if problems:
                    found.append(
                        Break(
                            chain, expected if seq != expected else seq, row_id, "; ".join(problems)
                        )
                    )
                if seq == head_seq:
                    hash_at_head = stored_hash
                prev = stored_hash
                expected = seq + 1
        checked += rows
        last_seq = expected - 1
        if head is not None and head_seq is not None:
            if last_seq < head_seq:
                found.append(
                    Break(
                        chain,
                        last_seq + 1,
                        str(head.get("id")) if head.get("id") else None,
                        f"chain ends at seq {last_seq}; the anchor has seq {head_seq}"
                        + (f" (row {head['id']})" if head.get("id") else "")
                        + " (tail removed)",
                    )
                )
            elif head_seq >= start_seq - 1 and hash_at_head != head["row_hash"]:
                found.append(
                    Break(
                        chain,
                        head_seq,
                        str(head.get("id") or "") or None,
                        "row at the anchor differs (rewritten)",
                    )
                )
        breaks.extend(found)
        chains[chain] = {
            "rows": rows,
            "first_seq": start_seq,
            "last_seq": last_seq,
            "anchored_seq": head_seq,
            "ok": not found,
        }
    return VerifyResult.of(checked, breaks, chains)


def anchor_heads(model: type[Chained]) -> Anchor:
    """The current head (seq and row_hash) of every chain, to keep outside the database.

    A chain emptied by a purge is anchored at its purge point (the last purged row's hash).
    """
    heads: Anchor = {}
    chains = set(last_seqs(model))
    chains |= set(_starts(model))
    for chain in sorted(chains):
        head = (
            model.objects.filter(chain=chain)
            .order_by("-seq")
            .values_list("seq", "row_hash", "id")
            .first()
        )
        if head is None:
            first, prev = chain_start(model, chain)
            head = (first - 1, prev, None)
        else:
            head = (head[0], head[1], str(head[2]))
        heads[str(chain)] = {"seq": head[0], "row_hash": head[1], "id": head[2]}
    return heads
