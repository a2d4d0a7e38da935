"""The start page (issue 17): a professional's plans, searched, filtered and paginated, every
figure about what the reader may see, the name searched for never in a URL."""

from __future__ import annotations

import datetime as dt
import re

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from plan_service.audit.models import AccessEvent
from plan_service.participants.models import Person
from plan_service.plans import services
from plan_service.plans.models import Comment, Goal, Need, Review
from plan_service.web.start import SEARCH_KEY
from tests import factories
from tests.web.helpers import page_client, text_of

pytestmark = pytest.mark.django_db

TODAY = timezone.localdate()


def _review(actor, plan, *, next_on: dt.date | None, category: str = "general") -> Review:
    return services.item_create(
        actor=actor.user,
        plan_id=plan.pk,
        model=Review,
        data={"category": category, "held_on": TODAY, "next_review_on": next_on},
    )


def _comment(user, plan, text: str, category: str | None = None) -> Comment:
    data = {"target_type": "plan", "text": text}
    if category:
        data["category"] = category
    return services.item_create(actor=user, plan_id=plan.pk, model=Comment, data=data)


@pytest.fixture
def desk():
    """A lead social worker in four plans (lead in three, member in one), a health nurse in
    the first, and a guardian with an account in the first."""
    org = factories.organization("social")
    lead = factories.professional("child_protection_social_worker", org=org)
    nurse = factories.professional("public_health_nurse", org=org)
    other = factories.professional("child_protection_social_worker", org=org)
    aalto = factories.family(children=2, guardians=1, name="Aaltonen")
    Person.objects.filter(family=aalto, given_name="Child1").update(given_name="Veeti")
    a = factories.plan(lead, aalto)
    factories.add_member(a, lead, nurse)
    guardian = factories.link(Person.objects.get(family=aalto, kind="guardian"))
    services.family_sync(plan=a, actor=lead.user)
    b = factories.plan(lead, factories.family(name="Bergström"), status="on_hold")
    c = factories.plan(other, factories.family(name="Carlsson"), status="draft")
    factories.add_member(c, other, lead)
    d = factories.plan(lead, factories.family(name="Dahl"), status="completed")
    return {
        "lead": lead,
        "nurse": nurse,
        "other": other,
        "guardian": guardian,
        "a": a,
        "b": b,
        "c": c,
        "d": d,
    }


def _families(response) -> list[str]:
    text = text_of(response.content)
    return [
        name
        for name in ("Aaltonen", "Bergström", "Carlsson", "Dahl")
        if f"The {name} family's plan" in text
    ]


def test_it_lists_the_readers_plans_with_children_status_and_role(desk):
    response = page_client(desk["lead"].user).get("/start/")
    assert response.status_code == 200
    assert response["Cache-Control"].startswith("no-store")
    assert sorted(_families(response)) == ["Aaltonen", "Bergström", "Carlsson", "Dahl"]
    html = response.content.decode()
    assert f'href="/plans/{desk["a"].pk}/"' in html
    text = text_of(html)
    assert "Child0 Aaltonen, Veeti Aaltonen" in text
    for shown in ("On hold", "Draft", "Completed", "Team member", "Lead professional"):
        assert shown in text


def test_a_stranger_sees_no_plan(desk):
    stranger = factories.professional("school_curator")
    response = page_client(stranger.user).get("/start/")
    assert response.status_code == 200
    assert _families(response) == []
    assert "not in any plan's team" in text_of(response.content)


@pytest.mark.parametrize(
    ("query", "families"),
    [
        ("status=on_hold", ["Bergström"]),
        ("status=draft", ["Carlsson"]),
        ("role=member", ["Carlsson"]),
        ("role=lead&status=completed", ["Dahl"]),
        ("role=family", []),
    ],
)
def test_status_and_role_filters(desk, query, families):
    response = page_client(desk["lead"].user).get(f"/start/?{query}")
    assert response.status_code == 200
    assert _families(response) == families


def test_review_due_means_the_latest_visible_review_sets_a_date_within_two_weeks_or_past(desk):
    lead = desk["lead"]
    _review(lead, desk["a"], next_on=TODAY + dt.timedelta(days=10))
    _review(lead, desk["b"], next_on=TODAY + dt.timedelta(days=60))
    services.item_create(
        actor=desk["other"].user,
        plan_id=desk["c"].pk,
        model=Review,
        data={"category": "general", "held_on": TODAY, "next_review_on": TODAY - dt.timedelta(1)},
    )
    client = page_client(lead.user)
    response = client.get("/start/?due=1")
    assert sorted(_families(response)) == ["Aaltonen", "Carlsson"]
    assert "overdue" in text_of(response.content)
    # A later meeting that sets no date: nothing is due any more in that plan.
    later = services.item_create(
        actor=lead.user,
        plan_id=desk["a"].pk,
        model=Review,
        data={"category": "general", "held_on": TODAY + dt.timedelta(days=1)},
    )
    assert later.next_review_on is None
    assert _families(client.get("/start/?due=1")) == ["Carlsson"]


def test_a_review_the_reader_may_not_see_sets_no_date_for_them(desk):
    _review(desk["lead"], desk["a"], next_on=TODAY + dt.timedelta(days=3), category="social")
    nurse = page_client(desk["nurse"].user)
    assert _families(nurse.get("/start/?due=1")) == []
    assert "not set" in text_of(nurse.get("/start/").content)
    assert _families(page_client(desk["lead"].user).get("/start/?due=1")) == ["Aaltonen"]


def test_unsigned_until_the_guardian_signs_the_current_content(desk):
    a, lead, guardian = desk["a"], desk["lead"], desk["guardian"]
    client = page_client(lead.user)
    assert _families(client.get("/start/?unsigned=1")) == ["Aaltonen"]  # nobody signed yet
    from plan_service import policy
    from plan_service.plans.visibility import reader_view

    access = policy.plan_access(guardian, type(a).objects.get(pk=a.pk))
    services.acknowledgement_create(
        actor=guardian, plan_id=a.pk, version=reader_view(access).version, decision="agree"
    )
    assert _families(client.get("/start/?unsigned=1")) == []
    # Talk is not content: a comment leaves the signature current.
    _comment(lead.user, a, "just a word")
    assert _families(client.get("/start/?unsigned=1")) == []
    services.item_create(
        actor=lead.user,
        plan_id=a.pk,
        model=Need,
        data={"category": "general", "title": "A new need"},
    )
    assert _families(client.get("/start/?unsigned=1")) == ["Aaltonen"]
    assert "A version the guardians have not signed" in text_of(client.get("/start/").content)


def test_a_change_the_reader_may_not_see_does_not_make_the_plan_unsigned_for_them(desk):
    a, lead, guardian = desk["a"], desk["lead"], desk["guardian"]
    from plan_service import policy
    from plan_service.plans.visibility import reader_view

    access = policy.plan_access(guardian, type(a).objects.get(pk=a.pk))
    services.acknowledgement_create(
        actor=guardian, plan_id=a.pk, version=reader_view(access).version, decision="agree"
    )
    services.item_create(
        actor=lead.user,
        plan_id=a.pk,
        model=Need,
        data={"category": "social", "title": "A social need"},
    )
    assert _families(page_client(desk["nurse"].user).get("/start/?unsigned=1")) == []
    assert _families(page_client(lead.user).get("/start/?unsigned=1")) == ["Aaltonen"]


def test_new_comments_since_my_last_visit_count_only_others_visible_words(desk):
    a, lead, nurse, guardian = desk["a"], desk["lead"], desk["nurse"], desk["guardian"]
    client = page_client(nurse.user)
    t0 = timezone.now()
    import time_machine

    with time_machine.travel(t0, tick=False):
        assert client.get(f"/plans/{a.pk}/").status_code == 200  # the nurse's visit
    with time_machine.travel(t0 + dt.timedelta(minutes=5), tick=False):
        _comment(guardian, a, "from the family")
        _comment(nurse.user, a, "my own words")  # one's own words are not news
        goal = services.item_create(
            actor=lead.user,
            plan_id=a.pk,
            model=Goal,
            data={"category": "social", "title": "Social goal", "desired_outcome": "o"},
        )
        services.item_create(
            actor=lead.user,
            plan_id=a.pk,
            model=Comment,
            data={"target_type": "goal", "target_id": goal.pk, "text": "hidden from the nurse"},
        )
    with time_machine.travel(t0 + dt.timedelta(minutes=10), tick=False):
        response = client.get("/start/?new=1")
        assert _families(response) == ["Aaltonen"]
        assert "1 new comment since your last visit" in text_of(response.content)
        # The lead never read the plan: everyone else's words are new (not the lead's own).
        lead_page = page_client(lead.user).get("/start/?new=1")
        assert "2 new comments since your last visit" in text_of(lead_page.content)
    with time_machine.travel(t0 + dt.timedelta(minutes=15), tick=False):
        client.get(f"/plans/{a.pk}/")
    with time_machine.travel(t0 + dt.timedelta(minutes=20), tick=False):
        assert _families(client.get("/start/?new=1")) == []


#
# Search: the name never in a URL
#


def test_search_by_family_or_childs_name_keeps_the_name_out_of_the_address(desk):
    client = page_client(desk["lead"].user)
    answer = client.post("/start/search/", {"q": "aaltO", "status": "active"})
    assert answer.status_code == 302
    assert answer["Location"] == "/start/?status=active"
    assert "aalt" not in answer["Location"].lower()
    assert client.session[SEARCH_KEY] == "aaltO"
    response = client.get(answer["Location"])
    assert _families(response) == ["Aaltonen"]
    assert "Name searched for: “aaltO”" in text_of(response.content)
    # By a child's given name, and by given and family name together.
    for term in ("veeti", "Veeti Aaltonen"):
        client.post("/start/search/", {"q": term})
        assert _families(client.get("/start/")) == ["Aaltonen"]
    client.post("/start/search/", {"q": "Nobody"})
    response = client.get("/start/")
    assert _families(response) == []
    assert "No plan matches" in text_of(response.content)
    # Clearing forgets the name and the filters.
    answer = client.post("/start/search/", {"q": "Nobody", "clear": "1", "status": "draft"})
    assert answer["Location"] == "/start/"
    assert SEARCH_KEY not in client.session
    assert len(_families(client.get("/start/"))) == 4


def test_the_name_is_not_in_the_access_log_nor_in_any_link(desk, caplog):
    caplog.set_level("DEBUG")
    client = page_client(desk["lead"].user)
    answer = client.post("/start/search/", {"q": "Bergström"})
    assert "Berg" not in answer["Location"]
    before = AccessEvent.objects.count()
    response = client.get(answer["Location"])
    assert "Bergström" not in caplog.text  # nothing logged names the search
    html = response.content.decode()
    assert "Bergström" in html
    for link in re.findall(r'(?:href|action)="([^"]*)"', html):
        assert "Berg" not in link, link
    rows = list(AccessEvent.objects.order_by("recorded_at", "seq")[before:])
    searches = [r for r in rows if r.action == "search" and r.object_type == "plan"]
    assert {r.plan_id for r in searches} == {desk["b"].pk}
    for r in searches:
        assert r.query == {"page": "/start/", "search": "name"}
        assert "Berg" not in str(r.query)
        assert r.legal_basis.startswith("statute:")
        assert r.actor_plan_role == "lead"
    people = set(Person.objects.filter(family=desk["b"].family).values_list("pk", flat=True))
    assert {r.subject_id for r in searches} == people


def test_a_name_too_long_is_refused_and_not_kept(desk):
    client = page_client(desk["lead"].user)
    answer = client.post("/start/search/", {"q": "x" * 101})
    assert answer.status_code == 302
    assert SEARCH_KEY not in client.session
    assert "at most 100 characters" in text_of(client.get(answer["Location"]).content)


@pytest.mark.parametrize(
    "query",
    [
        "status=bogus",
        "role=%00",
        "role=admin&status=",
        "due=maybe&unsigned=&new=x",
        "status=active&status=draft",
        "status=" + "a" * 5000,
        "role[]=lead",
    ],
)
def test_bad_filter_values_answer_a_page_never_a_500(desk, query):
    response = page_client(desk["lead"].user).get(f"/start/?{query}")
    assert response.status_code in (200, 400)
    assert "My plans" in text_of(response.content)


@pytest.mark.parametrize("page", ["abc", "0", "-1", "²", "9" * 20, "99"])
def test_bad_page_numbers_answer_a_page_never_a_500(desk, page):
    response = page_client(desk["lead"].user).get(f"/start/?page={page}")
    assert response.status_code in (200, 404)


def test_bad_search_posts_never_500(desk):
    client = page_client(desk["lead"].user)
    for data in ({}, {"q": ""}, {"q": "\x00"}, {"status": "bogus"}, {"q": ["a", "b"]}):
        answer = client.post("/start/search/", data)
        assert answer.status_code == 302, data
        assert client.get(answer["Location"]).status_code in (200, 400)


def test_search_without_a_csrf_token_is_refused(desk):
    from django.test import Client

    client = Client(enforce_csrf_checks=True)
    client.force_login(desk["lead"].user)
    assert client.post("/start/search/", {"q": "Aaltonen"}).status_code == 403


def test_auditor_and_administrator_get_their_own_start(desk):
    auditor = factories.professional("auditor")
    text = text_of(page_client(auditor.user).get("/start/").content)
    assert "Search the access log" in text
    admin = factories.professional("administrator")
    assert "administration pages" in text_of(page_client(admin.user).get("/start/").content)


#
# Many plans: paging and a fixed number of statements
#


def make_plans(lead, n: int) -> list:
    """n active plans led by `lead`, each with a guardian member, a review and comments."""
    plans = []
    for i in range(n):
        fam = factories.family(children=2, guardians=1, name=f"Fam{i:03d}")
        plan = factories.plan(lead, fam)
        factories.link(Person.objects.get(family=fam, kind="guardian"))
        services.family_sync(plan=plan, actor=lead.user)
        _review(lead, plan, next_on=TODAY + dt.timedelta(days=i % 30))
        _comment(lead.user, plan, "a word")
        plans.append(plan)
    return plans


def test_it_pages_by_25_and_the_links_keep_the_filters(desk):
    lead = factories.professional()
    make_plans(lead, 30)
    client = page_client(lead.user)
    first = client.get("/start/?status=active")
    assert len(re.findall(r'href="/plans/', first.content.decode())) == 25
    assert 'href="?status=active&amp;page=2"' in first.content.decode()
    second = client.get("/start/?status=active&page=2")
    assert len(re.findall(r'href="/plans/', second.content.decode())) == 5
    assert "Page 2 of 2" in text_of(second.content)


def _statements(client, url: str) -> int:
    client.get(url)
    with CaptureQueriesContext(connection) as ctx:
        response = client.get(url)
    assert response.status_code == 200
    return len(ctx.captured_queries)


@pytest.mark.parametrize("url", ["/start/", "/start/?due=1&unsigned=1", "/start/?new=1"])
def test_the_start_page_takes_the_same_statements_at_5_and_40_plans(url):
    small, big = factories.professional(), factories.professional()
    make_plans(small, 5)
    make_plans(big, 40)
    # A consent-based membership somewhere: plans that read differently in one statement.
    assert _statements(page_client(small.user), url) == _statements(page_client(big.user), url)


def test_plans_that_read_differently_still_take_one_statement(desk):
    """A consent-based member reads more in one family than in another: the figures of both
    come from one statement (`policy.items_for_plans`)."""
    nurse = desk["nurse"]
    fam = factories.family(name="Eklund")
    plan = factories.plan(desk["lead"], fam)
    from plan_service.consent.services import consent_create

    guardian = factories.link(Person.objects.get(family=fam, kind="guardian"))
    consent = consent_create(
        actor=guardian,
        family=fam,
        grantor_id=None,
        subject_ids=[Person.objects.get(family=fam, kind="child").pk],
        categories=["general", "social"],
        purpose="care",
        recipient_sector="health",
    )
    factories.add_member(
        plan, desk["lead"], nurse, basis="consent", consent_id=consent.pk, statute=""
    )
    _review(desk["lead"], plan, next_on=TODAY, category="social")  # the consent covers it
    _review(desk["lead"], desk["a"], next_on=TODAY, category="social")  # no consent here
    client = page_client(nurse.user)
    with CaptureQueriesContext(connection) as ctx:
        text = text_of(client.get("/start/?due=1").content)
    assert "The Eklund family's plan" in text
    assert "The Aaltonen family's plan" not in text
    reviews = [q["sql"] for q in ctx.captured_queries if "plans_review" in q["sql"]]
    assert len(reviews) == 1, reviews


def test_the_benchmarks_page_session_opens_the_start_page(desk):
    """benchmarks/run.py gives the professional journeys a page session made in-process."""
    from django.test import Client

    from benchmarks.run import page_session

    name, _, value = page_session(desk["lead"].user).partition("=")
    client = Client()
    client.cookies[name] = value
    response = client.get("/start/?due=1")
    assert response.status_code == 200
    assert "My plans" in text_of(response.content)


def _county_plans(lead, n: int) -> None:
    """n plans led by `lead` (as tests/test_query_counts.py makes them), each with 10 goals,
    30 comments (some by someone else) and 2 reviews, rows written directly: the shape of a
    busy professional's desk, for the statements and the time of the start page."""
    import itertools

    from plan_service.plans.models import Plan
    from tests.test_query_counts import make_plans

    make_plans(lead, n)
    other = factories.user()
    goals, comments, reviews = [], [], []
    for plan in Plan.objects.filter(memberships__user=lead.user):
        for i in range(10):
            goals.append(Goal(plan=plan, category="general", title=f"g{i}", desired_outcome="o"))
        for i, author in zip(range(30), itertools.cycle([lead.user, other]), strict=False):
            comments.append(
                Comment(plan=plan, category="general", target_type="plan", text=f"c{i}")
            )
            comments[-1].created_by = author
        for days in (-30, 10):
            reviews.append(
                Review(
                    plan=plan,
                    category="social",
                    held_on=TODAY + dt.timedelta(days=days - 60),
                    next_review_on=TODAY + dt.timedelta(days=days),
                )
            )
    Goal.objects.bulk_create(goals)
    Comment.objects.bulk_create(comments)
    Review.objects.bulk_create(reviews)


def test_the_start_page_of_200_plans_takes_the_statements_of_5():
    import time

    few, many = factories.professional(), factories.professional()
    _county_plans(few, 5)
    _county_plans(many, 200)
    with connection.cursor() as cursor:  # production has autovacuum's statistics; so do we
        cursor.execute("ANALYZE")
    for url in ("/start/", "/start/?due=1", "/start/?new=1&unsigned=1"):
        client = page_client(many.user)
        q_few = _statements(page_client(few.user), url)
        q_many = _statements(client, url)
        assert q_few == q_many, url
        started = time.perf_counter()
        response = client.get(url)
        elapsed = (time.perf_counter() - started) * 1000
        assert response.status_code == 200
        print(f"{url}: {q_many} statements; 200 plans in {elapsed:.0f} ms")


def test_the_start_page_is_never_cached_and_has_nothing_inline(desk):
    client = page_client(desk["lead"].user)
    client.post("/start/search/", {"q": "Aaltonen"})
    answer = client.get("/start/?due=1&unsigned=1&new=1")
    assert "no-store" in answer["Cache-Control"]
    assert "unsafe-inline" not in answer["Content-Security-Policy"]
    html = answer.content.decode()
    assert "<style" not in html
    assert not re.search(r"\sstyle=", html)
    assert not re.search(r"<script(?![^>]*\bsrc=)", html)
    assert not re.search(r"\son[a-z]+=", html)
    forms = re.findall(r"<form\b[^>]*>.*?</form>", html, flags=re.S)
    assert all("csrfmiddlewaretoken" in f for f in forms if 'method="post"' in f)
    for code in Person.objects.filter(family=desk["a"].family).values_list(
        "identity_code", flat=True
    ):
        assert code not in html


def test_forged_searches_change_nothing_they_should_not(desk):
    """A huge name, a name with markup, a session holding something odd: never a 500, never
    markup from the name, never someone else's plan."""
    client = page_client(desk["lead"].user)
    answer = client.post("/start/search/", {"q": "x" * 100_000})
    assert answer.status_code == 302
    assert SEARCH_KEY not in client.session
    client.post("/start/search/", {"q": "<script>alert(1)</script>"})
    html = client.get("/start/").content.decode()
    assert "<script>alert(1)" not in html
    assert "&lt;script&gt;" in html
    session = client.session
    session[SEARCH_KEY] = ["not", "a", "string"]
    session.save()
    assert client.get("/start/").status_code == 200
    # A name from another professional's family finds nothing of theirs.
    factories.plan(factories.professional(), factories.family(name="Elsewhere"))
    client.post("/start/search/", {"q": "Elsewhere"})
    assert "Elsewhere" not in text_of(client.get("/start/").content).replace(
        "Name searched for: “Elsewhere”", ""
    )


def test_the_search_answers_only_the_signed_in(desk):
    from django.test import Client

    answer = Client().post("/start/search/", {"q": "Aaltonen"})
    assert answer.status_code == 302
    assert answer["Location"].startswith("/?next=")
    assert Client().get("/start/search/").status_code in (302, 405)


#
# The policy's many-plan answers agree with its one-plan answers
#


def test_plan_accesses_for_decides_each_plan_as_plan_access_does(desk):
    from plan_service import policy
    from plan_service.consent.services import consent_create
    from plan_service.plans.models import Plan

    fam = factories.family(name="Eklund")
    plan = factories.plan(desk["lead"], fam)
    guardian = factories.link(Person.objects.get(family=fam, kind="guardian"))
    consent = consent_create(
        actor=guardian,
        family=fam,
        grantor_id=None,
        subject_ids=[Person.objects.get(family=fam, kind="child").pk],
        categories=["general", "social"],
        purpose="care",
        recipient_sector="health",
    )
    factories.add_member(
        plan, desk["lead"], desk["nurse"], basis="consent", consent_id=consent.pk, statute=""
    )
    stranger = factories.professional()
    for user in (desk["lead"].user, desk["nurse"].user, desk["guardian"], stranger.user):
        plans = list(Plan.objects.all())
        many = policy.plan_accesses_for(user, plans)
        for p in plans:
            one = policy.plan_access(user, p)
            if one is None:
                assert p.pk not in many
                continue
            got = many[p.pk]
            assert (got.kind, got.actions, got.reads, got.writes, got.person_id) == (
                one.kind,
                one.actions,
                one.reads,
                one.writes,
                one.person_id,
            )
            assert got.legal_basis == one.legal_basis
    assert policy.plan_accesses_for(stranger.user, list(Plan.objects.all())) == {}


def test_plan_accesses_decides_each_member_as_plan_access_does(desk):
    """The team's accesses (every write's notices decide who may see it) come from one
    prepared statement; each must be the member's own `plan_access`, and members whose
    access is refused (an inactive account, an ended membership) are left out."""
    import datetime as dt

    from django.utils import timezone

    from plan_service import policy
    from plan_service.consent.services import consent_create
    from plan_service.plans.models import Membership, Plan

    fam = factories.family(name="Eklund", children=2)
    plan = factories.plan(desk["lead"], fam)
    guardian = factories.link(Person.objects.filter(family=fam, kind="guardian").first())
    consent = consent_create(
        actor=guardian,
        family=fam,
        grantor_id=None,
        subject_ids=[Person.objects.filter(family=fam, kind="child").first().pk],
        categories=["general", "social"],
        purpose="care",
        recipient_sector="health",
    )
    factories.add_member(
        plan, desk["lead"], desk["nurse"], basis="consent", consent_id=consent.pk, statute=""
    )
    # A curator whose school holds two consents addressed to it (not to a sector): one in
    # force (education), one that ended (health, which the curator must not read).
    school = factories.organization("education")
    curator = factories.professional("school_curator", org=school)
    subjects = [Person.objects.filter(family=fam, kind="child").first().pk]

    def to_school(*categories: str):
        return consent_create(
            actor=guardian,
            family=fam,
            grantor_id=None,
            subject_ids=subjects,
            categories=["general", *categories],
            purpose="care",
            recipient_organization=school,
        )

    in_force, ended = to_school("education"), to_school("health")
    factories.add_member(
        plan, desk["lead"], curator, basis="consent", consent_id=in_force.pk, statute=""
    )
    type(ended).objects.filter(pk=ended.pk).update(
        valid_from=timezone.now() - dt.timedelta(days=2),
        valid_until=timezone.now() - dt.timedelta(minutes=1),
    )
    gone = factories.professional("school_curator")
    factories.add_member(plan, desk["lead"], gone)
    Membership.objects.filter(plan=plan, user=gone.user).update(ended_at=timezone.now())
    idle = factories.professional("school_curator")
    factories.add_member(plan, desk["lead"], idle)
    idle.user.is_active = False
    idle.user.save()
    # A custody decision leaves this guardian without sight of one child (hidden_children).
    from plan_service.participants.models import Guardianship

    second = Person.objects.create(
        family=fam, kind="guardian", given_name="Toinen", family_name="Eklund"
    )
    kids = list(Person.objects.filter(family=fam, kind="child").order_by("created_at"))
    for kid in kids:
        Guardianship.objects.create(
            guardian=second, child=kid, excluded_by_custody_decision=kid == kids[0]
        )
    factories.link(second)
    services.family_sync(plan=plan, actor=desk["lead"].user)
    compared = 0
    for p in (plan, desk["a"], desk["d"]):  # d: completed, read-only
        p = Plan.objects.get(pk=p.pk)
        team = {a.membership.user_id: a for a in policy.plan_accesses(p)}
        users = {m.user for m in Membership.objects.filter(plan=p) if m.user is not None}
        for user in users:
            compared += 1
            one = policy.plan_access(user, p)
            if one is None:
                assert user.pk not in team, user
                continue
            got = team.pop(user.pk)
            assert (
                got.kind,
                got.actions,
                got.reads,
                got.writes,
                got.person_id,
                got.hidden_children,
                got.visibility,
                got.legal_basis,
                sorted(c.pk for c in got.consents),
            ) == (
                one.kind,
                one.actions,
                one.reads,
                one.writes,
                one.person_id,
                one.hidden_children,
                one.visibility,
                one.legal_basis,
                sorted(c.pk for c in one.consents),
            ), user
        assert team == {}
    assert compared >= 10
    by_user = {a.membership.user_id: a for a in policy.plan_accesses(plan)}
    assert [c.pk for c in by_user[curator.user.pk].consents] == [in_force.pk]
    assert "education" in by_user[curator.user.pk].reads
    assert "health" not in by_user[curator.user.pk].reads
    blocked = [a for a in policy.plan_accesses(plan) if a.hidden_children]
    assert [a.person_id for a in blocked] == [second.pk]
    assert gone.user.pk not in {a.membership.user_id for a in policy.plan_accesses(plan)}
    assert idle.user.pk not in {a.membership.user_id for a in policy.plan_accesses(plan)}


def test_items_for_plans_is_the_union_of_items_for_each_plan(desk):
    from plan_service import policy
    from plan_service.plans.models import Plan

    lead, nurse = desk["lead"], desk["nurse"]
    for plan in (desk["a"], desk["b"]):
        for category in ("general", "social", "family"):
            _comment(lead.user, plan, f"{category} words", category=category)
    for user in (lead.user, nurse.user, desk["guardian"]):
        accesses = list(policy.plan_accesses_for(user, list(Plan.objects.all())).values())
        together = set(
            policy.items_for_plans(accesses, Comment.objects.all()).values_list("pk", flat=True)
        )
        apart = set()
        for access in accesses:
            apart |= set(
                policy.items_for(access, Comment.objects.all()).values_list("pk", flat=True)
            )
        assert together == apart
    assert not policy.items_for_plans([], Comment.objects.all()).exists()
