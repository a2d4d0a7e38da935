"""`python -m plan_service <command>`: the service's own commands, and Django's.

Without DATABASE_URL (a local checkout on the embedded PostgreSQL) or with DEBUG on, the
commands need no SECRET_KEY; `seed-demo` applies migrations first on a fresh database.

`python -m plan_service demo` migrates, seeds the demo region and serves it on
http://127.0.0.1:8000/ (DEBUG on, embedded PostgreSQL unless DATABASE_URL is set), with a
background-job worker beside it. `python -m plan_service worker` runs a worker alone.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from types import FrameType


def _exit_on_sigterm(signum: int, frame: FrameType | None) -> None:
    """SIGTERM ends the command like Ctrl-C does: exit handlers run, so the embedded PostgreSQL
    this process started is stopped too (Python's default for SIGTERM skips them)."""
    raise SystemExit(128 + signum)


#: Commands that need the tables' owner; everything else runs as the service role (and the
#: purge as the purge role). Only decides the role of the embedded server: with DATABASE_URL set,
#: the URL's user is used as given (docs/operations.md).
OWNER_COMMANDS = {"migrate", "makemigrations", "db_roles", "showmigrations", "sqlmigrate"}
PURGE_COMMANDS = {"audit_purge"}


def _embedded() -> bool:
    return not os.environ.get("DATABASE_URL")


def _as_service_role() -> None:
    """Reconnect as the service role (embedded server) after the owner's work is done."""
    from django.conf import settings
    from django.db import connections

    connections["default"].settings_dict["USER"] = settings.DATABASE_APP_ROLE
    connections.close_all()


def main(argv: list[str]) -> None:
    signal.signal(signal.SIGTERM, _exit_on_sigterm)
    if argv[1:2] == ["demo"]:
        os.environ.setdefault("DEBUG", "1")
        os.environ.setdefault("PROFESSIONAL_SECOND_FACTOR", "0")  # the demo keeps its passwords
        os.environ.setdefault("DJANGO_SETTINGS_MODULE", "plan_service.settings.base")
        if _embedded():
            os.environ["PLAN_SERVICE_DB_ROLE"] = "owner"
        from pathlib import Path

        from plan_service.participants import demo_provider

        address = argv[2] if len(argv) > 2 else "127.0.0.1:8000"
        base = Path(__file__).resolve().parent.parent
        provider = demo_provider.start(base, address)
        import django
        from django.core.management import call_command

        django.setup()
        worker = None
        try:
            call_command("migrate", interactive=False, verbosity=0)
            if _embedded():
                call_command("db_roles")
                _as_service_role()  # seeding and serving: least privilege, as in production
            call_command("seed_demo")
            if provider is not None:
                names = demo_provider.publish_accounts(base)
                print(
                    f"\nFamilies can also identify as through Suomi.fi: "
                    f"http://{address}/auth/oidc/citizen/ (the test provider takes a demo "
                    f"username, e.g. {names[0] if names else 'paivi.nieminen'}, and any password)",
                    flush=True,
                )
            print(
                f"\nServing the demo at http://{address}/ (pages) and /api/docs/ (API); "
                "Ctrl-C stops\n",
                flush=True,
            )
            # A job worker beside the server (production runs workers as separate processes).
            worker_env = {k: v for k, v in os.environ.items() if k != "PLAN_SERVICE_DB_ROLE"}
            worker = subprocess.Popen(
                [sys.executable, "-m", "plan_service", "run_worker"], env=worker_env
            )
            call_command("runserver", address, use_reloader=False)
        finally:
            if worker is not None:
                worker.terminate()
                worker.wait(15)
            if provider is not None:
                provider.terminate()
        return
    if argv[1:2] == ["worker"]:
        argv = [argv[0], "run_worker", *argv[2:]]
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "plan_service.settings.base")
    from django.core.management import execute_from_command_line

    argv = [argv[0], *(a.replace("-", "_") if i == 0 else a for i, a in enumerate(argv[1:]))]
    command = argv[1] if len(argv) > 1 else ""
    if _embedded() and command in OWNER_COMMANDS:
        os.environ.setdefault("PLAN_SERVICE_DB_ROLE", "owner")
    elif _embedded() and command in PURGE_COMMANDS:
        os.environ.setdefault("PLAN_SERVICE_DB_ROLE", "purge")
    execute_from_command_line(argv)
    if _embedded() and command == "migrate":
        from django.core.management import call_command

        call_command("db_roles")  # the new tables get their grants at once


if __name__ == "__main__":
    main(sys.argv)
