"""The journeys benchmarks/run.py drives over HTTP, one locust user class per journey.

Run by the harness (`locust -f benchmarks/locustfile.py --headless ... <Journey>`), with
BENCH_FIXTURE naming the JSON file of actors, their bearer tokens and their plans that run.py
prepared. Each simulated user takes its own actor (slot) so writers do not race each other into
412s; requests named "setup: ..." are left out of the figures.
"""

from __future__ import annotations

import itertools
import json
import os
import random
import re
from pathlib import Path
from typing import Any, ClassVar
from urllib.parse import urlencode

from locust import constant, task
from locust.contrib.fasthttp import FastHttpUser

FIXTURE: dict[str, Any] = (
    json.loads(Path(os.environ["BENCH_FIXTURE"]).read_text())
    if os.environ.get("BENCH_FIXTURE")
    else {}
)
_slot = itertools.count()
ACHIEVEMENTS = ["in-progress", "improving", "no-change", "sustaining", "worsening"]


class Journey(FastHttpUser):
    """One actor per simulated user, closed loop (no think time): throughput at saturation."""

    abstract = True
    wait_time = constant(0)
    fixture_key: ClassVar[str] = ""

    def on_start(self) -> None:
        slots = FIXTURE[self.fixture_key]
        self.slot: dict[str, Any] = slots[next(_slot) % len(slots)]
        self.auth = (
            {"Authorization": f"Bearer {self.slot['token']}"} if "token" in self.slot else {}
        )

    def get(self, url: str, name: str) -> Any:
        return self.client.get(url, headers=self.auth, name=name)

    def pick(self, key: str) -> Any:
        return random.choice(self.slot[key])  # noqa: S311 (load pattern, not secrets)


class Ceiling(Journey):
    """The bare Django endpoint: one indexed row, a document of the open plan's size."""

    fixture_key = "ceiling"

    @task
    def fetch(self) -> None:
        self.get(f"/bench/ceiling/{self.pick('ids')}/", "ceiling: GET one row as JSON")


class CeilingLogged(Journey):
    """The ceiling plus one access-log append: the least any logged read can cost."""

    fixture_key = "ceiling"

    @task
    def fetch(self) -> None:
        self.get(
            f"/bench/ceiling-logged/{self.pick('ids')}/",
            "ceiling + log: GET one row, append one log row",
        )


class CeilingLoggedRows(Journey):
    """The ceiling plus as many access-log rows as a professional's plan list writes (one per
    person per plan shown): the least that plan list can cost under the law's rule."""

    fixture_key = "ceiling"

    @task
    def fetch(self) -> None:
        self.get(
            f"/bench/ceiling-logged/{self.pick('ids')}/{self.slot['list_rows']}/",
            "ceiling + the plan list's log rows: GET one row, append them",
        )


class CeilingWrite(Journey):
    """The least a versioned, logged write can cost: one row locked, changed and its history
    row written, and as many log rows as a goal edit writes, in one transaction."""

    fixture_key = "ceiling"

    @task
    def write(self) -> None:
        self.client.post(
            f"/bench/ceiling-write/{self.pick('ids')}/{self.slot['edit_rows']}/",
            name="ceiling write: change one row, its history row, the edit's log rows",
        )


class CeilingDocument(Journey):
    """The ceiling with a document the size of a typical plan's whole-plan document."""

    fixture_key = "ceiling_document"

    @task
    def fetch(self) -> None:
        self.get(
            f"/bench/ceiling-document/{self.pick('ids')}/",
            "ceiling (document size): GET one row as JSON",
        )


class CeilingDocumentLogged(Journey):
    """The document-sized ceiling plus one access-log append."""

    fixture_key = "ceiling_document"

    @task
    def fetch(self) -> None:
        self.get(
            f"/bench/ceiling-document-logged/{self.pick('ids')}/",
            "ceiling (document size) + log: GET one row, append one log row",
        )


class Document(Journey):
    """A professional reads the whole plan of typical size in one request."""

    fixture_key = "open_plan"

    @task
    def document(self) -> None:
        self.get(
            f"/api/v1/plans/{self.pick('plans')}/document/",
            "professional: GET /plans/{id}/document/",
        )


class GuardianDocument(Journey):
    """A guardian reads the whole plan (their family's, typical size where there is one)."""

    fixture_key = "guardian"

    @task
    def document(self) -> None:
        self.get(
            f"/api/v1/plans/{self.slot['plan']}/document/",
            "guardian: GET /plans/{id}/document/",
        )


class PlanList(Journey):
    """A professional opens their plan list (about 200 plans each; first page of 50)."""

    fixture_key = "plan_list"

    @task
    def plan_list(self) -> None:
        self.get("/api/v1/plans/", "professional: GET /plans/")


class OpenPlan(Journey):
    """A professional opens one of their plans of typical size (3 children, 20 goals, ...)."""

    fixture_key = "open_plan"

    @task
    def open_plan(self) -> None:
        self.get(f"/api/v1/plans/{self.pick('plans')}/", "professional: GET /plans/{id}/")


class EditGoal(Journey):
    """A professional edits a goal they may write, naming the version read (If-Match)."""

    fixture_key = "edit_goal"

    def on_start(self) -> None:
        super().on_start()
        self.url = f"/api/v1/plans/{self.slot['plan']}/goals/{self.slot['goal']}/"
        self.etag = self._read_etag()

    def _read_etag(self) -> str:
        response = self.get(self.url, "setup: GET goal for its ETag")
        return str(response.headers.get("ETag", ""))

    @task
    def edit(self) -> None:
        headers = {**self.auth, "If-Match": self.etag, "X-Change-Reason": "benchmark"}
        body = {"achievement": random.choice(ACHIEVEMENTS)}  # noqa: S311
        with self.client.patch(
            self.url,
            json=body,
            headers=headers,
            name="professional: PATCH /plans/{id}/goals/{gid}/ (If-Match)",
            catch_response=True,
        ) as response:
            if response.status_code == 200:
                self.etag = str(response.headers.get("ETag", ""))
            else:
                response.failure(f"HTTP {response.status_code}")
                self.etag = self._read_etag()


class Guardian(Journey):
    """A guardian reads the plan, comments on it, and reads who accessed the family's data."""

    fixture_key = "guardian"

    @task
    def visit(self) -> None:
        plan = self.slot["plan"]
        self.get(f"/api/v1/plans/{plan}/", "guardian: GET /plans/{id}/")
        self.client.post(
            f"/api/v1/plans/{plan}/comments/",
            json={"target_type": "plan", "text": "Kiitos, tämä sopii meille."},
            headers=self.auth,
            name="guardian: POST /plans/{id}/comments/",
        )
        self.get(f"/api/v1/plans/{plan}/access-log/", "guardian: GET /plans/{id}/access-log/")


class GuardianComment(Journey):
    """A guardian comments on the family's plan: the write the issue names, measured alone
    (`Guardian` mixes it with a plan read and the family's access log)."""

    fixture_key = "guardian"

    @task
    def comment(self) -> None:
        self.client.post(
            f"/api/v1/plans/{self.slot['plan']}/comments/",
            json={"target_type": "plan", "text": "Kiitos, tämä sopii meille."},
            headers=self.auth,
            name="guardian: POST /plans/{id}/comments/ (alone)",
        )


class GuardianPage(Journey):
    """A guardian signs in to the web pages once, then opens the family's plan page (HTML).

    The page reads what the API's plan, items and team endpoints would, renders it server-side
    and logs it like them; compare with "guardian: GET /plans/{id}/" (the API's plan alone).
    """

    fixture_key = "guardian"

    def on_start(self) -> None:
        super().on_start()
        self.auth = {}
        form = self.client.get("/", name="setup: GET / (sign-in form)")
        token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', form.text or "")
        body = urlencode(
            {
                "username": self.slot["username"],
                "password": os.environ.get("DEMO_PASSWORD", "demo-salasana-2026"),
                "csrfmiddlewaretoken": token.group(1) if token else "",
            }
        )
        self.client.post(
            "/",
            data=body,
            headers={"Content-Type": "application/x-www-form-urlencoded"},
            name="setup: POST / (sign in)",
            allow_redirects=False,
        )

    @task
    def open_plan_page(self) -> None:
        with self.client.get(
            f"/plans/{self.slot['plan']}/",
            name="guardian page: GET /plans/{id}/ (HTML)",
            allow_redirects=False,
            catch_response=True,
        ) as response:
            if response.status_code != 200 or b"<h1>" not in (response.content or b""):
                response.failure(f"HTTP {response.status_code}")


class ProfessionalPage(Journey):
    """A professional's page session (made in-process by run.py: their password sign-in asks
    for a second factor); pages are checked to be pages, not a redirect to the sign-in."""

    abstract = True

    def on_start(self) -> None:
        super().on_start()
        self.auth = {"Cookie": self.slot["session"]}

    def page(self, url: str, name: str) -> None:
        with self.client.get(
            url, headers=self.auth, name=name, allow_redirects=False, catch_response=True
        ) as response:
            if response.status_code != 200 or b"<h1>" not in (response.content or b""):
                response.failure(f"HTTP {response.status_code}")


class ProfessionalStart(ProfessionalPage):
    """A professional in about 200 plans opens the start page (all their plans, the first 25
    shown, every flag computed), then applies a filter (reviews due)."""

    fixture_key = "professional_start"

    @task
    def start_and_filter(self) -> None:
        self.page("/start/", "professional page: GET /start/ (HTML)")
        self.page("/start/?due=1", "professional page: GET /start/?due=1 (HTML)")


class ProfessionalPlan(ProfessionalPage):
    """A professional opens the plan page (HTML) of a typical-size plan of theirs."""

    fixture_key = "professional_plan"

    @task
    def open_plan_page(self) -> None:
        self.page(f"/plans/{self.pick('plans')}/", "professional page: GET /plans/{id}/ (HTML)")


class Auditor(Journey):
    """The data protection officer queries the access log by person."""

    fixture_key = "auditor"

    @task
    def query(self) -> None:
        subject = self.pick("subjects")
        self.get(
            f"/api/v1/audit/access-log/?subject={subject}",
            "auditor: GET /audit/access-log/?subject=",
        )


class Fhir(Journey):
    """The lead exports a plan of typical size as a FHIR R4 transaction Bundle."""

    fixture_key = "fhir"

    @task
    def export(self) -> None:
        self.get(f"/api/v1/plans/{self.pick('plans')}/fhir/", "professional: GET /plans/{id}/fhir/")
