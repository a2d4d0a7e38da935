"""The family's pages over Django's test client: sign-in, security headers, logging, the flows'
effects in the database, languages, page weight and query counts."""

from __future__ import annotations

import gzip
import re
import time
from pathlib import Path

import pytest
from django.conf import settings
from django.contrib.staticfiles import finders
from django.test import Client

from plan_service.audit.models import AccessEvent
from plan_service.consent.services import consent_create
from plan_service.participants import assessments
from plan_service.participants.models import MaturityAssessment, Person
from plan_service.plans import services
from plan_service.plans.models import Acknowledgement, Action, Comment, Dissent, Goal, Need, Review
from plan_service.web import reading
from tests import factories
from tests.web.helpers import page_client, text_of

pytestmark = pytest.mark.django_db


@pytest.fixture
def fam():
    """A family with a 13-year-old with an account and two guardians, and its plan."""
    lead = factories.professional("child_protection_social_worker")
    family = factories.family(children=1, guardians=2, child_age=13)
    plan = factories.plan(lead, family)
    child_p = Person.objects.get(family=family, kind="child")
    g1_p, g2_p = Person.objects.filter(family=family, kind="guardian").order_by("given_name")
    child, g1, g2 = factories.link(child_p), factories.link(g1_p), factories.link(g2_p)
    services.family_sync(plan=plan, actor=lead.user)
    goal = services.item_create(
        actor=lead.user,
        plan_id=plan.pk,
        model=Goal,
        data={
            "category": "general",
            "title": "Sleep well",
            "desired_outcome": "Eight hours",
            "concerns": [child_p.pk],
        },
    )
    return {
        "lead": lead,
        "plan": plan,
        "child": child,
        "child_p": child_p,
        "g1": g1,
        "g1_p": g1_p,
        "g2": g2,
        "goal": goal,
    }


def plan_url(fam) -> str:
    return f"/plans/{fam['plan'].pk}/"


#
# Sign in, sessions, sign out
#


def test_family_lands_on_their_plan_and_professionals_on_the_start_page(fam):
    client = Client()
    answer = client.post("/", {"username": fam["g1"].username, "password": "test-password-123"})
    assert answer.status_code == 302
    assert answer["Location"] == plan_url(fam)
    pro = Client()
    answer = pro.post("/", {"username": fam["lead"].user.username, "password": "test-password-123"})
    assert answer["Location"] == "/start/"
    assert AccessEvent.objects.filter(actor_user_id=fam["g1"].pk, action="login").exists()


def test_failed_sign_in_is_logged_and_says_so_in_the_readers_language(fam):
    client = Client(HTTP_ACCEPT_LANGUAGE="sv")
    before = AccessEvent.objects.filter(action="login_failed").count()
    answer = client.post("/", {"username": fam["g1"].username, "password": "wrong"})
    assert answer.status_code == 200
    assert '<html lang="sv">' in answer.content.decode()
    assert "Kontrollera användarnamnet och lösenordet." in text_of(answer.content)
    assert AccessEvent.objects.filter(action="login_failed").count() == before + 1


@pytest.mark.parametrize(
    ("language", "sign_in"),
    [("fi", "Kirjaudu sisään"), ("sv", "Logga in"), ("en", "Sign in")],
)
def test_sign_in_form_is_in_the_readers_language(language, sign_in):
    answer = Client(HTTP_ACCEPT_LANGUAGE=language).get("/")
    html = answer.content.decode()
    assert f'<html lang="{language}">' in html
    assert f"<h1>{sign_in}</h1>" in html
    assert 'name="csrfmiddlewaretoken"' in html


def test_pages_need_a_session_and_sign_out_ends_it(fam):
    assert Client().get(plan_url(fam))["Location"] == f"/?next={plan_url(fam)}"
    client = page_client(fam["g1"])
    assert client.get(plan_url(fam)).status_code == 200
    assert client.get("/signout/").status_code == 405  # no link can sign anyone out
    assert client.post("/signout/").status_code == 302
    assert client.get(plan_url(fam)).status_code == 302


def test_idle_sessions_expire_and_no_session_outlives_its_maximum_age(fam):
    client = page_client(fam["g1"])
    client.get(plan_url(fam))
    assert client.session.get_expiry_age() == settings.SESSION_IDLE_MINUTES * 60
    session = client.session
    session["signed_in_at"] = time.time() - settings.SESSION_MAX_HOURS * 3600 - 1
    session.save()
    assert client.get(plan_url(fam)).status_code == 302
    assert client.get(plan_url(fam)).status_code == 302  # signed out for good


def test_every_form_needs_its_csrf_token(fam):
    client = page_client(fam["g1"], enforce_csrf_checks=True)
    page = client.get(plan_url(fam))
    token = re.search(rb'name="csrfmiddlewaretoken" value="([^"]+)"', page.content).group(1)
    data = {"target_type": "plan", "text": "hello", "as": "comment"}
    refused = client.post(f"{plan_url(fam)}words/", data)
    assert refused.status_code == 403
    assert not Comment.objects.filter(plan=fam["plan"], text="hello").exists()
    ok = client.post(f"{plan_url(fam)}words/", {**data, "csrfmiddlewaretoken": token.decode()})
    assert ok.status_code == 302
    assert Comment.objects.filter(plan=fam["plan"], text="hello").exists()
    forms = re.findall(rb"<form\b[^>]*>.*?</form>", page.content, flags=re.S)
    posts = [f for f in forms if b'method="post"' in f]
    assert posts
    assert all(b"csrfmiddlewaretoken" in f for f in posts)


#
# Headers: no caching of plan data, a strict CSP, nothing inline
#


def test_pages_are_never_cached_and_carry_a_strict_content_security_policy(fam):
    client = page_client(fam["g1"])
    for path in ("", "consents/", "access-log/"):
        answer = client.get(plan_url(fam) + path)
        assert answer.status_code == 200
        assert "no-store" in answer["Cache-Control"]
        csp = answer["Content-Security-Policy"]
        assert "script-src 'self'" in csp
        assert "style-src 'self'" in csp
        assert "frame-ancestors 'none'" in csp
        assert "unsafe-inline" not in csp
        assert "unsafe-eval" not in csp
        html = answer.content.decode()
        assert "<style" not in html
        assert not re.search(r"\sstyle=", html)
        assert not re.search(r"<script(?![^>]*\bsrc=)", html)  # every script is a file
        assert not re.search(r"\son[a-z]+=", html)  # no inline event handlers
        assert "//cdn" not in html
        assert "https://" not in html
        assert str(fam["child_p"].identity_code) not in html


#
# What a page shows is logged, like the API
#


def test_the_plan_page_logs_a_read_per_family_member_and_a_search_per_kind(fam):
    client = page_client(fam["g1"])
    before = AccessEvent.objects.count()
    client.get(plan_url(fam))
    rows = AccessEvent.objects.order_by("recorded_at", "chain", "seq")[before:]
    rows = list(AccessEvent.objects.filter(actor_user_id=fam["g1"].pk, query__page=plan_url(fam)))
    reads = [r for r in rows if r.action == "read" and r.object_type == "plan"]
    people = set(Person.objects.filter(family=fam["plan"].family).values_list("pk", flat=True))
    assert {r.subject_id for r in reads} == people
    kinds = {r.object_type for r in rows if r.action == "search"}
    assert {"need", "goal", "action", "review", "comment", "dissent", "membership"} <= kinds
    assert all(r.plan_id == fam["plan"].pk for r in rows)
    assert all(r.legal_basis == "family" for r in rows)
    goal_rows = [r for r in rows if r.object_type == "goal"]
    assert {r.subject_id for r in goal_rows} == {fam["child_p"].pk}  # the goal is about the child


def test_an_unrelated_plan_is_the_same_404_page_as_a_missing_one_and_is_logged_as_denied(fam):
    other = factories.plan(factories.professional())
    client = page_client(fam["g1"])
    hidden = client.get(f"/plans/{other.pk}/")
    missing = client.get("/plans/00000000-0000-0000-0000-000000000000/")
    assert hidden.status_code == missing.status_code == 404

    def norm(html: bytes) -> bytes:
        return re.sub(rb'value="[^"]{32,}"', b'value="CSRF"', html)

    assert norm(hidden.content) == norm(missing.content)
    assert AccessEvent.objects.filter(
        actor_user_id=fam["g1"].pk, action="denied", plan_id=other.pk
    ).exists()


#
# Flows and their effects
#


def test_signing_binds_to_what_the_reader_saw(fam):
    client = page_client(fam["g1"])
    access = reading.policy.plan_access(fam["g1"], fam["plan"])
    seen = reading.plan_page(access)["fingerprint"]
    # The lead changes the goal meanwhile: the old view can no longer be signed.
    services.item_update(
        actor=fam["lead"].user,
        plan_id=fam["plan"].pk,
        model=Goal,
        item_id=fam["goal"].pk,
        expected_version=None,
        data={"desired_outcome": "Nine hours"},
    )
    stale = client.post(f"{plan_url(fam)}sign/", {"decision": "agree", "seen": seen})
    assert stale.status_code == 302
    assert not Acknowledgement.objects.filter(plan=fam["plan"]).exists()
    fam["plan"].refresh_from_db()
    access = reading.policy.plan_access(fam["g1"], fam["plan"])
    fresh = reading.plan_page(access)["fingerprint"]
    client.post(f"{plan_url(fam)}sign/", {"decision": "disagree", "comment": "no", "seen": fresh})
    ack = Acknowledgement.objects.get(plan=fam["plan"])
    assert ack.person_id == fam["g1_p"].pk
    assert ack.acknowledged_version == fam["plan"].version
    assert ack.decision == "disagree"
    # Later changes are listed under "what has changed since your signature".
    services.item_update(
        actor=fam["lead"].user,
        plan_id=fam["plan"].pk,
        model=Goal,
        item_id=fam["goal"].pk,
        expected_version=None,
        data={"title": "Sleep better"},
    )
    html = text_of(client.get(plan_url(fam)).content)
    assert "What has changed since your signature" in html
    assert "Changed: Sleep better" in html


def test_dissent_is_linked_to_the_goal_it_disputes(fam):
    client = page_client(fam["g2"])
    goal = fam["goal"]
    client.post(
        f"{plan_url(fam)}words/",
        {"target_type": "goal", "target_id": str(goal.pk), "text": "Too much", "as": "dissent"},
    )
    dissent = Dissent.objects.get(plan=fam["plan"])
    assert (dissent.target_type, dissent.target_id, dissent.text) == ("goal", goal.pk, "Too much")
    assert dissent.created_by == fam["g2"]


def test_htmx_comment_answers_the_fragment_in_place(fam):
    client = page_client(fam["child"])
    answer = client.post(
        f"{plan_url(fam)}words/",
        {"target_type": "goal", "target_id": str(fam["goal"].pk), "text": "I try", "as": "comment"},
        HTTP_HX_REQUEST="true",
    )
    assert answer.status_code == 200
    html = answer.content.decode()
    assert html.lstrip().startswith('<section class="said"')
    assert "I try" in html
    assert Comment.objects.get(plan=fam["plan"], text="I try").kind == "child_view"


def _assess(fam, code: int) -> None:
    assessments.assessment_record(
        actor=fam["lead"].user, plan_id=fam["plan"].pk, child_id=fam["child_p"].pk, code=code
    )


def test_child_assessed_mature_hides_an_item_about_them_and_guardians_no_longer_see_it(fam):
    _assess(fam, MaturityAssessment.Code.CAPABLE_FORBIDS)
    child = page_client(fam["child"])
    guardian = page_client(fam["g1"])
    assert "Sleep well" in text_of(guardian.get(plan_url(fam)).content)
    page = text_of(child.get(plan_url(fam)).content)
    assert "You can hide a part of the plan that is about you alone" in page
    answer = child.post(
        f"{plan_url(fam)}hide/",
        {"target_type": "goal", "target_id": str(fam["goal"].pk), "hide": "on"},
    )
    assert answer.status_code == 302
    fam["goal"].refresh_from_db()
    assert fam["goal"].restricted_by_id == fam["child_p"].pk
    seen = guardian.get(plan_url(fam)).content.decode()
    assert "Sleep well" not in seen
    assert str(fam["goal"].pk) not in seen
    assert "Hidden from your guardians at your wish." in text_of(child.get(plan_url(fam)).content)
    # The child shows it again.
    child.post(f"{plan_url(fam)}hide/", {"target_type": "goal", "target_id": str(fam["goal"].pk)})
    assert "Sleep well" in text_of(guardian.get(plan_url(fam)).content)


def test_child_cannot_hide_without_the_assessment_or_what_is_not_about_them_alone(fam):
    _assess(fam, MaturityAssessment.Code.CAPABLE_ALLOWS)
    child = page_client(fam["child"])
    assert "You can hide" not in text_of(child.get(plan_url(fam)).content)
    child.post(
        f"{plan_url(fam)}hide/",
        {"target_type": "goal", "target_id": str(fam["goal"].pk), "hide": "on"},
    )
    fam["goal"].refresh_from_db()
    assert fam["goal"].restricted_by_id is None
    _assess(fam, MaturityAssessment.Code.CAPABLE_FORBIDS)
    family_wide = services.item_create(
        actor=fam["lead"].user,
        plan_id=fam["plan"].pk,
        model=Need,
        data={"category": "general", "title": "Family need"},
    )
    refused = child.post(
        f"{plan_url(fam)}hide/",
        {"target_type": "need", "target_id": str(family_wide.pk), "hide": "on"},
    )
    assert refused.status_code == 403
    family_wide.refresh_from_db()
    assert family_wide.restricted_by_id is None
    guardian = page_client(fam["g1"])
    assert (
        guardian.post(
            f"{plan_url(fam)}hide/",
            {"target_type": "goal", "target_id": str(fam["goal"].pk), "hide": "on"},
        ).status_code
        == 403
    )


def test_withdrawing_consent_on_the_page_ends_the_members_access_at_once(fam, api):
    nurse = factories.professional("psychiatric_nurse")
    consent = consent_create(
        actor=fam["g1"],
        family=fam["plan"].family,
        grantor_id=None,
        subject_ids=[fam["child_p"].pk],
        categories=["general", "health"],
        purpose="psychiatry",
        recipient_sector="health",
    )
    factories.add_member(fam["plan"], fam["lead"], nurse, basis="consent", consent_id=consent.pk)
    assert api.as_user(nurse.user).get(f"/api/v1/plans/{fam['plan'].pk}/").status_code == 200
    client = page_client(fam["g2"])  # either guardian may withdraw
    page = text_of(client.get(f"{plan_url(fam)}consents/").content)
    assert "psychiatry" in page
    assert "In force" in page
    client.post(f"{plan_url(fam)}consents/{consent.pk}/withdraw/", {"reason": "changed mind"})
    consent.refresh_from_db()
    assert consent.status == "withdrawn"
    assert consent.withdrawn_by == fam["g2"]
    assert api.as_user(nurse.user).get(f"/api/v1/plans/{fam['plan'].pk}/").status_code == 404
    assert "no longer has access" in text_of(client.get(plan_url(fam)).content)


def test_guardian_gives_and_refuses_consent_on_the_page(fam):
    client = page_client(fam["g1"])
    data = {
        "subjects": [str(fam["child_p"].pk)],
        "categories": ["general", "education"],
        "recipient_sector": "education",
        "purpose": "school support",
        "valid_until": "2030-01-31",
    }
    assert client.post(f"{plan_url(fam)}consents/", data).status_code == 302
    given = fam["plan"].family.consents.get(purpose="school support")
    assert (given.status, given.grantor_id) == ("active", fam["g1_p"].pk)
    assert given.categories == ["education", "general"]
    client.post(f"{plan_url(fam)}consents/", {**data, "purpose": "no thanks", "refuse": "on"})
    assert fam["plan"].family.consents.get(purpose="no thanks").status == "refused"
    bad = client.post(f"{plan_url(fam)}consents/", {**data, "subjects": [], "purpose": "x"})
    assert bad.status_code == 400
    assert not fam["plan"].family.consents.filter(purpose="x").exists()


def test_access_log_page_reads_who_what_when_and_on_what_basis(fam):
    lead_client = page_client(fam["lead"].user)
    lead_client.get(plan_url(fam))
    client = page_client(fam["g1"])
    page = text_of(client.get(f"{plan_url(fam)}access-log/").content)
    lead_name = fam["lead"].user.get_full_name() or fam["lead"].user.username
    assert lead_name in page
    assert "Read: the plan" in page
    assert "LSL 417/2007 §30" in page  # the statute the lead works on
    assert fam["g1"].get_full_name() not in page  # own reads only on request
    own = text_of(client.get(f"{plan_url(fam)}access-log/?own=1").content)
    assert fam["g1"].get_full_name() in own
    assert client.get(f"{plan_url(fam)}access-log/?page=x").status_code == 404


#
# Languages, dates, page weight, query counts
#


def test_dates_follow_the_readers_locale(fam):
    goal = fam["goal"]
    services.item_update(
        actor=fam["lead"].user,
        plan_id=fam["plan"].pk,
        model=Goal,
        item_id=goal.pk,
        expected_version=None,
        data={"target_date": "2027-03-09"},
    )
    for language, shown in (("fi", "9.3.2027"), ("sv", "2027-03-09"), ("en", "03/09/2027")):
        client = page_client(fam["g1"], HTTP_ACCEPT_LANGUAGE=language)
        html = client.get(plan_url(fam)).content.decode()
        assert f'<html lang="{language}">' in html
        assert shown in html, language


def _transferred(response) -> int:
    """Bytes on the wire for a page and every stylesheet and script it loads (no images).

    The page as the server compresses it; static files gzip-compressed, as the web server in
    front of the service (or any CDN-less static host with compression) sends them.
    """
    html = response.content
    total = len(html)
    if response.get("Content-Encoding") == "gzip":
        html = gzip.decompress(html)
    for url in re.findall(rb'(?:href|src)="/static/([^"]+\.(?:css|js))"', html):
        total += len(gzip.compress(Path(finders.find(url.decode())).read_bytes()))
    return total


def test_every_page_of_a_typical_plan_weighs_under_100_kb_transferred(fam):
    """A plan of the county benchmark's typical size: 3 children, 20 goals, 60 actions,
    100 comments, 3 reviews (docs/performance.md)."""
    lead, plan = fam["lead"].user, fam["plan"]
    family = plan.family
    kids = [fam["child_p"]]
    for i in range(2):
        kids.append(
            Person.objects.create(
                family=family,
                kind="child",
                given_name=f"Kid{i}",
                family_name="T",
                identity_code=factories.identity_code(6),
            )
        )
    goals = []
    for i in range(20):
        goal = services.item_create(
            actor=lead,
            plan_id=plan.pk,
            model=Goal,
            data={
                "category": "general",
                "title": f"Goal number {i} for the child",
                "desired_outcome": "A sentence about what should be different. " * 2,
                "concerns": [kids[i % 3].pk],
            },
        )
        goals.append(goal)
        for j in range(3):
            services.item_create(
                actor=lead,
                plan_id=plan.pk,
                model=Action,
                data={
                    "category": "general",
                    "goal": goal.pk,
                    "concerns": [kids[i % 3].pk],
                    "description": f"Action {j}: who does what, written out in a sentence.",
                    "responsible_kind": "member",
                    "responsible_user": lead.pk,
                    "due_date": "2027-01-15",
                },
            )
    for i in range(100):
        services.item_create(
            actor=fam["g1"],
            plan_id=plan.pk,
            model=Comment,
            data={
                "target_type": "goal",
                "target_id": goals[i % 20].pk,
                "text": "A comment of a sentence or two from the family. " * 2,
            },
        )
    for r in range(3):
        services.item_create(
            actor=lead,
            plan_id=plan.pk,
            model=Review,
            data={
                "category": "general",
                "held_on": f"2026-0{r + 1}-10",
                "progress": [
                    {"goal": str(g.pk), "note": "ok", "achievement": "improving"} for g in goals
                ],
            },
        )
    client = page_client(fam["g1"], HTTP_ACCEPT_ENCODING="gzip")
    pages = {
        "sign-in": Client(HTTP_ACCEPT_ENCODING="gzip").get("/"),
        "plan": client.get(plan_url(fam)),
        "consents": client.get(f"{plan_url(fam)}consents/"),
        "access log": client.get(f"{plan_url(fam)}access-log/?own=1"),
        "start": page_client(lead, HTTP_ACCEPT_ENCODING="gzip").get("/start/"),
    }
    assert pages["plan"]["Content-Encoding"] == "gzip"
    weights = {name: _transferred(response) for name, response in pages.items()}
    raw = len(gzip.decompress(pages["plan"].content))
    print(f"transferred bytes per page: {weights}; plan page HTML uncompressed: {raw}")
    assert all(w < 100 * 1024 for w in weights.values()), weights


def _add_goals(fam, n: int) -> None:
    for i in range(n):
        goal = services.item_create(
            actor=fam["lead"].user,
            plan_id=fam["plan"].pk,
            model=Goal,
            data={"category": "general", "title": f"g{i}", "desired_outcome": "o"},
        )
        services.item_create(
            actor=fam["g1"],
            plan_id=fam["plan"].pk,
            model=Comment,
            data={"target_type": "goal", "target_id": goal.pk, "text": "c"},
        )


def test_plan_page_queries_do_not_grow_with_the_plan(fam, django_assert_num_queries):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    client = page_client(fam["g1"])
    client.get(plan_url(fam))
    _add_goals(fam, 2)
    with CaptureQueriesContext(connection) as small:
        client.get(plan_url(fam))
    _add_goals(fam, 18)
    with CaptureQueriesContext(connection) as large:
        assert client.get(plan_url(fam)).status_code == 200
    print(f"plan page: {len(small)} queries with 3 goals, {len(large)} with 21")
    assert len(large) == len(small)


def test_api_docs_load_their_script_as_a_file_under_the_strict_policy(fam):
    """Swagger UI's start-up script is a separate same-origin file, so the CSP needs no
    'unsafe-inline' (the UI's own files come from drf-spectacular-sidecar, issue 13)."""
    client = page_client(fam["lead"].user)
    html = client.get("/api/docs/").content.decode()
    assert not re.search(r"<script(?![^>]*\bsrc=)", html)
    script = re.search(r'<script src="(/api/docs/\?[^"]*script=[^"]*)"', html).group(1)
    answer = client.get(script.replace("&amp;", "&"))
    assert answer.status_code == 200
    assert answer["Content-Type"].startswith("application/javascript")
    assert "SwaggerUIBundle" in answer.content.decode()


def test_catalogues_are_complete_and_compiled():
    """Every message has a Finnish, Swedish and English translation, none fuzzy, and the
    compiled .mo holds exactly what the .po says (run compilemessages after editing)."""
    import polib

    main = Path(settings.LOCALE_PATHS[0])
    roots = [main, *sorted(main.parent.glob("*/locale"))]  # apps with catalogues of their own
    for root, language in ((r, lang) for r in roots for lang in ("fi", "sv", "en")):
        po = polib.pofile(str(root / language / "LC_MESSAGES" / "django.po"))
        assert po.untranslated_entries() == [], language
        assert po.fuzzy_entries() == [], language
        mo = polib.mofile(str(root / language / "LC_MESSAGES" / "django.mo"))
        assert {(e.msgid, e.msgstr) for e in po if not e.obsolete} == {
            (e.msgid, e.msgstr) for e in mo
        }, language


def test_the_api_lets_the_child_hide_by_the_same_rule(fam, api):
    """One service and one policy question for the page and the API's restrict endpoint."""
    url = f"/api/v1/plans/{fam['plan'].pk}/goals/{fam['goal'].pk}/restrict/"
    child = api.as_user(fam["child"])
    body = {"child": str(fam["child_p"].pk)}
    refused = child.post(url, body, HTTP_IF_MATCH=f'W/"{fam["goal"].version}"')
    assert refused.status_code == 400  # not yet assessed capable who forbids (THL code 3)
    _assess(fam, MaturityAssessment.Code.CAPABLE_FORBIDS)
    answer = child.post(url, body, HTTP_IF_MATCH=f'W/"{fam["goal"].version}"')
    assert answer.status_code == 200, answer.content
    guardian = api.as_user(fam["g1"])
    assert (
        guardian.get(f"/api/v1/plans/{fam['plan'].pk}/goals/{fam['goal'].pk}/").status_code == 404
    )
    other = {"child": str(fam["g1_p"].pk)}  # never for someone else
    etag = answer["ETag"]
    assert child.post(url, other, HTTP_IF_MATCH=etag).status_code == 403
