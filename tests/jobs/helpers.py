"""A real worker process and a tiny FHIR endpoint on loopback, for the job tests."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from tests.harness.server import database_url

ROOT = Path(__file__).resolve().parents[2]


class FhirEndpoint:
    """Answers POST / with what `script` says for each request: a status, or a wait then 200."""

    def __init__(self, script: list[Any]) -> None:
        self.script = list(script)
        self.requests = 0
        self.bodies: list[dict[str, Any]] = []
        self.received = threading.Event()
        self.release = threading.Event()
        endpoint = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length", 0))
                sent = json.loads(self.rfile.read(length) or b"{}")
                endpoint.requests += 1
                endpoint.bodies.append(sent)
                step = endpoint.script.pop(0) if endpoint.script else 200
                endpoint.received.set()
                if step == "hang":
                    endpoint.release.wait(30)
                    step = 200
                answers = [{"response": {"status": "200 OK"}} for _ in sent.get("entry", [])]
                body = {"resourceType": "Bundle", "type": "transaction-response", "entry": answers}
                if step >= 500:
                    body = {"resourceType": "OperationOutcome", "issue": []}
                raw = json.dumps(body).encode()
                try:
                    self.send_response(step)
                    self.send_header("Content-Type", "application/fhir+json")
                    self.send_header("Content-Length", str(len(raw)))
                    self.end_headers()
                    self.wfile.write(raw)
                except OSError:
                    pass

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/fhir"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.release.set()
        self.server.shutdown()
        self.server.server_close()


def worker_env(**extra: str) -> dict[str, str]:
    env = {
        **os.environ,
        "DATABASE_URL": database_url(),
        "DJANGO_SETTINGS_MODULE": "plan_service.settings.test",
        "JOB_RETRY_WAIT_SECONDS": "0",
        "JOB_RETRY_LINEAR_SECONDS": "0",
        "JOB_POLL_SECONDS": "0.2",
        "JOB_HEARTBEAT_SECONDS": "0.5",
        "JOB_STALLED_SECONDS": "2",
        "LOG_LEVEL": "WARNING",
    }
    env.update(extra)
    return env


@contextmanager
def worker(*args: str, **env: str) -> Iterator[subprocess.Popen[bytes]]:
    """A worker process (`python -m plan_service run_worker`), stopped afterwards."""
    process = subprocess.Popen(  # noqa: S603
        [sys.executable, "-m", "plan_service", "run_worker", *args],
        cwd=ROOT,
        env=worker_env(**env),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    try:
        yield process
    finally:
        if process.poll() is None:
            process.terminate()
            try:
                process.wait(10)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


def run_one_shot(**env: str) -> str:
    """Run a worker until the queues are empty; returns its stderr."""
    done = subprocess.run(
        [sys.executable, "-m", "plan_service", "run_worker", "--one-shot"],
        cwd=ROOT,
        env=worker_env(**env),
        capture_output=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr.decode()[-2000:]
    return done.stderr.decode()


def wait_for(check: Callable[[], bool], timeout: float = 60.0, what: str = "") -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return
        time.sleep(0.1)
    raise AssertionError(f"timed out waiting for {what or check}")
