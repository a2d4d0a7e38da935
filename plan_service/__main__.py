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
        from pathlib import Path

        from plan_service.participants import demo_provider

        address = argv[2] if len(argv) > 2 else "127.0.0.1:8000"
        base = Path(__file__).resolve().parent.parent
        provider = demo_provider.start(base, address)
        import django
        from django.core.management import call_command

        django.setup()
        try:
            call_command("migrate", interactive=False, verbosity=0)
            call_command("seed_demo")
            if provider is not None:
                names = demo_provider.publish_accounts(base)
                print(
                    f"\nFamilies can also identify as through Suomi.fi: "
                    f"http://{address}/auth/oidc/citizen/ (the test provider takes a demo "
                    f"username, e.g. {names[0] if names else 'paivi.nieminen'}, and any password)",
                    flush=True,
                )
            print(f"\nServing the demo at http://{address}/  (Ctrl-C stops)\n", flush=True)
            call_command("runserver", address, use_reloader=False)
        finally:
            if provider is not None:
                provider.terminate()
        return
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "plan_service.settings.base")
    from django.core.management import execute_from_command_line

    argv = [argv[0], *(a.replace("-", "_") if i == 0 else a for i, a in enumerate(argv[1:]))]
    execute_from_command_line(argv)


if __name__ == "__main__":
    main(sys.argv)
