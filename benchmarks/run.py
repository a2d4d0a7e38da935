"""Drive the service over real HTTP under gunicorn on PostgreSQL, journey by journey.

    .venv/bin/python benchmarks/run.py --families 1000 --generate

1. Generate the county if the database is empty (`--generate`; see benchmarks/generate.py).
2. Prepare in-process: pick actors (professionals with ~200 plans, plans of typical size, goals
   the actor may write, guardians with accounts, an auditor), issue their bearer tokens with the
   service's own `token_issue`, and size the ceiling document like the open-plan answer.
3. Count SQL queries per request in-process: the same requests through Django's test client
   (full middleware and URLconf, real database) inside `CaptureQueriesContext`, on a small and a
   typical plan, and for a professional with few and with many plans.
4. Start gunicorn (DEBUG off, benchmarks.settings = product settings + the ceiling URL) and run
   locust headless against it, one journey at a time: a short warm-up, then the measured run.
5. Write benchmarks/results/<database>-<time>.json and .md, and print the table.

Load goes to 127.0.0.1 only; every run is bounded by --duration and stops by itself.
"""

from __future__ import annotations

import argparse
import contextlib
import csv
import datetime as dt
import json
import os
import random
import signal
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks.common import REPO, configure, default_database

RESULTS = REPO / "benchmarks" / "results"
BIN = Path(sys.executable).parent
JOURNEYS = [
    "Ceiling",
    "CeilingLogged",
    "CeilingLoggedRows",
    "CeilingWrite",
    "CeilingDocument",
    "CeilingDocumentLogged",
    "Document",
    "GuardianDocument",
    "OpenPlan",
    "PlanList",
    "EditGoal",
    "Guardian",
    "GuardianPage",
    "ProfessionalStart",
    "ProfessionalPlan",
    "Auditor",
    "Fhir",
    # Last by default: each of its comments lengthens the thread of the guardians' plans that
    # `Guardian` and `GuardianPage` read.
    "GuardianComment",
]
FIXTURE_KEYS = {
    "Ceiling": "ceiling",
    "CeilingLogged": "ceiling",
    "CeilingLoggedRows": "ceiling",
    "CeilingWrite": "ceiling",
    "CeilingDocument": "ceiling_document",
    "CeilingDocumentLogged": "ceiling_document",
    "Document": "open_plan",
    "GuardianDocument": "guardian",
    "OpenPlan": "open_plan",
    "PlanList": "plan_list",
    "EditGoal": "edit_goal",
    "Guardian": "guardian",
    "GuardianComment": "guardian",
    "GuardianPage": "guardian",
    "ProfessionalStart": "professional_start",
    "ProfessionalPlan": "professional_plan",
    "Auditor": "auditor",
    "Fhir": "fhir",
}


#
# Preparation (in-process Django)
#


def _has_route(path: str) -> bool:
    from django.urls import Resolver404, resolve

    try:
        resolve(path)
    except Resolver404:
        return False
    return True


def prepare(slots: int, seed: int) -> dict[str, Any]:
    """Actors, tokens and targets for every journey (written to the fixture file)."""
    from django.contrib.auth import get_user_model
    from django.db.models import Count

    from plan_service import policy
    from plan_service.participants.authentication import token_issue
    from plan_service.participants.models import Person, Professional
    from plan_service.plans.models import Goal, Membership

    rng = random.Random(seed)  # noqa: S311 (sampling, not secrets)
    users = get_user_model().objects
    tokens: dict[int, str] = {}

    def token(user: Any) -> str:
        if user.pk not in tokens:
            tokens[user.pk] = token_issue(user=user)[0]
        return tokens[user.pk]

    goal_counts = dict(Goal.objects.values("plan").annotate(n=Count("id")).values_list("plan", "n"))
    typical = [p for p, n in goal_counts.items() if n >= 20]
    small = [p for p, n in goal_counts.items() if n <= 4]
    current = Membership.objects.filter(policy.current_membership_q(), ended_at__isnull=True)
    professional_plans: dict[int, list[str]] = {}
    for user_id, plan_id in current.filter(role__in=["lead", "member"]).values_list(
        "user_id", "plan_id"
    ):
        professional_plans.setdefault(user_id, []).append(str(plan_id))
    busy = sorted(professional_plans, key=lambda u: -len(professional_plans[u]))
    typical_set = {str(p) for p in typical}

    fixture: dict[str, Any] = {"typical_plans": len(typical), "small_plans": len(small)}
    # Plan list: the professionals with the most plans (each about --plans-per-professional).
    fixture["plan_list"] = [
        {"user": u, "token": token(users.get(pk=u)), "plans": len(professional_plans[u])}
        for u in busy[:slots]
    ]
    # Open plan: professionals and the typical-size plans they are members of.
    open_slots = []
    for u in busy:
        mine = [p for p in professional_plans[u] if p in typical_set]
        if mine:
            open_slots.append({"user": u, "token": token(users.get(pk=u)), "plans": mine})
        if len(open_slots) >= slots:
            break
    fixture["open_plan"] = open_slots
    # FHIR export: leads (EXPORT is the lead's) of typical plans.
    leads: dict[int, list[str]] = {}
    for user_id, plan_id in current.filter(role="lead", plan_id__in=typical).values_list(
        "user_id", "plan_id"
    ):
        leads.setdefault(user_id, []).append(str(plan_id))
    fixture["fhir"] = [
        {"user": u, "token": token(users.get(pk=u)), "plans": p}
        for u, p in sorted(leads.items(), key=lambda kv: -len(kv[1]))[:slots]
    ]
    # Goal edits: one distinct goal per slot, in distinct plans, that the actor may write.
    edit_slots: list[dict[str, Any]] = []
    seen_plans: set[str] = set()
    candidates = list(
        current.filter(role__in=["lead", "member"], plan__status="active", plan_id__in=typical)
        .select_related("plan", "user")
        .order_by("?")[: slots * 20]
    )
    for membership in candidates:
        if str(membership.plan_id) in seen_plans:
            continue
        access = policy.plan_access(membership.user, membership.plan)
        if access is None or not access.may(policy.Action.CHANGE):
            continue
        goal = (
            Goal.objects.filter(plan=membership.plan, category__in=sorted(access.writes))
            .order_by("?")
            .first()
        )
        if goal is None:
            continue
        seen_plans.add(str(membership.plan_id))
        edit_slots.append(
            {
                "user": membership.user_id,
                "token": token(membership.user),
                "plan": str(membership.plan_id),
                "goal": str(goal.pk),
            }
        )
        if len(edit_slots) >= slots:
            break
    fixture["edit_goal"] = edit_slots
    # Guardians with accounts, each in their own plan (prefer typical plans).
    guardian_slots = []
    family = (
        current.filter(role="family", person__kind="guardian", plan__status="active")
        .select_related("user")
        .order_by("?")
    )
    for membership in list(family.filter(plan_id__in=typical)[:slots]) + list(family[:slots]):
        if len(guardian_slots) >= slots:
            break
        guardian_slots.append(
            {
                "user": membership.user_id,
                "username": membership.user.username,
                "token": token(membership.user),
                "plan": str(membership.plan_id),
            }
        )
    fixture["guardian"] = guardian_slots
    # The county's auditor and people whose log rows they may query.
    county_org = (
        Professional.objects.values("organization")
        .annotate(n=Count("id"))
        .order_by("-n")
        .values_list("organization", flat=True)
        .first()
    )
    auditor = (
        Professional.objects.filter(role="auditor", organization=county_org)
        .select_related("user")
        .first()
    )
    subjects = [str(p) for p in Person.objects.order_by("?").values_list("id", flat=True)[:500]]
    fixture["auditor"] = (
        [{"user": auditor.user_id, "token": token(auditor.user), "subjects": subjects}]
        if auditor
        else []
    )
    # Professionals on the web pages (issue 17): a signed-in page session each, made in-process
    # as a sign-in makes it (their password sign-in asks for a second factor, which a load
    # generator should not fake). The start page's actors are the busiest professionals (about
    # --plans-per-professional plans each); the plan page's open a typical-size plan of theirs.
    fixture["professional_start"] = [
        {"user": u, "session": page_session(users.get(pk=u)), "plans": len(professional_plans[u])}
        for u in busy[:slots]
    ]
    fixture["professional_plan"] = [
        {
            **{k: v for k, v in s.items() if k != "token"},
            "session": page_session(users.get(pk=s["user"])),
        }
        for s in open_slots
    ]
    with_family = set(current.filter(role="family").values_list("plan_id", flat=True))
    small = [p for p in small if p in with_family] or small
    typical = [p for p in typical if p in with_family] or typical
    fixture["small_plan"] = str(rng.choice(small)) if small else None
    fixture["typical_plan"] = str(rng.choice(typical)) if typical else None
    return fixture


def signed_in_client(user: Any) -> Any:
    """A test client with a signed-in page session for `user` (Django's own login, as the
    sign-in view and the test client's `force_login` make it). A professional's page session
    is verified by a second factor (django-otp), as the sign-in form makes it after a right
    code: the session names a confirmed device of theirs."""
    from django.test import Client
    from django_otp import DEVICE_ID_SESSION_KEY
    from django_otp.plugins.otp_totp.models import TOTPDevice

    client = Client()
    client.force_login(user)
    if hasattr(user, "professional"):
        device, _ = TOTPDevice.objects.get_or_create(
            user=user, name="benchmark", defaults={"confirmed": True}
        )
        session = client.session
        session[DEVICE_ID_SESSION_KEY] = device.persistent_id
        session.save()
    return client


def page_session(user: Any) -> str:
    """The `Cookie` header of a signed-in page session for `user` (`signed_in_client`)."""
    from django.conf import settings

    client = signed_in_client(user)
    return f"{settings.SESSION_COOKIE_NAME}={client.cookies[settings.SESSION_COOKIE_NAME].value}"


def warm_documents(fixture: dict[str, Any]) -> dict[str, Any]:
    """Render the whole-plan documents the Document journey will read, in-process, first.

    The journey then measures the steady state the read model exists for (a plan read many
    times per version); the cost of a first read after a change (a miss) is reported here.
    """
    from django.test import Client

    client, times = Client(), []
    for slot in fixture.get("open_plan", []):
        for plan in slot["plans"]:
            started = time.perf_counter()
            response = _client_get(client, f"/api/v1/plans/{plan}/document/", slot["token"])
            if response.status_code == 200:
                times.append((time.perf_counter() - started) * 1000)
    times.sort()
    print(f"rendered {len(times)} documents before measuring", flush=True)
    return {
        "documents": len(times),
        "miss_ms_median": round(times[len(times) // 2], 1) if times else None,
    }


def logged_rows(fixture: dict[str, Any]) -> dict[str, int]:
    """How many access-log rows one plan list (first page) and one goal edit write: the rows
    the reference journeys `CeilingLoggedRows` and `CeilingWrite` append."""
    import uuid

    from django.test import Client

    from plan_service.audit.models import AccessEvent

    client = Client()

    def rows_of(call: Any) -> int:
        request_id = uuid.uuid4().hex
        response = call(request_id)
        if response.status_code >= 300:
            raise SystemExit(f"counting log rows: the request answered {response.status_code}")
        return AccessEvent.objects.filter(request_id=request_id).count()

    found = {"list_rows": 1, "edit_rows": 1}
    if fixture.get("plan_list"):
        token = fixture["plan_list"][0]["token"]
        found["list_rows"] = rows_of(
            lambda rid: client.get(
                "/api/v1/plans/", HTTP_AUTHORIZATION=f"Bearer {token}", HTTP_X_REQUEST_ID=rid
            )
        )
    if fixture.get("edit_goal"):
        slot = fixture["edit_goal"][0]
        url = f"/api/v1/plans/{slot['plan']}/goals/{slot['goal']}/"
        auth = {"HTTP_AUTHORIZATION": f"Bearer {slot['token']}"}
        found["edit_rows"] = rows_of(
            lambda rid: client.patch(
                url,
                data=json.dumps({"achievement": "improving"}),
                content_type="application/json",
                HTTP_IF_MATCH=client.get(url, **auth)["ETag"],
                HTTP_X_CHANGE_REASON="benchmark",
                HTTP_X_REQUEST_ID=rid,
                **auth,
            )
        )
    return found


def _client_get(client: Any, url: str, token: str, **extra: Any) -> Any:
    return client.get(url, HTTP_AUTHORIZATION=f"Bearer {token}", **extra)


def count_queries(fixture: dict[str, Any], fhir: bool) -> dict[str, Any]:
    """SQL queries per request, in-process, over the same requests the journeys make.

    Each request is made twice first (warm caches, as in a long-running worker); the third is
    counted. Plans of two sizes and professionals with few and many plans show what the count
    depends on.
    """
    from django.db import connection
    from django.test import Client
    from django.test.utils import CaptureQueriesContext

    from plan_service.plans.models import Membership

    client = Client()

    def measure(method: str, url: str, token: str, **kwargs: Any) -> dict[str, Any]:
        call = getattr(client, method)
        headers = {"HTTP_AUTHORIZATION": f"Bearer {token}", **kwargs.pop("headers", {})}
        for _ in range(2):
            call(url, **kwargs, **headers)
        with CaptureQueriesContext(connection) as ctx:
            response = call(url, **kwargs, **headers)
        # Read now: the next request's request_started signal clears the query log.
        queries = len(ctx.captured_queries)
        sql_ms = round(sum(float(q["time"]) for q in ctx.captured_queries) * 1000, 1)
        # Service time without HTTP or concurrency: the median of 5 sequential calls.
        times = []
        for _ in range(5):
            started = time.perf_counter()
            call(url, **kwargs, **headers)
            times.append((time.perf_counter() - started) * 1000)
        return {
            "queries": queries,
            "status": response.status_code,
            "bytes": len(response.content),
            "ms": round(sorted(times)[2], 1),
            "sql_ms": sql_ms,
        }

    out: dict[str, Any] = {}
    tokens = {
        s["user"]: s["token"]
        for key in FIXTURE_KEYS.values()
        for s in fixture.get(key, [])
        if "user" in s and "token" in s  # page journeys carry a session, not a token
    }

    def actor_for(plan: str, roles: tuple[str, ...]) -> tuple[int, str] | None:
        from plan_service.participants.authentication import token_issue

        m = (
            Membership.objects.filter(plan_id=plan, role__in=roles, ended_at__isnull=True)
            .select_related("user")
            .first()
        )
        if m is None:
            return None
        return m.user_id, tokens.get(m.user_id) or token_issue(user=m.user)[0]

    for size in ("small", "typical"):
        plan = fixture.get(f"{size}_plan")
        if not plan:
            continue
        pro = actor_for(plan, ("lead",))
        guardian = actor_for(plan, ("family",))
        document = _has_route(f"/api/v1/plans/{plan}/document/")
        if pro:
            out[f"open plan ({size})"] = measure("get", f"/api/v1/plans/{plan}/", pro[1])
            if document:
                out[f"document ({size})"] = measure(
                    "get", f"/api/v1/plans/{plan}/document/", pro[1]
                )
            out[f"goal list ({size})"] = measure("get", f"/api/v1/plans/{plan}/goals/", pro[1])
            if fhir:
                out[f"fhir ({size})"] = measure("get", f"/api/v1/plans/{plan}/fhir/", pro[1])
            editable = _editable_goal(plan)
            if editable:
                editor, gid = editable
                url = f"/api/v1/plans/{plan}/goals/{gid}/"
                counts, times = [], []
                for _ in range(3):
                    etag = client.get(url, HTTP_AUTHORIZATION=f"Bearer {editor}")["ETag"]
                    started = time.perf_counter()
                    with CaptureQueriesContext(connection) as ctx:
                        r = client.patch(
                            url,
                            data=json.dumps({"achievement": "improving"}),
                            content_type="application/json",
                            HTTP_AUTHORIZATION=f"Bearer {editor}",
                            HTTP_IF_MATCH=etag,
                        )
                    counts.append(len(ctx.captured_queries))
                    times.append((time.perf_counter() - started) * 1000)
                out[f"edit goal ({size})"] = {
                    "queries": counts[-1],
                    "status": r.status_code,
                    "ms_with_query_capture": round(sorted(times)[1], 1),
                }
        if guardian:
            out[f"guardian plan ({size})"] = measure("get", f"/api/v1/plans/{plan}/", guardian[1])
            if document:
                out[f"guardian document ({size})"] = measure(
                    "get", f"/api/v1/plans/{plan}/document/", guardian[1]
                )
            counts, times = [], []
            for _ in range(3):
                started = time.perf_counter()
                with CaptureQueriesContext(connection) as ctx:
                    r = client.post(
                        f"/api/v1/plans/{plan}/comments/",
                        data=json.dumps({"target_type": "plan", "text": "Kiitos."}),
                        content_type="application/json",
                        HTTP_AUTHORIZATION=f"Bearer {guardian[1]}",
                    )
                counts.append(len(ctx.captured_queries))
                times.append((time.perf_counter() - started) * 1000)
            out[f"guardian comment ({size})"] = {
                "queries": counts[-1],
                "status": r.status_code,
                "ms_with_query_capture": round(sorted(times)[1], 1),
            }
            out[f"guardian access log ({size})"] = measure(
                "get", f"/api/v1/plans/{plan}/access-log/", guardian[1]
            )
            out[f"guardian plan page ({size})"] = _measure_page(f"/plans/{plan}/", guardian[0])
        if pro:
            out[f"professional plan page ({size})"] = _measure_page(f"/plans/{plan}/", pro[0])
    # Plan list: the count follows the number of plans on the page (one log append per plan).
    lists = fixture.get("plan_list", [])
    if lists:
        busy = lists[0]
        out[f"plan list ({busy['plans']} plans)"] = measure("get", "/api/v1/plans/", busy["token"])
        few = _professional_with_few_plans()
        if few:
            out[f"plan list ({few[1]} plans)"] = measure("get", "/api/v1/plans/", few[0])
        # The start page (issue 17): the same statements whatever the number of plans.
        for url in ("/start/", "/start/?due=1"):
            out[f"start page {url} ({busy['plans']} plans)"] = _measure_page(url, busy["user"])
        few_user = _few_plans_row()
        if few_user:
            out[f"start page /start/ ({few_user['n']} plans)"] = _measure_page(
                "/start/", few_user["user"]
            )
    if fixture.get("auditor"):
        auditor = fixture["auditor"][0]
        out["auditor query"] = measure(
            "get", f"/api/v1/audit/access-log/?subject={auditor['subjects'][0]}", auditor["token"]
        )
    if fixture.get("ceiling"):
        doc = fixture["ceiling"][0]["ids"][0]
        out["ceiling"] = measure("get", f"/bench/ceiling/{doc}/", "-")
        out["ceiling + log"] = measure("get", f"/bench/ceiling-logged/{doc}/", "-")
    if fixture.get("ceiling_document"):
        doc = fixture["ceiling_document"][0]["ids"][0]
        out["ceiling (document size)"] = measure("get", f"/bench/ceiling-document/{doc}/", "-")
        out["ceiling (document size) + log"] = measure(
            "get", f"/bench/ceiling-document-logged/{doc}/", "-"
        )
    return out


def _editable_goal(plan_id: str) -> tuple[str, str] | None:
    """A professional of the plan and a goal whose category they may write, with a token."""
    from plan_service import policy
    from plan_service.participants.authentication import token_issue
    from plan_service.plans.models import Goal, Membership

    members = Membership.objects.filter(
        policy.current_membership_q(), plan_id=plan_id, role__in=["lead", "member"]
    ).select_related("user", "plan")
    for membership in members:
        access = policy.plan_access(membership.user, membership.plan)
        if access is None or not access.may(policy.Action.CHANGE):
            continue
        goal = Goal.objects.filter(plan_id=plan_id, category__in=sorted(access.writes)).first()
        if goal is not None:
            return token_issue(user=membership.user)[0], str(goal.pk)
    return None


def _few_plans_row() -> dict[str, Any] | None:
    """{"user": id, "n": plans} of a professional in 1-5 plans (the core families' team)."""
    from django.db.models import Count

    from plan_service import policy
    from plan_service.plans.models import Membership

    return (
        Membership.objects.filter(policy.current_membership_q(), role__in=["lead", "member"])
        .values("user")
        .annotate(n=Count("plan", distinct=True))
        .filter(n__lte=5)
        .order_by("n")
        .first()
    )


def _professional_with_few_plans() -> tuple[str, int] | None:
    """A professional in 1-5 plans (the core families' team), with a token."""
    from plan_service.participants.authentication import token_issue

    row = _few_plans_row()
    if row is None:
        return None
    from django.contrib.auth import get_user_model

    user = get_user_model().objects.get(pk=row["user"])
    return token_issue(user=user)[0], row["n"]


#
# Running
#


#: The servers a run can use: (application, gunicorn worker class). "asgi" is production's
#: (deploy/gunicorn.conf.py: Django's ASGI application on uvicorn workers); "sync" is the WSGI
#: application on gunicorn's sync workers, which every run before the sixteenth session used.
SERVERS = {
    "sync": ("plan_service.wsgi:application", "sync"),
    "asgi": ("plan_service.asgi:application", "uvicorn_worker.UvicornWorker"),
}


@contextlib.contextmanager
def gunicorn(
    env: dict[str, str], port: int, workers: int, log: Path, server: str = "sync"
) -> Iterator[None]:
    """gunicorn serving benchmarks.settings on 127.0.0.1:`port`, stopped on exit."""
    application, worker_class = SERVERS[server]
    command = [
        str(BIN / "gunicorn"),
        application,
        "--bind",
        f"127.0.0.1:{port}",
        "--workers",
        str(workers),
        "--worker-class",
        worker_class,
        "--timeout",
        "60",
        "--log-level",
        "warning",
        "--chdir",
        str(REPO),
    ]
    with log.open("w") as out:
        process = subprocess.Popen(command, env=env, stdout=out, stderr=subprocess.STDOUT)  # noqa: S603
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/readyz", timeout=2) as r:
                    if r.status == 200:
                        break
            except OSError:
                pass
            if process.poll() is not None or time.monotonic() > deadline:
                raise SystemExit(f"gunicorn did not start; see {log}")
            time.sleep(0.3)
        yield
    finally:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def run_locust(
    journey: str, env: dict[str, str], port: int, users: int, seconds: int, prefix: Path
) -> list[dict[str, str]]:
    """One bounded headless locust run of `journey`; returns the rows of its stats CSV."""
    command = [
        str(BIN / "locust"),
        "-f",
        str(REPO / "benchmarks" / "locustfile.py"),
        "--headless",
        "--users",
        str(users),
        "--spawn-rate",
        str(users),
        "--run-time",
        f"{seconds}s",
        "--stop-timeout",
        "10",
        "--host",
        f"http://127.0.0.1:{port}",
        "--csv",
        str(prefix),
        "--only-summary",
        "--loglevel",
        "WARNING",
        journey,
    ]
    subprocess.run(  # noqa: S603
        command,
        env=env,
        check=False,
        stdout=subprocess.DEVNULL,
        stderr=prefix.with_suffix(".log").open("w"),
        timeout=seconds + 60,
    )
    stats = Path(f"{prefix}_stats.csv")
    if not stats.exists():
        raise SystemExit(f"locust wrote no statistics for {journey}; see {prefix}.log")
    with stats.open() as handle:
        return list(csv.DictReader(handle))


def summarise(rows: list[dict[str, str]], seconds: int) -> dict[str, Any]:
    """Per request name and for the journey as a whole (setup requests left out)."""

    def figures(row: dict[str, str]) -> dict[str, Any]:
        count = int(row["Request Count"])
        return {
            "requests": count,
            "errors": int(row["Failure Count"]),
            "rps": round(float(row["Requests/s"]), 1),
            "p50_ms": float(row["50%"] or 0),
            "p95_ms": float(row["95%"] or 0),
            "p99_ms": float(row["99%"] or 0),
            "bytes": round(float(row["Average Content Size"] or 0)),
        }

    requests = {
        row["Name"]: figures(row)
        for row in rows
        if row["Name"] != "Aggregated" and not row["Name"].startswith("setup:")
    }
    total = sum(r["requests"] for r in requests.values())
    journey = {
        "requests": total,
        "errors": sum(r["errors"] for r in requests.values()),
        "rps": round(sum(r["rps"] for r in requests.values()), 1),
    }
    return {"journey": journey, "requests": requests}


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--families", type=int, default=20_000)
    parser.add_argument("--database", help="default: bench_<families/1000>k")
    parser.add_argument("--generate", action="store_true", help="generate the county if empty")
    parser.add_argument("--duration", type=int, default=30, help="seconds per measured run")
    parser.add_argument("--warmup", type=int, default=5, help="seconds of warm-up per journey")
    parser.add_argument("--users", type=int, default=6, help="concurrent simulated users")
    parser.add_argument("--workers", type=int, default=3, help="gunicorn workers")
    parser.add_argument(
        "--server",
        choices=sorted(SERVERS),
        default="sync",
        help="sync: WSGI on sync workers (the runs recorded so far); asgi: production's server",
    )
    parser.add_argument("--port", type=int, default=8765)
    parser.add_argument("--journeys", nargs="*", default=JOURNEYS, choices=JOURNEYS)
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args(argv)
    database = args.database or default_database(args.families)
    env = {**os.environ, **configure(database, "benchmarks.settings")}
    env.update(DATABASE_CONN_MAX_AGE="600", PYTHONPATH=str(REPO))
    if args.server == "asgi":  # as production: a pool, no persistent connections (they leak)
        env.update(DATABASE_CONN_MAX_AGE="0", DATABASE_POOL="1")
    generate = [sys.executable, str(REPO / "benchmarks" / "generate.py")]
    generate += ["--families", str(args.families), "--database", database]
    if not _database_exists(database):
        if not args.generate:
            raise SystemExit(
                f"no database {database}: run benchmarks/generate.py or add --generate"
            )
        subprocess.run([*generate, "--recreate"], check=True)  # noqa: S603
    import django

    django.setup()
    from django.core.management import call_command

    from plan_service.plans.models import Plan

    call_command("migrate", interactive=False, verbosity=0)
    if not Plan.objects.exists():
        if not args.generate:
            raise SystemExit(f"{database} is empty: run benchmarks/generate.py or add --generate")
        subprocess.run(generate, check=True)  # noqa: S603
    stamp = dt.datetime.now(dt.UTC).strftime("%Y%m%dT%H%M%SZ")
    out_dir = RESULTS / f"{database}-{stamp}"
    out_dir.mkdir(parents=True, exist_ok=True)
    print(f"preparing actors and tokens in {database} ...", flush=True)
    fixture = prepare(slots=max(args.users, 12), seed=args.seed)
    fhir = _has_route("/api/v1/plans/00000000-0000-0000-0000-000000000001/fhir/")
    journeys = [j for j in args.journeys if j != "Fhir" or fhir]
    # The ceiling serves a document as large as the open-plan answer.
    from django.test import Client

    from benchmarks import ceiling

    sample = fixture["open_plan"][0]
    answer = Client().get(
        f"/api/v1/plans/{sample['plans'][0]}/", HTTP_AUTHORIZATION=f"Bearer {sample['token']}"
    )
    size = len(answer.content)
    # The reference journeys append as many log rows as the plan list and a goal edit do.
    fixture["ceiling"] = [{"ids": ceiling.install(size), **logged_rows(fixture)}]
    # A second ceiling, sized to the typical plan's whole-plan document.
    document_size = 0
    if _has_route(f"/api/v1/plans/{sample['plans'][0]}/document/"):
        whole = Client().get(
            f"/api/v1/plans/{sample['plans'][0]}/document/",
            HTTP_AUTHORIZATION=f"Bearer {sample['token']}",
        )
        document_size = len(whole.content) if whole.status_code == 200 else 0
    if document_size:
        fixture["ceiling_document"] = [
            {"ids": ceiling.install(document_size, table=ceiling.DOCUMENT_TABLE)}
        ]
    else:
        journeys = [j for j in journeys if "Document" not in j]
    warmed = {}
    if "Document" in journeys:
        warmed = warm_documents(fixture)
    print("counting SQL queries per request ...", flush=True)
    queries = count_queries(fixture, fhir)
    fixture_path = out_dir / "fixture.json"
    fixture_path.write_text(json.dumps(fixture))
    env["BENCH_FIXTURE"] = str(fixture_path)
    results: dict[str, Any] = {}
    with gunicorn(env, args.port, args.workers, out_dir / "gunicorn.log", args.server):
        for journey in journeys:
            if not fixture.get(FIXTURE_KEYS[journey]):
                print(f"{journey}: no actors in this database; skipped")
                continue
            print(f"{journey}: warm-up {args.warmup}s, measuring {args.duration}s", flush=True)
            if args.warmup:
                run_locust(
                    journey, env, args.port, args.users, args.warmup, out_dir / f"warmup-{journey}"
                )
            rows = run_locust(journey, env, args.port, args.users, args.duration, out_dir / journey)
            results[journey] = summarise(rows, args.duration)
            j = results[journey]["journey"]
            print(f"  {j['rps']} req/s, {j['errors']} errors of {j['requests']}", flush=True)
    report = {
        "database": database,
        "families": args.families,
        "when": stamp,
        "machine": _machine(),
        "code": _code_state(),
        "settings": {
            "users": args.users,
            "workers": args.workers,
            "server": args.server,
            "duration_s": args.duration,
            "warmup_s": args.warmup,
            "ceiling_bytes": size,
            "ceiling_document_bytes": document_size,
        },
        "rows": _row_counts(),
        "documents_rendered_before_measuring": warmed,
        "queries_per_request": queries,
        "results": results,
    }
    fixture_path.unlink()  # it holds bearer tokens; results.json does not
    (out_dir / "results.json").write_text(json.dumps(report, indent=2))
    table = markdown(report)
    (out_dir / "results.md").write_text(table)
    print(table)
    print(f"written to {out_dir}")


def _database_exists(name: str) -> bool:
    import psycopg

    from benchmarks.common import PG_SERVER

    with psycopg.connect(f"{PG_SERVER}/postgres", autocommit=True) as conn:
        return (
            conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", [name]).fetchone()
            is not None
        )


def _machine() -> dict[str, Any]:
    import platform

    mem = 0
    with contextlib.suppress(OSError), open("/proc/meminfo") as handle:
        mem = int(handle.readline().split()[1]) // (1024 * 1024)
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("SHOW server_version")
        pg = cursor.fetchone()[0]
    return {
        "cpus": os.cpu_count(),
        "memory_gib": mem,
        "python": platform.python_version(),
        "postgresql": pg,
        "load_before": os.getloadavg(),
    }


def _code_state() -> dict[str, Any]:
    """The commit measured, and whether the work tree differed from it."""

    def git(*args: str) -> str:
        result = subprocess.run(  # noqa: S603
            ["git", *args],  # noqa: S607
            cwd=REPO,
            capture_output=True,
            text=True,
            check=False,
        )
        return result.stdout.rstrip()  # not strip(): a porcelain line starts with a space

    changed = [line[3:] for line in git("status", "--porcelain").splitlines()]
    return {
        "commit": git("rev-parse", "--short", "HEAD"),
        "uncommitted_paths": [p for p in changed if not p.startswith("benchmarks/")],
    }


def _row_counts() -> dict[str, int]:
    from django.db import connection

    tables = [
        "plans_plan",
        "plans_goal",
        "plans_action",
        "plans_comment",
        "plans_historicalplan",
        "plans_historicalgoal",
        "plans_historicalaction",
        "plans_membership",
        "plans_planuserobjectpermission",
        "audit_accessevent",
    ]
    counts = {}
    with connection.cursor() as cursor:
        for table in tables:
            cursor.execute(  # estimates are enough here and cost nothing
                "SELECT reltuples::bigint FROM pg_class WHERE relname = %s", [table]
            )
            row = cursor.fetchone()
            counts[table] = int(row[0]) if row else 0
    return counts


def _measure_page(url: str, user_id: int) -> dict[str, Any]:
    """A web page in-process with a signed-in page session: statements, bytes, service time."""
    import time as _time

    from django.contrib.auth import get_user_model
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    client = signed_in_client(get_user_model().objects.get(pk=user_id))
    client.get(url)
    with CaptureQueriesContext(connection) as ctx:
        response = client.get(url)
    queries = len(ctx.captured_queries)
    times = []
    for _ in range(5):
        started = _time.perf_counter()
        client.get(url)
        times.append((_time.perf_counter() - started) * 1000)
    return {
        "queries": queries,
        "status": response.status_code,
        "bytes": len(response.content),
        "ms": round(sorted(times)[2], 1),
    }


#: Which in-process query count belongs to which locust request (typical plan where it matters).
QUERY_KEYS = {
    "ceiling: GET one row as JSON": "ceiling",
    "ceiling + log: GET one row, append one log row": "ceiling + log",
    "ceiling (document size): GET one row as JSON": "ceiling (document size)",
    "ceiling (document size) + log: GET one row, append one log row": (
        "ceiling (document size) + log"
    ),
    "professional: GET /plans/{id}/document/": "document (typical)",
    "guardian: GET /plans/{id}/document/": "guardian document (typical)",
    "professional: GET /plans/": "plan list (",
    "professional: GET /plans/{id}/": "open plan (typical)",
    "professional: PATCH /plans/{id}/goals/{gid}/ (If-Match)": "edit goal (typical)",
    "guardian: GET /plans/{id}/": "guardian plan (typical)",
    "guardian: POST /plans/{id}/comments/": "guardian comment (typical)",
    "guardian: POST /plans/{id}/comments/ (alone)": "guardian comment (typical)",
    "guardian: GET /plans/{id}/access-log/": "guardian access log (typical)",
    "guardian page: GET /plans/{id}/ (HTML)": "guardian plan page (typical)",
    "professional page: GET /start/ (HTML)": "start page /start/ (",
    "professional page: GET /start/?due=1 (HTML)": "start page /start/?due=1 (",
    "professional page: GET /plans/{id}/ (HTML)": "professional plan page (typical)",
    "auditor: GET /audit/access-log/?subject=": "auditor query",
    "professional: GET /plans/{id}/fhir/": "fhir (typical)",
}


def _queries_for(name: str, counts: dict[str, Any]) -> str:
    prefix = QUERY_KEYS.get(name)
    found = [v["queries"] for k, v in counts.items() if prefix and k.startswith(prefix)]
    return str(found[0]) if found else "-"


def markdown(report: dict[str, Any]) -> str:
    """The per-request table: throughput, latency, errors, ratio to the ceiling."""
    results = report["results"]
    ceiling_rps = results["Ceiling"]["journey"]["rps"] if "Ceiling" in results else None
    logged_rps = results["CeilingLogged"]["journey"]["rps"] if "CeilingLogged" in results else None
    lines = [
        f"### {report['database']} ({report['families']} families), {report['when']}, "
        f"server {report['settings'].get('server', 'sync')}",
        "",
        "| journey | request | req/s | p50 ms | p95 ms | p99 ms | errors | SQL/request "
        "| ratio to ceiling / to ceiling + log |",
        "|---|---|---:|---:|---:|---:|---:|---:|---:|",
    ]
    doc_rps = results["CeilingDocument"]["journey"]["rps"] if "CeilingDocument" in results else None
    doc_logged_rps = (
        results["CeilingDocumentLogged"]["journey"]["rps"]
        if "CeilingDocumentLogged" in results
        else None
    )
    for journey, data in results.items():
        for name, r in data["requests"].items():
            # Whole-plan documents are set against the ceiling of their own size.
            base, logged = (
                (doc_rps, doc_logged_rps) if "document" in name else (ceiling_rps, logged_rps)
            )
            ratio = f"{r['rps'] / base:.3f}" if base else "-"
            if logged:
                ratio += f" / {r['rps'] / logged:.3f}"
            lines.append(
                f"| {journey} | {name} | {r['rps']} | {r['p50_ms']:.0f} | {r['p95_ms']:.0f} "
                f"| {r['p99_ms']:.0f} | {r['errors']}/{r['requests']} "
                f"| {_queries_for(name, report['queries_per_request'])} | {ratio} |"
            )
    lines += [
        "",
        "| request (in-process, one at a time) | SQL queries | ms | of which SQL ms | status |",
        "|---|---:|---:|---:|---:|",
    ]
    for name, q in report["queries_per_request"].items():
        lines.append(
            f"| {name} | {q['queries']} | {q.get('ms', q.get('ms_with_query_capture', '-'))} "
            f"| {q.get('sql_ms', '-')} "
            f"| {q['status']} |"
        )
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    main()
