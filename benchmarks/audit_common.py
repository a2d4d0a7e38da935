"""Shared set-up of the audit benchmarks: a fresh, migrated benchmark database.

The benchmarks are scripts, not timed tests. They use their own database (`plan_audit_bench` by
default; `BENCH_DATABASE_URL` overrides), dropped and re-created on every run, because log rows
cannot be deleted once written.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path
from urllib.parse import urlparse

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_URL = "postgres://postgres@127.0.0.1:5432/plan_audit_bench"


def setup_django(*, fresh: bool) -> str:
    """Point Django at the benchmark database (re-created when `fresh`) and migrate it."""
    url = os.environ.get("BENCH_DATABASE_URL", DEFAULT_URL)
    os.environ["DATABASE_URL"] = url
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "plan_service.settings.test")
    sys.path.insert(0, str(ROOT))
    if fresh:
        _recreate(url)
    import django
    from django.core.management import call_command

    django.setup()
    call_command("migrate", verbosity=0)
    return url


def _recreate(url: str) -> None:
    import psycopg
    from psycopg import sql

    parts = urlparse(url)
    name = parts.path.lstrip("/")
    admin = parts._replace(path="/postgres").geturl()
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(
            sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
        )
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
