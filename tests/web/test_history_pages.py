"""The history pages and the team page over Django's test client.

* Each page shows what the API answers for the same reader: the timeline's versions, authors,
  times, reasons and changes (`GET history/`), the plan as it stood (`?version=`), the diff
  (`history/diff/`) and the explanation (`explain/?member=`), read back from the page's data
  attributes and compared value for value with the API's JSON.
* Bad version numbers and garbage answer the 404 page or a clear message, never a 500.
* Restoring, adding and ending a member write their history and access-log rows, and are
  refused to everyone but the lead.
"""

from __future__ import annotations

import datetime as dt
import re
import uuid

import pytest
from django.utils import timezone

from plan_service.audit.models import AccessEvent
from plan_service.consent.services import consent_create
from plan_service.participants.models import Person
from plan_service.plans import services
from plan_service.plans.models import Action, Goal, Membership, Need, Reason, Review
from tests import factories
from tests.web.helpers import page_client, text_of
from tests.web.html_tree import parse

pytestmark = pytest.mark.django_db


@pytest.fixture
def hist():
    """A plan with a history: a need, a goal changed twice (once in a review meeting), a
    social need the nurse may not read (changed too), an action added and removed."""
    org = factories.organization("social")
    lead = factories.professional("child_protection_social_worker", org, unit="Lastensuojelu")
    nurse = factories.professional("public_health_nurse", org, unit="Neuvola")
    joiner = factories.professional("school_curator", factories.organization("education"))
    family = factories.family(children=1, guardians=1, child_age=13)
    plan = factories.plan(lead, family)
    factories.add_member(plan, lead, nurse, statute="Terveydenhuoltolaki 1326/2010 §15")
    guardian_p = Person.objects.get(family=family, kind="guardian")
    child_p = Person.objects.get(family=family, kind="child")
    guardian = factories.link(guardian_p)
    services.family_sync(plan=plan, actor=lead.user)
    u = lead.user
    need = services.item_create(
        actor=u,
        plan_id=plan.pk,
        model=Need,
        data={"category": "general", "title": "Sleep", "concerns": [child_p.pk]},
    )
    goal = services.item_create(
        actor=u,
        plan_id=plan.pk,
        model=Goal,
        data={
            "category": "general",
            "title": "Sleep well",
            "desired_outcome": "Eight hours",
            "need": need.pk,
            "target_date": dt.date(2027, 3, 9),
        },
    )
    social = services.item_create(
        actor=u,
        plan_id=plan.pk,
        model=Need,
        data={"category": "social", "title": "SOCIAL need"},
    )
    services.item_create(
        actor=u,
        plan_id=plan.pk,
        model=Review,
        data={
            "category": "general",
            "held_on": dt.date(2026, 1, 10),
            "participants": ["Lead", "Guardian"],
            "progress": [{"goal": str(goal.pk), "note": "started", "achievement": "in-progress"}],
        },
        reason=Reason(code="review_meeting", text="agreed together"),
    )
    goal = services.item_update(
        actor=u,
        plan_id=plan.pk,
        model=Goal,
        item_id=goal.pk,
        expected_version=None,
        data={"title": "Sleep through the night", "achievement": "improving"},
        reason=Reason(code="correction", text="clearer words"),
    )
    services.item_update(
        actor=u,
        plan_id=plan.pk,
        model=Need,
        item_id=social.pk,
        expected_version=None,
        data={"description": "SOCIAL detail"},
    )
    action = services.item_create(
        actor=u,
        plan_id=plan.pk,
        model=Action,
        data={
            "category": "general",
            "description": "Evening routine",
            "goal": goal.pk,
            "responsible_kind": "organization",
            "responsible_organization": org.pk,
        },
    )
    services.item_delete(
        actor=u, plan_id=plan.pk, model=Action, item_id=action.pk, expected_version=None
    )
    return {
        "lead": lead,
        "nurse": nurse,
        "joiner": joiner,
        "guardian": guardian,
        "guardian_p": guardian_p,
        "child_p": child_p,
        "plan": plan,
        "need": need,
        "goal": goal,
        "social": social,
        "family": family,
        "org": org,
    }


def url(h, tail: str = "") -> str:
    return f"/plans/{h['plan'].pk}/{tail}"


def reader(h, who: str):
    return h[who].user if who in ("lead", "nurse", "joiner") else h[who]


READERS = ("lead", "nurse", "guardian")


#
# The pages show what the API answers
#


def _when(value: str) -> dt.datetime:
    return dt.datetime.fromisoformat(value.replace("Z", "+00:00"))


@pytest.mark.parametrize("who", READERS)
def test_the_timeline_shows_the_versions_the_api_lists(hist, api, who):
    user = reader(hist, who)
    answer = api.as_user(user).get(f"/api/v1/plans/{hist['plan'].pk}/history/?page_size=20")
    assert answer.status_code == 200
    expected = answer.json()["results"]
    page = page_client(user).get(url(hist, "history/"))
    assert page.status_code == 200
    assert "no-store" in page["Cache-Control"]
    shown = parse(page.content).all("li", class_="version")
    assert [int(li.attrs["data-version"]) for li in shown] == [e["version"] for e in expected]
    for li, entry in zip(shown, expected, strict=True):
        time = li.all("time")
        assert _when(time[0].attrs["datetime"]) == _when(entry["at"])
        assert (li.all("span", class_="by")[0].text() if li.all(class_="by") else None) == entry[
            "by"
        ]
        assert li.one(class_="reason-label").attrs["data-code"] == entry["reason_code"]
        reason = li.all("q", class_="reason")
        assert (reason[0].text() if reason else "") == entry["reason"]
        changes = [
            {
                "type": c.attrs["data-type"],
                "id": c.attrs["data-id"],
                "change": c.attrs["data-change"],
            }
            for c in li.all("li", data_type=True)
        ]
        assert changes == entry["changes"]
    text = text_of(page.content)
    if who == "nurse":
        assert "SOCIAL" not in text
    else:
        assert "SOCIAL need" in text


@pytest.mark.parametrize("who", READERS)
def test_the_plan_as_it_stood_shows_what_the_api_gives_at_every_version(hist, api, who):
    user = reader(hist, who)
    client, caller = page_client(user), api.as_user(user)
    latest = caller.get(f"/api/v1/plans/{hist['plan'].pk}/history/").json()["count"]
    for number in range(1, latest + 1):
        state = caller.get(f"/api/v1/plans/{hist['plan'].pk}/history/?version={number}").json()
        page = client.get(url(hist, f"history/{number}/"))
        assert page.status_code == 200, number
        tree = parse(page.content)
        for name in ("status", "summary", "period_start", "period_end"):
            assert (
                tree.one("section", class_="asof-plan").one("dd", data_field=name).data("raw")
                == state[name]
            )
        shown = {
            (a.attrs["data-type"], a.attrs["data-id"]): a for a in tree.all("article", data_id=True)
        }
        wanted = {(kind, i["id"]): i for kind, items in state["items"].items() for i in items}
        assert set(shown) == set(wanted), number
        for key, item in wanted.items():
            article = shown[key]
            assert int(article.attrs["data-version"]) == item["version"]
            for dd in article.all("dd", data_field=True):
                assert dd.data("raw") == item[dd.attrs["data-field"]], (key, dd.attrs)


@pytest.mark.parametrize("who", READERS)
def test_the_diff_shows_what_the_api_gives(hist, api, who):
    user = reader(hist, who)
    client, caller = page_client(user), api.as_user(user)
    latest = caller.get(f"/api/v1/plans/{hist['plan'].pk}/history/").json()["count"]
    pairs = [(1, latest), (latest - 3, latest), (latest - 1, latest), (2, 2)]
    for first, second in pairs:
        diff = caller.get(
            f"/api/v1/plans/{hist['plan'].pk}/history/diff/?from={first}&to={second}"
        ).json()
        page = client.get(url(hist, f"history/diff/?from={first}&to={second}"))
        assert page.status_code == 200
        tree = parse(page.content)
        box = tree.one("div", class_="diff")
        assert (int(box.attrs["data-from"]), int(box.attrs["data-to"])) == (first, second)
        for change in ("added", "removed"):
            shown = [
                (a.attrs["data-type"], a.attrs["data-id"]) for a in box.all(data_change=change)
            ]
            assert shown == [(e["type"], e["id"]) for e in diff[change]], change
            for article, entry in zip(box.all(data_change=change), diff[change], strict=True):
                for dd in article.all("dd", data_field=True):
                    assert dd.data("raw") == entry[dd.attrs["data-field"]]
        changed = box.all("article", data_change="changed")
        assert [(a.attrs["data-type"], a.attrs["data-id"]) for a in changed] == [
            (e["type"], e["id"]) for e in diff["changed"]
        ]
        for article, entry in zip(changed, diff["changed"], strict=True):
            rows = {
                tr.attrs["data-field"]: (tr.data("from"), tr.data("to"))
                for tr in article.all("tr", data_field=True)
            }
            assert rows == {
                name: (values["from"], values["to"]) for name, values in entry["fields"].items()
            }


def test_the_diff_reads_in_words(hist):
    latest = int(
        parse(page_client(hist["lead"].user).get(url(hist, "history/")).content)
        .all("li", class_="version")[0]
        .attrs["data-version"]
    )
    page = page_client(hist["lead"].user).get(url(hist, f"history/diff/?from=1&to={latest}"))
    text = text_of(page.content)
    assert "Added" in text
    assert "Sleep through the night" in text
    assert "General" in text or "general" in text  # the category's name, not its code
    assert "03/09/2027" in text  # the target date in the reader's locale


def test_the_last_review_meeting_is_a_ready_comparison(hist):
    page = page_client(hist["guardian"]).get(url(hist, "history/"))
    links = [a for a in parse(page.content).all("a") if "Since the last review meeting" in a.text()]
    assert links, text_of(page.content)
    follow = page_client(hist["guardian"]).get(links[0].attrs["href"])
    assert follow.status_code == 200
    assert "Sleep through the night" in text_of(follow.content)  # changed after the meeting


def test_the_history_pages_log_what_they_show(hist):
    user = hist["guardian"]
    client = page_client(user)
    before = AccessEvent.objects.filter(actor_user_id=user.pk, object_type="history").count()
    client.get(url(hist, "history/"))
    client.get(url(hist, "history/2/"))
    client.get(url(hist, "history/diff/?from=1&to=2"))
    rows = AccessEvent.objects.filter(actor_user_id=user.pk, object_type="history").order_by("id")
    assert rows.count() > before
    actions = {r.action for r in rows}
    assert {"search", "read"} <= actions
    assert all(r.query and "page" in r.query for r in rows)


#
# Garbage never answers 500
#


@pytest.mark.parametrize(
    "tail",
    [
        "history/0/",
        "history/999/",
        "history/abc/",
        "history/%C2%B2/",
        "history/" + "9" * 5000 + "/",
        "history/-1/",
        "history/1.5/",
    ],
)
def test_a_version_that_is_not_the_readers_is_the_404_page(hist, tail):
    page = page_client(hist["nurse"].user).get(url(hist, tail))
    assert page.status_code == 404
    assert b"<h1>Not found</h1>" in page.content


@pytest.mark.parametrize(
    "query",
    [
        "from=abc&to=2",
        "from=1&to=99999",
        "from=1",
        "to=2",
        "from=&to=",
        "from=" + "9" * 5000 + "&to=1",
        "from=%C2%B2&to=1",
        "from=0&to=1",
    ],
)
def test_a_bad_comparison_says_what_is_wrong(hist, query):
    page = page_client(hist["guardian"]).get(url(hist, f"history/diff/?{query}"))
    assert page.status_code == 400
    assert b'role="alert"' in page.content
    assert b'class="diff"' not in page.content


def test_a_comparison_from_later_to_earlier_reads_from_the_earlier(hist):
    page = page_client(hist["guardian"]).get(url(hist, "history/diff/?from=4&to=2"))
    assert page.status_code == 302
    assert page["Location"].endswith("history/diff/?from=2&to=4")


def test_the_compare_form_alone_offers_the_last_change(hist):
    page = page_client(hist["guardian"]).get(url(hist, "history/diff/"))
    assert page.status_code == 200
    assert parse(page.content).one("input", id="cmp-to").attrs["value"]


@pytest.mark.parametrize("tail", ["history/", "history/1/", "history/diff/?from=1&to=2", "team/"])
def test_another_familys_plan_is_the_same_404_page(hist, tail):
    other = factories.plan(factories.professional(), factories.family())
    client = page_client(hist["lead"].user)
    nowhere = uuid.uuid4()
    missing = client.get(f"/plans/{nowhere}/{tail}")
    hidden = client.get(f"/plans/{other.pk}/{tail}")
    assert missing.status_code == hidden.status_code == 404

    def norm(html: bytes, plan_id) -> bytes:
        html = html.replace(str(plan_id).encode(), b"PLAN")
        return re.sub(rb'value="[^"]{32,}"', b'value="CSRF"', html)

    assert norm(missing.content, nowhere) == norm(hidden.content, other.pk)


#
# Restore (the lead)
#


def _restore_query(h, kind: str = "goal", item=None, version: int = 1) -> str:
    item = item or h["goal"].pk
    return f"history/restore/?type={kind}&item={item}&version={version}"


def test_the_lead_restores_an_earlier_version_with_a_reason(hist):
    client = page_client(hist["lead"].user)
    asof = client.get(url(hist, "history/5/"))
    assert b"history/restore/?type=goal" in asof.content  # offered where it can be done
    reads = AccessEvent.objects.filter(actor_user_id=hist["lead"].user.pk, object_type="history")
    before_reads = reads.count()
    confirm = client.get(url(hist, _restore_query(hist)))
    assert confirm.status_code == 200
    assert reads.count() > before_reads  # what the confirmation shows is logged
    tree = parse(confirm.content)
    expected = tree.one("input", name="expected").attrs["value"]
    assert "Sleep well" in text_of(confirm.content)  # what comes back
    before = Goal.history.filter(id=hist["goal"].pk).count()
    done = client.post(
        url(hist, "history/restore/"),
        {
            "type": "goal",
            "item": str(hist["goal"].pk),
            "version": "1",
            "expected": expected,
            "code": "correction",
            "reason": "the first words were right",
        },
    )
    assert done.status_code == 302
    assert done["Location"] == url(hist, "history/")
    goal = Goal.objects.get(pk=hist["goal"].pk)
    assert goal.title == "Sleep well"
    rows = Goal.history.filter(id=goal.pk).order_by("-history_date")
    assert rows.count() == before + 1
    assert rows[0].history_user_id == hist["lead"].user.pk
    plan_row = hist["plan"].history.order_by("-history_date").first()
    assert plan_row.history_change_reason == "correction"
    assert plan_row.change_note == "the first words were right"
    assert AccessEvent.objects.filter(
        actor_user_id=hist["lead"].user.pk, action="update", object_type="goal"
    ).exists()
    timeline = text_of(client.get(url(hist, "history/")).content)
    assert "the first words were right" in timeline


def test_a_restore_based_on_a_stale_version_is_refused_and_changes_nothing(hist):
    client = page_client(hist["lead"].user)
    done = client.post(
        url(hist, "history/restore/"),
        {"type": "goal", "item": str(hist["goal"].pk), "version": "1", "expected": "1"},
    )
    assert done.status_code == 302
    assert "history/restore/" in done["Location"]
    assert Goal.objects.get(pk=hist["goal"].pk).title == "Sleep through the night"
    follow = client.get(done["Location"])
    assert b'class="msg error"' in follow.content


def test_a_restore_without_the_version_seen_asks_to_open_the_page_again(hist):
    client = page_client(hist["lead"].user)
    done = client.post(
        url(hist, "history/restore/"),
        {"type": "goal", "item": str(hist["goal"].pk), "version": "1", "reason": "x" * 501},
    )
    assert done.status_code == 400
    assert Goal.objects.get(pk=hist["goal"].pk).title == "Sleep through the night"


@pytest.mark.parametrize(
    "change",
    [
        {"code": "item_restored"},  # a code the service sets, not one a writer chooses
        {"code": "x" * 10_000},
        {"reason": "x" * 100_000},
        {"expected": "abc"},
        {"expected": "9" * 50},
    ],
)
def test_a_restore_with_bad_input_says_why_and_changes_nothing(hist, change):
    client = page_client(hist["lead"].user)
    confirm = parse(client.get(url(hist, _restore_query(hist))).content)
    body = {
        "type": "goal",
        "item": str(hist["goal"].pk),
        "version": "1",
        "expected": confirm.one("input", name="expected").attrs["value"],
        **change,
    }
    answer = client.post(url(hist, "history/restore/"), body)
    assert answer.status_code == 400
    assert b'class="error"' in answer.content
    assert Goal.objects.get(pk=hist["goal"].pk).title == "Sleep through the night"


def test_ending_a_membership_with_a_bad_reason_code_ends_nothing(hist):
    member = Membership.objects.get(plan=hist["plan"], user=hist["nurse"].user)
    client = page_client(hist["lead"].user)
    answer = client.post(url(hist, f"team/{member.pk}/end/"), {"code": "team_changed"})
    assert answer.status_code == 400
    assert Membership.objects.get(pk=member.pk).ended_at is None


@pytest.mark.parametrize("who", ["nurse", "guardian"])
def test_only_the_lead_restores(hist, who):
    client = page_client(reader(hist, who))
    assert client.get(url(hist, _restore_query(hist))).status_code == 403
    answer = client.post(
        url(hist, "history/restore/"),
        {"type": "goal", "item": str(hist["goal"].pk), "version": "1", "expected": "2"},
    )
    assert answer.status_code == 403
    assert Goal.objects.get(pk=hist["goal"].pk).title == "Sleep through the night"
    asof = client.get(url(hist, "history/5/"))
    assert b"history/restore/" not in asof.content


def test_an_item_the_reader_cannot_see_is_not_found_before_it_is_refused(hist):
    client = page_client(hist["nurse"].user)
    assert client.get(url(hist, _restore_query(hist, "need", hist["social"].pk))).status_code == 404


@pytest.mark.parametrize(
    "query",
    [
        "type=goal&item=not-a-uuid&version=1",
        "type=goal&version=1",
        "type=nothing&item={goal}&version=1",
        "type=comment&item={goal}&version=1",
        "type=acknowledgement&item={goal}&version=1",
        "type=goal&item={goal}&version=99",
        "type=goal&item={goal}&version=abc",
        "type=goal&item={goal}&version=",
        "type=goal&item={other}&version=1",
        "type=need&item={goal}&version=1",
    ],
)
def test_a_forged_restore_is_the_404_page(hist, query):
    other = factories.plan(factories.professional(), factories.family())
    other_goal = services.item_create(
        actor=other.created_by,
        plan_id=other.pk,
        model=Goal,
        data={"category": "general", "title": "x", "desired_outcome": "y"},
    )
    q = query.format(goal=hist["goal"].pk, other=other_goal.pk)
    client = page_client(hist["lead"].user)
    assert client.get(url(hist, f"history/restore/?{q}")).status_code == 404
    body = dict(pair.split("=", 1) for pair in q.split("&"))
    assert client.post(url(hist, "history/restore/"), {**body, "expected": "1"}).status_code == 404


def test_restore_on_a_completed_plan_is_refused(hist):
    services.plan_update(
        actor=hist["lead"].user,
        plan_id=hist["plan"].pk,
        expected_version=None,
        data={"status": "completed"},
    )
    client = page_client(hist["lead"].user)
    assert client.get(url(hist, _restore_query(hist))).status_code == 403


#
# The team
#


def test_the_team_page_lists_members_with_role_organisation_basis_and_period(hist):
    page = page_client(hist["guardian"]).get(url(hist, "team/"))
    assert page.status_code == 200
    text = text_of(page.content)
    assert "Terveydenhuoltolaki 1326/2010 §15" in text
    assert hist["org"].name in text
    assert "Add a member" not in text
    assert "Why can this member see this?" not in text


def test_a_name_hidden_from_families_shows_as_the_unit_to_the_family_only(hist):
    hist["nurse"].hide_name_from_family = True
    hist["nurse"].save()
    name = hist["nurse"].user.get_full_name()
    family_text = text_of(page_client(hist["guardian"]).get(url(hist, "team/")).content)
    lead_text = text_of(page_client(hist["lead"].user).get(url(hist, "team/")).content)
    assert name not in family_text
    assert "Neuvola" in family_text
    assert name in lead_text


def test_the_team_page_is_logged_as_the_apis_team_list(hist):
    user = hist["guardian"]
    page_client(user).get(url(hist, "team/"))
    assert AccessEvent.objects.filter(
        actor_user_id=user.pk, object_type="membership", action="search"
    ).exists()


def test_the_lead_adds_a_member_on_a_statute_for_a_period(hist):
    client = page_client(hist["lead"].user)
    form = client.get(url(hist, "team/add/"))
    assert form.status_code == 200
    options = [
        o.attrs["value"]
        for o in parse(form.content).one("select", name="professional").all("option")
    ]
    assert str(hist["joiner"].pk) in options
    assert str(hist["nurse"].pk) not in options  # already in the team
    until = (timezone.localdate() + dt.timedelta(days=30)).isoformat()
    done = client.post(
        url(hist, "team/add/"),
        {
            "professional": str(hist["joiner"].pk),
            "basis": "statute",
            "statute": "Oppilas- ja opiskelijahuoltolaki 1287/2013 §14",
            "valid_until": until,
            "code": "new_information",
            "reason": "school started",
        },
    )
    assert done.status_code == 302, text_of(done.content)
    m = Membership.objects.get(plan=hist["plan"], user=hist["joiner"].user, ended_at=None)
    assert m.statute == "Oppilas- ja opiskelijahuoltolaki 1287/2013 §14"
    assert m.valid_until is not None
    assert m.history.count() >= 1
    assert AccessEvent.objects.filter(
        actor_user_id=hist["lead"].user.pk, action="create", object_type="membership"
    ).exists()
    plan_row = hist["plan"].history.order_by("-history_date").first()
    assert plan_row.change_note == "school started"
    assert page_client(hist["joiner"].user).get(url(hist)).status_code == 200


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"statute": ""}, "Name the statute and section."),
        ({"statute": "Any law I like §1"}, "Select a valid choice"),
        ({"basis": "family"}, "Select a valid choice"),
        ({"basis": "consent", "consent": ""}, "Choose the consent."),
        ({"professional": str(uuid.uuid4())}, "Select a valid choice"),
        ({"professional": ""}, "This field is required."),
        ({"valid_from": "2030-01-10", "valid_until": "2030-01-01"}, "must end after it starts"),
        ({"valid_until": "yesterday"}, "Enter a valid date."),
        ({"reason": "x" * 501}, "at most 500"),
        ({"valid_until": "9999-12-31"}, "Give a date between"),
        ({"valid_from": "0001-01-01"}, "Give a date between"),
        ({"valid_from": "3000-01-01", "valid_until": "3000-02-01"}, "Give a date between"),
        ({"code": "item_restored"}, "Select a valid choice"),
        ({"statute": "x" * 100_000}, "Select a valid choice"),
    ],
)
def test_adding_a_member_without_a_valid_basis_says_why(hist, change, message):
    client = page_client(hist["lead"].user)
    body = {
        "professional": str(hist["joiner"].pk),
        "basis": "statute",
        "statute": "Perusopetuslaki 628/1998 §40",
        **change,
    }
    answer = client.post(url(hist, "team/add/"), body)
    assert answer.status_code == 400
    assert message in text_of(answer.content)
    assert not Membership.objects.filter(plan=hist["plan"], user=hist["joiner"].user).exists()


def test_a_consent_basis_must_cover_the_members_organisation_or_sector(hist):
    consent = consent_create(
        actor=hist["guardian"],
        family=hist["family"],
        grantor_id=None,
        subject_ids=[hist["child_p"].pk],
        categories=["general", "education"],
        purpose="school",
        recipient_sector="social",  # not the curator's sector
    )
    client = page_client(hist["lead"].user)
    body = {"professional": str(hist["joiner"].pk), "basis": "consent", "consent": str(consent.pk)}
    answer = client.post(url(hist, "team/add/"), body)
    assert answer.status_code == 400
    assert not Membership.objects.filter(plan=hist["plan"], user=hist["joiner"].user).exists()
    fitting = consent_create(
        actor=hist["guardian"],
        family=hist["family"],
        grantor_id=None,
        subject_ids=[hist["child_p"].pk],
        categories=["general", "education"],
        purpose="school",
        recipient_sector="education",
    )
    answer = client.post(url(hist, "team/add/"), {**body, "consent": str(fitting.pk)})
    assert answer.status_code == 302
    assert Membership.objects.get(plan=hist["plan"], user=hist["joiner"].user).consent == fitting


@pytest.mark.parametrize("who", ["nurse", "guardian"])
def test_only_the_lead_adds_and_ends_members(hist, who):
    client = page_client(reader(hist, who))
    assert client.get(url(hist, "team/add/")).status_code == 403
    body = {"professional": str(hist["joiner"].pk), "basis": "statute", "statute": "x"}
    assert client.post(url(hist, "team/add/"), body).status_code == 403
    member = Membership.objects.get(plan=hist["plan"], user=hist["nurse"].user)
    assert client.post(url(hist, f"team/{member.pk}/end/"), {}).status_code == 403
    assert Membership.objects.get(pk=member.pk).ended_at is None


def test_the_lead_ends_a_membership_and_the_member_loses_access_at_once(hist):
    member = Membership.objects.get(plan=hist["plan"], user=hist["nurse"].user)
    client = page_client(hist["lead"].user)
    confirm = client.get(url(hist, f"team/{member.pk}/end/"))
    assert confirm.status_code == 200
    done = client.post(url(hist, f"team/{member.pk}/end/"), {"code": "", "reason": "moved"})
    assert done.status_code == 302
    assert Membership.objects.get(pk=member.pk).ended_at is not None
    assert AccessEvent.objects.filter(
        actor_user_id=hist["lead"].user.pk, action="update", object_type="membership"
    ).exists()
    assert page_client(hist["nurse"].user).get(url(hist)).status_code == 404
    # Ended already: nothing to end (the 404 page), and the team shows it ended.
    assert client.get(url(hist, f"team/{member.pk}/end/")).status_code == 404
    assert "ended" in text_of(client.get(url(hist, "team/")).content)


def test_the_lead_cannot_end_their_own_lead_place(hist):
    own = Membership.objects.get(plan=hist["plan"], user=hist["lead"].user)
    client = page_client(hist["lead"].user)
    done = client.post(url(hist, f"team/{own.pk}/end/"), {})
    assert done.status_code == 302
    assert Membership.objects.get(pk=own.pk).ended_at is None
    assert b'class="msg error"' in client.get(done["Location"]).content


#: A member id of no place anywhere (fixed, so every test worker collects the same ids).
NO_SUCH_MEMBER = "5d0b7c1e-0000-4000-8000-00000000dead"


@pytest.mark.parametrize("tail", [f"team/{NO_SUCH_MEMBER}/end/", f"team/{NO_SUCH_MEMBER}/explain/"])
def test_a_member_of_no_such_place_is_the_404_page(hist, tail):
    assert page_client(hist["lead"].user).get(url(hist, tail)).status_code == 404


def test_a_family_place_is_not_ended_from_the_team_page(hist):
    family_place = Membership.objects.get(plan=hist["plan"], user=hist["guardian"])
    client = page_client(hist["lead"].user)
    assert client.post(url(hist, f"team/{family_place.pk}/end/"), {}).status_code == 404
    assert Membership.objects.get(pk=family_place.pk).ended_at is None


#
# Why can this member see this?
#


def test_the_explanation_says_in_words_what_the_api_explains(hist, api):
    member = Membership.objects.get(plan=hist["plan"], user=hist["nurse"].user)
    answer = api.as_user(hist["lead"].user).get(
        f"/api/v1/plans/{hist['plan'].pk}/explain/?member={member.pk}"
    )
    assert answer.status_code == 200
    expected = answer.json()
    page = page_client(hist["lead"].user).get(url(hist, f"team/{member.pk}/explain/"))
    assert page.status_code == 200
    rows = parse(page.content).all("li", data_category=True)
    assert [
        (
            li.attrs["data-category"],
            li.attrs["data-read"] == "true",
            li.attrs["data-write"] == "true",
            li.attrs["data-reason"],
        )
        for li in rows
    ] == [(r["category"], r["read"], r["write"], r["reason"]) for r in expected["categories"]]
    text = text_of(page.content)
    name = hist["nurse"].user.get_full_name()
    assert f"{name} is in the team by law" in text
    assert "Health: " in text
    assert "reads it, because the law lets their sector read it" in text
    assert "does not read it, because neither the law for their sector" in text
    assert AccessEvent.objects.filter(
        actor_user_id=hist["lead"].user.pk, object_type="membership", object_id=str(member.pk)
    ).exists()


def test_the_explanation_of_an_ended_place_says_it_is_not_in_force(hist):
    member = Membership.objects.get(plan=hist["plan"], user=hist["nurse"].user)
    services.membership_end(
        actor=hist["lead"].user, plan_id=hist["plan"].pk, membership_id=member.pk
    )
    page = page_client(hist["lead"].user).get(url(hist, f"team/{member.pk}/explain/"))
    assert "is not in force now" in text_of(page.content)


def test_the_explanation_in_finnish(hist):
    member = Membership.objects.get(plan=hist["plan"], user=hist["nurse"].user)
    client = page_client(hist["lead"].user, HTTP_ACCEPT_LANGUAGE="fi")
    page = client.get(url(hist, f"team/{member.pk}/explain/"))
    assert page.status_code == 200
    assert '<html lang="fi">' in page.content.decode()


@pytest.mark.parametrize("who", ["nurse", "guardian"])
def test_only_the_lead_asks_why(hist, who):
    member = Membership.objects.get(plan=hist["plan"], user=hist["nurse"].user)
    assert (
        page_client(reader(hist, who)).get(url(hist, f"team/{member.pk}/explain/")).status_code
        == 403
    )


#
# Query counts do not grow with the plan
#


def _grow(h, n: int) -> None:
    """`n` more goals, each with an action another organisation and person are responsible
    for, each changed once."""
    u = h["lead"].user
    for i in range(n):
        goal = services.item_create(
            actor=u,
            plan_id=h["plan"].pk,
            model=Goal,
            data={"category": "general", "title": f"Goal {i}", "desired_outcome": "o"},
        )
        services.item_create(
            actor=u,
            plan_id=h["plan"].pk,
            model=Action,
            data={
                "category": "general",
                "description": f"Action {i}",
                "goal": goal.pk,
                "responsible_kind": "organization",
                "responsible_organization": factories.organization("social").pk,
            },
        )
        services.item_update(
            actor=u,
            plan_id=h["plan"].pk,
            model=Goal,
            item_id=goal.pk,
            expected_version=None,
            data={"achievement": "improving"},
        )


def _queries(client, path: str) -> int:
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    with CaptureQueriesContext(connection) as ctx:
        assert client.get(path).status_code == 200
    return len(ctx.captured_queries)


def test_history_page_queries_do_not_grow_with_the_plan(hist):
    client = page_client(hist["lead"].user)

    def counts() -> list[int]:
        latest = int(
            parse(client.get(url(hist, "history/")).content)
            .all("li", class_="version")[0]
            .attrs["data-version"]
        )
        return [
            _queries(client, url(hist, "history/")),
            _queries(client, url(hist, f"history/{latest}/")),
            _queries(client, url(hist, f"history/diff/?from=1&to={latest}")),
            _queries(client, url(hist, "team/")),
        ]

    _grow(hist, 2)
    small = counts()
    _grow(hist, 12)
    assert counts() == small


def test_a_member_of_another_plan_is_the_404_page(hist):
    other_lead = factories.professional()
    other = factories.plan(other_lead, factories.family())
    stranger = factories.add_member(other, other_lead, factories.professional("teacher"))
    client = page_client(hist["lead"].user)
    for tail in (f"team/{stranger.pk}/explain/", f"team/{stranger.pk}/end/"):
        assert client.get(url(hist, tail)).status_code == 404
    assert client.post(url(hist, f"team/{stranger.pk}/end/"), {}).status_code == 404
    assert Membership.objects.get(pk=stranger.pk).ended_at is None


def test_the_timeline_pages_twenty_versions_at_a_time(hist):
    _grow(hist, 8)
    client = page_client(hist["guardian"])
    first = parse(client.get(url(hist, "history/")).content).all("li", class_="version")
    second = parse(client.get(url(hist, "history/?page=2")).content).all("li", class_="version")
    assert len(first) == 20
    numbers = [int(li.attrs["data-version"]) for li in first + second]
    assert numbers == sorted(numbers, reverse=True)
    assert numbers[-1] == 1
    assert client.get(url(hist, "history/?page=abc")).status_code == 404


def test_restore_is_offered_only_where_the_lead_may_write_both_categories(hist):
    """`policy.may_restore_item`: the lead (MANAGE) writing the old version's category and the
    item's category now; a category the lead does not write (health, the nurse's) is not
    offered, nor is anything to another member."""
    from plan_service import policy
    from plan_service.plans.models import Plan

    plan = Plan.objects.get(pk=hist["plan"].pk)
    lead = policy.plan_access(hist["lead"].user, plan)
    nurse = policy.plan_access(hist["nurse"].user, plan)
    assert policy.may_restore_item(lead, {"general"})
    assert policy.may_restore_item(lead, {"general", "social"})
    assert not policy.may_restore_item(lead, {"general", "health"})
    assert not policy.may_restore_item(nurse, {"general"})
    assert not policy.may_restore_item(None, {"general"})
