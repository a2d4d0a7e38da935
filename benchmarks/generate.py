"""Fill a PostgreSQL database with a realistic county for the benchmarks.

    .venv/bin/python benchmarks/generate.py --families 20000 --recreate

Phases:

1. registry in bulk: organisations, professionals (each in about `--plans-per-professional` plans),
   auditors;
2. a small correct core through the service's own write paths (`participants.services`,
   `plans.services`, `consent.services`): real history rows and real access-log rows;
3. the rest of the county in bulk with PostgreSQL COPY: families, children and guardians, accounts,
   consents, plans with needs, goals, actions, reviews, comments, dissents, acknowledgements, team
   memberships across the three sectors, *the django-guardian object permissions of every
   membership* (`policy.ROLE_ACTIONS`), and one history row per version of every row;
4. the access log in bulk, in time order, continuing each hash chain from its head, every row
   hashed exactly as `plan_service.audit.chain` does;
5. sequences reset, ANALYZE, and checks: chain verification, a permission row for every role
   action of every current membership, and `policy.plans_for` agreeing with the memberships.

The databases are benchmark databases only (`bench_*`); `--recreate` drops and recreates one.
"""

from __future__ import annotations

import argparse
import dataclasses
import datetime as dt
import hashlib
import json
import queue
import random
import sys
import threading
import time
import uuid
import zlib
from collections import defaultdict
from collections.abc import Iterable, Sequence
from operator import itemgetter
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks.common import check_bench_name, default_database, setup_django

UTC = dt.UTC

GIVEN = [
    "Aino",
    "Eetu",
    "Onni",
    "Helmi",
    "Leo",
    "Venla",
    "Eino",
    "Aada",
    "Väinö",
    "Lilja",
    "Oliver",
    "Sofia",
    "Elias",
    "Ella",
    "Veeti",
    "Emma",
    "Niilo",
    "Olivia",
    "Toivo",
    "Isla",
    "Mikko",
    "Sanna",
    "Päivi",
    "Jukka",
    "Tiina",
    "Antti",
    "Laura",
    "Ville",
    "Johanna",
    "Marko",
    "Hanna",
    "Petri",
]
FAMILY = [
    "Virtanen",
    "Korhonen",
    "Mäkinen",
    "Nieminen",
    "Mäkelä",
    "Hämäläinen",
    "Laine",
    "Heikkinen",
    "Koskinen",
    "Järvinen",
    "Lehtonen",
    "Lehtinen",
    "Saarinen",
    "Salminen",
    "Heinonen",
    "Niemi",
    "Heikkilä",
    "Kinnunen",
    "Salonen",
    "Turunen",
    "Salo",
    "Laitinen",
    "Tuominen",
    "Rantanen",
]
WORDS = [
    "arki",
    "sujuu",
    "koulu",
    "päiväkoti",
    "uni",
    "ruokailu",
    "harrastus",
    "ystävät",
    "tunteet",
    "puhe",
    "liikunta",
    "lääkäri",
    "terapia",
    "vanhemmuus",
    "jaksaminen",
    "talous",
    "asuminen",
    "perhetyö",
    "tukihenkilö",
    "läksyt",
    "aamut",
    "illat",
    "rutiinit",
    "kuvatuki",
    "neuvola",
    "kuraattori",
    "tapaaminen",
    "seuranta",
    "arviointi",
    "kotikäynti",
]
STATUTES = {
    "social": "Lastensuojelulaki 417/2007 §30",
    "health": "Terveydenhuoltolaki 1326/2010 §15",
    "education": "Oppilas- ja opiskelijahuoltolaki 1287/2013 §14",
}
#: (lead role, weight): most plans are led from child protection or the child-health clinic.
LEAD_ROLES = [
    ("child_protection_social_worker", 45),
    ("social_counsellor", 20),
    ("public_health_nurse", 25),
    ("school_curator", 10),
]
MEMBER_ROLES = [
    ("child_protection_social_worker", 6),
    ("social_counsellor", 10),
    ("family_counselling_social_worker", 6),
    ("adult_social_worker", 5),
    ("disability_social_worker", 3),
    ("family_counselling_psychologist", 6),
    ("psychiatric_nurse", 7),
    ("public_health_nurse", 12),
    ("school_doctor", 4),
    ("oral_health", 2),
    ("school_curator", 12),
    ("school_psychologist", 7),
    ("ece_teacher", 10),
    ("teacher", 10),
]
MEMBER_COUNT = ([1, 2, 3, 4, 5], [10, 25, 30, 20, 15])
CATEGORY_WEIGHTS = (["general", "social", "health", "education", "family"], [30, 25, 22, 18, 5])
#: Plan size classes: (name, share, needs, goals, actions, comments, reviews, dissents).
SIZE_CLASSES = [
    ("small", 70, (1, 3), (2, 6), (4, 15), (0, 15), (0, 2), (0, 1)),
    ("medium", 22, (3, 6), (8, 12), (20, 35), (20, 50), (1, 4), (0, 2)),
    ("typical", 8, (6, 8), (20, 20), (60, 60), (100, 100), (4, 6), (1, 3)),
]
GOAL_ACHIEVEMENTS = ["in-progress", "improving", "no-change", "achieved", "worsening"]
#: Hashed access-log columns that vary between rows of one actor in one plan (sorted).
VARYING = (
    "action",
    "chain",
    "id",
    "object_id",
    "object_type",
    "object_version",
    "recorded_at",
    "request_id",
    "seq",
    "subject_id",
)
ACTION_STATUSES = ["not-started", "scheduled", "in-progress", "completed", "on-hold"]


def words(rng: random.Random, n: int) -> str:
    return " ".join(rng.choice(WORDS) for _ in range(n)).capitalize()


_ESCAPE = str.maketrans({"\\": "\\\\", "\t": "\\t", "\n": "\\n", "\r": "\\r"})


def _text(value: str) -> str:
    if "\\" in value or "\t" in value or "\n" in value or "\r" in value:
        return value.translate(_ESCAPE)
    return value


def _array(values: list[Any]) -> str:
    if values and isinstance(values[0], str):
        quoted = ('"' + v.replace("\\", "\\\\").replace('"', '\\"') + '"' for v in values)
        return _text("{" + ",".join(quoted) + "}")
    return "{" + ",".join(map(str, values)) + "}"


#: PostgreSQL COPY text format, by Python type.
FORMAT: dict[type, Any] = {
    type(None): lambda _v: "\\N",
    str: _text,
    bool: lambda v: "t" if v else "f",
    int: str,
    float: repr,
    uuid.UUID: str,
    dt.datetime: dt.datetime.isoformat,
    dt.date: dt.date.isoformat,
    list: _array,
    tuple: lambda v: _array(list(v)),
}


def _fallback(value: Any) -> str:
    for kind in (str, int, dt.datetime, dt.date):  # enums and other subclasses
        if isinstance(value, kind):
            return FORMAT[kind](kind(value) if kind in (str, int) else value)
    raise TypeError(f"no COPY format for {type(value).__name__}")


def copy_line(row: Iterable[Any]) -> str:
    """One row in COPY text format."""
    get = FORMAT.get
    return "\t".join([get(type(v), _fallback)(v) for v in row]) + "\n"


@dataclasses.dataclass
class Table:
    """One table's COPY column list, row defaults, and the rows waiting to be written."""

    name: str
    columns: list[str]
    defaults: dict[str, Any]
    rows: list[tuple[Any, ...]] = dataclasses.field(default_factory=list)
    written: int = 0

    def add(self, values: dict[str, Any]) -> None:
        d = self.defaults
        self.rows.append(tuple(values[c] if c in values else d[c] for c in self.columns))


class Loader:
    """Runs COPY jobs on its own connection in a thread, so Python and PostgreSQL overlap."""

    def __init__(self, dsn: str, *, defer_foreign_keys: bool) -> None:
        import psycopg

        self.conn = psycopg.connect(dsn, autocommit=True)
        self.conn.execute("SET synchronous_commit TO off")
        if defer_foreign_keys:
            # Foreign-key triggers off for this connection only; `check_foreign_keys` proves
            # every reference afterwards with one anti-join per constraint.
            self.conn.execute("SET session_replication_role TO replica")
        self.conn.execute("SET maintenance_work_mem TO '1GB'")
        self.queue: queue.Queue[list[tuple[str, list[str], str]] | None] = queue.Queue(2)
        self.error: BaseException | None = None
        self.thread = threading.Thread(target=self._run, name="copy-loader", daemon=True)
        self.thread.start()

    def _run(self) -> None:
        while True:
            job = self.queue.get()
            try:
                if job is None:
                    return
                if self.error is None:
                    with self.conn.transaction(), self.conn.cursor() as cur:
                        for name, columns, text in job:
                            cols = ", ".join(f'"{c}"' for c in columns)
                            with cur.copy(f'COPY "{name}" ({cols}) FROM STDIN') as copy:
                                copy.write(text)
            except BaseException as exc:  # handed to the main thread at its next call
                self.error = exc
            finally:
                self.queue.task_done()

    def put(self, job: list[tuple[str, list[str], str]]) -> None:
        self._raise()
        self.queue.put(job)

    def wait(self) -> None:
        self.queue.join()
        self._raise()

    def execute(self, sql: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        """Run one statement once every queued COPY is done."""
        self.wait()
        cur = self.conn.execute(sql, params)  # type: ignore[arg-type]
        return cur.fetchall() if cur.description else []

    def close(self) -> None:
        self.queue.put(None)
        self.thread.join()
        self.conn.close()
        self._raise()

    def _raise(self) -> None:
        if self.error is not None:
            raise self.error


class Writer:
    """Buffers rows per table and hands them to the loader in dependency order."""

    def __init__(self, loader: Loader) -> None:
        self.loader = loader
        self.tables: dict[str, Table] = {}
        self.order: list[str] = []

    def table(self, model: Any, *, omit: Sequence[str] = (), defaults: dict | None = None) -> Table:
        """Register `model`'s table; columns come from the model, identity columns omitted."""
        name = model._meta.db_table
        fields = [f for f in model._meta.concrete_fields if f.column not in omit]
        columns = [f.column for f in fields]
        # What Django would insert for a field the generator does not set: its constant default
        # ("" for a text field, False for a flag); a callable default is set per row or left out.
        base: dict[str, Any] = {
            f.column: None if f.has_default() and callable(f.default) else f.get_default()
            for f in fields
        }
        base.update(defaults or {})
        table = Table(name, columns, base)
        self.tables[name] = table
        self.order.append(name)
        return table

    def raw(self, name: str, columns: list[str]) -> Table:
        """Register a table without a model (an automatic many-to-many table)."""
        table = Table(name, columns, dict.fromkeys(columns))
        self.tables[name] = table
        self.order.append(name)
        return table

    def flush(self) -> None:
        """Render every pending row as COPY text and queue it for the loader as one batch."""
        job = []
        for name in self.order:
            table = self.tables[name]
            if table.rows:
                job.append((name, table.columns, "".join(map(copy_line, table.rows))))
                table.written += len(table.rows)
                table.rows.clear()
        self.loader.put(job)

    @property
    def total(self) -> int:
        return sum(t.written for t in self.tables.values())


class Codes:
    """Unique, checksum-valid identity codes in the temporary range (never a real person's)."""

    def __init__(self, rng: random.Random, today: dt.date) -> None:
        from plan_service.participants.identity_codes import temporary_identity_code

        self.rng = rng
        self.today = today
        self.used: dict[dt.date, int] = defaultdict(int)
        self.make = temporary_identity_code

    def new(self, min_age: int, max_age: int) -> tuple[str, dt.date]:
        """A fresh code for someone aged between min_age and max_age years, and the birth date."""
        while True:
            days = self.rng.randint(min_age * 365 + 1, max_age * 365 + 360)
            born = self.today - dt.timedelta(days=days)
            n = self.used[born]
            if n < 100:
                self.used[born] = n + 1
                return self.make(born, 900 + n), born


@dataclasses.dataclass
class Pro:
    """A generated professional: what the access log and the memberships need of them."""

    user_id: int
    id: uuid.UUID
    role: str
    sector: str
    org_id: uuid.UUID
    org_name: str
    username: str
    display: str
    unit: str
    hide: bool


class County:
    """Generates one county into the database Django is connected to."""

    def __init__(self, args: argparse.Namespace) -> None:
        from django.conf import settings
        from django.contrib.auth.hashers import make_password
        from django.contrib.auth.models import Permission
        from django.contrib.contenttypes.models import ContentType

        from plan_service import policy
        from plan_service.plans.models import Plan

        self.args = args
        self.rng = random.Random(args.seed)  # noqa: S311 (data, not secrets)
        self.now = dt.datetime.now(UTC).replace(microsecond=0)
        self.codes = Codes(self.rng, self.now.date())
        plan_type = ContentType.objects.get_for_model(Plan)
        self.perm_ids = {
            action: Permission.objects.get(content_type=plan_type, codename=f"{action}_plan").pk
            for action in policy.Action
        }
        self.role_actions = {role: sorted(acts) for role, acts in policy.ROLE_ACTIONS.items()}
        # One PBKDF2 hash shared by every generated account: hashing 50,000 passwords would take
        # hours and tests nothing. Tokens for the load come from token_issue in run.py.
        self.password_hash = make_password(settings.DEMO_PASSWORD)
        self.chains = max(1, settings.AUDIT_CHAINS)
        self.pros: dict[str, list[Pro]] = defaultdict(list)
        self.pro_by_user: dict[int, Pro] = {}
        self.orgs: list[tuple[uuid.UUID, str, str]] = []
        self.next_user_id = 1
        self.accesses: list[tuple[Any, ...]] = []
        self.actor_info: dict[int, tuple[Any, ...]] = {}
        self.stats: dict[str, int] = defaultdict(int)
        self._display: dict[int, str] = {}
        self._family_rows = 0

    #
    # Phase 1: registry
    #

    def registry(self, w: Writer) -> None:
        """Organisations, professionals sized so each is in about N plans, and auditors."""
        from plan_service.participants.models import (
            ROLE_SECTOR,
            Organization,
            Professional,
        )

        n = self.args.families
        county = (uuid.uuid4(), "Aurinkolaakson hyvinvointialue", "social")
        schools = [
            (uuid.uuid4(), f"Kunta {k + 1}, kasvatus ja opetus", "education")
            for k in range(max(2, n // 2500))
        ]
        self.orgs = [county, *schools]
        orgs = w.table(Organization, defaults=self._stamp(None, self.now))
        for k, (oid, name, sector) in enumerate(self.orgs):
            orgs.add(
                {"id": oid, "name": name, "oid": f"1.2.246.10.{9000000 + k}.10.0", "sector": sector}
            )
        lead_total = sum(wt for _, wt in LEAD_ROLES)
        member_total = sum(wt for _, wt in MEMBER_ROLES)
        avg_members = sum(c * wt for c, wt in zip(*MEMBER_COUNT, strict=True)) / sum(
            MEMBER_COUNT[1]
        )
        expected: dict[str, float] = defaultdict(float)
        for role, wt in LEAD_ROLES:
            expected[role] += n * wt / lead_total
        for role, wt in MEMBER_ROLES:
            expected[role] += n * avg_members * wt / member_total
        users = self._users_table(w)
        pros = w.table(Professional, defaults=self._stamp(None, self.now))
        hpros = self._history_table(w, Professional)
        for role, count in sorted(expected.items()):
            pool = max(1, round(count / self.args.plans_per_professional))
            sector = ROLE_SECTOR[role]
            for i in range(pool):
                org = county if sector != "education" else schools[i % len(schools)]
                self._professional(users, pros, hpros, role, sector, org, i)
        for k, org in enumerate(self.orgs):
            self._professional(users, pros, hpros, "auditor", "", org, k)

    def _professional(
        self, users: Table, pros: Table, hpros: Table, role: str, sector: str, org: tuple, i: int
    ) -> None:
        user_id = self._user(users, f"{role}_{i}", self.rng.choice(GIVEN), self.rng.choice(FAMILY))
        pro = Pro(
            user_id=user_id,
            id=uuid.uuid4(),
            role=role,
            sector=sector,
            org_id=org[0],
            org_name=org[1],
            username=f"{role}_{i}",
            display="",
            unit=f"{role.replace('_', ' ').title()} {1 + i % 7}",
            hide=self.rng.random() < 0.03,
        )
        pro.display = self._display[user_id]
        row = {
            "id": pro.id,
            "user_id": user_id,
            "organization_id": org[0],
            "role": role,
            "unit": pro.unit,
            "hide_name_from_family": pro.hide,
            **self._stamp(None, self.now),
        }
        pros.add(row)
        hpros.add(self._history(row, self.now, "+", None, None))
        self.pros[role].append(pro)
        self.pro_by_user[user_id] = pro
        self.actor_info[user_id] = (
            pro.username,
            pro.display,
            pro.unit,
            pro.hide,
            "professional",
            role,
            pro.org_id,
            pro.org_name,
        )

    def _users_table(self, w: Writer) -> Table:
        from django.contrib.auth import get_user_model

        if w.tables.get("auth_user"):
            return w.tables["auth_user"]
        return w.table(
            get_user_model(),
            defaults={
                "password": self.password_hash,
                "is_superuser": False,
                "email": "",
                "is_staff": False,
                "is_active": True,
                "date_joined": self.now,
            },
        )

    def _user(self, users: Table, username: str, first: str, last: str) -> int:
        user_id = self.next_user_id
        self.next_user_id += 1
        users.add({"id": user_id, "username": username, "first_name": first, "last_name": last})
        self._display[user_id] = f"{first} {last}"
        return user_id

    @staticmethod
    def _stamp(user_id: int | None, at: dt.datetime) -> dict[str, Any]:
        return {
            "created_at": at,
            "updated_at": at,
            "created_by_id": user_id,
            "updated_by_id": user_id,
        }

    def _history_table(self, w: Writer, model: Any) -> Table:
        return w.table(model.history.model, omit=("history_id",))

    @staticmethod
    def _history(
        row: dict[str, Any], at: dt.datetime, kind: str, user_id: int | None, reason: str | None
    ) -> dict[str, Any]:
        return {
            **row,
            "history_date": at,
            "history_type": kind,
            "history_user_id": user_id,
            "history_change_reason": reason,
        }

    #
    # Phase 2: the core, through the services
    #

    def core(self, count: int) -> None:
        """`count` families built through the service's write paths (real history and log)."""
        from django.contrib.auth import get_user_model
        from django.contrib.auth.models import AbstractBaseUser

        from plan_service.consent.services import consent_create
        from plan_service.participants.models import Person, Professional
        from plan_service.participants.services import family_create, person_link_account
        from plan_service.plans import services
        from plan_service.plans.models import Action, Comment, Goal, Need

        user_model = get_user_model()
        by_role = {
            p.role: p for p in Professional.objects.select_related("user").order_by("user_id")
        }
        for i in range(count):
            lead = by_role["public_health_nurse" if i % 2 else "child_protection_social_worker"]
            lead_user: AbstractBaseUser = lead.user
            name = self.rng.choice(FAMILY)
            members: list[dict[str, Any]] = []
            for _k in range(3):
                code, _ = self.codes.new(2, 15)
                members.append(
                    {
                        "kind": "child",
                        "given_name": self.rng.choice(GIVEN),
                        "family_name": name,
                        "identity_code": code,
                    }
                )
            code, _ = self.codes.new(28, 50)
            members.append(
                {
                    "kind": "guardian",
                    "given_name": self.rng.choice(GIVEN),
                    "family_name": name,
                    "identity_code": code,
                    "guardian_of": [0, 1, 2],
                }
            )
            family = family_create(actor=lead_user, name=f"{name} (core {i})", members=members)
            plan = services.plan_create(
                actor=lead_user,
                family=family,
                statute=STATUTES[lead.sector],
                summary=words(self.rng, 25),
            )
            guardian = Person.objects.get(family=family, kind="guardian")
            guser = user_model(
                username=f"core_guardian_{i}",
                first_name=guardian.given_name,
                last_name=name,
                password=self.password_hash,
            )
            guser.save()
            person_link_account(person=guardian, user=guser)
            children = list(Person.objects.filter(family=family, kind="child"))
            consent = consent_create(
                actor=guser,
                family=family,
                grantor_id=None,
                subject_ids=[c.pk for c in children],
                categories=["general", "health", "education"],
                purpose="Yhteinen suunnitelma",
                recipient_sector="health",
            )
            services.membership_add(
                actor=lead_user,
                plan_id=plan.pk,
                professional=by_role["psychiatric_nurse"],
                role="member",
                basis="consent",
                consent_id=consent.pk,
            )
            services.membership_add(
                actor=lead_user,
                plan_id=plan.pk,
                professional=by_role["school_curator"],
                role="member",
                basis="statute",
                statute=STATUTES["education"],
            )
            services.plan_update(
                actor=lead_user, plan_id=plan.pk, expected_version=None, data={"status": "active"}
            )
            cat = "health" if lead.sector == "health" else "social"
            need = services.item_create(
                actor=lead_user,
                plan_id=plan.pk,
                model=Need,
                data={
                    "category": cat,
                    "title": words(self.rng, 4),
                    "description": words(self.rng, 12),
                },
            )
            for _ in range(3):
                goal = services.item_create(
                    actor=lead_user,
                    plan_id=plan.pk,
                    model=Goal,
                    data={
                        "category": cat,
                        "need": need.pk,
                        "title": words(self.rng, 4),
                        "desired_outcome": words(self.rng, 10),
                        "concerns": [children[0].pk],
                    },
                )
                services.item_create(
                    actor=lead_user,
                    plan_id=plan.pk,
                    model=Action,
                    data={
                        "category": cat,
                        "goal": goal.pk,
                        "description": words(self.rng, 8),
                        "responsible_kind": "member",
                        "responsible_user": lead_user.pk,
                    },
                )
                services.item_update(
                    actor=lead_user,
                    plan_id=plan.pk,
                    model=Goal,
                    item_id=goal.pk,
                    expected_version=1,
                    data={"achievement": "improving"},
                )
            services.item_create(
                actor=guser,
                plan_id=plan.pk,
                model=Comment,
                data={"kind": "guardian_view", "target_type": "plan", "text": words(self.rng, 12)},
            )
        self.stats["core families"] = count

    #
    # Phase 3: the county in bulk
    #

    def tables(self, w: Writer) -> dict[str, Table]:
        """Register every table the bulk phase writes, parents before children."""
        from plan_service.consent.models import Consent
        from plan_service.participants.models import Family, Guardianship, Person
        from plan_service.plans.models import (
            Acknowledgement,
            Action,
            Comment,
            Dissent,
            Goal,
            Membership,
            Need,
            Plan,
            PlanUserObjectPermission,
            Review,
        )

        t: dict[str, Table] = {}
        t["user"] = self._users_table(w)
        t["family"] = w.table(Family)
        t["hfamily"] = self._history_table(w, Family)
        t["person"] = w.table(Person)
        t["hperson"] = self._history_table(w, Person)
        t["guardianship"] = w.table(Guardianship, omit=("id",))
        t["consent"] = w.table(
            Consent,
            defaults={
                "withdrawn_at": None,
                "withdrawn_by_id": None,
                "withdrawal_reason": "",
                "method_detail": "",
                "recipient_organization_id": None,
            },
        )
        t["hconsent"] = self._history_table(w, Consent)
        t["consent_subjects"] = w.raw("consent_consent_subjects", ["consent_id", "person_id"])
        t["plan"] = w.table(Plan)
        t["hplan"] = self._history_table(w, Plan)
        t["membership"] = w.table(Membership)
        t["hmembership"] = self._history_table(w, Membership)
        t["perm"] = w.table(PlanUserObjectPermission, omit=("id",))
        item_defaults = {"restricted_by_id": None, "concerns": [], "version": 1}
        for key, model in (
            ("need", Need),
            ("goal", Goal),
            ("action", Action),
            ("review", Review),
            ("comment", Comment),
            ("dissent", Dissent),
            ("acknowledgement", Acknowledgement),
        ):
            defaults = dict(item_defaults)
            if key == "action":
                defaults.update(
                    responsible_user_id=None,
                    responsible_person_id=None,
                    responsible_organization_id=None,
                    goal_id=None,
                )
            t[key] = w.table(model, defaults=defaults)
            t["h" + key] = self._history_table(w, model)
        for key, table in t.items():  # history rows default as their rows do
            base = t.get(key[1:]) if key.startswith("h") else None
            if base is not None:
                table.defaults.update(
                    {c: v for c, v in base.defaults.items() if c in table.defaults}
                )
        return t

    def family(self, t: dict[str, Table], index: int) -> None:
        """One family with its plan, team, items, histories and its accesses (for phase 4)."""
        rng = self.rng
        now = self.now
        size = rng.choices(SIZE_CLASSES, weights=[c[1] for c in SIZE_CLASSES])[0]
        n_children = 3 if size[0] == "typical" else rng.choices([1, 2, 3, 4], [35, 35, 20, 10])[0]
        n_guardians = rng.choices([1, 2], [30, 70])[0]
        surname = rng.choice(FAMILY)
        t0 = now - dt.timedelta(days=rng.uniform(20, 730))
        span = (now - t0).total_seconds()

        def at(lo: float, hi: float) -> dt.datetime:
            """A moment between fractions lo and hi of the plan's life so far."""
            return t0 + dt.timedelta(seconds=span * rng.uniform(lo, hi))

        # The lead registers the family and opens the plan.
        lead_role = rng.choices([r for r, _ in LEAD_ROLES], [w for _, w in LEAD_ROLES])[0]
        lead = rng.choice(self.pros[lead_role])
        family_id = uuid.uuid4()
        frow = {"id": family_id, "name": f"{surname} {index}", **self._stamp(lead.user_id, t0)}
        t["family"].add(frow)
        t["hfamily"].add(self._history(frow, t0, "+", lead.user_id, None))
        children: list[dict[str, Any]] = []
        guardians: list[dict[str, Any]] = []
        for k in range(n_children + n_guardians):
            kind = "child" if k < n_children else "guardian"
            code, born = self.codes.new(1, 17) if kind == "child" else self.codes.new(24, 55)
            user_id = None
            age = (now.date() - born).days // 365
            if (kind == "guardian" and rng.random() < 0.6) or (
                kind == "child" and age >= 12 and rng.random() < 0.4
            ):
                user_id = self._user(t["user"], f"{kind}_{index}_{k}", rng.choice(GIVEN), surname)
            person = {
                "id": uuid.uuid4(),
                "family_id": family_id,
                "kind": kind,
                "given_name": rng.choice(GIVEN),
                "family_name": surname,
                "identity_code": code,
                "user_id": user_id,
                **self._stamp(lead.user_id, t0),
            }
            t["person"].add(person)
            hist = {k2: v for k2, v in person.items() if k2 != "identity_code"}
            t["hperson"].add(self._history(hist, t0, "+", lead.user_id, None))
            person["age"] = age
            (children if kind == "child" else guardians).append(person)
            if user_id is not None:
                self.actor_info[user_id] = (
                    f"{kind}_{index}_{k}",
                    self._display[user_id],
                    "",
                    False,
                    kind,
                    "",
                    None,
                    "",
                )
        for g in guardians:
            for c in children:
                t["guardianship"].add({"child_id": c["id"], "guardian_id": g["id"]})
        people = [p["id"] for p in children + guardians]
        mature = [c for c in children if c["age"] >= 12]

        # Plan and team: events bump the plan version in time order.
        plan_id = uuid.uuid4()
        status_final = rng.choices(["active", "on_hold", "draft"], [85, 10, 5])[0]
        plan = {
            "id": plan_id,
            "family_id": family_id,
            "status": "draft",
            "summary": words(rng, 30),
            "period_start": t0.date(),
            "period_end": None,
            "version": 1,
            **self._stamp(lead.user_id, t0),
        }
        events: list[tuple[dt.datetime, int, str, Any]] = []  # (when, order, kind, payload)
        seq = 0

        def event(when: dt.datetime, kind: str, payload: Any) -> None:
            nonlocal seq
            seq += 1
            events.append((when, seq, kind, payload))

        team: list[tuple[Pro, dict[str, Any]]] = []
        lead_m = self._membership(t, plan_id, lead, "lead", "statute", t0, None)
        team.append((lead, lead_m))
        chosen = {lead.user_id}
        n_members = rng.choices(*MEMBER_COUNT)[0]
        consents: dict[str, uuid.UUID] = {}
        for _ in range(n_members):
            role = rng.choices([r for r, _ in MEMBER_ROLES], [w for _, w in MEMBER_ROLES])[0]
            pro = rng.choice(self.pros[role])
            if pro.user_id in chosen:
                continue
            chosen.add(pro.user_id)
            when = at(0.0, 0.3)
            consent_id = None
            if rng.random() < 0.3 and guardians:
                consent_id = consents.get(pro.sector)
                if consent_id is None:
                    consent_id = self._consent(
                        t, family_id, guardians, children, pro.sector, t0, lead.user_id
                    )
                    consents[pro.sector] = consent_id
            basis = "consent" if consent_id else "statute"
            m = self._membership(t, plan_id, pro, "member", basis, when, consent_id)
            team.append((pro, m))
            event(when, "team", (lead.user_id, "team changed"))
        if rng.random() < 0.05 and guardians:  # a withdrawn consent nobody relies on any more
            self._consent(
                t,
                family_id,
                guardians,
                children,
                "education",
                t0,
                lead.user_id,
                withdrawn=at(0.3, 1.0),
            )
        family_users: list[tuple[dict[str, Any], dict[str, Any]]] = []
        for person in children + guardians:
            if person["user_id"] is None:
                continue
            m = self._family_membership(t, plan_id, person, t0 + dt.timedelta(minutes=5))
            family_users.append((person, m))
        if status_final != "draft":
            event(at(0.0, 0.05), "status", (lead.user_id, "active"))
        if status_final == "on_hold":
            event(at(0.7, 1.0), "status", (lead.user_id, "on_hold"))

        # Items.
        writers: dict[str, list[Pro]] = defaultdict(list)
        for pro, _ in team:
            writers[pro.sector].append(pro)

        def author(category: str) -> int:
            if category in ("social", "health", "education") and writers.get(category):
                return rng.choice(writers[category]).user_id
            return lead.user_id

        def category() -> str:
            cat = rng.choices(*CATEGORY_WEIGHTS)[0]
            return cat if cat in ("general", "family") or writers.get(cat) else "general"

        def concerns() -> list[uuid.UUID]:
            return [] if rng.random() < 0.5 else [rng.choice(children)["id"]]

        def restricted() -> uuid.UUID | None:
            return mature[0]["id"] if mature and rng.random() < 0.03 else None

        items: dict[str, list[dict[str, Any]]] = defaultdict(list)

        def later(row: dict[str, Any]) -> dt.datetime:
            """A moment after `row` was created."""
            return row["created_at"] + (now - row["created_at"]) * rng.uniform(0.05, 1.0)

        def item(kind: str, when: dt.datetime, by: int, fields: dict[str, Any]) -> dict[str, Any]:
            row = {
                "id": uuid.uuid4(),
                "plan_id": plan_id,
                "version": 1,
                "plan_version": 0,
                **self._stamp(by, when),
                **fields,
            }
            row.setdefault("category", "general")
            row.setdefault("concerns", [])
            row.setdefault("restricted_by_id", None)
            items[kind].append(row)
            event(when, "create", (kind, row, by))
            return row

        lo, hi = size[2]
        for _ in range(rng.randint(lo, hi)):
            cat = category()
            item(
                "need",
                at(0.02, 0.3),
                author(cat),
                {
                    "category": cat,
                    "concerns": concerns(),
                    "restricted_by_id": restricted(),
                    "title": words(rng, 4),
                    "description": words(rng, 20),
                },
            )
        lo, hi = size[3]
        for _ in range(rng.randint(lo, hi)):
            need = rng.choice(items["need"])
            when = need["created_at"] + (now - need["created_at"]) * rng.uniform(0.0, 0.3)
            goal = item(
                "goal",
                when,
                need["created_by_id"],
                {
                    "category": need["category"],
                    "concerns": need["concerns"],
                    "need_id": need["id"],
                    "restricted_by_id": need["restricted_by_id"],
                    "title": words(rng, 5),
                    "desired_outcome": words(rng, 15),
                    "evidence": words(rng, 10),
                    "target_date": (when + dt.timedelta(days=rng.randint(60, 365))).date(),
                    "achievement": "in-progress",
                },
            )
            for _u in range(rng.choices([0, 1, 2, 3], [30, 35, 25, 10])[0]):
                event(later(goal), "update", ("goal", goal, goal["created_by_id"]))
        lo, hi = size[4]
        members_users = [p.user_id for p, _ in team]
        for _ in range(rng.randint(lo, hi)):
            goal = rng.choice(items["goal"])
            when = goal["created_at"] + (now - goal["created_at"]) * rng.uniform(0.0, 0.3)
            fields: dict[str, Any] = {
                "category": goal["category"],
                "concerns": goal["concerns"],
                "goal_id": goal["id"],
                "restricted_by_id": goal["restricted_by_id"],
                "description": words(rng, 12),
                "due_date": (when + dt.timedelta(days=rng.randint(14, 180))).date(),
                "status": "not-started",
            }
            who = rng.random()
            if who < 0.6:
                fields.update(
                    responsible_kind="member", responsible_user_id=rng.choice(members_users)
                )
            elif who < 0.8 and guardians:
                fields.update(responsible_kind="guardian", responsible_person_id=guardians[0]["id"])
            elif who < 0.85:
                fields.update(responsible_kind="child", responsible_person_id=children[0]["id"])
            else:
                fields.update(
                    responsible_kind="organization", responsible_organization_id=lead.org_id
                )
            action = item("action", when, goal["created_by_id"], fields)
            for _u in range(rng.choices([0, 1, 2], [45, 40, 15])[0]):
                event(later(action), "update", ("action", action, action["created_by_id"]))
        lo, hi = size[6]
        for _ in range(rng.randint(lo, hi)):
            when = at(0.3, 1.0)
            goals = rng.sample(items["goal"], min(3, len(items["goal"])))
            item(
                "review",
                when,
                lead.user_id,
                {
                    "held_on": when.date(),
                    "participants": [lead.display, surname],
                    "notes": words(rng, 30),
                    "next_review_on": (when + dt.timedelta(days=90)).date(),
                    "progress": json.dumps(
                        [{"goal": str(g["id"]), "note": words(rng, 6)} for g in goals]
                    ),
                },
            )
        family_writers = [p["user_id"] for p, _ in family_users]
        lo, hi = size[5]
        targets = [("plan", None)] + [(k, r) for k in ("goal", "action") for r in items[k]]
        for _ in range(rng.randint(lo, hi)):
            kind, target = rng.choice(targets) if rng.random() < 0.6 else ("plan", None)
            family_voice = family_writers and rng.random() < 0.4
            by = rng.choice(family_writers) if family_voice else rng.choice(members_users)
            fields = {
                "kind": "guardian_view" if family_voice else "comment",
                "target_type": kind,
                "target_id": target["id"] if target else None,
                "text": words(rng, 15),
            }
            if target is not None:
                fields.update(
                    category=target["category"],
                    concerns=target["concerns"],
                    restricted_by_id=target["restricted_by_id"],
                )
            item("comment", later(target) if target else at(0.1, 1.0), by, fields)
        lo, hi = size[7]
        for _ in range(rng.randint(lo, hi) if family_writers else 0):
            goal = rng.choice(items["goal"])
            item(
                "dissent",
                later(goal),
                rng.choice(family_writers),
                {
                    "category": goal["category"],
                    "concerns": goal["concerns"],
                    "restricted_by_id": goal["restricted_by_id"],
                    "target_type": "goal",
                    "target_id": goal["id"],
                    "text": words(rng, 15),
                },
            )

        # Replay the events in time order: plan versions, item versions, history, access log.
        events.sort(key=itemgetter(0, 1))
        hplan, version = t["hplan"], 1
        hplan.add(self._history(dict(plan), t0, "+", lead.user_id, "plan created"))
        self._access(t0, lead, lead_m, plan, people, "create", "plan", plan_id, 1)
        acting = {p.user_id: (p, m) for p, m in team}
        acting.update({p["user_id"]: (None, m) for p, m in family_users})
        for when, _order, kind, payload in events:
            version += 1
            plan["version"] = version
            plan["updated_at"] = when
            if kind == "team":
                by, reason = payload
            elif kind == "status":
                by, plan["status"] = payload
                reason = "plan updated"
            else:
                model, row, by = payload
                if kind == "create":
                    row["plan_version"] = version
                    reason = f"{model} added"
                    t["h" + model].add(self._history(dict(row), when, "+", by, "created"))
                else:
                    self._change(model, row)
                    row["version"] += 1
                    row["updated_at"] = when
                    row["updated_by_id"] = by
                    row["plan_version"] = version
                    reason = f"{model} changed"
                    t["h" + model].add(self._history(dict(row), when, "~", by, "updated"))
                pro, m = acting.get(by, (lead, lead_m))
                self._access(
                    when,
                    pro,
                    m,
                    plan,
                    row["concerns"] or people,
                    "create" if kind == "create" else "update",
                    model,
                    row["id"],
                    row["version"],
                )
            plan["updated_by_id"] = by
            hplan.add(self._history(dict(plan), when, "~", by, reason))
        t["plan"].add(plan)
        for kind, rows in items.items():
            for row in rows:
                t[kind].add(row)
        # Acknowledgements: some guardians signed a version (no version bump).
        for person, _m in family_users:
            if person["kind"] == "guardian" and rng.random() < 0.5:
                signed = rng.randint(max(1, version - 10), version)
                ack = {
                    "id": uuid.uuid4(),
                    "plan_id": plan_id,
                    "category": "general",
                    "person_id": person["id"],
                    "acknowledged_version": signed,
                    "content_hash": hashlib.sha256(f"{plan_id}:{signed}".encode()).hexdigest(),
                    "decision": rng.choice(["agree", "agree", "disagree"]),
                    "comment": words(rng, 6),
                    "plan_version": signed,
                    **self._stamp(person["user_id"], plan["updated_at"]),
                }
                t["acknowledgement"].add(ack)
                t["hacknowledgement"].add(
                    self._history(ack, ack["created_at"], "+", person["user_id"], "acknowledged")
                )
        # Reads of the plan until the family's share of the log is reached.
        readers = [(p, m) for p, m in team] + [(None, m) for _, m in family_users]
        budget = self.args.log_rows_per_family - self._family_rows
        for _ in range(max(0, budget // max(1, len(people)))):
            pro, m = rng.choice(readers)
            action = rng.choices(["read", "search"], [75, 25])[0]
            self._access(
                at(0.0, 1.0), pro, m, plan, people, action, "plan", plan_id, rng.randint(1, version)
            )
        self._family_rows = 0
        self.stats["plans " + size[0]] += 1

    def _change(self, model: str, row: dict[str, Any]) -> None:
        if model == "goal":
            row["achievement"] = self.rng.choice(GOAL_ACHIEVEMENTS)
        elif model == "action":
            row["status"] = self.rng.choice(ACTION_STATUSES)

    def _membership(
        self,
        t: dict[str, Table],
        plan_id: uuid.UUID,
        pro: Pro,
        role: str,
        basis: str,
        when: dt.datetime,
        consent_id: uuid.UUID | None,
    ) -> dict[str, Any]:
        row = {
            "id": uuid.uuid4(),
            "plan_id": plan_id,
            "user_id": pro.user_id,
            "role": role,
            "professional_id": pro.id,
            "person_id": None,
            "basis": basis,
            "consent_id": consent_id,
            "statute": "" if consent_id else STATUTES[pro.sector],
            "valid_from": when,
            "valid_until": None,
            "ended_at": None,
            **self._stamp(pro.user_id, when),
        }
        self._grant(t, row)
        return row

    def _family_membership(
        self, t: dict[str, Table], plan_id: uuid.UUID, person: dict[str, Any], when: dt.datetime
    ) -> dict[str, Any]:
        row = {
            "id": uuid.uuid4(),
            "plan_id": plan_id,
            "user_id": person["user_id"],
            "role": "family",
            "professional_id": None,
            "person_id": person["id"],
            "basis": "family",
            "consent_id": None,
            "statute": "",
            "valid_from": when,
            "valid_until": None,
            "ended_at": None,
            **self._stamp(None, when),
        }
        self._grant(t, row)
        return row

    def _grant(self, t: dict[str, Table], row: dict[str, Any]) -> None:
        """The membership, its history row, and the guardian permissions of its plan role."""
        t["membership"].add(row)
        t["hmembership"].add(
            self._history(row, row["valid_from"], "+", row["created_by_id"], "member added")
        )
        for action in self.role_actions[row["role"]]:
            t["perm"].add(
                {
                    "content_object_id": row["plan_id"],
                    "permission_id": self.perm_ids[action],
                    "user_id": row["user_id"],
                }
            )

    def _consent(
        self,
        t: dict[str, Table],
        family_id: uuid.UUID,
        guardians: list[dict[str, Any]],
        children: list[dict[str, Any]],
        sector: str,
        when: dt.datetime,
        by: int,
        withdrawn: dt.datetime | None = None,
    ) -> uuid.UUID:
        grantor = guardians[0]
        cats = sorted(
            {
                "general",
                sector if sector in ("social", "health", "education") else "general",
                self.rng.choice(["health", "education", "social"]),
            }
        )
        row = {
            "id": uuid.uuid4(),
            "family_id": family_id,
            "grantor_id": grantor["id"],
            "recipient_sector": sector,
            "categories": cats,
            "purpose": "Yhteinen perhesuunnitelma",
            "valid_from": when,
            "valid_until": None,
            "status": "withdrawn" if withdrawn else "active",
            "method": "electronic" if grantor["user_id"] else "recorded",
            "method_detail": "" if grantor["user_id"] else "kirjattu tapaamisessa",
            "withdrawn_at": withdrawn,
            "withdrawn_by_id": grantor["user_id"] if withdrawn else None,
            **self._stamp(grantor["user_id"] or by, when),
        }
        t["consent"].add(row)
        t["hconsent"].add(self._history(row, when, "+", row["created_by_id"], "consent given"))
        for child in children:
            t["consent_subjects"].add({"consent_id": row["id"], "person_id": child["id"]})
        return row["id"]

    def _access(
        self,
        when: dt.datetime,
        pro: Pro | None,
        membership: dict[str, Any],
        plan: dict[str, Any],
        subjects: Sequence[uuid.UUID],
        action: str,
        object_type: str,
        object_id: uuid.UUID,
        object_version: int,
    ) -> None:
        """Remember one request's access (written in phase 4, in time order)."""
        basis = membership["basis"]
        if basis == "consent":
            legal = f"consent:{membership['consent_id']}"
        elif basis == "statute":
            legal = f"statute:{membership['statute']}"
        else:
            legal = "family"
        if action == "search":
            legal = "care-team membership"
        self.accesses.append(
            (
                when,
                uuid.uuid4().hex,
                action,
                membership["user_id"],
                membership["role"] if action != "search" else "",
                tuple(subjects),
                plan["family_id"],
                plan["id"],
                object_type,
                str(object_id),
                object_version,
                legal,
                membership["consent_id"] if action != "search" else None,
            )
        )
        self._family_rows += len(subjects)

    #
    # Phase 4: the access log
    #

    def access_log(self, loader: Loader, chunk: int = 100_000) -> int:
        """Write every remembered access, one row per subject, continuing the hash chains.

        Rows of one actor in one plan share all but ten hashed columns, so the canonical JSON
        (sorted keys, as `plan_service.audit.chain.canonical` renders it) is rendered once per
        such context with placeholders, and each row costs a few joins and one SHA-256. Every
        50,000th row (and the first few) is re-hashed by `chain.row_hash` itself.
        """
        from plan_service.audit import chain
        from plan_service.audit.models import AccessEvent

        heads: dict[int, tuple[int, str]] = {}
        for c in range(self.chains):
            head = (
                AccessEvent.objects.filter(chain=c)
                .order_by("-seq")
                .values_list("seq", "row_hash")
                .first()
            )
            heads[c] = head if head else (0, chain.GENESIS)
        self.accesses.sort(key=itemgetter(0))
        columns = [f.column for f in AccessEvent._meta.concrete_fields]
        slot = {name: columns.index(name) for name in (*VARYING, "prev_hash", "row_hash")}
        contexts: dict[tuple[Any, ...], tuple[list[str], list[str]]] = {}
        sha = hashlib.sha256
        bits = self.rng.getrandbits
        written = 0
        lines: list[str] = []
        for access in self.accesses:
            (
                when,
                request_id,
                action,
                user_id,
                plan_role,
                subjects,
                family_id,
                plan_id,
                object_type,
                object_id,
                object_version,
                legal,
                consent_id,
            ) = access
            key = (user_id, plan_role, family_id, plan_id, legal, consent_id)
            context = contexts.get(key)
            if context is None:
                context = contexts[key] = self._context(access, columns)
            segments, template = context
            c = zlib.crc32(request_id.encode()) % self.chains
            seq, prev = heads[c]
            recorded = _plain(when)
            cells = list(template)
            cells[slot["chain"]] = str(c)
            cells[slot["recorded_at"]] = recorded
            cells[slot["action"]] = action
            cells[slot["object_type"]] = object_type
            cells[slot["object_id"]] = object_id
            version = "null" if object_version is None else str(object_version)
            cells[slot["object_version"]] = "\\N" if object_version is None else version
            cells[slot["request_id"]] = request_id
            # The varying values in sorted-key order; all are plain ASCII needing no escapes.
            head_text = f'{segments[0]}"{action}"{segments[1]}{c}{segments[2]}'
            middle = (
                f'{segments[3]}"{object_id}"{segments[4]}"{object_type}"{segments[5]}{version}'
                f'{segments[6]}"{recorded}"{segments[7]}"{request_id}"{segments[8]}'
            )
            for subject in subjects:
                seq += 1
                h = f"{bits(128):032x}"  # a random id, formatted as str(uuid.UUID) does
                row_id = f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}"
                subject_text = str(subject)
                canonical = (
                    f'{head_text}"{row_id}"{middle}{seq}{segments[9]}"{subject_text}"{segments[10]}'
                )
                digest = sha((prev + canonical).encode()).hexdigest()
                if written % 50_000 < 2:  # the same hash the service computes, or stop here
                    self._check_hash(access, c, row_id, seq, subject, prev, digest)
                cells[slot["id"]] = row_id
                cells[slot["seq"]] = str(seq)
                cells[slot["subject_id"]] = subject_text
                cells[slot["prev_hash"]] = prev
                cells[slot["row_hash"]] = digest
                lines.append("\t".join(cells) + "\n")
                prev = digest
                written += 1
            heads[c] = (seq, prev)
            if len(lines) >= chunk:
                loader.put([("audit_accessevent", columns, "".join(lines))])
                lines = []
        if lines:
            loader.put([("audit_accessevent", columns, "".join(lines))])
        self.accesses.clear()
        return written

    def _values(self, access: tuple[Any, ...], chain_no: int) -> dict[str, Any]:
        """Every hashed column of an access's rows except id, seq and subject_id."""
        (when, request_id, action, user_id, plan_role, _subjects, family_id, plan_id,
         object_type, object_id, object_version, legal, consent_id) = access  # fmt: skip
        info = self.actor_info[user_id]
        return {
            "chain": chain_no,
            "recorded_at": when,
            "action": action,
            "outcome": "success",
            "outcome_code": None,
            "actor_user_id": user_id,
            "actor_username": info[0],
            "actor_display": info[1],
            "actor_unit": info[2],
            "actor_hide_name": info[3],
            "actor_kind": info[4],
            "actor_role": info[5],
            "actor_plan_role": plan_role,
            "actor_organization_id": info[6],
            "actor_organization_name": info[7],
            "family_id": family_id,
            "plan_id": plan_id,
            "object_type": object_type,
            "object_id": object_id,
            "object_version": object_version,
            "purpose": "care",
            "legal_basis": legal,
            "consent_id": consent_id,
            "query": None,
            "result_count": None,
            "request_id": request_id,
            "client_ip": "192.0.2.10",
            "user_agent": "Mozilla/5.0 (county benchmark)",
        }

    def _context(self, access: tuple[Any, ...], columns: list[str]) -> tuple[list[str], list[str]]:
        """Canonical-JSON segments around the VARYING values, and a COPY row template."""
        from plan_service.audit.models import AccessEvent

        values = self._values(access, 0)
        if set(values) | {"id", "seq", "subject_id"} != set(AccessEvent.HASHED_FIELDS) - set(
            AccessEvent.HASHED_WHEN_SET
        ):
            raise SystemExit("AccessEvent.HASHED_FIELDS changed; update benchmarks/generate.py")
        plain = {k: str(v) if isinstance(v, uuid.UUID) else v for k, v in values.items()}
        plain.update({k: f"@{k}@" for k in VARYING})
        text = json.dumps(plain, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
        segments = []
        for name in VARYING:  # already in sorted order, as json.dumps wrote them
            before, text = text.split(f'"@{name}@"', 1)
            segments.append(before)
        segments.append(text)
        template = copy_line(values.get(col) for col in columns)[:-1].split("\t")
        return segments, template

    def _check_hash(
        self,
        access: tuple[Any, ...],
        chain_no: int,
        row_id: str,
        seq: int,
        subject: uuid.UUID,
        prev: str,
        digest: str,
    ) -> None:
        from plan_service.audit import chain
        from plan_service.audit.models import AccessEvent

        row = AccessEvent(
            **self._values(access, chain_no), id=uuid.UUID(row_id), seq=seq, subject_id=subject
        )
        if chain.row_hash(prev, row) != digest:
            raise SystemExit("generated access-log hash differs from plan_service.audit.chain")

    #
    # Phase 5: checks
    #

    def check(self, verify: str) -> dict[str, Any]:
        """Invariants the service relies on; raises SystemExit when one fails."""
        from django.contrib.auth import get_user_model
        from django.db import connection

        from plan_service import policy
        from plan_service.audit import chain
        from plan_service.audit.models import AccessEvent

        out: dict[str, Any] = {}
        role_perm = [
            (role, self.perm_ids[a]) for role, acts in self.role_actions.items() for a in acts
        ]
        values = ", ".join(f"('{r}', {p})" for r, p in role_perm)
        with connection.cursor() as cur:
            cur.execute(
                f"""
                SELECT count(*) FROM plans_membership m
                JOIN (VALUES {values}) AS rp(role, perm) ON rp.role = m.role
                WHERE m.ended_at IS NULL AND NOT EXISTS (
                    SELECT 1 FROM plans_planuserobjectpermission p
                    WHERE p.user_id = m.user_id AND p.content_object_id = m.plan_id
                      AND p.permission_id = rp.perm)
                """  # noqa: S608 (values are our own integers and role names)
            )
            missing = cur.fetchone()[0]
        out["memberships missing a permission row"] = missing
        if missing:
            raise SystemExit(f"{missing} membership permissions missing")
        user_model = get_user_model()
        sample = list(
            user_model.objects.filter(professional__isnull=False, memberships__isnull=False)
            .distinct()
            .order_by("?")[:5]
        )
        for user in sample:
            visible = policy.plans_for(user).count()
            current = (
                user.memberships.filter(policy.current_membership_q())
                .values("plan")
                .distinct()
                .count()
            )
            if visible != current:
                raise SystemExit(f"{user}: plans_for {visible} != current memberships {current}")
        out["policy spot checks"] = len(sample)
        started = time.monotonic()
        if verify == "full":
            result = chain.verify(AccessEvent)
            out["chain verify (plan_service.audit.chain.verify)"] = result.as_dict()
            if not result.ok:
                raise SystemExit(f"access-log chain broken: {result.as_dict()}")
        elif verify == "sample":
            out["chain verify (links in SQL, hashes sampled)"] = self._sample_verify()
        out["chain verify seconds"] = round(time.monotonic() - started, 1)
        return out

    @staticmethod
    def _sample_verify(percent: float = 0.5) -> dict[str, int]:
        """Every row's seq and prev_hash link checked in SQL; `percent` of rows re-hashed."""
        from django.db import connection

        from plan_service.audit import chain
        from plan_service.audit.models import AccessEvent

        with connection.cursor() as cur:
            cur.execute(
                """
                SELECT count(*), count(*) FILTER (WHERE CASE WHEN prev_seq IS NULL
                    THEN seq <> 1 OR prev_hash <> %s
                    ELSE seq <> prev_seq + 1 OR prev_hash <> prev_row END)
                FROM (SELECT seq, prev_hash, lag(seq) OVER w AS prev_seq,
                             lag(row_hash) OVER w AS prev_row
                      FROM audit_accessevent WINDOW w AS (PARTITION BY chain ORDER BY seq)) x
                """,
                [chain.GENESIS],
            )
            rows, broken_links = cur.fetchone()
        sample = AccessEvent.objects.raw(
            f"SELECT * FROM audit_accessevent TABLESAMPLE BERNOULLI ({percent})"  # noqa: S608
        )
        rehashed = bad = 0
        for row in sample:
            rehashed += 1
            bad += chain.row_hash(row.prev_hash, row) != row.row_hash
        if broken_links or bad:
            raise SystemExit(f"access-log chain broken: {broken_links} links, {bad} hashes")
        return {
            "rows linked": rows,
            "broken links": broken_links,
            "rows re-hashed": rehashed,
            "bad hashes": bad,
        }


def _plain(value: object) -> object:
    """As `plan_service.audit.chain` renders a value for hashing."""
    if isinstance(value, uuid.UUID):
        return str(value)
    if isinstance(value, dt.datetime):
        return value.astimezone(UTC).isoformat(timespec="microseconds")
    return value


def recreate(database: str) -> None:
    """Drop and create the benchmark database (bench_* only), then migrate it."""
    import psycopg

    from benchmarks.common import PG_SERVER

    check_bench_name(database)
    with psycopg.connect(f"{PG_SERVER}/postgres", autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{database}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{database}"')


def reset_sequences(loader: Loader, tables: Iterable[str]) -> None:
    """Identity columns continue after the explicit ids COPY wrote."""
    for table in tables:
        loader.execute(
            f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), "  # noqa: S608
            f"(SELECT coalesce(max(id), 0) + 1 FROM {table}), false)"
        )


def defer_indexes(loader: Loader, tables: Sequence[str]) -> list[str]:
    """Drop the plain (non-unique, non-constraint) indexes of `tables`; return how to rebuild.

    Building an index once after the load is several times cheaper than maintaining it row by
    row. Primary keys, unique constraints and unique partial indexes stay, so every invariant
    they guard is still checked as rows arrive.
    """
    rows = loader.execute(
        """
        SELECT i.indexrelid::regclass::text, pg_get_indexdef(i.indexrelid)
        FROM pg_index i JOIN pg_class c ON c.oid = i.indrelid
        WHERE c.relname = ANY(%s) AND NOT i.indisunique AND NOT i.indisprimary
          AND NOT EXISTS (SELECT 1 FROM pg_constraint k WHERE k.conindid = i.indexrelid)
        """,
        [list(tables)],
    )
    for name, _definition in rows:
        loader.execute(f'DROP INDEX "{name}"')
    return [definition for _name, definition in rows]


def check_foreign_keys(loader: Loader, tables: Sequence[str]) -> int:
    """Count rows of `tables` whose foreign keys point nowhere (one anti-join per constraint)."""
    constraints = loader.execute(
        """
        SELECT c.conrelid::regclass::text, a.attname, c.confrelid::regclass::text, fa.attname
        FROM pg_constraint c
        JOIN pg_attribute a ON a.attrelid = c.conrelid AND a.attnum = c.conkey[1]
        JOIN pg_attribute fa ON fa.attrelid = c.confrelid AND fa.attnum = c.confkey[1]
        WHERE c.contype = 'f' AND cardinality(c.conkey) = 1
          AND c.conrelid::regclass::text = ANY(%s)
        """,
        [list(tables)],
    )
    orphans = 0
    for table, column, parent, key in constraints:
        rows = loader.execute(
            f'SELECT count(*) FROM "{table}" t WHERE t."{column}" IS NOT NULL AND NOT EXISTS '  # noqa: S608
            f'(SELECT 1 FROM "{parent}" p WHERE p."{key}" = t."{column}")'
        )
        if rows[0][0]:
            print(f"  {rows[0][0]} rows of {table}.{column} point nowhere in {parent}")
        orphans += rows[0][0]
    return orphans


def main(argv: list[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--families", type=int, default=20_000)
    parser.add_argument("--database", help="default: bench_<families/1000>k")
    parser.add_argument("--recreate", action="store_true", help="drop, create and migrate first")
    parser.add_argument("--core", type=int, default=5, help="families built through services")
    parser.add_argument("--plans-per-professional", type=int, default=200)
    parser.add_argument("--log-rows-per-family", type=int, default=150)
    parser.add_argument("--batch", type=int, default=500, help="families per COPY batch")
    parser.add_argument("--seed", type=int, default=20261125)
    parser.add_argument(
        "--verify",
        choices=["auto", "full", "sample", "none"],
        default="auto",
        help="chain check: full = chain.verify over every row; sample = every link in SQL and "
        "0.5%% of hashes recomputed; auto = full up to 2,000 families",
    )
    parser.add_argument(
        "--fk-during-load",
        action="store_true",
        help="check foreign keys row by row while loading (slower) instead of after it",
    )
    args = parser.parse_args(argv)
    database = args.database or default_database(args.families)
    started = time.monotonic()
    if args.recreate:
        recreate(database)
    setup_django(database)
    from django.core.management import call_command
    from django.db import connection

    from benchmarks.common import database_url

    call_command("migrate", interactive=False, verbosity=0)
    from plan_service.plans.models import Plan

    if Plan.objects.exists():
        raise SystemExit(f"{database} already holds plans; use --recreate")
    timings: dict[str, float] = {}
    county = County(args)
    loader = Loader(database_url(database), defer_foreign_keys=not args.fk_during_load)

    def lap(name: str, since: float) -> float:
        timings[name] = round(time.monotonic() - since, 1)
        print(f"  {name}: {timings[name]} s", flush=True)
        return time.monotonic()

    mark = time.monotonic()
    writer = Writer(loader)
    county.registry(writer)
    writer.flush()
    reset_sequences(loader, ["auth_user"])
    mark = lap("registry", mark)
    core = min(args.core, args.families)
    county.core(core)
    mark = lap("core through services", mark)
    with connection.cursor() as cur:
        cur.execute("SELECT coalesce(max(id), 0) + 1 FROM auth_user")
        county.next_user_id = cur.fetchone()[0]
    writer = Writer(loader)
    tables = county.tables(writer)
    rebuild = defer_indexes(loader, [*writer.order, "audit_accessevent"])
    for start in range(core, args.families, args.batch):
        for index in range(start, min(args.families, start + args.batch)):
            county.family(tables, index)
        writer.flush()
        done = min(args.families, start + args.batch)
        rate = writer.total / max(0.001, time.monotonic() - mark)
        print(
            f"  families {done}/{args.families}: {writer.total} rows, {rate:,.0f} rows/s",
            flush=True,
        )
    loader.wait()
    bulk_rows = writer.total
    mark = lap("families in bulk", mark)
    log_rows = county.access_log(loader)
    loader.wait()
    mark = lap("access log", mark)
    for definition in rebuild:
        loader.execute(definition)
    mark = lap(f"rebuild {len(rebuild)} indexes", mark)
    reset_sequences(loader, ["auth_user"])
    loader.execute("ANALYZE")
    mark = lap("analyze", mark)
    orphans = check_foreign_keys(loader, writer.order)
    if orphans:
        raise SystemExit(f"{orphans} dangling foreign keys")
    loader.close()
    mark = lap("foreign-key check", mark)
    verify = args.verify
    if verify == "auto":
        verify = "full" if args.families <= 2000 else "sample"
    checks = county.check(verify)
    checks["dangling foreign keys"] = orphans
    lap("checks", mark)
    counts: dict[str, int] = {}
    with connection.cursor() as cur:
        for name in [*sorted(writer.tables), "audit_accessevent"]:
            cur.execute(f'SELECT count(*) FROM "{name}"')  # noqa: S608
            counts[name] = cur.fetchone()[0]
    total = time.monotonic() - started
    load_seconds = sum(timings.get(k, 0) for k in ("families in bulk", "access log"))
    summary = {
        "database": database,
        "families": args.families,
        "seconds": round(total, 1),
        "bulk rows": bulk_rows + log_rows,
        "bulk rows per second": round((bulk_rows + log_rows) / max(0.001, load_seconds)),
        "timings": timings,
        "plans by size": {k: v for k, v in county.stats.items() if k.startswith("plans")},
        "rows": counts,
        "checks": checks,
    }
    print(json.dumps(summary, indent=2, default=str))
    return summary


if __name__ == "__main__":
    main()
