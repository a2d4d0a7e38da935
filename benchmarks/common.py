"""Shared plumbing for the benchmark scripts: database names, environment, Django setup."""

from __future__ import annotations

import os
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
#: The machine's PostgreSQL server (trust auth on loopback); override with BENCH_PG.
PG_SERVER = os.environ.get("BENCH_PG", "postgres://postgres@127.0.0.1:5432")
#: A secret for benchmark runs only (DEBUG is off, so the service insists on one).
BENCH_SECRET = "bench-only-secret-key-never-deployed-4b7f0e2c9a61d3"  # noqa: S105


def default_database(families: int) -> str:
    """bench_1k, bench_20k, ... for round thousands; bench_<n> otherwise."""
    if families >= 1000 and families % 1000 == 0:
        return f"bench_{families // 1000}k"
    return f"bench_{families}"


def database_url(name: str) -> str:
    return f"{PG_SERVER}/{name}"


def check_bench_name(name: str) -> None:
    """Refuse to touch any database whose name does not start with bench_."""
    if not name.startswith("bench_") or not name.replace("_", "").isalnum():
        raise SystemExit(f"refusing to use database {name!r}: benchmark databases are bench_*")


def configure(database: str, settings: str = "plan_service.settings.base") -> dict[str, str]:
    """Set the environment the service reads (DEBUG off, plain HTTP) and return it."""
    check_bench_name(database)
    if str(REPO) not in sys.path:
        sys.path.insert(0, str(REPO))
    env = {
        "DJANGO_SETTINGS_MODULE": settings,
        "DATABASE_URL": database_url(database),
        "DEBUG": "0",
        "SECRET_KEY": BENCH_SECRET,
        "ALLOWED_HOSTS": "127.0.0.1,localhost,testserver",
        "SECURE_SSL_REDIRECT": "0",
        "SECURE_HSTS_SECONDS": "0",
        "LOG_LEVEL": "WARNING",
        "LANGUAGE_CODE": "en",
    }
    os.environ.update(env)
    return env


def setup_django(database: str, settings: str = "plan_service.settings.base") -> None:
    """Configure the environment for `database` and start Django in this process."""
    configure(database, settings)
    import django

    django.setup()
