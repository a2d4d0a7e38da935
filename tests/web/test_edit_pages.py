"""The team's editing pages (web/editing.py) over Django's test client: add and change needs,
goals, actions and review meetings; refusals; and joint editing that never loses a change."""

from __future__ import annotations

import re

import pytest

from plan_service import policy
from plan_service.audit.models import AccessEvent
from plan_service.participants.models import Person
from plan_service.plans import services
from plan_service.plans.models import Action, Dissent, Goal, Need, Review
from plan_service.plans.visibility import reader_view
from tests import factories
from tests.web.helpers import page_client, text_of

pytestmark = pytest.mark.django_db


@pytest.fixture
def team():
    """A plan led by a child-protection social worker, with a nurse and a school curator."""
    lead = factories.professional("child_protection_social_worker")
    nurse = factories.professional("public_health_nurse")
    curator = factories.professional("school_curator")
    family = factories.family(children=1, guardians=1, child_age=10)
    plan = factories.plan(lead, family)
    factories.add_member(plan, lead, nurse)
    factories.add_member(plan, lead, curator)
    child = Person.objects.get(family=family, kind="child")
    guardian = factories.link(Person.objects.get(family=family, kind="guardian"))
    services.family_sync(plan=plan, actor=lead.user)
    need = services.item_create(
        actor=lead.user,
        plan_id=plan.pk,
        model=Need,
        data={"category": "general", "title": "Calm mornings", "description": "Hard starts."},
    )
    goal = services.item_create(
        actor=lead.user,
        plan_id=plan.pk,
        model=Goal,
        data={
            "category": "general",
            "title": "On time at school",
            "desired_outcome": "Four days a week",
            "need": need.pk,
        },
    )
    social = services.item_create(
        actor=lead.user,
        plan_id=plan.pk,
        model=Need,
        data={"category": "social", "title": "Child protection matter"},
    )
    return {
        "lead": lead,
        "nurse": nurse,
        "curator": curator,
        "plan": plan,
        "child": child,
        "guardian": guardian,
        "need": need,
        "goal": goal,
        "social": social,
    }


def _plan(t) -> str:
    return f"/plans/{t['plan'].pk}/"


def _edit(t, item, kind: str | None = None) -> str:
    return f"{_plan(t)}items/{kind or item._meta.model_name}/{item.pk}/edit/"


def _version(user, t, item) -> int:
    access = policy.plan_access(user, t["plan"])
    return reader_view(access).item_version(item._meta.model_name, item.pk, item.version)


def _need_form(**extra):
    return {"category": "general", "title": "Sleep", "description": "", **extra}


def _history(item) -> int:
    return type(item).history.filter(id=item.pk).count()


#
# Adding
#


def test_the_plan_page_offers_add_and_change_to_writers_only(team):
    lead = page_client(team["lead"].user).get(_plan(team))
    assert f'href="{_plan(team)}items/need/new/"'.encode() in lead.content
    assert f'href="{_edit(team, team["need"])}"'.encode() in lead.content
    assert f'href="{_edit(team, team["social"])}"'.encode() in lead.content
    curator = page_client(team["curator"].user).get(_plan(team))
    assert f'href="{_edit(team, team["need"])}"'.encode() in curator.content
    assert str(team["social"].pk).encode() not in curator.content
    guardian = page_client(team["guardian"]).get(_plan(team))
    assert b"items/need/new/" not in guardian.content
    assert b"/edit/" not in guardian.content


def test_a_team_member_adds_a_need_with_history_and_log_rows(team):
    client = page_client(team["nurse"].user)
    form = client.get(f"{_plan(team)}items/need/new/")
    assert form.status_code == 200
    assert "no-store" in form["Cache-Control"]
    assert b'<option value="social"' not in form.content  # the nurse may not write it
    answer = client.post(
        f"{_plan(team)}items/need/new/",
        _need_form(title="Sleep well", category="health", concerns=[str(team["child"].pk)]),
    )
    assert answer.status_code == 302
    need = Need.objects.get(title="Sleep well")
    assert answer["Location"] == f"{_plan(team)}#need-{need.pk}"
    assert need.category == "health"
    assert need.concerns == [team["child"].pk]
    assert need.created_by == team["nurse"].user
    assert _history(need) == 1
    assert AccessEvent.objects.filter(
        actor_user_id=team["nurse"].user.pk, action="create", object_id=str(need.pk)
    ).exists()


def test_a_goal_is_added_under_a_need_and_an_action_under_the_goal(team):
    client = page_client(team["lead"].user)
    form = client.get(f"{_plan(team)}items/action/new/?goal={team['goal'].pk}")
    assert f'<option value="{team["goal"].pk}" selected>'.encode() in form.content
    answer = client.post(
        f"{_plan(team)}items/goal/new/",
        {
            "category": "general",
            "need": str(team["need"].pk),
            "title": "Breakfast together",
            "desired_outcome": "Every school day",
            "achievement": "in-progress",
            "target_date": "2031-05-31",
        },
    )
    assert answer.status_code == 302, text_of(answer.content)
    goal = Goal.objects.get(title="Breakfast together")
    assert goal.need_id == team["need"].pk
    answer = client.post(
        f"{_plan(team)}items/action/new/",
        {
            "category": "general",
            "goal": str(goal.pk),
            "description": "Alarm clock bought",
            "responsible_kind": "member",
            "responsible_user": str(
                team["plan"].memberships.get(user=team["nurse"].user, ended_at=None).pk
            ),
            "status": "not-started",
        },
    )
    assert answer.status_code == 302, text_of(answer.content)
    action = Action.objects.get(description="Alarm clock bought")
    assert (action.goal_id, action.responsible_user_id) == (goal.pk, team["nurse"].user.pk)


def test_a_review_meeting_records_progress_per_goal(team):
    client = page_client(team["lead"].user)
    form = client.get(f"{_plan(team)}items/review/new/")
    assert b"Progress per goal" in form.content
    goal = team["goal"]
    answer = client.post(
        f"{_plan(team)}items/review/new/",
        {
            "category": "general",
            "held_on": "2030-01-15",
            "participants": "Lead Pro\r\nA Guardian\r\n",
            "notes": "Agreed on mornings.",
            f"progress_{goal.pk}_achievement": "improving",
            f"progress_{goal.pk}_note": "Three days out of five.",
        },
    )
    assert answer.status_code == 302, text_of(answer.content)
    review = Review.objects.get(notes="Agreed on mornings.")
    assert review.participants == ["Lead Pro", "A Guardian"]
    assert review.progress == [
        {"goal": str(goal.pk), "note": "Three days out of five.", "achievement": "improving"}
    ]
    page = client.get(_plan(team))
    assert b"Three days out of five." in page.content
    assert b"<svg" in page.content  # the progress chart draws it


def test_bad_input_shows_the_form_again_naming_the_field_and_changes_nothing(team):
    client = page_client(team["lead"].user)
    before = Need.objects.count()
    answer = client.post(f"{_plan(team)}items/need/new/", _need_form(title=""))
    assert answer.status_code == 400
    text = text_of(answer.content)
    assert "Nothing was saved" in text
    assert "Title: This field is required." in text
    assert b'aria-invalid="true"' in answer.content
    answer = client.post(f"{_plan(team)}items/need/new/", _need_form(title="x" * 301))
    assert answer.status_code == 400
    assert "Title: Ensure this value has at most 300 characters" in text_of(answer.content)
    answer = client.post(
        f"{_plan(team)}items/goal/new/",
        {"category": "general", "title": "T", "desired_outcome": "O", "target_date": "31.2.2030"},
    )
    assert answer.status_code == 400
    assert "Target date: Enter a valid date." in text_of(answer.content)
    # A need of another plan (or a forged id) is not among the choices.
    other = factories.plan(team["lead"])
    foreign = services.item_create(
        actor=team["lead"].user,
        plan_id=other.pk,
        model=Need,
        data={"category": "general", "title": "F"},
    )
    answer = client.post(
        f"{_plan(team)}items/goal/new/",
        {
            "category": "general",
            "title": "T",
            "desired_outcome": "O",
            "need": str(foreign.pk),
            "achievement": "in-progress",
        },
    )
    assert answer.status_code == 400
    assert "Need: Select a valid choice." in text_of(answer.content)
    # The action's responsible person must be named (the service's rule, on the field).
    answer = client.post(
        f"{_plan(team)}items/action/new/",
        {
            "category": "general",
            "description": "D",
            "responsible_kind": "guardian",
            "status": "not-started",
        },
    )
    assert answer.status_code == 400
    assert "Name who is responsible." in text_of(answer.content)
    assert Need.objects.count() == before + 1  # only the other plan's need


def test_refusals_are_the_403_and_404_pages_and_change_nothing(team):
    guardian = page_client(team["guardian"])
    for path in ("items/need/new/", "items/review/new/"):
        assert guardian.get(_plan(team) + path).status_code == 403
    assert guardian.post(_plan(team) + "items/need/new/", _need_form()).status_code == 403
    assert guardian.get(_edit(team, team["need"])).status_code == 403
    # Words and signatures have their own pages; other kinds are no page at all.
    lead = page_client(team["lead"].user)
    for kind in ("comment", "dissent", "acknowledgement", "plan", "x" * 300):
        assert lead.get(f"{_plan(team)}items/{kind}/new/").status_code == 404
    # The curator may not write child-protection items: the form does not offer it, and a
    # hand-made request is refused; the item itself is invisible to them (404, like missing).
    curator = page_client(team["curator"].user)
    assert (
        curator.post(_plan(team) + "items/need/new/", _need_form(category="social")).status_code
        == 403
    )
    assert curator.get(_edit(team, team["social"])).status_code == 404
    assert curator.post(_edit(team, team["social"]), _need_form(version=1)).status_code == 404
    assert curator.get(_edit(team, team["social"]).replace("/need/", "/goal/")).status_code == 404
    # The curator may read the general need but not move it into child protection.
    answer = curator.post(
        _edit(team, team["need"]),
        _need_form(
            title="Calm mornings",
            category="social",
            version=_version(team["curator"].user, team, team["need"]),
        ),
    )
    assert answer.status_code == 403
    # Another plan's item id under this plan's URL: the 404 page.
    other = factories.plan(team["lead"])
    foreign = services.item_create(
        actor=team["lead"].user,
        plan_id=other.pk,
        model=Need,
        data={"category": "general", "title": "F"},
    )
    assert lead.get(f"{_plan(team)}items/need/{foreign.pk}/edit/").status_code == 404
    assert (
        lead.post(f"{_plan(team)}items/need/{foreign.pk}/edit/", _need_form(version=1)).status_code
        == 404
    )
    assert Need.objects.get(pk=team["need"].pk).version == 1
    assert (
        AccessEvent.objects.filter(actor_user_id=team["curator"].user.pk, outcome="denied").count()
        >= 3
    )


def test_editing_saves_only_what_changed_based_on_the_version_read(team):
    client = page_client(team["nurse"].user)
    form = client.get(_edit(team, team["need"]))
    assert form.status_code == 200
    assert b'name="version" value="1"' in form.content
    assert b"Calm mornings" in form.content
    answer = client.post(
        _edit(team, team["need"]),
        _need_form(title="Calm mornings", description="Breakfast first.", version=1),
    )
    assert answer.status_code == 302
    need = Need.objects.get(pk=team["need"].pk)
    assert (need.description, need.version, need.updated_by) == (
        "Breakfast first.",
        2,
        team["nurse"].user,
    )
    assert _history(need) == 2
    assert AccessEvent.objects.filter(action="update", object_id=str(need.pk)).exists()


def test_a_goal_edit_keeps_a_link_the_editor_cannot_see(team):
    """The nurse cannot see a social need; changing the goal's title leaves its link alone."""
    lead = team["lead"].user
    goal = services.item_create(
        actor=lead,
        plan_id=team["plan"].pk,
        model=Goal,
        data={
            "category": "general",
            "title": "G",
            "desired_outcome": "O",
            "need": team["social"].pk,
        },
    )
    client = page_client(team["nurse"].user)
    version = _version(team["nurse"].user, team, goal)
    answer = client.post(
        _edit(team, goal),
        {
            "category": "general",
            "title": "G2",
            "desired_outcome": "O",
            "need": "",
            "achievement": "in-progress",
            "version": version,
        },
    )
    assert answer.status_code == 302
    goal.refresh_from_db()
    assert (goal.title, goal.need_id) == ("G2", team["social"].pk)


#
# Joint editing
#


def _stale_edit(team):
    """The nurse opens the need; the lead saves a change first; the nurse then saves hers."""
    nurse = page_client(team["nurse"].user)
    assert b'name="version" value="1"' in nurse.get(_edit(team, team["need"])).content
    lead = page_client(team["lead"].user)
    assert (
        lead.post(
            _edit(team, team["need"]),
            _need_form(title="Calm mornings", description="Wake up at seven.", version=1),
        ).status_code
        == 302
    )
    answer = nurse.post(
        _edit(team, team["need"]),
        _need_form(
            title="Calm and quick mornings", description="Pack the bag at night.", version=1
        ),
    )
    return nurse, answer


def test_a_stale_version_gives_the_conflict_page_with_both_versions_and_saves_nothing(team):
    _nurse, answer = _stale_edit(team)
    assert answer.status_code == 409
    text = text_of(answer.content)
    assert "Someone else changed this first" in text
    assert "Wake up at seven." in text  # their version now
    assert "Pack the bag at night." in text  # hers, not lost
    assert "Calm and quick mornings" in text
    assert f"Last changed by {team['lead'].user.get_full_name()}" in text
    assert b'name="version" value="2"' in answer.content  # both ways on: the version now
    need = Need.objects.get(pk=team["need"].pk)
    assert (need.description, need.version) == ("Wake up at seven.", 2)
    assert "no-store" in answer["Cache-Control"]


def test_reapplying_over_the_new_version_saves_with_history_and_log(team):
    nurse, answer = _stale_edit(team)
    form = answer.content.split(b'class="inline reapply"')[1].split(b"</form>")[0]
    hidden = re.findall(rb'<input type="hidden" name="(\w+)" value="([^"]*)"', form)
    payload = {k.decode(): v.decode() for k, v in hidden if k != b"csrfmiddlewaretoken"}
    assert payload["version"] == "2"
    assert payload["title"] == "Calm and quick mornings"
    saved = nurse.post(_edit(team, team["need"]), payload)
    assert saved.status_code == 302
    need = Need.objects.get(pk=team["need"].pk)
    assert (need.title, need.description, need.version) == (
        "Calm and quick mornings",
        "Pack the bag at night.",
        3,
    )
    assert _history(need) == 3  # theirs stays in the history
    assert Need.history.filter(id=need.pk, description="Wake up at seven.").exists()
    rows = AccessEvent.objects.filter(
        actor_user_id=team["nurse"].user.pk, action="update", object_id=str(need.pk)
    )
    assert rows.count() == 2  # one per family member (the whole family's need), one save


def test_merging_saves_both_intentions_and_a_third_change_conflicts_again(team):
    nurse, answer = _stale_edit(team)
    assert b"Their version now:" in answer.content
    merged = _need_form(
        title="Calm and quick mornings",
        description="Wake up at seven. Pack the bag at night.",
        version=2,
    )
    # Meanwhile the lead changes it once more: the merge is against a stale version again.
    lead = page_client(team["lead"].user)
    assert (
        lead.post(
            _edit(team, team["need"]),
            _need_form(title="Calm mornings", description="Wake up at half past six.", version=2),
        ).status_code
        == 302
    )
    again = nurse.post(_edit(team, team["need"]), merged)
    assert again.status_code == 409
    assert "Wake up at half past six." in text_of(again.content)
    assert Need.objects.get(pk=team["need"].pk).version == 3
    merged["version"] = 3
    merged["description"] = "Wake up at half past six. Pack the bag at night."
    assert nurse.post(_edit(team, team["need"]), merged).status_code == 302
    need = Need.objects.get(pk=team["need"].pk)
    assert need.description == "Wake up at half past six. Pack the bag at night."
    assert need.title == "Calm and quick mornings"
    assert need.version == 4
    assert _history(need) == 4


def test_a_change_the_editor_cannot_see_does_not_make_their_version_stale(team):
    """Versions are reader-relative: the lead's change of a child-protection item, which the
    nurse cannot see, leaves her edit of the general need based on a current version."""
    services.item_update(
        actor=team["lead"].user,
        plan_id=team["plan"].pk,
        model=Need,
        item_id=team["social"].pk,
        expected_version=None,
        data={"title": "Changed in secret"},
    )
    nurse = page_client(team["nurse"].user)
    answer = nurse.post(_edit(team, team["need"]), _need_form(title="Calm", version=1))
    assert answer.status_code == 302


def test_a_missing_or_forged_version_saves_nothing(team):
    nurse = page_client(team["nurse"].user)
    answer = nurse.post(_edit(team, team["need"]), _need_form(title="Calm"))
    assert answer.status_code == 400
    answer = nurse.post(_edit(team, team["need"]), _need_form(title="Calm", version="abc"))
    assert answer.status_code == 400
    answer = nurse.post(_edit(team, team["need"]), _need_form(title="Calm", version=99))
    assert answer.status_code == 409
    assert Need.objects.get(pk=team["need"].pk).title == "Calm mornings"


def test_a_review_edit_keeps_progress_on_goals_the_editor_cannot_see(team):
    lead = team["lead"].user
    secret = services.item_create(
        actor=lead,
        plan_id=team["plan"].pk,
        model=Goal,
        data={"category": "social", "title": "Secret goal", "desired_outcome": "O"},
    )
    review = services.item_create(
        actor=lead,
        plan_id=team["plan"].pk,
        model=Review,
        data={
            "category": "general",
            "held_on": "2030-01-01",
            "progress": [
                {"goal": str(secret.pk), "note": "secret progress", "achievement": "improving"},
                {"goal": str(team["goal"].pk), "note": "ok"},
            ],
        },
    )
    nurse = page_client(team["nurse"].user)
    form = nurse.get(_edit(team, review))
    assert b"secret" not in form.content.lower()
    answer = nurse.post(
        _edit(team, review),
        {
            "category": "general",
            "held_on": "2030-01-01",
            f"progress_{team['goal'].pk}_achievement": "achieved",
            f"progress_{team['goal'].pk}_note": "done",
            "version": _version(team["nurse"].user, team, review),
        },
    )
    assert answer.status_code == 302, text_of(answer.content)
    review.refresh_from_db()
    assert {e["goal"]: e.get("note") for e in review.progress} == {
        str(secret.pk): "secret progress",
        str(team["goal"].pk): "done",
    }


def test_professionals_answer_comments_and_dissent_in_place(team):
    """The words form is on every item for the team too (htmx answers the item's block)."""
    services.item_create(
        actor=team["guardian"],
        plan_id=team["plan"].pk,
        model=Dissent,
        data={"target_type": "goal", "target_id": team["goal"].pk, "text": "Too early"},
    )
    nurse = page_client(team["nurse"].user)
    page = nurse.get(_plan(team))
    assert f'id="text-goal-{team["goal"].pk}"'.encode() in page.content
    answer = nurse.post(
        f"{_plan(team)}words/",
        {
            "target_type": "goal",
            "target_id": str(team["goal"].pk),
            "text": "We can start later",
            "as": "comment",
        },
        HTTP_HX_REQUEST="true",
    )
    assert answer.status_code == 200
    assert b"We can start later" in answer.content
    assert b"Too early" in answer.content


def _hidden_inputs(content: bytes, form_class: str) -> dict[str, str]:
    form = content.split(f'class="{form_class}"'.encode())[1].split(b"</form>")[0]
    found = re.findall(rb'<input type="hidden" name="(\w+)" value="([^"]*)"', form)
    return {k.decode(): v.decode() for k, v in found if k != b"csrfmiddlewaretoken"}


def test_applying_my_changes_again_keeps_what_only_they_changed(team):
    """Three-way: the nurse changed the title, the lead the description; applying the
    nurse's changes to the lead's version keeps both."""
    nurse = page_client(team["nurse"].user)
    lead = page_client(team["lead"].user)
    assert (
        lead.post(
            _edit(team, team["need"]),
            _need_form(title="Calm mornings", description="Wake up at seven.", version=1),
        ).status_code
        == 302
    )
    answer = nurse.post(
        _edit(team, team["need"]),
        _need_form(title="Quiet mornings", description="Hard starts.", version=1),
    )
    assert answer.status_code == 409
    text = text_of(answer.content)
    assert "changed by you" in text
    assert "changed by them" in text
    payload = _hidden_inputs(answer.content, "inline reapply")
    assert payload["description"] == "Wake up at seven."
    assert nurse.post(_edit(team, team["need"]), payload).status_code == 302
    need = Need.objects.get(pk=team["need"].pk)
    assert (need.title, need.description, need.version) == (
        "Quiet mornings",
        "Wake up at seven.",
        3,
    )


def test_an_action_saved_unchanged_writes_nothing_and_keeps_who_is_responsible(team):
    lead = team["lead"].user
    action = services.item_create(
        actor=lead,
        plan_id=team["plan"].pk,
        model=Action,
        data={
            "category": "general",
            "description": "Phone the school",
            "responsible_kind": "member",
            "responsible_user": team["nurse"].user.pk,
            "due_date": "2030-02-01",
        },
    )
    client = page_client(lead)
    form = client.get(_edit(team, action))
    assert form.status_code == 200
    fields = dict(re.findall(rb'name="(\w+)"[^>]*value="([^"]*)"', form.content.split(b"<main")[1]))
    selected = re.findall(
        rb'<select name="(\w+)"[^>]*>.*?<option value="([^"]*)" selected>',
        form.content,
        flags=re.S,
    )
    payload = {k.decode(): v.decode() for k, v in [*fields.items(), *selected]}
    payload.pop("csrfmiddlewaretoken", None)
    payload.pop("concerns")  # a box not ticked is not sent
    payload["description"] = "Phone the school"
    answer = client.post(_edit(team, action), payload)
    assert answer.status_code == 302, text_of(answer.content)
    action.refresh_from_db()
    assert (action.version, action.responsible_user_id) == (1, team["nurse"].user.pk)
    assert b"Nothing was changed." in client.get(_plan(team)).content


def test_forged_and_oversized_input_is_a_form_error_never_a_500(team):
    lead = page_client(team["lead"].user)
    other_family = factories.family(children=1, guardians=1)
    stranger_child = Person.objects.get(family=other_family, kind="child")
    other_plan = factories.plan(team["lead"], other_family)
    foreign_place = other_plan.memberships.get(user=team["lead"].user, ended_at=None)
    edit = _edit(team, team["need"])
    attacks = [
        (edit, _need_form(title="x" * 1_000_000, version=1), "Title"),
        (edit, _need_form(concerns=[str(stranger_child.pk)], version=1), "Children concerned"),
        (edit, _need_form(concerns=["not-a-uuid"], version=1), "Children concerned"),
        (edit, _need_form(category="nonsense", version=1), "Information category"),
        (edit, _need_form(version=-1), "The version you started from"),
        (edit, _need_form(version="9" * 400), "The version you started from"),
        (
            f"{_plan(team)}items/action/new/",
            {
                "category": "general",
                "description": "D",
                "responsible_kind": "member",
                "responsible_user": str(foreign_place.pk),
                "status": "not-started",
            },
            "Team member responsible",
        ),
        (
            f"{_plan(team)}items/review/new/",
            {
                "category": "general",
                "held_on": "2030-01-01",
                f"progress_{team['goal'].pk}_note": "n" * 2001,
                "participants": "\n".join(["x"] * 51),
            },
            "Took part",
        ),
        (
            f"{_plan(team)}items/review/new/",
            {"category": "general", "held_on": "99999-01-01"},
            "Held on",
        ),
    ]
    for path, payload, field in attacks:
        answer = lead.post(path, payload)
        assert answer.status_code == 400, (field, answer.status_code)
        summary = text_of(answer.content).replace(" :", ":")  # the label is a link there
        assert f"{field}:" in summary, field
    need = Need.objects.get(pk=team["need"].pk)
    assert (need.title, need.version, need.concerns) == ("Calm mornings", 1, [])
    assert not Action.objects.filter(description="D").exists()
    assert not Review.objects.exists()
    # Malformed ids in the URL are the 404 page, like a missing item.
    assert lead.get(f"{_plan(team)}items/need/not-a-uuid/edit/").status_code == 404
    assert lead.get(f"{_plan(team)}items/goal/{team['need'].pk}/edit/").status_code == 404


def _goals(team, n: int) -> None:
    for i in range(n):
        services.item_create(
            actor=team["lead"].user,
            plan_id=team["plan"].pk,
            model=Goal,
            data={"category": "general", "title": f"g{i}", "desired_outcome": "o"},
        )


@pytest.mark.parametrize("kind", ["goal", "action", "review"])
def test_form_queries_do_not_grow_with_the_plan(team, kind):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    review = services.item_create(
        actor=team["lead"].user,
        plan_id=team["plan"].pk,
        model=Review,
        data={"category": "general", "held_on": "2030-01-01"},
    )
    client = page_client(team["lead"].user)
    paths = [f"{_plan(team)}items/{kind}/new/", _edit(team, review), _edit(team, team["goal"])]
    for path in paths:
        client.get(path)
    _goals(team, 2)
    with CaptureQueriesContext(connection) as small:
        for path in paths:
            client.get(path)
    _goals(team, 12)
    with CaptureQueriesContext(connection) as large:
        for path in paths:
            assert client.get(path).status_code == 200
    assert len(large) == len(small)
