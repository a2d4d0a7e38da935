"""`python -m plan_service <command>`: the service's own commands, and Django's.

`python -m plan_service demo` migrates, seeds the demo region and serves it on
http://127.0.0.1:8000/ (DEBUG on, embedded PostgreSQL unless DATABASE_URL is set).
"""

from __future__ import annotations

import os
import sys


def main(argv: list[str]) -> None:
    if argv[1:2] == ["demo"]:
        os.environ.setdefault("DEBUG", "1")
        os.environ.setdefault("PROFESSIONAL_SECOND_FACTOR", "0")  # the demo keeps its passwords
        os.environ.setdefault("DJANGO_SETTINGS_MODULE", "plan_service.settings.base")
        import django
        from django.core.management import call_command

        django.setup()
        address = argv[2] if len(argv) > 2 else "127.0.0.1:8000"
        call_command("migrate", interactive=False, verbosity=0)
        call_command("seed_demo")
        print(f"\nServing the demo at http://{address}/api/docs/  (Ctrl-C stops)\n", flush=True)
        call_command("runserver", address, use_reloader=False)
        return
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "plan_service.settings.base")
    from django.core.management import execute_from_command_line

    argv = [argv[0], *(a.replace("-", "_") if i == 0 else a for i, a in enumerate(argv[1:]))]
    execute_from_command_line(argv)


if __name__ == "__main__":
    main(sys.argv)
