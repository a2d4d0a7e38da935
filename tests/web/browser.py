"""Driving the pages in Debian's Chromium through Playwright, with axe-core injected.

* The browser is the system's `chromium` (Playwright's own download does not work here); under
  CI=true a missing browser, node or npm fails the tests instead of skipping them.
* axe-core comes from the npm registry (tests/web/node/package-lock.json), installed on first use.
* The server is Django's LiveServerThread over the test database, on committed demo data
  (`seed_demo`); afterwards every table but the logs is emptied, as `live_db` does.
* Screenshots go to var/screenshots/ (git-ignored) at 375 px and 1280 px.
"""

from __future__ import annotations

import fcntl
import io
import os
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

NODE_DIR = Path(__file__).parent / "node"
AXE = NODE_DIR / "node_modules" / "axe-core" / "axe.min.js"
SHOTS = Path(__file__).resolve().parents[2] / "var" / "screenshots"
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
]
WCAG_21_AA = ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa"]
PASSWORD_SETTING = "DEMO_PASSWORD"


def unavailable(reason: str) -> None:
    """Skip locally; fail under CI, where the browser and node must be installed."""
    if os.environ.get("CI") == "true":
        pytest.fail(f"browser tests cannot run under CI: {reason}")
    pytest.skip(reason)


def chromium_path() -> str:
    path = shutil.which("chromium")
    if path is None:
        unavailable("chromium is not installed (apt-get install chromium)")
    return path  # type: ignore[return-value]


def axe_install() -> Path:
    """npm ci of axe-core into tests/web/node unless already there (one worker at a time)."""
    npm = shutil.which("npm")
    if npm is None or shutil.which("node") is None:
        unavailable("node/npm are not installed: axe-core cannot be installed")
    lock = NODE_DIR / "package-lock.json"
    with (NODE_DIR / ".install.lock").open("w") as guard:
        fcntl.flock(guard, fcntl.LOCK_EX)
        if not AXE.exists() or AXE.stat().st_mtime < lock.stat().st_mtime:
            subprocess.run(  # noqa: S603
                [npm, "ci", "--no-audit", "--no-fund", "--loglevel=error"],  # type: ignore[list-item]
                cwd=NODE_DIR,
                check=True,
                timeout=600,
            )
            AXE.touch()
    return AXE


@pytest.fixture(scope="module")
def demo_site(django_db_setup: None, django_db_blocker: Any) -> Iterator[str]:
    """The demo region, committed, served by a live server thread; its base URL."""
    from django.contrib.staticfiles.handlers import StaticFilesHandler
    from django.core.management import call_command
    from django.db import connection
    from django.test.testcases import LiveServerThread

    from tests.conftest import _KEEP
    from tests.harness.db_roles import owner_session

    with django_db_blocker.unblock():
        call_command("seed_demo", stdout=io.StringIO())
        server = LiveServerThread("127.0.0.1", StaticFilesHandler, port=0)
        server.daemon = True
        server.start()
        server.is_ready.wait()
        if server.error:
            raise server.error
        try:
            yield f"http://127.0.0.1:{server.port}"
        finally:
            server.terminate()
            tables = [
                t
                for t in connection.introspection.django_table_names(only_existing=True)
                if t not in _KEEP and not t.startswith("audit_")
            ]
            # Emptying history tables takes the owner (the service role may not: issue 12).
            with owner_session(), connection.cursor() as cursor:
                cursor.execute("TRUNCATE {} CASCADE".format(", ".join(f'"{t}"' for t in tables)))


@pytest.fixture(scope="module")
def chromium() -> Iterator[Any]:
    executable = chromium_path()
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:  # pragma: no cover - the dev extra installs it
        unavailable("the playwright package is not installed")
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=executable, args=CHROMIUM_ARGS)
        try:
            yield browser
        finally:
            browser.close()


class Session:
    """One person's browser context, with keyboard helpers and a console watch for CSP errors."""

    def __init__(self, browser: Any, base: str, *, bypass_csp: bool = False) -> None:
        self.base = base
        self.context = browser.new_context(
            bypass_csp=bypass_csp, locale="en-GB", viewport={"width": 1280, "height": 900}
        )
        self.page = self.context.new_page()
        self.console: list[str] = []
        self.page.on("console", lambda m: self.console.append(f"{m.type}: {m.text}"))
        self.page.on("pageerror", lambda e: self.console.append(f"pageerror: {e}"))

    def close(self) -> None:
        self.context.close()

    def csp_errors(self) -> list[str]:
        return [m for m in self.console if "Content Security Policy" in m or "pageerror" in m]

    #
    # Keyboard only
    #

    def tab_to(self, selector: str, limit: int = 120) -> None:
        """Press Tab until the element matching `selector` has the focus (fail if never)."""
        for _ in range(limit):
            self.page.keyboard.press("Tab")
            if self.page.evaluate(
                "(s) => !!document.activeElement && document.activeElement.matches(s)", selector
            ):
                return
        raise AssertionError(f"{selector} cannot be reached with the Tab key")

    def press_on(self, selector: str, key: str = "Enter") -> None:
        self.tab_to(selector)
        self.page.keyboard.press(key)

    def type_into(self, selector: str, text: str) -> None:
        self.tab_to(selector)
        self.page.keyboard.type(text)

    def sign_in(self, username: str, password: str) -> None:
        """Sign in with the keyboard only, from the front page."""
        self.page.goto(self.base + "/")
        self.type_into("#id_username", username)
        self.type_into("#id_password", password)
        with self.page.expect_navigation():
            self.page.keyboard.press("Enter")

    def go(self, path: str) -> None:
        self.page.goto(self.base + path)

    def text(self) -> str:
        return self.page.inner_text("main")

    #
    # Checks
    #

    def axe_violations(self) -> list[dict[str, Any]]:
        self.page.add_script_tag(path=str(AXE))
        return self.page.evaluate(
            """async (tags) => {
                const r = await axe.run(document, {runOnly: {type: 'tag', values: tags}});
                return r.violations.map(v => ({id: v.id, impact: v.impact,
                    nodes: v.nodes.slice(0, 5).map(n => n.target.join(' '))}));
            }""",
            WCAG_21_AA,
        )

    def screenshots(self, name: str) -> None:
        SHOTS.mkdir(parents=True, exist_ok=True)
        for width in (375, 1280):
            self.page.set_viewport_size({"width": width, "height": 900})
            self.page.screenshot(path=str(SHOTS / f"{name}-{width}.png"), full_page=True)
        self.page.set_viewport_size({"width": 1280, "height": 900})


def demo_plan_path(django_db_blocker: Any, family: str) -> str:
    """The path of a demo family's open plan (professionals land on /start/, not on a plan).

    Read in a thread of its own: once Playwright runs, this thread has an event loop, where
    Django refuses database calls (the demo data is committed, so any connection sees it).
    """
    from concurrent.futures import ThreadPoolExecutor

    from django.db import connection

    from plan_service.plans.models import Plan

    def read() -> str:
        try:
            plan = Plan.objects.filter(family__name=family).exclude(status="completed").get()
            return f"/plans/{plan.pk}/"
        finally:
            connection.close()

    with django_db_blocker.unblock(), ThreadPoolExecutor(max_workers=1) as pool:
        return pool.submit(read).result()
