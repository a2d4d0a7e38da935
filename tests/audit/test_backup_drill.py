"""The backup drill (issue 12, found 5), end to end with the real tools.

Anchor, a read logged in between, `audit_backup` (anchor first, then pg_dump as the service's
role), more writes, restore into a fresh database with pg_restore, `audit_verify` against both
anchors: intact (rows after an anchor are accepted; the old order, dump then anchor, raised a
false "tail removed" here). Then the newest row of the restored copy is deleted, and verify names
it. Committed data (`live_db`): pg_dump sees only committed rows.
"""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
from pathlib import Path

import psycopg
import pytest
from django.core.management import call_command
from django.db import connection, transaction
from psycopg import sql

from plan_service.audit import chain
from plan_service.audit.management.commands.audit_backup import postgres_tool
from plan_service.audit.models import AccessEvent, Disclosure
from tests.audit.helpers import access_row, disclosure_row, key_for_chain
from tests.harness.db_roles import in_own_connection
from tests.harness.server import database_url, server

REPO = Path(__file__).resolve().parents[2]


def _owner_dsn(database: str) -> str:
    db = connection.settings_dict
    host, port = server()
    parts = {"dbname": database, "user": db["USER"], "host": host, "port": port}
    if db.get("PASSWORD"):
        parts["password"] = db["PASSWORD"]
    return " ".join(f"{k}={v}" for k, v in parts.items() if v)


def _owner_url(database: str) -> str:
    return database_url(database, user=connection.settings_dict["USER"])


def _verify(database: str, anchor: Path, key: Path) -> tuple[int, dict]:
    """`audit_verify --json` in its own process, against `database`."""
    env = {
        **os.environ,
        "DATABASE_URL": _owner_url(database),
        "DJANGO_SETTINGS_MODULE": "plan_service.settings.test",
        "AUDIT_ANCHOR_KEY_FILE": str(key),
    }
    result = subprocess.run(  # noqa: S603
        [sys.executable, "-m", "plan_service", "audit_verify", "--anchor", str(anchor), "--json"],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        check=False,
        timeout=300,
    )
    return result.returncode, json.loads(result.stdout)


MARK = "backup-drill-"


def _committed(model, count: int, chain_no: int) -> list:
    """`count` committed rows on chain `chain_no`, marked so the test can remove them after."""
    build = access_row if model is AccessEvent else disclosure_row
    rows = []
    with transaction.atomic():
        for n in range(count):
            row = build(request_id=f"{MARK}{chain_no}-{n}")
            chain.append([row], key=key_for_chain(chain_no))
            rows.append(row)
    return rows


def _remove_drill_rows() -> None:
    """The owner removes the drill's committed rows (the newest of their chains), switching the
    delete triggers off for that one transaction, so later tests find the log as it was."""
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute("SET LOCAL ROLE NONE")
        for table in ("audit_accessevent", "audit_disclosure"):
            trigger = f"{table}_no_change"
            cursor.execute(f"ALTER TABLE {table} DISABLE TRIGGER {trigger}")
            cursor.execute(f"DELETE FROM {table} WHERE request_id LIKE %s", [MARK + "%"])  # noqa: S608
            cursor.execute(f"ALTER TABLE {table} ENABLE ALWAYS TRIGGER {trigger}")


@pytest.fixture
def drill_db():
    name = f"{connection.settings_dict['NAME']}_drill"[:63]
    with psycopg.connect(_owner_dsn("postgres"), autocommit=True) as owner:
        owner.execute(sql.SQL("DROP DATABASE IF EXISTS {}").format(sql.Identifier(name)))
        owner.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    yield name
    with psycopg.connect(_owner_dsn("postgres"), autocommit=True) as owner:
        owner.execute(
            sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
        )


pytestmark = pytest.mark.django_db


def test_backup_restore_drill_verifies_and_names_a_deleted_newest_row(
    live_db, drill_db, tmp_path, settings
):
    try:
        in_own_connection(lambda: _drill(drill_db, tmp_path, settings))
    finally:
        in_own_connection(_remove_drill_rows)


def _drill(drill_db, tmp_path, settings) -> None:
    key = tmp_path / "anchor.pem"
    call_command("audit_keygen", "-o", str(key), stdout=io.StringIO())
    settings.AUDIT_ANCHOR_KEY_FILE = str(key)
    settings.AUDIT_ANCHOR_DIR = str(tmp_path / "anchors")
    for chain_no in range(3):
        _committed(AccessEvent, 3, chain_no)
    _committed(Disclosure, 2, 1)

    out = io.StringIO()
    call_command("audit_anchor", "--reason", "hourly", stdout=out)
    hourly = Path(out.getvalue().strip())
    _committed(AccessEvent, 1, 0)  # a read logged between the hourly anchor and the backup

    out = io.StringIO()
    dump = tmp_path / "backup.dump"
    call_command("audit_backup", "--output", str(dump), stdout=out)
    lines = out.getvalue().split("\n")
    backup_anchor = Path(lines[0].removeprefix("anchor "))
    assert dump.stat().st_size > 0
    assert json.loads(backup_anchor.read_text())["anchor"]["reason"] == "backup"

    _committed(AccessEvent, 2, 2)  # writes after the backup: not in the restored copy

    restore = subprocess.run(  # noqa: S603
        [postgres_tool("pg_restore"), "--no-owner", "--dbname", _owner_dsn(drill_db), str(dump)],
        capture_output=True,
        text=True,
        check=False,
        timeout=300,
    )
    assert restore.returncode == 0, restore.stderr

    for anchor in (hourly, backup_anchor):
        code, report = _verify(drill_db, anchor, key)
        assert (code, report["ok"], report["breaks"]) == (0, True, 0), report

    # The newest row of the restored copy: the backup anchor's head of its chain.
    with psycopg.connect(_owner_dsn(drill_db), autocommit=True) as owner:
        newest_id, newest_chain, newest_seq = owner.execute(
            "SELECT id, chain, seq FROM audit_accessevent ORDER BY recorded_at DESC, seq DESC "
            "LIMIT 1"
        ).fetchone()
        with owner.transaction():
            owner.execute(
                "ALTER TABLE audit_accessevent DISABLE TRIGGER audit_accessevent_no_change"
            )
            owner.execute("DELETE FROM audit_accessevent WHERE id = %s", [newest_id])
            owner.execute(
                "ALTER TABLE audit_accessevent ENABLE ALWAYS TRIGGER audit_accessevent_no_change"
            )
    code, report = _verify(drill_db, backup_anchor, key)
    assert code == 1
    [broken] = report["logs"]["access"]["breaks"]
    assert (broken["chain"], broken["seq"], broken["id"]) == (
        newest_chain,
        newest_seq,
        str(newest_id),
    )
    assert "tail removed" in broken["problem"]
