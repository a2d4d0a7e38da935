"""Sign-in events: chained rows per request and requests per second, per path.

Runs the real request stack in-process (Django's test client: middleware, DRF, django-axes, the
signal receivers, the chain) against a fresh benchmark database, connected as the service's own
least-privileged role, one client at a time. Each path is driven `--requests` times; the figure
is wall-clock requests/s and the chained access-log rows each request added. The test settings'
MD5 password hasher is used, so the figures show the logging and throttling cost, not PBKDF2's
(which adds its own ~0.1-0.5 s per password check in production by design).

    BENCH_DATABASE_URL=postgres://postgres@127.0.0.1:5432/my_bench python benchmarks/audit_signin.py
"""

from __future__ import annotations

import argparse
import json
import time
from collections.abc import Callable

from audit_common import setup_django


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=200, help="per path")
    args = parser.parse_args()
    setup_django(fresh=True)

    from django.contrib.auth import get_user_model
    from django.db import connection, connections
    from django.test import Client
    from django.test.utils import CaptureQueriesContext

    from plan_service.audit import chain
    from plan_service.audit.models import AccessEvent
    from plan_service.db_roles import apply_roles, roles_for_database

    roles = roles_for_database(connection.settings_dict["NAME"])
    with connection.cursor() as cursor:
        apply_roles(cursor, roles, retention_days=731)
    connection.settings_dict["OPTIONS"]["options"] = f"-c role={roles.app}"
    connections.close_all()

    password = "bench-password-123"  # noqa: S105
    user = get_user_model().objects.create_user("bench-user", password=password)
    n = args.requests
    ip = iter(f"10.{i // 65536 % 256}.{i // 256 % 256}.{i % 256}" for i in range(1, 10**7))

    def token_ok(c: Client) -> int:
        return c.post(
            "/api/v1/auth/token/",
            {"username": user.username, "password": password},
            content_type="application/json",
            REMOTE_ADDR=next(ip),
        ).status_code

    def token_bad(c: Client) -> int:
        # A new address and username each time: under the throttle, every attempt chained.
        return c.post(
            "/api/v1/auth/token/",
            {"username": f"guess-{next(ip)}", "password": "wrong"},
            content_type="application/json",
            REMOTE_ADDR=next(ip),
        ).status_code

    def session_ok(c: Client) -> int:
        return c.post(
            "/accounts/login/",
            {"username": user.username, "password": password},
            REMOTE_ADDR=next(ip),
        ).status_code

    def session_bad(c: Client) -> int:
        address = next(ip)
        return c.post(
            "/accounts/login/",
            {"username": f"guess-{address}", "password": "wrong"},
            REMOTE_ADDR=address,
        ).status_code

    def session_out(c: Client) -> int:
        c.post("/accounts/login/", {"username": user.username, "password": password})
        return c.post("/accounts/logout/").status_code

    locked = "192.0.2.200"

    def throttled(c: Client) -> int:
        return c.post(
            "/api/v1/auth/token/",
            {"username": "locked-out", "password": "wrong"},
            content_type="application/json",
            REMOTE_ADDR=locked,
        ).status_code

    paths: list[tuple[str, Callable[[Client], int]]] = [
        ("token sign-in (issues a token)", token_ok),
        ("token sign-in, failed", token_bad),
        ("session sign-in", session_ok),
        ("session sign-in, failed", session_bad),
        ("session sign-in + sign-out (2 requests)", session_out),
        ("attempts while locked out (after 5 failures)", throttled),
    ]
    results = []
    for name, run in paths:
        client = Client()
        if run is throttled:
            for _ in range(5):
                run(client)
        before = AccessEvent.objects.count()
        codes: dict[int, int] = {}
        started = time.perf_counter()
        with CaptureQueriesContext(connection) as queries:
            for _ in range(n):
                code = run(client)
                codes[code] = codes.get(code, 0) + 1
        elapsed = time.perf_counter() - started
        rows = AccessEvent.objects.count() - before
        results.append(
            {
                "path": name,
                "requests": n,
                "status": codes,
                "seconds": round(elapsed, 2),
                "requests_per_second": round(n / elapsed, 1),
                "chained_rows": rows,
                "rows_per_request": round(rows / n, 2),
                "chained_rows_per_second": round(rows / elapsed, 1),
                "queries_per_request": round(len(queries) / n, 1),
            }
        )
        print(json.dumps(results[-1]), flush=True)
    started = time.perf_counter()
    verified = chain.verify(AccessEvent)
    print(
        json.dumps(
            {
                "verify_rows": verified.rows_checked,
                "ok": verified.ok,
                "seconds": round(time.perf_counter() - started, 2),
            }
        )
    )


if __name__ == "__main__":
    main()
