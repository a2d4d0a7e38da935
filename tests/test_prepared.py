"""Statements compiled once and run again with new values (plan_service/prepared.py).

The access statement every plan request runs is compiled once per shape; these tests hold the
prepared run to the ORM's own answer for the same values (including values that decide the
answer: the time a consent ends at, a guardian's restriction date), and the template builder to
its refusals.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import uuid

import pytest
from django.contrib.auth import get_user_model
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from plan_service import policy, prepared
from plan_service.consent.services import consent_create
from plan_service.participants.models import Guardianship, Person
from tests import factories

pytestmark = pytest.mark.django_db


def _values(user, plan, now, today):
    professional = policy.professional_of(user)
    organization, sector = policy._recipients_of(professional) if professional else (None, None)
    return {
        "plan": plan.pk,
        "user": user.pk,
        "now": now,
        "today": today,
        "professional": professional is not None,
        "organization": organization,
        "sector": sector,
    }


def _prepared(values):
    slots = {
        "plan": prepared.Slot.uuid(1),
        "user": prepared.Slot.integer(1),
        "now": prepared.Slot.moment(1),
        "today": prepared.Slot.day(1),
    }
    shape = ("test", values["professional"], values["organization"] is not None)
    filled = {k: values[k] for k in slots}
    fixed = {"professional": values["professional"], "sector": values["sector"]}
    if values["organization"] is not None:
        slots["organization"] = prepared.Slot.uuid(2)
        filled["organization"] = values["organization"]
    shape += (values["sector"],)

    def build(**v):
        return policy._access_statement(
            organization=v.get("organization"),
            **fixed,
            **{k: v[k] for k in ("plan", "user", "now", "today")},
        )

    return prepared.rows(shape, build, slots, filled)


def _orm(values):
    return list(policy._access_statement(**values))


@pytest.fixture(autouse=True)
def _compiled_afresh():
    """Each test compiles its templates itself (a template compiled by an earlier test, or by
    the process a mutation run forks from, would hide a change to how it is built)."""
    prepared._templates.clear()
    yield
    prepared._templates.clear()


@pytest.fixture
def world():
    lead = factories.professional()
    fam = factories.family(children=2, guardians=2)
    plan = factories.plan(lead, fam)
    guardian_person = Person.objects.filter(family=fam, kind="guardian").first()
    guardian = factories.link(guardian_person)
    nurse = factories.professional(
        role="public_health_nurse", org=factories.organization(sector="health")
    )
    consent = consent_create(
        actor=guardian,
        family=fam,
        grantor_id=None,
        subject_ids=[Person.objects.filter(family=fam, kind="child").first().pk],
        categories=["general", "health"],
        purpose="care",
        recipient_sector="health",
        valid_until=timezone.now() + dt.timedelta(days=3),
    )
    factories.add_member(plan, lead, nurse, basis="consent", consent_id=consent.pk, statute="")
    child = Person.objects.filter(family=fam, kind="child").last()
    Guardianship.objects.filter(guardian=guardian_person, child=child).update(
        restricted_until=timezone.localdate() + dt.timedelta(days=2)
    )
    return {"plan": plan, "lead": lead.user, "nurse": nurse.user, "guardian": guardian}


@pytest.mark.parametrize("who", ["lead", "nurse", "guardian"])
def test_a_prepared_run_answers_what_the_orm_answers_for_the_same_values(world, who):
    user = get_user_model().objects.get(pk=world[who].pk)
    now = timezone.now()
    # Today, after the consent and the restriction have ended, and before the membership began.
    moments = [now, now + dt.timedelta(days=5), now - dt.timedelta(days=400)]
    for moment in moments:
        values = _values(user, world["plan"], moment, moment.date())
        assert _prepared(values) == _orm(values)
    # The answers differ between those moments (the slots carry the values, not the template).
    answers = [_prepared(_values(user, world["plan"], m, m.date())) for m in moments]
    assert answers[0] != answers[2]
    if who != "lead":
        assert answers[0] != answers[1]


def test_plan_access_for_decides_as_plan_access_does(world):
    for who in ("lead", "nurse", "guardian"):
        user = get_user_model().objects.get(pk=world[who].pk)
        fast = policy.plan_access_for(user, world["plan"].pk)
        slow = policy.plan_access(user, world["plan"])
        assert fast is not None
        assert slow is not None
        assert (fast.kind, fast.actions, fast.reads, fast.writes, fast.hidden_children) == (
            slow.kind,
            slow.actions,
            slow.reads,
            slow.writes,
            slow.hidden_children,
        )
        assert fast.membership.pk == slow.membership.pk
        assert fast.plan.family.name == world["plan"].family.name
        assert {c.pk for c in fast.consents} == {c.pk for c in slow.consents}


def test_a_template_is_built_once_per_shape():
    calls = []

    def build(**v):
        calls.append(v)
        return get_user_model().objects.filter(pk=v["user"]).values("username")

    user = factories.user()
    slots = {"user": prepared.Slot.integer(7)}
    for _ in range(3):
        assert prepared.rows(("once",), build, slots, {"user": user.pk}) == [
            {"username": user.username}
        ]
    assert calls == [slots]


def test_a_template_refuses_a_slot_it_cannot_find_and_rows_without_names():
    users = get_user_model().objects
    with pytest.raises(ValueError, match="slots not found"):
        prepared.rows(
            ("missing",),
            lambda **v: users.filter(is_active=True).values("pk"),
            {"user": prepared.Slot.integer(8)},
            {"user": 1},
        )
    with pytest.raises(ValueError, match="values"):
        prepared.rows(
            ("models",),
            lambda **v: users.filter(pk=v["user"]),
            {"user": prepared.Slot.integer(9)},
            {"user": 1},
        )
    with pytest.raises(ValueError, match="share"):
        prepared.rows(
            ("shared",),
            lambda **v: users.filter(pk=v["a"]).values("pk"),
            {"a": prepared.Slot.integer(3), "b": prepared.Slot.integer(3)},
            {"a": 1, "b": 1},
        )


def test_a_token_is_loaded_as_select_related_loads_it(world):
    from plan_service.participants.authentication import _digest, token_get, token_issue
    from plan_service.participants.models import ApiToken

    for who in ("lead", "guardian"):
        key, _ = token_issue(user=world[who])
        fast = token_get(_digest(key))
        slow = ApiToken.objects.select_related(
            "user", "user__professional__organization", "user__person"
        ).get(key_hash=_digest(key))
        assert fast.pk == slow.pk
        assert fast.user.username == slow.user.username
        assert policy.professional_of(fast.user) == policy.professional_of(slow.user)
        assert policy.person_of(fast.user) == policy.person_of(slow.user)
        if who == "lead":
            assert fast.user.professional.organization.name == (
                slow.user.professional.organization.name
            )
        with CaptureQueriesContext(connection) as ctx:  # everything came with the token
            policy.professional_of(fast.user), policy.person_of(fast.user)
            getattr(policy.professional_of(fast.user), "organization", None)
        assert ctx.captured_queries == []
        ApiToken.objects.filter(pk=fast.pk).update(expires_at=timezone.now())
        assert token_get(_digest(key)) is None


def test_the_access_statement_is_prepared_on_the_server_and_answers_the_same(world):
    """After `prepare_threshold` runs on a connection psycopg prepares the statement and
    PostgreSQL stops planning it on every run (3.7 ms of planning against 0.8 ms of running on
    the benchmark county); a prepared, then generically planned, run must answer as the ORM."""
    threshold = connection.settings_dict["OPTIONS"]["prepare_threshold"]
    assert threshold == 5  # the default (DATABASE_PREPARE_THRESHOLD)
    user = get_user_model().objects.get(pk=world["nurse"].pk)
    now = timezone.now()
    moments = [now, now + dt.timedelta(days=5)]  # the consent in force, then ended
    for _ in range(threshold + 8):  # prepared, then past PostgreSQL's five custom plans
        for moment in moments:
            values = _values(user, world["plan"], moment, moment.date())
            assert _prepared(values) == _orm(values)
    # This test's templates of the access statement (`_prepared`; other tests in this process
    # compile other statements too, in any order): the nurse's ran prepared at least 16 times.
    runs = []
    with connection.cursor() as cursor:
        for key, template in prepared._templates.items():
            if key[0] != "test":
                continue
            cursor.execute(
                "SELECT generic_plans + custom_plans FROM pg_prepared_statements"
                " WHERE statement = %s",
                [_server_text(template.sql)],
            )
            runs += [row[0] for row in cursor.fetchall()]
    assert max(runs) >= 2 * 8


def _server_text(sql: str) -> str:
    """The statement as psycopg sends it to be prepared: `%s` placeholders numbered `$1`…"""
    parts = sql.split("%s")
    return parts[0] + "".join(f"${n}{part}" for n, part in enumerate(parts[1:], start=1))


def test_the_prepare_threshold_is_read_from_the_environment(monkeypatch):
    from django.core.exceptions import ImproperlyConfigured

    from plan_service.settings.environment import envthreshold

    for raw, expected in [(None, 5), ("", 5), ("0", 0), ("12", 12), ("off", None), ("None", None)]:
        if raw is None:
            monkeypatch.delenv("DATABASE_PREPARE_THRESHOLD", raising=False)
        else:
            monkeypatch.setenv("DATABASE_PREPARE_THRESHOLD", raw)
        assert envthreshold("DATABASE_PREPARE_THRESHOLD", 5) == expected
    for raw in ("-1", "five"):
        monkeypatch.setenv("DATABASE_PREPARE_THRESHOLD", raw)
        with pytest.raises(ImproperlyConfigured, match="DATABASE_PREPARE_THRESHOLD"):
            envthreshold("DATABASE_PREPARE_THRESHOLD", 5)


def test_the_read_models_lookup_is_prepared_on_the_server_too(world):
    """Every document and plan-detail read runs the read model's lookup; after the threshold
    it runs as a prepared statement, and the reads still answer (hits, same body)."""
    from tests.conftest import Api

    client = Api(world["lead"])
    url = f"/api/v1/plans/{world['plan'].pk}/document/"
    bodies = {client.get(url).content for _ in range(8)}
    assert len(bodies) == 1
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT count(*) FROM pg_prepared_statements"
            " WHERE statement LIKE '%%plans_documentstamp%%' AND generic_plans + custom_plans > 0"
        )
        assert cursor.fetchone()[0] == 1


def test_prepared_runs_are_logged_with_their_statement(world):
    """Django logs the text psycopg says it sent; for a run of a statement psycopg has prepared
    there is none. Such runs are logged with the statement as written, never as None (query
    logs, `CaptureQueriesContext` and the statement counts of the hot paths read them)."""
    from django.test.utils import CaptureQueriesContext

    threshold = connection.settings_dict["OPTIONS"]["prepare_threshold"]
    with CaptureQueriesContext(connection) as ctx:
        for n in range(threshold + 3):  # prepared after `threshold` runs
            with prepared.server_cursor() as cursor:
                cursor.execute("SELECT %s::int + 1 AS logged_statement", [n])
                assert cursor.fetchone() == (n + 1,)
    logged = [q["sql"] for q in ctx.captured_queries]
    assert len(logged) == threshold + 3
    assert all(sql is not None and "logged_statement" in sql for sql in logged), logged


def test_a_locked_item_is_found_as_the_orm_finds_it_for_every_kind_of_reader():
    """`item_get(lock=True)` and `readable_ids` run statements compiled once per shape (the
    item kind, the reader's kind and categories): for a professional, a statutory member
    reading fewer categories, a guardian and a child, each goal (other categories, hidden from
    guardians by one child or by the other) is found exactly when the ORM's rule finds it,
    loaded as the ORM loads it; and a second plan's item is not found through the first
    plan's access."""
    from django.http import Http404

    from plan_service.plans import selectors
    from plan_service.plans.models import Goal, Plan

    lead = factories.professional()
    fam = factories.family(children=2, guardians=1, child_age=14)
    plan = factories.plan(lead, fam)
    kids = list(Person.objects.filter(family=fam, kind="child").order_by("pk"))
    nurse = factories.professional(
        role="public_health_nurse", org=factories.organization(sector="health")
    )
    factories.add_member(plan, lead, nurse)
    readers = {
        "lead": lead.user,
        "nurse": nurse.user,
        "guardian": factories.link(Person.objects.get(family=fam, kind="guardian")),
        "child": factories.link(kids[0]),
        "other child": factories.link(kids[1]),
    }
    shapes = [
        ("general", None),
        ("social", None),
        ("health", None),
        ("family", None),
        ("general", kids[0]),
        ("general", kids[1]),
    ]
    goals = [
        Goal.objects.create(
            plan=plan, category=c, restricted_by=r, title=f"g{i}", created_by=lead.user
        )
        for i, (c, r) in enumerate(shapes)
    ]
    elsewhere = Goal.objects.create(
        plan=factories.plan(lead), category="general", title="other", created_by=lead.user
    )
    found_by_someone, hidden_from_someone = set(), set()
    statements: dict[object, set[str]] = {}
    for who, user in readers.items():
        access = policy.plan_access_for(user, plan.pk, lock=True)
        assert access is not None, who
        # Accesses of one shape compile to one statement, and different shapes to different
        # ones: the shape holds all the rule reads of an access besides its plan and person.
        standing = dataclasses.replace(access, plan=Plan(pk=uuid.UUID(int=1)), person_id=None)
        sql = str(policy.items_for(standing, Goal.objects.order_by()).query)
        statements.setdefault(policy.items_shape(access), set()).add(sql)
        assert not access.hidden_children  # so the compiled way is taken
        assert access.acting_for is None
        for goal in [*goals, elsewhere]:
            expected = selectors.item_list(access=access, model=Goal).filter(pk=goal.pk).first()
            try:
                got = selectors.item_get(access=access, model=Goal, item_id=goal.pk, lock=True)
            except Http404:
                got = None
            assert (got is None) == (expected is None), (who, goal.title)
            if got is None:
                hidden_from_someone.add(goal.title)
                continue
            found_by_someone.add(goal.title)
            fresh = Goal.objects.select_related("created_by").get(pk=goal.pk)
            fields = [f.attname for f in Goal._meta.concrete_fields]
            assert [getattr(got, f) for f in fields] == [getattr(fresh, f) for f in fields]
            assert got.created_by.username == lead.user.username
            assert not got._state.adding
        assert any(k[0] == "item_locked" and k[2] == access.kind for k in prepared._templates)
        readable = set(selectors.item_list(access=access, model=Goal).values_list("pk", flat=True))
        assert selectors.readable_ids(access=access, model=Goal) == readable
        assert any(k[0] == "readable_ids" and k[2] == access.kind for k in prepared._templates)
    # The readers differ: every shape of goal is found by someone and hidden from someone.
    assert found_by_someone == {g.title for g in goals}
    assert hidden_from_someone >= {g.title for g in goals} - {"g0"} | {"other"}
    assert all(len(sql) == 1 for sql in statements.values())
    assert len({next(iter(sql)) for sql in statements.values()}) == len(statements)
    # The two children share one compiled lock (their person is a value, not the shape), and
    # each found only the goal they restricted themselves (checked against the ORM above).
    locks = [k for k in prepared._templates if k[0] == "item_locked" and k[2] == "child"]
    assert len(locks) == 1
    sql = prepared._templates[locks[0]].sql
    assert 'FOR UPDATE OF "plans_goal"' in sql
    assert '"plans_goal"."restricted_by_id" = %s' in sql


def test_a_locking_template_refuses_to_run_outside_a_transaction():
    """Django refuses FOR UPDATE outside a transaction when it compiles the statement, which a
    template does once: a later run in autocommit would lock nothing, so it is refused too."""
    from django.db import transaction
    from django.db.transaction import TransactionManagementError

    from plan_service.plans.models import Plan
    from tests.harness.db_roles import in_own_connection

    def build(plan):
        return Plan.objects.select_for_update().filter(pk=plan).values("pk")

    slots, values = {"plan": prepared.Slot.uuid(1)}, {"plan": uuid.uuid4()}

    def compile_then_run_in_autocommit() -> list:
        with transaction.atomic():
            assert prepared.rows(("test-lock",), build, slots, values) == []
        return prepared.rows(("test-lock",), build, slots, values)

    with pytest.raises(TransactionManagementError):
        in_own_connection(compile_then_run_in_autocommit)  # a connection in autocommit


def _loaded(plan) -> tuple:
    """Every column of the plan and of its family, as loaded, and the list's length."""
    return (
        *(getattr(plan, f.attname) for f in plan._meta.concrete_fields),
        *(getattr(plan.family, f.attname) for f in plan.family._meta.concrete_fields),
        plan.n,
    )


def _orm_page(user, bottom: int, size: int) -> list[tuple]:
    from plan_service.plans.selectors import _length, plan_list

    window = plan_list(user=user).annotate(n=_length())[bottom : bottom + size]
    return [_loaded(p) for p in window]


def _compiled_page(user, bottom: int, size: int) -> list[tuple]:
    from plan_service.plans.selectors import PlanListFirstPage

    return [_loaded(p) for p in PlanListFirstPage(user, size).counted_page(bottom, size, "n")]


@pytest.mark.parametrize("who", ["lead", "nurse", "guardian"])
def test_the_plan_lists_compiled_first_page_is_the_orms(world, who, monkeypatch):
    """Every page size, a later page, and at a later moment (the nurse's consent and the
    guardian's restriction have ended by then: the moment is a slot, not compiled in)."""
    lead = get_user_model().objects.get(pk=world["lead"].pk)
    others = [factories.plan(lead.professional) for _ in range(3)]
    factories.add_member(others[0], lead.professional, world["nurse"].professional)
    user = get_user_model().objects.get(pk=world[who].pk)
    later = timezone.now() + dt.timedelta(days=5)
    for moment in (None, later):
        if moment is not None:
            monkeypatch.setattr(timezone, "now", lambda: later)
        for size in (1, 2, 50):
            assert _compiled_page(user, 0, size) == _orm_page(user, 0, size)
        assert _compiled_page(user, 1, 2) == _orm_page(user, 1, 2)
    assert _orm_page(user, 0, 50), "each reader sees at least one plan"
    if who == "nurse":
        assert len(_orm_page(user, 0, 50)) == 1  # after the consent ended: only the other


def test_the_plan_list_compiles_its_first_page_of_its_one_size_only(world):
    """Other sizes and later pages take the ORM's statement: a client choosing them cannot
    grow the compiled (or the server's prepared) statements."""
    from plan_service.plans.selectors import PlanListFirstPage

    for who in ("lead", "nurse", "lead"):
        PlanListFirstPage(world[who], 50).counted_page(0, 50, "n")
    PlanListFirstPage(world["lead"], 50).counted_page(0, 10, "n")
    PlanListFirstPage(world["lead"], 50).counted_page(50, 50, "n")
    assert [k for k in prepared._templates if k[0] == "plan_list_first_page"] == [
        ("plan_list_first_page", 50, "n")
    ]


def test_nobody_inactive_gets_a_compiled_plan_list(world):
    from plan_service.plans.selectors import PlanListFirstPage

    user = get_user_model().objects.get(pk=world["lead"].pk)
    assert PlanListFirstPage(user, 50).counted_page(0, 50, "n")
    user.is_active = False
    assert PlanListFirstPage(user, 50).counted_page(0, 50, "n") == []
    assert _orm_page(user, 0, 50) == []


def test_the_people_of_families_are_the_orms_in_the_registers_order():
    """`family_people` (one statement whatever the number of families, prepared on the server)
    answers each family's people as the ORM lists them, in the register's order."""
    from plan_service.participants.selectors import family_people

    families = [factories.family(children=n, guardians=2) for n in (0, 1, 3)]
    ids = [f.pk for f in families]
    # Names whose order is not the order the people were made in (nor their ids').
    for n, person in enumerate(Person.objects.filter(family_id__in=ids).order_by("created_at")):
        person.family_name = f"Sukunimi {9 - n % 3}"
        person.given_name = f"Etunimi {n % 2}"
        person.save(update_fields=["family_name", "given_name"])
    orm: dict = {}
    for person_id, family_id in Person.objects.filter(family_id__in=ids).values_list(
        "id", "family_id"
    ):
        orm.setdefault(family_id, []).append(person_id)
    for _ in range(7):  # past psycopg's prepare threshold: the server's plan answers the same
        assert family_people(ids) == orm
    assert [len(orm[f]) for f in ids] == [2, 3, 5]
    assert family_people([ids[1], str(ids[1])]) == {ids[1]: orm[ids[1]]}
    assert family_people([]) == {}
    assert family_people([uuid.uuid4()]) == {}
