"""Security.md row I: the database refuses changes to the logs, and the chain gives away every
change made by someone who got past the database (a superuser switching the triggers off).

The mutation test prints its tally (`pytest -s`): mutations tried, detected, and detected at the
right row, with and without an anchor.
"""

from __future__ import annotations

import json
import uuid
from collections import Counter
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from django.db import DatabaseError, connection, transaction

from plan_service.audit import chain
from plan_service.audit.models import AccessEvent, Chained, Disclosure, PurgePoint
from tests.audit.helpers import access_row, append_rows, bypass_triggers, disclosure_row
from tests.harness.db_roles import as_purge_role, owner_powers

pytestmark = pytest.mark.django_db

LOG_TABLES = [AccessEvent, Disclosure]
ALL_TABLES = [AccessEvent, Disclosure, PurgePoint]


def _purge_point() -> PurgePoint:
    from django.utils import timezone

    return PurgePoint.objects.create(
        log="access",
        chain=0,
        first_seq=5,
        prev_hash="a" * 64,
        rows_removed=4,
        cutoff=timezone.now(),
    )


def _one_row(model: type[Any]) -> Any:
    if model is PurgePoint:
        return _purge_point()
    return append_rows(model, 1)[0]


def _refused(sql: str, params: list[Any] | None = None) -> str:
    """Run `sql` in a savepoint; return the database's error, failing if there was none."""
    with pytest.raises(DatabaseError) as info, transaction.atomic(), connection.cursor() as cur:
        cur.execute(sql, params or [])
    return str(info.value)


@pytest.mark.parametrize("replica", [False, True], ids=["origin", "replica"])
@pytest.mark.parametrize("model", ALL_TABLES, ids=lambda m: m._meta.db_table)
def test_database_refuses_update_delete_and_truncate(model, replica):
    """Even the owner (superuser here) is refused by the triggers; the service role is refused
    earlier by its grants (tests/audit/test_roles.py)."""
    owner_powers().__enter__()  # until the test's transaction ends
    row = _one_row(model)
    table = model._meta.db_table
    if replica:
        with connection.cursor() as cursor:
            cursor.execute("SET LOCAL session_replication_role = replica")
    for sql in (
        f"UPDATE {table} SET recorded_at = recorded_at WHERE id = %s",  # noqa: S608 (table names come from model metadata)
        f"DELETE FROM {table} WHERE id = %s",  # noqa: S608 (table names come from model metadata)
    ):
        assert "append-only" in _refused(sql, [row.pk])
    assert "append-only" in _refused(f"TRUNCATE {table}")
    assert model.objects.filter(pk=row.pk).exists()


def test_purge_window_allows_only_rows_older_than_the_cutoff():
    row = append_rows(AccessEvent, 1)[0]
    with as_purge_role():
        with connection.cursor() as cursor:
            cursor.execute("SELECT set_config('plan_service.audit_purge', '2000-01-01', true)")
        assert "append-only" in _refused("DELETE FROM audit_accessevent WHERE id = %s", [row.pk])
    with owner_powers():
        assert "append-only" in _refused(
            "UPDATE audit_accessevent SET purpose='' WHERE id = %s", [row.pk]
        )


#
# Mutation testing of the chain (transparency-dev style)
#

CHAIN = 1  # replaced by an unused chain number for the test (fixture fresh_chain)
NEIGHBOUR = 0
ROWS = 6
CHOSEN = (1, 3, 6)  # first, middle and last row of the chain


def _flipped(model: type[Chained], column: str, value: Any) -> Any:
    """A different value of the same type: the smallest change that should be noticed."""
    field = model._meta.get_field(column)
    kind = field.get_internal_type()
    if column == "chain":
        return 99
    if column == "seq":
        return value + 1000
    if kind == "UUIDField":
        text = str(value or uuid.uuid4())
        return uuid.UUID(text[:-1] + ("0" if text[-1] != "0" else "1"))
    if kind == "DateTimeField":
        import datetime as dt

        return value + dt.timedelta(microseconds=1)
    if kind == "BooleanField":
        return not value
    if kind in ("BigIntegerField", "PositiveIntegerField", "PositiveSmallIntegerField"):
        return 1 if value is None else value + 1
    if kind == "JSONField":
        return json.dumps({**(value or {}), "flipped": True})
    if kind == "GenericIPAddressField":
        return "192.0.2.11" if value != "192.0.2.11" else "192.0.2.12"
    text = value or ""
    return text[:-1] + chr(ord(text[-1]) ^ 1) if text else "x"


def _set(model: type[Chained], row_id: Any, values: dict[str, Any]) -> None:
    table = model._meta.db_table
    assignments = ", ".join(
        f"{c} = %s::jsonb"
        if model._meta.get_field(c).get_internal_type() == "JSONField"
        else f"{c} = %s"
        for c in values
    )
    params = [v if not isinstance(v, dict) else json.dumps(v) for v in values.values()]
    with connection.cursor() as cursor:
        cursor.execute(f"UPDATE {table} SET {assignments} WHERE id = %s", [*params, row_id])  # noqa: S608 (table names come from model metadata)


def _by_seq(model: type[Chained]) -> dict[int, Chained]:
    return {r.seq: r for r in model.objects.filter(chain=CHAIN)}


@pytest.fixture
def fresh_chain(chains: Any) -> Iterator[int]:
    """Run the mutation test in chains no committed row has used (CHAIN and its neighbour)."""
    global CHAIN, NEIGHBOUR
    saved = CHAIN, NEIGHBOUR
    CHAIN, NEIGHBOUR = chains[1], chains[0]
    try:
        yield CHAIN
    finally:
        CHAIN, NEIGHBOUR = saved


def _mutations(model: type[Chained]) -> list[tuple[str, Callable[[], None], int | None]]:
    """(name, mutate, seq where verify must break; None when only an anchor can tell)."""
    table = model._meta.db_table
    out: list[tuple[str, Callable[[], None], int | None]] = []
    columns = [*model.HASHED_FIELDS, "prev_hash", "row_hash"]
    for seq in CHOSEN:
        for column in columns:

            def flip(seq: int = seq, column: str = column) -> None:
                row = _by_seq(model)[seq]
                _set(model, row.pk, {column: _flipped(model, column, getattr(row, column))})

            # Moving the last row to another chain is a tail truncation of this one.
            moved_tail = column == "chain" and seq == ROWS
            out.append((f"flip {column} of row {seq}", flip, None if moved_tail else seq))
            if model._meta.get_field(column).get_internal_type() == "JSONField":
                # A float no append writes (`chain._refuse_floats`): reported, not a crash.
                def floated(seq: int = seq, column: str = column) -> None:
                    _set(model, _by_seq(model)[seq].pk, {column: {"n": [1e20, -0.0, 0.5]}})

                out.append((f"a float in {column} of row {seq}", floated, seq))

        def delete(seq: int = seq) -> None:
            model.objects.filter(pk=_by_seq(model)[seq].pk).delete()

        out.append((f"delete row {seq}", delete, None if seq == ROWS else seq))

    def swap_contents(a: int, b: int) -> Callable[[], None]:
        def run() -> None:
            rows = _by_seq(model)
            keep = {"id", "chain", "seq"}
            columns_ = [c for c in columns if c not in keep]
            va = {c: getattr(rows[a], c) for c in columns_}
            vb = {c: getattr(rows[b], c) for c in columns_}
            _set(model, rows[a].pk, vb)
            _set(model, rows[b].pk, va)

        return run

    def swap_positions(a: int, b: int) -> Callable[[], None]:
        def run() -> None:
            rows = _by_seq(model)
            _set(model, rows[a].pk, {"seq": -1})
            _set(model, rows[b].pk, {"seq": a})
            _set(model, rows[a].pk, {"seq": b})

        return run

    for a, b in ((1, 2), (3, 5), (5, 6)):
        out.append((f"swap contents of rows {a} and {b}", swap_contents(a, b), a))
        out.append((f"swap positions of rows {a} and {b}", swap_positions(a, b), a))

    for first in (2, 4, 6):

        def truncate(first: int = first) -> None:
            with connection.cursor() as cursor:
                cursor.execute(
                    f"DELETE FROM {table} WHERE chain = %s AND seq >= %s",  # noqa: S608
                    [CHAIN, first],
                )

        out.append((f"truncate tail from row {first}", truncate, None))

    def rewrite() -> None:
        rows = _by_seq(model)
        prev = rows[3].prev_hash
        for seq in range(3, ROWS + 1):
            row = rows[seq]
            if seq == 3:
                row.request_id = "rewritten"
            row.prev_hash = prev
            row.row_hash = prev = chain.row_hash(prev, row)
            _set(
                model, row.pk, {c: getattr(row, c) for c in ("request_id", "prev_hash", "row_hash")}
            )

    out.append(("rewrite rows 3.. with fresh hashes", rewrite, None))
    return out


def _anchored_seq(name: str, plain_seq: int | None) -> int:
    """Where an anchored verify must break: the plain position, or the first lost row."""
    if plain_seq is not None:
        return plain_seq
    if name.startswith("truncate tail from row "):
        return int(name.rsplit(" ", 1)[1])
    if name.startswith("rewrite"):
        return ROWS  # the anchored head no longer matches
    return ROWS  # the last row was removed from this chain


@pytest.mark.parametrize("model", LOG_TABLES, ids=lambda m: m._meta.db_table)
def test_every_mutation_of_a_chain_is_detected_at_the_right_row(model, fresh_chain):
    append_rows(model, 2, chain_no=NEIGHBOUR)  # a neighbouring chain that must stay intact
    append_rows(model, ROWS, chain_no=CHAIN)
    anchor = chain.anchor_heads(model)
    assert chain.verify(model, anchor=anchor).ok
    bypass_triggers()
    tally: Counter[str] = Counter()
    misses: list[str] = []
    for name, mutate, seq in _mutations(model):
        tally["tried"] += 1
        sid = transaction.savepoint()
        try:
            mutate()
            plain = chain.verify(model)
            anchored = chain.verify(model, anchor=anchor)
        finally:
            transaction.savepoint_rollback(sid)
        if seq is not None:
            tally["need chain only"] += 1
            if not plain.ok:
                tally["detected without anchor"] += 1
            if (plain.broken_chain, plain.broken_seq) == (CHAIN, seq):
                tally["right row without anchor"] += 1
            else:
                misses.append(f"{name}: plain verify gave {plain.as_dict()}")
        if not anchored.ok:
            tally["detected with anchor"] += 1
        if (anchored.broken_chain, anchored.broken_seq) == (CHAIN, _anchored_seq(name, seq)):
            tally["right row with anchor"] += 1
        else:
            misses.append(f"{name}: anchored verify gave {anchored.as_dict()}")
    print(f"\n{model.__name__} mutations: {dict(tally)}")
    assert chain.verify(model, anchor=anchor).ok  # every mutation was rolled back
    assert misses == []
    assert tally["detected with anchor"] == tally["tried"]
    assert tally["right row with anchor"] == tally["tried"]
    assert tally["right row without anchor"] == tally["need chain only"]


#
# What verify reports, exactly (mutation testing of chain.py: the result encoding)
#


def _ours(result: chain.VerifyResult, numbers: Any) -> list[chain.Break]:
    return [b for b in result.breaks if b.chain in set(numbers)]


def test_verify_names_each_kind_of_break_with_its_position_row_and_problem(chains):
    """One chain per kind of break; every field of every break is pinned, and the result says
    `ok is False` (not merely falsy) with the first break repeated in `broken_*`."""
    a, b, c, d = chains
    edited = append_rows(AccessEvent, 5, chain_no=a)
    gap = append_rows(AccessEvent, 5, chain_no=b)
    headless = append_rows(AccessEvent, 4, chain_no=c)
    relinked = append_rows(AccessEvent, 3, chain_no=d)
    intact = chain.verify(AccessEvent)
    assert intact.ok is True
    assert _ours(intact, chains) == []
    assert (intact.broken_chain, intact.broken_seq, intact.broken_id, intact.problem) == (
        None,
        None,
        None,
        "",
    )
    total = intact.rows_checked
    assert total == AccessEvent.objects.count()  # every row of every chain, counted from 0
    bypass_triggers()
    _set(AccessEvent, edited[1].pk, {"purpose": "edited"})
    AccessEvent.objects.filter(pk=gap[2].pk).delete()
    AccessEvent.objects.filter(pk=headless[0].pk).delete()
    _set(AccessEvent, relinked[1].pk, {"prev_hash": "f" * 64})

    result = chain.verify(AccessEvent)

    assert result.ok is False
    assert result.rows_checked == total - 2
    assert _ours(result, chains) == [
        chain.Break(a, 2, str(edited[1].pk), "row_hash does not match the row"),
        chain.Break(
            b,
            3,
            str(gap[3].pk),
            "missing row: expected seq 3, found 4; prev_hash does not match the previous row",
        ),
        chain.Break(
            c,
            1,
            str(headless[1].pk),
            "chain must start: expected seq 1, found 2; prev_hash does not match the previous row",
        ),
        chain.Break(
            d,
            2,
            str(relinked[1].pk),
            "prev_hash does not match the previous row; row_hash does not match the row",
        ),
    ]
    first = result.breaks[0]
    assert (result.broken_chain, result.broken_seq, result.broken_id, result.problem) == (
        first.chain,
        first.seq,
        first.id,
        first.problem,
    )
    assert result.chains[a] == {
        "rows": 5,
        "first_seq": 1,
        "last_seq": 5,
        "anchored_seq": None,
        "ok": False,
    }
    assert result.chains[b] == {
        "rows": 4,
        "first_seq": 1,
        "last_seq": 5,
        "anchored_seq": None,
        "ok": False,
    }
    assert result.chains[c]["rows"] == 3
    assert result.chains[d]["ok"] is False
    encoded = result.as_dict()
    assert encoded["ok"] is False
    assert encoded["rows_checked"] == total - 2
    assert encoded["first_broken"] == first.as_dict()
    assert first.as_dict() == {
        "chain": first.chain,
        "seq": first.seq,
        "id": first.id,
        "problem": first.problem,
    }
    assert [x for x in encoded["breaks"] if x["chain"] in set(chains)] == [
        x.as_dict() for x in _ours(result, chains)
    ]
    assert encoded["chains"][str(a)] == result.chains[a]
    assert list(encoded["chains"]) == [str(n) for n in sorted(result.chains)]


def test_an_intact_result_encodes_ok_and_no_first_break(chains):
    append_rows(Disclosure, 2, chain_no=chains[0])
    result = chain.verify(Disclosure)
    assert result.ok is True
    assert result.breaks == []
    assert result.chains[chains[0]] == {
        "rows": 2,
        "first_seq": 1,
        "last_seq": 2,
        "anchored_seq": None,
        "ok": True,
    }
    encoded = result.as_dict()
    assert encoded["ok"] is True
    assert encoded["first_broken"] is None
    assert encoded["breaks"] == []
    assert encoded["rows_checked"] == result.rows_checked == Disclosure.objects.count()
    assert encoded["chains"][str(chains[0])] == result.chains[chains[0]]


def test_anchored_breaks_name_the_lost_head_and_the_rewritten_row(chains):
    truncated, rewritten, old_style = chains[0], chains[1], chains[2]
    cut = append_rows(AccessEvent, 4, chain_no=truncated)
    redone = append_rows(AccessEvent, 3, chain_no=rewritten)
    plain = append_rows(AccessEvent, 3, chain_no=old_style)
    anchor = chain.anchor_heads(AccessEvent)
    assert anchor[str(truncated)] == {"seq": 4, "row_hash": cut[-1].row_hash, "id": str(cut[-1].pk)}
    anchor[str(old_style)] = {"seq": 3, "row_hash": plain[-1].row_hash}  # before ids were kept
    good = chain.verify(AccessEvent, anchor=anchor)
    assert good.ok is True
    assert good.chains[truncated]["anchored_seq"] == 4
    assert good.chains[truncated]["ok"] is True
    bypass_triggers()
    AccessEvent.objects.filter(pk__in=[cut[2].pk, cut[3].pk]).delete()
    AccessEvent.objects.filter(pk=plain[2].pk).delete()
    prev = redone[0].row_hash
    for row in redone[1:]:
        row.refresh_from_db()
        if row.seq == 2:
            row.purpose = "rewritten"
        row.prev_hash = prev
        row.row_hash = prev = chain.row_hash(prev, row)
        _set(
            AccessEvent,
            row.pk,
            {"purpose": row.purpose, "prev_hash": row.prev_hash, "row_hash": row.row_hash},
        )
    assert chain.verify(AccessEvent).ok is True  # the chain alone cannot tell

    result = chain.verify(AccessEvent, anchor=anchor)

    assert result.ok is False
    assert _ours(result, chains) == [
        chain.Break(
            truncated,
            3,
            str(cut[-1].pk),
            f"chain ends at seq 2; the anchor has seq 4 (row {cut[-1].pk}) (tail removed)",
        ),
        chain.Break(rewritten, 3, str(redone[-1].pk), "row at the anchor differs (rewritten)"),
        chain.Break(old_style, 3, None, "chain ends at seq 2; the anchor has seq 3 (tail removed)"),
    ]
    assert result.chains[truncated] == {
        "rows": 2,
        "first_seq": 1,
        "last_seq": 2,
        "anchored_seq": 4,
        "ok": False,
    }
    anchor[str(rewritten)] = {"seq": 3, "row_hash": anchor[str(rewritten)]["row_hash"]}
    rewritten_old_style = chain.verify(AccessEvent, anchor=anchor)
    assert [x for x in _ours(rewritten_old_style, chains) if x.chain == rewritten] == [
        chain.Break(rewritten, 3, None, "row at the anchor differs (rewritten)")
    ]


def test_an_anchored_chain_with_every_row_deleted_is_reported(chains):
    """A chain that only the anchor still knows (no rows, no purge point) is checked too."""
    gone = append_rows(Disclosure, 2, chain_no=chains[3])
    anchor = chain.anchor_heads(Disclosure)
    bypass_triggers()
    Disclosure.objects.filter(chain=chains[3]).delete()
    assert chains[3] not in chain.verify(Disclosure).chains
    result = chain.verify(Disclosure, anchor=anchor)
    assert result.ok is False
    assert _ours(result, chains) == [
        chain.Break(
            chains[3],
            1,
            str(gone[-1].pk),
            f"chain ends at seq 0; the anchor has seq 2 (row {gone[-1].pk}) (tail removed)",
        )
    ]
    assert result.chains[chains[3]] == {
        "rows": 0,
        "first_seq": 1,
        "last_seq": 0,
        "anchored_seq": 2,
        "ok": False,
    }


def test_only_the_two_logs_have_a_log_name():
    assert [chain.log_name(AccessEvent), chain.log_name(Disclosure)] == ["access", "disclosure"]
    with pytest.raises(ValueError, match=r"^PurgePoint is not a chained log$"):
        chain.log_name(PurgePoint)


def test_choose_chain_spreads_keys_over_the_configured_chains(settings):
    keys = [f"request-{n}" for n in range(40)]
    settings.AUDIT_CHAINS = 1
    assert {chain.choose_chain(k) for k in keys} == {0}
    settings.AUDIT_CHAINS = 0  # a misconfiguration still gives one chain
    assert {chain.choose_chain(k) for k in keys} == {0}
    settings.AUDIT_CHAINS = 4
    assert {chain.choose_chain(k) for k in keys} == {0, 1, 2, 3}
    assert chain.choose_chain("") == 0  # no request id: the first chain


@pytest.mark.parametrize("build", [access_row, disclosure_row], ids=["access", "disclosure"])
def test_the_canonical_form_cut_at_seq_is_the_canonical_form_with_a_cold_cache(build, monkeypatch):
    """`append` hashes `head + seq + tail`; it must be `canonical(row)` also on the first call
    in a process (the per-model columns are cached after it, so a warm process hides it)."""
    monkeypatch.setattr(chain, "_COLUMNS", {})
    row = build()
    row.chain, row.seq = 3, 41
    for _ in range(2):  # cold, then from the cache
        head, tail = chain._canonical_split(type(row), chain._row_values(row))
        assert head + "41" + tail == chain.canonical(row)
        assert head.endswith('"seq":')
    assert [c.attname for c in chain._COLUMNS[type(row)]] == [
        f.attname for f in type(row)._meta.concrete_fields
    ]
