"""Differential noninterference for the pages: two worlds that differ only in what a reader may
not see must give that reader byte-identical pages.

Each world is built through the services at one frozen moment with deterministic ids (the same
sequence for the visible part of both worlds; the hidden additions come last), rendered for the
reader, then rolled back. Only CSRF tokens (random per response) are normalised; everything
else, including dates, ids, counts and versions shown, must match byte for byte.

(tests/harness has the API's differential harness; the integrator connects the two.)
"""

from __future__ import annotations

import datetime as dt
import itertools
import re
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import pytest
import time_machine
from django.apps import apps
from django.contrib.auth import get_user_model
from django.db import transaction

from plan_service.consent.services import consent_create
from plan_service.participants import assessments
from plan_service.participants.identity_codes import temporary_identity_code
from plan_service.participants.models import Family, Organization, Person, Professional, Recipient
from plan_service.plans import services
from plan_service.plans.models import Comment, Dissent, Goal, Need, Review
from tests.web.helpers import page_client

pytestmark = pytest.mark.django_db

MOMENT = dt.datetime(2026, 3, 2, 9, 30, tzinfo=dt.UTC)
CSRF = re.compile(rb'(name="csrfmiddlewaretoken" value=")[^"]+(")')


@contextmanager
def deterministic_ids() -> Iterator[None]:
    """Every new row with a UUID key gets the next id of one counter (reset per world)."""
    counter = itertools.count(1)
    fields = [
        m._meta.pk
        for m in apps.get_models()
        if m._meta.pk is not None and m._meta.pk.get_internal_type() == "UUIDField"
    ]
    saved = [(f, f.__dict__.get("_get_default")) for f in fields]
    for f in fields:
        f._get_default = lambda: uuid.UUID(int=next(counter))
    try:
        yield
    finally:
        for f, old in saved:
            if old is None:
                f.__dict__.pop("_get_default", None)
            else:
                f._get_default = old


def _user(username: str, first: str, last: str) -> Any:
    return get_user_model().objects.create_user(
        username=username, password="test-password-123", first_name=first, last_name=last
    )


def build(hidden: Callable[[dict[str, Any]], None] | None) -> dict[str, Any]:
    """The family's world; `hidden` adds what the reader under test may not see."""
    org = Organization.objects.create(name="Welfare area", oid="1.2.246.10.99.1", sector="social")
    w: dict[str, Any] = {}
    for key, role in (("lead", "child_protection_social_worker"), ("nurse", "public_health_nurse")):
        u = _user(key, key.title(), "Pro")
        w[key] = Professional.objects.create(user=u, organization=org, role=role, unit="Unit")
    family = Family.objects.create(name="Testers", created_by=w["lead"].user)
    people = {}
    for key, kind, code in (
        ("child1", "child", temporary_identity_code(dt.date(2013, 1, 1), 901)),
        ("child2", "child", temporary_identity_code(dt.date(2014, 2, 2), 902)),
        ("g1", "guardian", temporary_identity_code(dt.date(1980, 3, 3), 903)),
    ):
        people[key] = Person.objects.create(
            family=family,
            kind=kind,
            given_name=key.title(),
            family_name="Tester",
            identity_code=code,
        )
    for child in ("child1", "child2"):
        people[child].guardianships.create(guardian=people["g1"])
    plan = services.plan_create(actor=w["lead"].user, family=family, statute="LSL §30")
    services.plan_update(
        actor=w["lead"].user, plan_id=plan.pk, expected_version=None, data={"status": "active"}
    )
    services.membership_add(
        actor=w["lead"].user,
        plan_id=plan.pk,
        professional=w["nurse"],
        role="member",
        basis="statute",
        statute="THL §15",
    )
    from plan_service.participants.services import person_link_account

    for key in ("child1", "child2", "g1"):
        u = _user(f"u-{key}", key.title(), "Tester")
        person_link_account(person=people[key], user=u)
        w[key] = u
    services.family_sync(plan=plan, actor=w["lead"].user)
    lead = w["lead"].user
    need = services.item_create(
        actor=lead,
        plan_id=plan.pk,
        model=Need,
        data={"category": "general", "title": "Visible need", "concerns": [people["child1"].pk]},
    )
    goal = services.item_create(
        actor=lead,
        plan_id=plan.pk,
        model=Goal,
        data={
            "category": "general",
            "title": "Visible goal",
            "desired_outcome": "o",
            "need": need.pk,
        },
    )
    services.item_create(
        actor=w["g1"],
        plan_id=plan.pk,
        model=Comment,
        data={"target_type": "goal", "target_id": goal.pk, "text": "visible words"},
    )
    consent_create(
        actor=w["g1"],
        family=family,
        grantor_id=None,
        subject_ids=[people["child1"].pk],
        categories=["general"],
        purpose="visible consent",
        recipient_sector="education",
    )
    services.acknowledgement_create(
        actor=w["g1"],
        plan_id=plan.pk,
        version=type(plan).objects.get(pk=plan.pk).version,
        decision="agree",
    )
    # Export recipients (web/sharing.py): the nurse's own organisation, and the health sector.
    Recipient.objects.create(
        code="welfare", name="Welfare area", kind="organization", sector="social", organization=org
    )
    Recipient.objects.create(
        code="health-sector", name="Health care", kind="sector", sector="health"
    )
    review = services.item_create(
        actor=lead,
        plan_id=plan.pk,
        model=Review,
        data={
            "category": "general",
            "held_on": dt.date(2026, 2, 20),
            "participants": ["Lead Pro"],
            "progress": [{"goal": str(goal.pk), "note": "visible progress"}],
        },
    )
    w.update(plan=plan, people=people, goal=goal, need=need, review=review)
    if hidden is not None:
        hidden(w)
    return w


def hidden_by_child1(w: dict[str, Any]) -> None:
    """Child 1, judged mature, hides an item about them: guardians and siblings do not see it,
    nor what is said about it, nor its later changes."""
    lead, plan, child1 = w["lead"].user, w["plan"], w["people"]["child1"]
    assessments.assessment_record(actor=lead, plan_id=plan.pk, child_id=child1.pk, code=3)
    secret = services.item_create(
        actor=lead,
        plan_id=plan.pk,
        model=Need,
        data={"category": "general", "title": "SECRET need", "concerns": [child1.pk]},
    )
    services.item_restrict(
        actor=w["child1"],
        plan_id=plan.pk,
        model=Need,
        item_id=secret.pk,
        child_id=child1.pk,
        expected_version=secret.version,
    )
    services.item_create(
        actor=lead,
        plan_id=plan.pk,
        model=Comment,
        data={"target_type": "need", "target_id": secret.pk, "text": "SECRET comment"},
    )
    services.item_create(
        actor=w["child1"],
        plan_id=plan.pk,
        model=Dissent,
        data={"target_type": "need", "target_id": secret.pk, "text": "SECRET dissent"},
    )
    services.item_update(
        actor=lead,
        plan_id=plan.pk,
        model=Need,
        item_id=secret.pk,
        expected_version=None,
        data={"description": "SECRET change"},
    )


def hidden_from_health(w: dict[str, Any]) -> None:
    """A child-protection (social) need, with talk about it: the nurse may not read social."""
    lead, plan = w["lead"].user, w["plan"]
    secret = services.item_create(
        actor=lead,
        plan_id=plan.pk,
        model=Need,
        data={"category": "social", "title": "SECRET social need"},
    )
    services.item_create(
        actor=w["g1"],
        plan_id=plan.pk,
        model=Dissent,
        data={"target_type": "need", "target_id": secret.pk, "text": "SECRET dissent"},
    )


def hidden_from_lead(w: dict[str, Any]) -> None:
    """The nurse's health need, a comment on it and a change to it: the (social) lead may not
    read health, so the lead's export preview and download for the health sector, which
    receives health, must not show it (they are cut to what the lead reads)."""
    nurse, plan = w["nurse"].user, w["plan"]
    secret = services.item_create(
        actor=nurse,
        plan_id=plan.pk,
        model=Need,
        data={"category": "health", "title": "SECRET health need"},
    )
    services.item_create(
        actor=w["g1"],
        plan_id=plan.pk,
        model=Comment,
        data={"target_type": "need", "target_id": secret.pk, "text": "SECRET comment"},
    )
    services.item_update(
        actor=nurse,
        plan_id=plan.pk,
        model=Need,
        item_id=secret.pk,
        expected_version=None,
        data={"description": "SECRET change"},
    )


def progress_hidden_from_health(w: dict[str, Any]) -> None:
    """A child-protection goal, and progress on it recorded in the visible review meeting:
    the nurse sees the review, never the goal nor its progress (nor that the review changed)."""
    lead, plan = w["lead"].user, w["plan"]
    secret = services.item_create(
        actor=lead,
        plan_id=plan.pk,
        model=Goal,
        data={"category": "social", "title": "SECRET goal", "desired_outcome": "SECRET"},
    )
    services.item_update(
        actor=lead,
        plan_id=plan.pk,
        model=Review,
        item_id=w["review"].pk,
        expected_version=None,
        data={
            "progress": [
                {"goal": str(w["goal"].pk), "note": "visible progress"},
                {"goal": str(secret.pk), "note": "SECRET progress", "achievement": "improving"},
            ]
        },
    )


def about_child1(w: dict[str, Any]) -> None:
    """The lead's work about child 1 (a new need, talk about it, a change to the visible need
    about child 1): a guardian acting for child 2 sees none of it."""
    lead, plan, child1 = w["lead"].user, w["plan"], w["people"]["child1"]
    secret = services.item_create(
        actor=lead,
        plan_id=plan.pk,
        model=Need,
        data={"category": "general", "title": "SECRET need of child 1", "concerns": [child1.pk]},
    )
    services.item_create(
        actor=lead,
        plan_id=plan.pk,
        model=Comment,
        data={"target_type": "need", "target_id": secret.pk, "text": "SECRET comment"},
    )
    services.item_update(
        actor=lead,
        plan_id=plan.pk,
        model=Need,
        item_id=w["need"].pk,
        expected_version=None,
        data={"description": "SECRET change"},
    )


def _reader(w: dict[str, Any], reader: str) -> tuple[Any, Any]:
    """The reader's user and the child they act for: "g1>child2" is the guardian acting for
    child 2 (a page session that chose the child on /auth/act-for/)."""
    who, _, child = reader.partition(">")
    user = w[who].user if who in ("lead", "nurse") else w[who]
    return user, (w["people"][child].pk if child else None)


def _restart_user_ids() -> None:
    """Users have integer keys from a sequence, which a rollback does not rewind: start each
    world's users from the same number, so a FHIR download (which names practitioners by
    their user id) is comparable between worlds. Rows from earlier worlds are rolled back, so
    the numbers are free again."""
    from django.db import connection
    from psycopg import sql

    table = get_user_model()._meta.db_table
    with connection.cursor() as cursor:
        cursor.execute("SELECT current_user")
        role = cursor.fetchone()[0]
        cursor.execute("SET LOCAL ROLE NONE")  # the owner's right to move a sequence
        try:
            cursor.execute(
                "SELECT setval(pg_get_serial_sequence(%s, 'id'), 900000000, false)", [table]
            )
        finally:
            cursor.execute(sql.SQL("SET LOCAL ROLE {}").format(sql.Identifier(role)))


def render(
    reader: str,
    hidden: Callable[[dict[str, Any]], None] | None,
    paths: list[str],
    lead_reads: tuple[str, ...] = (),
):
    """Build a world, let the lead read `lead_reads` through the API, render `paths` for
    `reader`, roll the world back; return the pages."""
    out = {}
    with time_machine.travel(MOMENT, tick=False), deterministic_ids():
        sid = transaction.savepoint()
        try:
            _restart_user_ids()
            w = build(hidden)
            lead = page_client(w["lead"].user)
            for path in lead_reads:
                assert lead.get(path.format(plan=w["plan"].pk)).status_code == 200
            user, acting_for = _reader(w, reader)
            client = page_client(user, acting_for=acting_for)
            for path in paths:
                response = client.get(
                    path.format(
                        plan=w["plan"].pk,
                        need=w["need"].pk,
                        goal=w["goal"].pk,
                        review=w["review"].pk,
                    )
                )
                assert response.status_code == 200, (path, response.status_code)
                out[path] = CSRF.sub(rb"\1CSRF\2", response.content)
        finally:
            transaction.savepoint_rollback(sid)
    return out


PLAN = "/plans/{plan}/"
#: The history pages and the team page (issue 17): a hidden change adds no version to the
#: timeline and changes no as-of or diff page (versions 1 to 5 exist for every reader here).
HISTORY = [
    PLAN + "history/",
    PLAN + "history/5/",
    PLAN + "history/diff/?from=1&to=5",
    PLAN + "history/diff/",
    PLAN + "team/",
]
#: The start page with each of its flags as a filter (issue 17).
START = ["/start/", "/start/?due=1", "/start/?unsigned=1", "/start/?new=1"]
SHARE = PLAN + "share/?recipient="
BUNDLE = PLAN + "share/bundle.json?recipient="
#: The team's editing forms (web/editing.py): what they offer (needs, goals, progress per
#: goal) and the item's version and last change are as the reader sees them.
EDIT_FORMS = [
    PLAN + "items/need/new/",
    PLAN + "items/goal/new/",
    PLAN + "items/action/new/",
    PLAN + "items/review/new/",
    PLAN + "items/need/{need}/edit/",
    PLAN + "items/goal/{goal}/edit/",
    PLAN + "items/review/{review}/edit/",
]
CASES = [
    ("g1", hidden_by_child1, [PLAN, PLAN + "consents/", "/notices/", *START, *HISTORY]),
    ("child2", hidden_by_child1, [PLAN, PLAN + "consents/", "/notices/", *START, *HISTORY]),
    ("nurse", hidden_from_health, [PLAN, "/notices/", *START, *HISTORY, *EDIT_FORMS]),
    ("nurse", progress_hidden_from_health, [PLAN, *EDIT_FORMS, *HISTORY]),
    # The team's pages (web/assessments.py, web/sharing.py): the nurse's export for her own
    # organisation, the lead's for the health sector (which receives what the lead may not read).
    (
        "nurse",
        hidden_from_health,
        [PLAN + "assessments/", PLAN + "share/", SHARE + "welfare", BUNDLE + "welfare"],
    ),
    (
        "lead",
        hidden_from_lead,
        [
            PLAN,
            PLAN + "assessments/",
            PLAN + "consents/",
            SHARE + "health-sector",
            BUNDLE + "health-sector",
            *START,
            *HISTORY,
        ],
    ),
    ("g1", hidden_from_health, []),  # control: the guardian does see social items (below)
    # The guardian acting for each child (issue 18): the other child's part stays hidden, and
    # so does what a child hid from the guardians.
    ("g1>child2", about_child1, [PLAN, PLAN + "consents/", "/notices/", *START, *HISTORY]),
    ("g1>child1", hidden_by_child1, [PLAN, PLAN + "consents/", "/notices/", *START, *HISTORY]),
]


@pytest.mark.parametrize(
    ("reader", "hidden", "paths"),
    [c for c in CASES if c[2]],
    ids=[f"{c[0]}-{c[1].__name__}" for c in CASES if c[2]],
)
def test_pages_look_the_same_whatever_the_reader_may_not_see(reader, hidden, paths):
    plain = render(reader, None, paths)
    with_hidden = render(reader, hidden, paths)
    for path in paths:
        assert b"Visible goal" in plain[path] or path != PLAN
        if path == "/notices/" and reader != "nurse":  # the visible goal made a version to sign
            assert b"New:" in plain[path]
        assert b"SECRET" not in with_hidden[path]
        assert plain[path] == with_hidden[path], _first_difference(plain[path], with_hidden[path])


def test_the_export_preview_differs_when_the_reader_may_read_the_difference():
    """The control for the export pages: the lead reads social items and the welfare
    recipient (social sector) receives them, so a new social need must change the preview."""
    paths = [SHARE + "welfare"]
    plain = render("lead", None, paths)
    with_social = render("lead", hidden_from_health, paths)
    assert b"SECRET social need" in with_social[paths[0]]
    assert plain[paths[0]] != with_social[paths[0]]


def test_the_harness_sees_a_difference_when_there_is_one():
    """The control: social items are the guardian's to read, so the pages must differ."""
    paths = [PLAN, PLAN + "history/"]
    plain = render("g1", None, paths)
    with_social = render("g1", hidden_from_health, paths)
    assert plain[PLAN] != with_social[PLAN]
    assert b"SECRET social need" in with_social[PLAN]
    # The history sees it too: the guardian's timeline has the social need's version.
    assert plain[PLAN + "history/"] != with_social[PLAN + "history/"]
    assert b"SECRET social need" in with_social[PLAN + "history/"]


def test_access_log_page_looks_the_same_whatever_the_reader_may_not_see(settings):
    """Hidden rows are left out and item lists are one row per read (audit.selectors).

    One log chain: with the clock stopped every row has the same time, and rows of equal time
    are ordered by chain, which a service call outside a request draws from a fresh uuid4 (the
    deterministic ids here then differ between the worlds). Real requests differ in time.
    """
    settings.AUDIT_CHAINS = 1
    paths = [PLAN + "access-log/"]
    # The lead's lists of needs and comments concern other people in the world with the
    # hidden need (one log row per person a list's results concern).
    lists = ("/api/v1/plans/{plan}/needs/", "/api/v1/plans/{plan}/comments/")
    a = render("g1", None, paths, lead_reads=lists)
    b = render("g1", hidden_by_child1, paths, lead_reads=lists)
    assert b"Search" in a[paths[0]] or b"Read" in a[paths[0]]
    assert a == b, _first_difference(a[paths[0]], b[paths[0]])


def test_access_log_page_of_a_guardian_acting_for_a_child_hides_the_other_childs_part(settings):
    """Acting for child 2: the lead's work on and reads of child 1's items leave no trace."""
    settings.AUDIT_CHAINS = 1
    paths = [PLAN + "access-log/"]
    reads = ("/api/v1/plans/{plan}/needs/",)
    a = render("g1>child2", None, paths, lead_reads=reads)
    b = render("g1>child2", about_child1, paths, lead_reads=reads)
    assert b"Search" in a[paths[0]] or b"Read" in a[paths[0]]
    assert a == b, _first_difference(a[paths[0]], b[paths[0]])
    # Not vacuous: as themselves the guardian sees the lead's work about child 1.
    c = render("g1", None, paths, lead_reads=reads)
    d = render("g1", about_child1, paths, lead_reads=reads)
    assert c != d


def _first_difference(a: bytes, b: bytes) -> str:
    index = next(
        (i for i, (x, y) in enumerate(zip(a, b, strict=False)) if x != y), min(len(a), len(b))
    )
    window = slice(max(index - 80, 0), index + 80)
    return f"first difference at byte {index}: {a[window]!r} vs {b[window]!r}"


#
# The start page over time (issue 17): the reader's last visit, then news seen and unseen
#


def hidden_talk_and_review(w: dict[str, Any]) -> None:
    """After the nurse's visit, the lead's child-protection work: a social need (content
    changed after the guardian's signature), talk about it, and a social review meeting that
    sets the next review three days ahead. The nurse (health) may read none of it."""
    lead, plan = w["lead"].user, w["plan"]
    secret = services.item_create(
        actor=lead,
        plan_id=plan.pk,
        model=Need,
        data={"category": "social", "title": "SECRET social need"},
    )
    for author in (w["g1"], lead):
        services.item_create(
            actor=author,
            plan_id=plan.pk,
            model=Comment,
            data={"target_type": "need", "target_id": secret.pk, "text": "SECRET comment"},
        )
    services.item_create(
        actor=lead,
        plan_id=plan.pk,
        model=Review,
        data={
            "category": "social",
            "held_on": (MOMENT + dt.timedelta(hours=2)).date(),
            "next_review_on": (MOMENT + dt.timedelta(days=3)).date(),
            "notes": "SECRET review",
        },
    )


def render_start(reader: str, hidden: Callable[[dict[str, Any]], None] | None) -> dict[str, bytes]:
    """The world; the reader opens the plan an hour later; an hour after that the guardian
    comments, the lead holds a general review meeting (next one in 30 days) and the guardian
    signs, then the hidden work; the start pages an hour later. Rolled back."""
    out = {}
    with deterministic_ids():
        sid = transaction.savepoint()
        try:
            with time_machine.travel(MOMENT, tick=False):
                w = build(None)
            user, _acting = _reader(w, reader)
            with time_machine.travel(MOMENT + dt.timedelta(hours=1), tick=False):
                assert page_client(user).get(PLAN.format(plan=w["plan"].pk)).status_code == 200
            with time_machine.travel(MOMENT + dt.timedelta(hours=2), tick=False):
                services.item_create(
                    actor=w["g1"],
                    plan_id=w["plan"].pk,
                    model=Comment,
                    data={"target_type": "plan", "text": "visible news"},
                )
                services.item_create(
                    actor=w["lead"].user,
                    plan_id=w["plan"].pk,
                    model=Review,
                    data={
                        "category": "general",
                        "held_on": (MOMENT + dt.timedelta(hours=2)).date(),
                        "next_review_on": (MOMENT + dt.timedelta(days=30)).date(),
                    },
                )
                services.acknowledgement_create(  # the guardian signs what is there now
                    actor=w["g1"],
                    plan_id=w["plan"].pk,
                    version=type(w["plan"]).objects.get(pk=w["plan"].pk).version,
                    decision="agree",
                )
                if hidden is not None:
                    hidden(w)
            with time_machine.travel(MOMENT + dt.timedelta(hours=3), tick=False):
                client = page_client(user)  # a new sign-in: the first session has timed out
                for path in START:
                    response = client.get(path)
                    assert response.status_code == 200, (path, response.status_code)
                    out[path] = CSRF.sub(rb"\1CSRF\2", response.content)
        finally:
            transaction.savepoint_rollback(sid)
    return out


def test_start_page_flags_count_only_what_the_reader_may_see():
    """A hidden comment does not count as new, a hidden review sets no date and makes
    nothing due, a hidden change does not make the plan unsigned: byte for byte."""
    plain = render_start("nurse", None)
    with_hidden = render_start("nurse", hidden_talk_and_review)
    assert b"1 new comment since your last visit" in plain["/start/"]  # not vacuous
    assert b"Testers" in plain["/start/?new=1"]
    assert b"Testers" not in plain["/start/?due=1"]
    assert b"Testers" not in plain["/start/?unsigned=1"]
    for path in START:
        assert b"SECRET" not in with_hidden[path]
        assert plain[path] == with_hidden[path], _first_difference(plain[path], with_hidden[path])


def test_start_page_harness_sees_the_lead_s_flags_change():
    """The control: the lead reads social items, so the same hidden work shows for them."""
    plain = render_start("lead", None)
    with_social = render_start("lead", hidden_talk_and_review)
    assert b"Testers" not in plain["/start/?due=1"]
    assert b"Testers" in with_social["/start/?due=1"]
    assert b"Testers" in with_social["/start/?unsigned=1"]
    assert plain["/start/?new=1"] != with_social["/start/?new=1"]
