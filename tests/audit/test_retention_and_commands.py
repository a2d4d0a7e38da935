"""audit_verify, audit_anchor and audit_purge: what they print, exit with, and leave behind."""

from __future__ import annotations

import datetime as dt
import io
import json
from pathlib import Path

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db import connection, transaction

from plan_service.audit import chain
from plan_service.audit.models import AccessEvent, Disclosure, PurgePoint
from plan_service.audit.retention import PURGE_KEY, retention_cutoff
from plan_service.audit.retention import retention_purge as _retention_purge
from tests.audit.helpers import append_rows, bypass_triggers
from tests.harness.db_roles import as_purge_role

pytestmark = pytest.mark.django_db

OLD = dt.timedelta(days=800)


def run(name: str, *args: str) -> tuple[str, int]:
    out = io.StringIO()
    try:
        if name == "audit_purge":
            with as_purge_role():
                call_command(name, *args, stdout=out, stderr=io.StringIO())
        else:
            call_command(name, *args, stdout=out, stderr=io.StringIO())
    except CommandError as exc:
        return out.getvalue(), exc.returncode
    return out.getvalue(), 0


def retention_purge(**kwargs):
    """The purge as the retention job runs it: under the purge role."""
    with as_purge_role():
        return _retention_purge(**kwargs)


@pytest.fixture
def signing_key(tmp_path: Path, settings) -> Path:
    """An anchor key pair and directory, as the anchoring job has them."""
    key = tmp_path / "keys" / "anchor.pem"
    run("audit_keygen", "--output", str(key))
    settings.AUDIT_ANCHOR_KEY_FILE = str(key)
    settings.AUDIT_ANCHOR_DIR = str(tmp_path / "anchors")
    return key


def test_verify_command_reports_rows_checked_and_exits_zero_when_intact(chains):
    before = {m: chain.verify(m).rows_checked for m in (AccessEvent, Disclosure)}
    append_rows(AccessEvent, 5, chain_no=chains[1])
    append_rows(Disclosure, 2, chain_no=chains[2])
    out, code = run("audit_verify", "--json")
    assert code == 0
    result = json.loads(out)
    total = before[AccessEvent] + before[Disclosure] + 7
    assert (result["ok"], result["breaks"], result["rows_checked"]) == (True, 0, total)
    access = result["logs"]["access"]
    assert (access["rows_checked"], access["ok"], access["breaks"]) == (
        before[AccessEvent] + 5,
        True,
        [],
    )
    assert access["chains"][str(chains[1])] == {
        "rows": 5,
        "first_seq": 1,
        "last_seq": 5,
        "anchored_seq": None,
        "ok": True,
    }
    assert result["logs"]["disclosure"]["rows_checked"] == before[Disclosure] + 2


def test_verify_command_names_the_first_broken_row_and_exits_one(chains):
    rows = append_rows(AccessEvent, 5, chain_no=chains[1])
    bypass_triggers()
    with connection.cursor() as cursor:
        cursor.execute("UPDATE audit_accessevent SET purpose = 'x' WHERE id = %s", [rows[2].pk])
    out, code = run("audit_verify")
    assert code == 1
    assert f"BROKEN at chain {chains[1]} seq 3" in out
    assert str(rows[2].pk) in out


def test_anchor_command_writes_signed_heads_of_both_logs(chains, tmp_path: Path, signing_key: Path):
    heads = {m: json.loads(json.dumps(chain.anchor_heads(m))) for m in (AccessEvent, Disclosure)}
    rows = append_rows(AccessEvent, 3, chain_no=chains[2])
    target = tmp_path / "anchor.json"
    run("audit_anchor", "--output", str(target))
    data = json.loads(target.read_text())
    assert data["anchor"]["logs"]["access"] == {
        **heads[AccessEvent],
        str(chains[2]): {"seq": 3, "row_hash": rows[-1].row_hash, "id": str(rows[-1].pk)},
    }
    assert data["anchor"]["logs"]["disclosure"] == heads[Disclosure]
    assert data["signature"]["algorithm"] == "Ed25519"
    out, code = run("audit_anchor")  # into AUDIT_ANCHOR_DIR
    assert code == 0
    written = Path(out.strip())
    assert written.parent == Path(settings_dir(signing_key))
    assert json.loads(written.read_text())["anchor"]["logs"] == data["anchor"]["logs"]
    assert run("audit_anchor", "--if-due")[0] == ""  # the interval has not passed
    assert len(list(written.parent.iterdir())) == 1


def test_verify_against_anchor_detects_tail_truncation(chains, tmp_path: Path, signing_key: Path):
    rows = append_rows(AccessEvent, 6, chain_no=chains[0])
    target = tmp_path / "anchor.json"
    run("audit_anchor", "-o", str(target))
    bypass_triggers()
    with connection.cursor() as cursor:
        cursor.execute("DELETE FROM audit_accessevent WHERE chain = %s AND seq >= 5", [chains[0]])
    assert run("audit_verify")[1] == 0  # a chain alone cannot see a shorter tail
    out, code = run("audit_verify", "--anchor", str(target), "--json")
    assert code == 1
    [broken] = json.loads(out)["logs"]["access"]["breaks"]
    assert (broken["chain"], broken["seq"], broken["id"]) == (chains[0], 5, str(rows[-1].pk))
    assert "tail removed" in broken["problem"]


def test_verify_refuses_a_forged_or_unsigned_anchor(chains, tmp_path: Path, signing_key: Path):
    append_rows(AccessEvent, 2, chain_no=chains[0])
    target = tmp_path / "anchor.json"
    run("audit_anchor", "-o", str(target))
    signed = json.loads(target.read_text())
    signed["anchor"]["logs"]["access"][str(chains[0])]["seq"] = 1  # hide the newest row
    forged = tmp_path / "forged.json"
    forged.write_text(json.dumps(signed))
    assert run("audit_verify", "--anchor", str(forged))[1] == 1
    unsigned = tmp_path / "unsigned.json"
    unsigned.write_text(json.dumps({"logs": signed["anchor"]["logs"]}))
    assert run("audit_verify", "--anchor", str(unsigned))[1] == 1
    other = tmp_path / "other.pem"
    run("audit_keygen", "-o", str(other))
    code = run("audit_verify", "--anchor", str(target), "--public-key", f"{other}.pub")[1]
    assert code == 1
    assert run("audit_verify", "--anchor", str(target))[1] == 0


def test_verify_reports_every_break_in_every_chain(chains):
    """Found 5: verify stopped at the first break and never reported later chains."""
    first = append_rows(AccessEvent, 5, chain_no=chains[0])
    second = append_rows(AccessEvent, 5, chain_no=chains[2])
    disclosures = append_rows(Disclosure, 3, chain_no=chains[1])
    bypass_triggers()
    with connection.cursor() as cursor:
        cursor.execute("UPDATE audit_accessevent SET purpose = 'x' WHERE id = %s", [first[1].pk])
        cursor.execute("DELETE FROM audit_accessevent WHERE id = %s", [first[3].pk])
        cursor.execute(
            "UPDATE audit_accessevent SET actor_unit = 'y' WHERE id = %s", [second[4].pk]
        )
        cursor.execute("UPDATE audit_disclosure SET basis = 'z' WHERE id = %s", [disclosures[0].pk])
    out, code = run("audit_verify", "--json")
    assert code == 1
    result = json.loads(out)
    assert result["breaks"] == 4
    access = [(b["chain"], b["seq"], b["id"]) for b in result["logs"]["access"]["breaks"]]
    assert access == [
        (chains[0], 2, str(first[1].pk)),
        (chains[0], 4, str(first[4].pk)),  # the missing seq, and the row found there
        (chains[2], 5, str(second[4].pk)),
    ]
    assert [b["seq"] for b in result["logs"]["disclosure"]["breaks"]] == [1]
    assert result["logs"]["access"]["chains"][str(chains[0])]["ok"] is False
    text, _ = run("audit_verify")
    assert text.count("BROKEN") == 4


def test_verify_against_anchor_detects_a_rewritten_chain(chains, tmp_path: Path, signing_key: Path):
    rows = append_rows(AccessEvent, 4, chain_no=chains[0])
    target = tmp_path / "anchor.json"
    run("audit_anchor", "-o", str(target))
    bypass_triggers()
    # Rewrite row 3 and recompute every hash after it: consistent, but not what was anchored.
    prev = rows[1].row_hash
    for row in rows[2:]:
        row.refresh_from_db()
        if row.seq == 3:
            row.purpose = "rewritten"
        row.prev_hash = prev
        row.row_hash = prev = chain.row_hash(prev, row)
        row.save()
    assert run("audit_verify")[1] == 0
    out, code = run("audit_verify", "--anchor", str(target), "--json")
    assert code == 1
    assert json.loads(out)["logs"]["access"]["first_broken"]["seq"] == 4


def test_verify_refuses_a_chain_start_without_a_purge_point(chains):
    rows = append_rows(AccessEvent, 4, chain_no=chains[3])
    bypass_triggers()
    AccessEvent.objects.filter(pk__in=[rows[0].pk, rows[1].pk]).delete()
    result = chain.verify(AccessEvent)
    assert not result.ok
    assert (result.broken_chain, result.broken_seq) == (chains[3], 1)
    assert result.broken_id == str(rows[2].pk)


def test_purge_removes_only_the_expired_start_of_each_chain_and_records_it(chains):
    old = append_rows(AccessEvent, 3, chain_no=chains[0], age=OLD)
    fresh = append_rows(AccessEvent, 2, chain_no=chains[0])
    late_old = append_rows(
        AccessEvent, 1, chain_no=chains[0], age=OLD
    )  # old, but after a fresh row
    old_disclosures = append_rows(Disclosure, 2, chain_no=chains[1], age=OLD)

    segments = retention_purge(cutoff=retention_cutoff(days=731))

    assert {(s.log, s.chain, s.first_seq, s.rows_removed) for s in segments} == {
        ("access", chains[0], 4, 3),
        ("disclosure", chains[1], 3, 2),
    }
    assert not AccessEvent.objects.filter(pk__in=[r.pk for r in old]).exists()
    assert AccessEvent.objects.filter(pk__in=[r.pk for r in fresh + late_old]).count() == 3
    assert not Disclosure.objects.filter(chain=chains[1]).exists()
    points = {(p.log, p.chain): p for p in PurgePoint.objects.filter(chain__in=list(chains))}
    assert points["access", chains[0]].prev_hash == old[-1].row_hash
    assert points["disclosure", chains[1]].prev_hash == old_disclosures[-1].row_hash
    event = AccessEvent.objects.get(action="purge", pk=points["access", chains[0]].event_id)
    assert event.query["segments"][0]["rows_removed"] in (3, 2)
    assert event.result_count == 5
    assert points["disclosure", chains[1]].event_id == event.pk
    assert chain.verify(AccessEvent).ok
    assert chain.verify(Disclosure).ok


def test_purge_window_closes_after_the_purge(chains):
    rows = append_rows(AccessEvent, 2, chain_no=chains[0], age=OLD)
    append_rows(AccessEvent, 1, chain_no=chains[1])
    retention_purge(cutoff=retention_cutoff(days=900))  # nothing that old
    with as_purge_role(), pytest.raises(Exception, match="append-only"), transaction.atomic():
        AccessEvent.objects.filter(pk=rows[0].pk).delete()


def test_purge_is_idempotent_and_dry_run_changes_nothing(chains):
    append_rows(AccessEvent, 3, chain_no=chains[2], age=OLD)
    append_rows(AccessEvent, 1, chain_no=chains[2])
    purges = AccessEvent.objects.filter(action="purge").count()
    cutoff = retention_cutoff(days=731)
    preview = retention_purge(cutoff=cutoff, dry_run=True)
    assert [s.rows_removed for s in preview] == [3]
    assert AccessEvent.objects.filter(chain=chains[2]).count() == 4
    assert not PurgePoint.objects.filter(chain__in=list(chains)).exists()
    retention_purge(cutoff=cutoff)
    assert retention_purge(cutoff=cutoff) == []
    assert PurgePoint.objects.filter(chain__in=list(chains)).count() == 1
    assert AccessEvent.objects.filter(action="purge").count() == purges + 1


def test_a_chain_emptied_by_a_purge_continues_from_its_purge_point(chains):
    emptied = next(n for n in chains if n != chain.choose_chain(PURGE_KEY))
    old = append_rows(AccessEvent, 2, chain_no=emptied, age=OLD)
    retention_purge(cutoff=retention_cutoff(days=731))
    assert not AccessEvent.objects.filter(chain=emptied).exists()
    anchor = chain.anchor_heads(AccessEvent)
    assert anchor[str(emptied)] == {"seq": 2, "row_hash": old[-1].row_hash, "id": None}
    [new] = append_rows(AccessEvent, 1, chain_no=emptied)
    assert (new.seq, new.prev_hash) == (3, old[-1].row_hash)
    assert chain.verify(AccessEvent, anchor=anchor).ok


def test_deleting_rows_after_a_purge_point_is_detected(chains):
    append_rows(AccessEvent, 2, chain_no=chains[0], age=OLD)
    kept = append_rows(AccessEvent, 3, chain_no=chains[0])
    retention_purge(cutoff=retention_cutoff(days=731))
    bypass_triggers()
    AccessEvent.objects.filter(pk=kept[0].pk).delete()
    result = chain.verify(AccessEvent)
    assert (result.ok, result.broken_chain, result.broken_seq) == (False, chains[0], 3)


def test_an_anchor_older_than_a_purge_still_verifies(chains):
    append_rows(AccessEvent, 2, chain_no=chains[0], age=OLD)
    anchor = chain.anchor_heads(AccessEvent)
    append_rows(AccessEvent, 2, chain_no=chains[0])
    retention_purge(cutoff=retention_cutoff(days=731))
    assert chain.verify(AccessEvent, anchor=anchor).ok


def test_purge_command_reports_segments_and_keeps_the_logs_verifiable(chains):
    append_rows(AccessEvent, 4, chain_no=chains[3], age=OLD)
    append_rows(AccessEvent, 1, chain_no=chains[3])
    out, code = run("audit_purge", "--dry-run")
    assert code == 0
    assert "would remove 4 rows before seq 5" in out
    out, code = run("audit_purge")
    assert "removed 4 rows before seq 5" in out
    assert run("audit_verify")[1] == 0
    assert run("audit_purge", "--days", "0")[1] == 1


def settings_dir(key: Path) -> Path:
    return key.parent.parent / "anchors"


def test_an_emptied_chain_is_anchored_at_its_own_logs_own_purge_point(chains):
    """Two chains of the access log and the disclosure log on one of their numbers, all purged
    empty with different lengths: each anchor is at its own purge point, not a neighbour's."""
    first, second = [n for n in chains if n != chain.choose_chain(PURGE_KEY)][:2]
    access = append_rows(AccessEvent, 2, chain_no=first, age=OLD)
    longer = append_rows(AccessEvent, 4, chain_no=second, age=OLD)
    disclosures = append_rows(Disclosure, 3, chain_no=first, age=OLD)
    retention_purge(cutoff=retention_cutoff(days=731))
    assert not AccessEvent.objects.filter(chain__in=[first, second]).exists()
    heads = chain.anchor_heads(AccessEvent)
    assert heads[str(first)] == {"seq": 2, "row_hash": access[-1].row_hash, "id": None}
    assert heads[str(second)] == {"seq": 4, "row_hash": longer[-1].row_hash, "id": None}
    assert chain.anchor_heads(Disclosure)[str(first)] == {
        "seq": 3,
        "row_hash": disclosures[-1].row_hash,
        "id": None,
    }
    assert chain.verify(AccessEvent, anchor=heads).ok is True
    summary = chain.verify(AccessEvent).chains[first]  # known by its purge point alone
    assert summary == {"rows": 0, "first_seq": 3, "last_seq": 2, "anchored_seq": None, "ok": True}


def test_an_anchor_at_a_purge_point_catches_a_rewritten_purge_point(chains):
    """Anchored exactly at the purge point of an emptied chain: the anchor is checked against the
    purge point's hash, so rewriting the purge point (nothing else to break) is reported."""
    emptied = next(n for n in chains if n != chain.choose_chain(PURGE_KEY))
    append_rows(AccessEvent, 2, chain_no=emptied, age=OLD)
    retention_purge(cutoff=retention_cutoff(days=731))
    anchor = chain.anchor_heads(AccessEvent)
    assert anchor[str(emptied)]["seq"] == 2
    bypass_triggers()
    PurgePoint.objects.filter(log="access", chain=emptied).update(prev_hash="e" * 64)
    assert chain.verify(AccessEvent).chains[emptied]["ok"] is True  # no row to disagree with
    result = chain.verify(AccessEvent, anchor=anchor)
    assert result.ok is False
    assert [b for b in result.breaks if b.chain == emptied] == [
        chain.Break(emptied, 2, None, "row at the anchor differs (rewritten)")
    ]


def test_an_anchor_two_rows_before_the_purge_point_is_accepted(chains):
    """Older than the purge by more than one row: nothing left to check it against."""
    kept = next(n for n in chains if n != chain.choose_chain(PURGE_KEY))
    append_rows(AccessEvent, 2, chain_no=kept, age=OLD)
    anchor = chain.anchor_heads(AccessEvent)
    append_rows(AccessEvent, 1, chain_no=kept, age=OLD)
    append_rows(AccessEvent, 1, chain_no=kept)
    retention_purge(cutoff=retention_cutoff(days=731))
    result = chain.verify(AccessEvent, anchor=anchor)
    assert result.chains[kept] == {
        "rows": 1,
        "first_seq": 4,
        "last_seq": 4,
        "anchored_seq": 2,
        "ok": True,
    }
    assert result.ok is True
