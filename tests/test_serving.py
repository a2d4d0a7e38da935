"""The documented production server survives idle and slow clients (issue 13).

Starts `gunicorn -c deploy/gunicorn.conf.py` on loopback with DEBUG off, holds 200 idle
connections and 200 that send their headers one line every half second, and requires /healthz to
answer within a second, again and again. Also: /api/docs/ is served with its Swagger UI from the
service itself (drf-spectacular-sidecar), with no reference to another host. Everything is
bounded in count and time, loopback only, and cleaned up.
"""

from __future__ import annotations

import contextlib
import http.client
import os
import re
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
IDLE = 200
SLOW = 200


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _get(port: int, path: str, timeout: float = 5.0) -> tuple[int, bytes, float, dict[str, str]]:
    started = time.monotonic()
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        # As behind the TLS-terminating proxy (plain HTTP is redirected to HTTPS, but probes).
        connection.request("GET", path, headers={"X-Forwarded-Proto": "https"})
        response = connection.getresponse()
        body = response.read()
        return response.status, body, time.monotonic() - started, dict(response.getheaders())
    finally:
        connection.close()


@contextlib.contextmanager
def _production_server(**environment: str) -> Iterator[int]:
    """`gunicorn -c deploy/gunicorn.conf.py` on a free loopback port, two workers."""
    port = _free_port()
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "plan_service.settings.base",
        "DEBUG": "0",
        "SECRET_KEY": "serving-test-only-" + "k" * 40,
        "ALLOWED_HOSTS": "127.0.0.1",
        # /healthz and the docs touch no database; a URL is set so nothing embedded starts.
        "DATABASE_URL": os.environ.get("DATABASE_URL") or "postgres://nobody@127.0.0.1:9/none",
        "GUNICORN_BIND": f"127.0.0.1:{port}",
        "GUNICORN_WORKERS": "2",
        **environment,
    }
    process = subprocess.Popen(
        [sys.executable, "-m", "gunicorn", "-c", "deploy/gunicorn.conf.py"],
        cwd=ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        start_new_session=True,
    )
    try:
        deadline = time.monotonic() + 60
        while True:
            assert process.poll() is None, process.stderr.read().decode()[-2000:]  # type: ignore[union-attr]
            with contextlib.suppress(OSError):
                if _get(port, "/healthz", timeout=2)[0] == 200:
                    break
            assert time.monotonic() < deadline, "gunicorn did not start within 60 s"
            time.sleep(0.3)
        for _ in range(8):  # let every worker answer once
            _get(port, "/healthz")
        yield port
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait(timeout=10)
        if process.stderr is not None:
            process.stderr.close()


@pytest.fixture(scope="module")
def server() -> Iterator[int]:
    with _production_server() as port:
        yield port


def test_the_production_server_takes_its_connections_from_a_pool(live_db):
    """Under ASGI each request runs in a thread of its own; without a pool every request would
    open a connection of its own (and lose its prepared statements), and with persistent
    connections each would stay behind with its thread. The workers' connections are a pool:
    after 180 requests from 6 clients at once they are still open, and no more than the pools
    hold (two workers of at most 4)."""
    from django.db import connection

    db = connection.settings_dict
    user = db["USER"] + (f":{db['PASSWORD']}" if db["PASSWORD"] else "")
    url = f"postgres://{user}@{db['HOST'] or '127.0.0.1'}:{db['PORT'] or 5432}/{db['NAME']}"
    name = f"plan-pool-test-{os.getpid()}"
    with _production_server(DATABASE_URL=url, PGAPPNAME=name) as port:
        statuses: list[int] = []

        def client() -> None:
            for _ in range(30):
                statuses.append(_get(port, "/readyz")[0])

        clients = [threading.Thread(target=client) for _ in range(6)]
        for thread in clients:
            thread.start()
        for thread in clients:
            thread.join()
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT count(*) FROM pg_stat_activity WHERE application_name = %s", [name]
            )
            (held,) = cursor.fetchone()
    assert statuses == [200] * 180
    assert 1 <= held <= 8, held  # two workers, pools of at most 4


def test_healthz_answers_within_a_second_with_idle_and_slow_clients_open(server):
    sockets: list[socket.socket] = []
    try:
        for _ in range(IDLE):
            sockets.append(socket.create_connection(("127.0.0.1", server), timeout=5))
        slow = []
        for _ in range(SLOW):
            s = socket.create_connection(("127.0.0.1", server), timeout=5)
            s.sendall(b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n")
            slow.append(s)
        sockets.extend(slow)
        timings = []
        for round_no in range(6):
            for s in slow:  # one more header line each, never the blank line that ends them
                with contextlib.suppress(OSError):
                    s.sendall(f"X-Slow-{round_no}: 1\r\n".encode())
            status, body, elapsed, _ = _get(server, "/healthz", timeout=5)
            assert status == 200, body
            timings.append(elapsed)
            time.sleep(0.5)
        print(f"healthz with {IDLE} idle + {SLOW} slow connections: max {max(timings):.3f} s")
        assert max(timings) < 1.0, timings
    finally:
        for s in sockets:
            s.close()


def test_api_docs_load_swagger_ui_from_the_service_itself(server):
    status, body, _, _ = _get(server, "/api/docs/")
    assert status == 200
    page = body.decode()
    assert "cdn" not in page.lower()
    assert not re.search(r"""(src|href)=["']?(https?:)?//""", page), page
    assets = re.findall(r"""["'](/static/drf_spectacular_sidecar/[^"']+)["']""", page)
    assert any(a.endswith("swagger-ui-bundle.js") for a in assets), page
    for asset in assets:
        status, _, _, _ = _get(server, asset)
        assert status == 200, asset
