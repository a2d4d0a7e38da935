"""Issue 11's leaks, each as a regression test over HTTP: what a reader may not see leaves no
trace in history, versions, ETags, signatures, the family's access log or the schema."""

from __future__ import annotations

import pytest

from plan_service.participants import assessments
from plan_service.participants.models import Person
from plan_service.plans import services
from plan_service.plans.models import Comment, Need
from tests import factories

pytestmark = pytest.mark.django_db


@pytest.fixture
def team():
    """A child-protection lead, a school curator, a nurse; a guardian and a 13-year-old."""
    lead = factories.professional("child_protection_social_worker")
    curator = factories.professional("school_curator")
    nurse = factories.professional("public_health_nurse")
    family = factories.family(children=1, guardians=1, child_age=13)
    plan = factories.plan(lead, family)
    factories.add_member(plan, lead, curator)
    factories.add_member(plan, lead, nurse)
    guardian = factories.link(Person.objects.get(family=family, kind="guardian"))
    child_person = Person.objects.get(family=family, kind="child")
    child = factories.link(child_person)
    return lead, curator, nurse, guardian, child, child_person, plan


def _url(plan, suffix=""):
    return f"/api/v1/plans/{plan.pk}/{suffix}"


def _hidden_restricted_need(api, lead, nurse, child_person, plan):
    """The Nieminen case: the nurse adds a need, the child hides it, the nurse comments."""
    assessments.assessment_record(
        actor=lead.user, plan_id=plan.pk, child_id=child_person.pk, code=3
    )
    n = api.as_user(nurse.user)
    need = n.post(_url(plan, "needs/"), {"category": "health", "title": "ehkäisy"}).json()
    restricted = n.post(
        _url(plan, f"needs/{need['id']}/restrict/"),
        {"child": str(child_person.pk)},
        HTTP_IF_MATCH='W/"1"',
    )
    assert restricted.status_code == 200, restricted.content
    etag = n.get(_url(plan, f"needs/{need['id']}/"))["ETag"]
    changed = n.patch(_url(plan, f"needs/{need['id']}/"), {"title": "x"}, HTTP_IF_MATCH=etag)
    assert changed.status_code == 200, changed.content
    comment = {"target_type": "need", "target_id": need["id"], "text": "kommentti"}
    assert n.post(_url(plan, "comments/"), comment).status_code == 201
    return need


def test_the_curator_gets_no_history_entry_for_child_protection_work(api, team):
    lead, curator, *_rest, plan = team
    c = api.as_user(curator.user)
    before = c.get(_url(plan, "history/")).json()
    detail = c.get(_url(plan))
    response = api.as_user(lead.user).post(
        _url(plan, "goals/"),
        {"category": "social", "title": "sijoitus", "desired_outcome": "o"},
        HTTP_X_CHANGE_REASON="lastensuojeluilmoitus 12/2026",
        HTTP_X_CHANGE_REASON_CODE="new_information",
    )
    assert response.status_code == 201
    after = c.get(_url(plan, "history/")).json()
    assert after == before
    text = c.get(_url(plan, "history/")).content.decode()
    assert "lastensuojeluilmoitus" not in text
    again = c.get(_url(plan))
    assert again["ETag"] == detail["ETag"]
    assert again.json()["version"] == detail.json()["version"]
    assert again.json()["updated_at"] == detail.json()["updated_at"]
    # The lead, who sees it, gets the entry with its code, label and words.
    newest = api.as_user(lead.user).get(_url(plan, "history/")).json()["results"][0]
    assert newest["reason_code"] == "new_information"
    assert newest["reason"] == "lastensuojeluilmoitus 12/2026"
    assert newest["changes"] == [{"type": "goal", "id": response.json()["id"], "change": "added"}]


def test_the_guardian_sees_no_trace_of_an_item_the_child_hid(api, team):
    lead, _curator, nurse, guardian, _child, child_person, plan = team
    g = api.as_user(guardian)
    history_before = g.get(_url(plan, "history/")).json()
    detail_before = g.get(_url(plan))
    need = _hidden_restricted_need(api, lead, nurse, child_person, plan)
    assert g.get(_url(plan, "history/")).json() == history_before
    detail = g.get(_url(plan))
    assert detail["ETag"] == detail_before["ETag"]
    assert detail.json()["counts"] == detail_before.json()["counts"]
    seen = g.get(_url(plan, "access-log/"), {"page_size": 200}).content.decode()
    assert need["id"] not in seen
    rows = g.get(_url(plan, "access-log/"), {"page_size": 200}).json()["results"]
    kinds = {(r["action"], r["object_type"]) for r in rows}
    assert not kinds & {("create", "need"), ("update", "need"), ("create", "comment")}
    assert "maturityassessment" not in {r["object_type"] for r in rows}
    # The lead sees the assessment's row (the child sees the rest: the next test).
    lead_rows = api.as_user(lead.user).get(_url(plan, "access-log/"), {"page_size": 200}).json()
    lead_kinds = {(r["action"], r["object_type"]) for r in lead_rows["results"]}
    assert ("create", "maturityassessment") in lead_kinds


def test_the_child_sees_the_rows_about_their_own_hidden_item_and_assessment(api, team):
    lead, _curator, nurse, _guardian, child, child_person, plan = team
    _hidden_restricted_need(api, lead, nurse, child_person, plan)
    rows = api.as_user(child).get(_url(plan, "access-log/"), {"page_size": 200}).json()
    kinds = {(r["action"], r["object_type"]) for r in rows["results"]}
    assert {("create", "maturityassessment"), ("update", "need"), ("create", "comment")} <= kinds


def test_a_list_read_looks_the_same_in_the_family_log_whatever_its_hidden_results(api, team):
    """A list writes one log row per person its results concern; with a hidden need about the
    child the nurse's list of needs concerns other people than without it. The family sees each
    list read as one row about nobody in particular, so both reads look alike."""
    lead, _curator, nurse, guardian, _child, child_person, plan = team
    n, g = api.as_user(nurse.user), api.as_user(guardian)

    def the_nurses_need_lists() -> list[dict]:
        rows = g.get(_url(plan, "access-log/"), {"page_size": 200}).json()["results"]
        return [
            {k: v for k, v in r.items() if k != "recorded_at"}
            for r in rows
            if (r["action"], r["object_type"]) == ("search", "need")
        ]

    assert n.get(_url(plan, "needs/")).status_code == 200  # no needs: about the whole family
    before = the_nurses_need_lists()
    assert len(before) == 1
    assert before[0]["subject"] is None
    _hidden_restricted_need(api, lead, nurse, child_person, plan)
    assert n.get(_url(plan, "needs/")).json()["count"] == 1  # the hidden need: about the child
    after = the_nurses_need_lists()
    assert after == before * 2


def test_a_signature_is_not_outdated_by_a_change_the_signer_cannot_see(api, team):
    lead, curator, nurse, guardian, _child, child_person, plan = team
    g = api.as_user(guardian)
    version = g.get(_url(plan)).json()["version"]
    signed = g.post(_url(plan, "acknowledgements/"), {"version": version, "decision": "agree"})
    assert signed.status_code == 201, signed.content
    _hidden_restricted_need(api, lead, nurse, child_person, plan)
    [state] = g.get(_url(plan)).json()["acknowledgements"]
    assert state["outdated"] is False
    assert state["version"] == g.get(_url(plan)).json()["version"] == version
    # Nor for the lead: the nurse's health item is beyond what the lead reads.
    api.as_user(nurse.user).post(_url(plan, "needs/"), {"category": "health", "title": "uni"})
    [lead_state] = api.as_user(lead.user).get(_url(plan)).json()["acknowledgements"]
    assert lead_state["outdated"] is False
    # A change the guardian does see outdates it, for everyone who sees that change.
    api.as_user(curator.user).post(_url(plan, "needs/"), {"category": "general", "title": "uusi"})
    [state] = g.get(_url(plan)).json()["acknowledgements"]
    assert state["outdated"] is True
    [lead_state] = api.as_user(lead.user).get(_url(plan)).json()["acknowledgements"]
    assert lead_state["outdated"] is True
    # The content hash is the signer's evidence, shown to them only.
    [ack] = g.get(_url(plan, "acknowledgements/")).json()["results"]
    assert len(ack["content_hash"]) == 64
    [other] = api.as_user(lead.user).get(_url(plan, "acknowledgements/")).json()["results"]
    assert other["content_hash"] is None


def test_a_write_is_judged_by_the_version_the_writer_sees(api, team):
    """If-Match names the writer's own version: hidden changes do not make it stale, visible
    ones do, and the 412 names the writer's current version (no lost update either way)."""
    lead, curator, *_rest, plan = team
    c = api.as_user(curator.user)
    etag = c.get(_url(plan))["ETag"]
    for n in range(3):
        api.as_user(lead.user).post(_url(plan, "needs/"), {"category": "social", "title": f"s{n}"})
    ok = c.patch(_url(plan), {"summary": "koulun näkemys"}, HTTP_IF_MATCH=etag)
    assert ok.status_code == 200, ok.content
    assert ok["ETag"] != etag
    stale = c.patch(_url(plan), {"summary": "myöhässä"}, HTTP_IF_MATCH=etag)
    assert stale.status_code == 412
    assert stale.json()["current_version"] == ok.json()["version"]
    # Items too: a child-protection need unlinked from a general goal moves nothing the
    # curator sees, so the curator's ETag of the goal stays valid.
    hidden = api.as_user(lead.user).post(
        _url(plan, "needs/"), {"category": "social", "title": "linkki"}
    )
    goal = api.as_user(lead.user).post(
        _url(plan, "goals/"),
        {"category": "general", "title": "g", "desired_outcome": "o", "need": hidden.json()["id"]},
    )
    goal_url = _url(plan, f"goals/{goal.json()['id']}/")
    read = c.get(goal_url)
    assert read.json()["need"] is None
    api.as_user(lead.user).delete(
        _url(plan, f"needs/{hidden.json()['id']}/"), HTTP_IF_MATCH='W/"1"'
    )
    again = c.get(goal_url)
    assert again["ETag"] == read["ETag"]
    assert again.json() == read.json()
    assert c.patch(goal_url, {"title": "h"}, HTTP_IF_MATCH=read["ETag"]).status_code == 200
    # The lead saw the unlink: their ETag moved.
    assert api.as_user(lead.user).get(goal_url)["ETag"] == 'W/"3"'


def test_a_bad_reason_code_is_refused_naming_the_header(api, team):
    lead, *_rest, plan = team
    response = api.as_user(lead.user).post(
        _url(plan, "needs/"),
        {"category": "general", "title": "t"},
        HTTP_X_CHANGE_REASON_CODE="whatever",
    )
    assert response.status_code == 400
    assert [e["field"] for e in response.json()["errors"]] == ["X-Change-Reason-Code"]
    too_long = api.as_user(lead.user).post(
        _url(plan, "needs/"), {"category": "general", "title": "t"}, HTTP_X_CHANGE_REASON="x" * 501
    )
    assert too_long.status_code == 400
    assert [e["field"] for e in too_long.json()["errors"]] == ["X-Change-Reason"]
    assert Need.objects.filter(plan=plan).count() == 0


def test_the_reason_headers_are_in_the_schema_on_every_write_that_makes_a_version(api, team):
    lead, *_rest = team
    schema = api.as_user(lead.user).get("/api/schema/", {"format": "json"}).json()
    missing = []
    for path, operations in schema["paths"].items():
        if not path.startswith("/api/v1/plans/{plan_pk}/") and path != "/api/v1/plans/{id}/":
            continue
        for method, operation in operations.items():
            if method not in ("post", "put", "patch", "delete"):
                continue
            if any(
                word in path
                for word in ("acknowledgements", "assessments", "fhir", "emergency-access")
            ):
                continue  # these make no plan version
            names = {p["name"] for p in operation.get("parameters", [])}
            if not {"X-Change-Reason", "X-Change-Reason-Code"} <= names:
                missing.append(f"{method.upper()} {path}")
    assert missing == []


def test_history_shows_only_the_visible_changes_of_a_partly_visible_version(api, team):
    """Removing a general need unlinks a health goal (nurse's) in the same version: the curator
    sees the removal but not the unlink, nor the lead's words for the version."""
    lead, curator, nurse, *_rest, plan = team
    need = services.item_create(
        actor=lead.user, plan_id=plan.pk, model=Need, data={"category": "general", "title": "n"}
    )
    api.as_user(nurse.user).post(
        _url(plan, "goals/"),
        {"category": "health", "title": "h", "desired_outcome": "o", "need": str(need.pk)},
    )
    api.as_user(lead.user).delete(
        _url(plan, f"needs/{need.pk}/"), HTTP_IF_MATCH='W/"1"', HTTP_X_CHANGE_REASON="päällekkäinen"
    )
    newest = api.as_user(curator.user).get(_url(plan, "history/")).json()["results"][0]
    assert newest["changes"] == [{"type": "need", "id": str(need.pk), "change": "removed"}]
    assert newest["reason_code"] == "item_removed"
    assert newest["reason"] == ""
    nurse_view = api.as_user(nurse.user).get(_url(plan, "history/")).json()["results"][0]
    assert {c["type"] for c in nurse_view["changes"]} == {"need", "goal"}
    assert nurse_view["reason"] == "päällekkäinen"
    assert Comment.objects.filter(plan=plan).count() == 0


def test_a_change_to_what_the_child_hid_outdates_the_childs_signature_not_the_guardians(api, team):
    """Whose signature a change outdates follows the signer's own view (`_Signer.sees`): the
    child who hid the need saw it when signing, the guardian did not."""
    lead, _curator, nurse, guardian, child, child_person, plan = team
    need = _hidden_restricted_need(api, lead, nurse, child_person, plan)
    for signer in (api.as_user(guardian), api.as_user(child)):
        version = signer.get(_url(plan)).json()["version"]
        signed = signer.post(
            _url(plan, "acknowledgements/"), {"version": version, "decision": "agree"}
        )
        assert signed.status_code == 201, signed.content
    n = api.as_user(nurse.user)
    etag = n.get(_url(plan, f"needs/{need['id']}/"))["ETag"]
    changed = n.patch(_url(plan, f"needs/{need['id']}/"), {"title": "y"}, HTTP_IF_MATCH=etag)
    assert changed.status_code == 200, changed.content
    states = {a["person"]: a["outdated"] for a in n.get(_url(plan)).json()["acknowledgements"]}
    guardian_person = Person.objects.get(user=guardian)
    assert states == {str(guardian_person.pk): False, str(child_person.pk): True}
