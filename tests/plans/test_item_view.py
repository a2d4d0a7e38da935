"""A write's answer and an item's read come from the item's own history and the class's stored
plan versions (`visibility.item_view`), not from a replay of the whole plan. Whatever the order
of writes and reads by readers of different classes, they must say exactly what the whole
plan's view (`visibility.reader_view`, the definition) says: the item's version (its ETag), the
plan version it was last changed in, and who made and changed it when.
"""

from __future__ import annotations

import datetime as dt
import random

import pytest

from plan_service import policy
from plan_service.participants.models import Person
from plan_service.plans import document, kinds, visibility
from plan_service.plans.models import (
    Acknowledgement,
    Comment,
    Goal,
    Membership,
    Need,
    Plan,
    ReaderVersions,
)
from plan_service.plans.services._base import advance, track
from tests import factories

pytestmark = pytest.mark.django_db

META = ("version", "plan_version", "created_by", "updated_by")
#: The definition, kept before the test below puts a counting spy in its place.
WHOLE_VIEW = visibility.reader_view


def _new(actor, plan, model, **data):
    """An item written through the service, as the API writes it."""
    from plan_service.plans import services

    return services.item_create(actor=actor, plan_id=plan.pk, model=model, data=data)


def _edit(actor, plan, item, access=None, **data):
    from plan_service.plans import services

    return services.item_update(
        actor=actor,
        plan_id=plan.pk,
        model=type(item),
        item_id=item.pk,
        expected_version=None,
        data=data,
        access=access,
    )


@pytest.fixture
def setting():
    lead = factories.professional("child_protection_social_worker")
    curator = factories.professional("school_curator")
    family = factories.family(children=1, guardians=1, child_age=13)
    plan = factories.plan(lead, family)
    factories.add_member(plan, lead, curator)
    guardian = factories.link(Person.objects.get(family=family, kind="guardian"))
    return lead.user, curator.user, guardian, plan


@pytest.fixture
def family_of_three(setting):
    """The setting, with the child signed in too and assessed able to hide items from the
    guardians (THL code 3), so items can be restricted and the child's signatures judged."""
    from plan_service.participants import assessments
    from plan_service.plans import services

    lead, curator, guardian, plan = setting
    child = Person.objects.get(family=plan.family, kind="child")
    child_user = factories.link(child)
    services.family_sync(plan=plan, actor=lead)
    assessments.assessment_record(actor=lead, plan_id=plan.pk, child_id=child.pk, code=3)
    return lead, curator, guardian, plan, child_user, child


def _truth(user, plan, model, item_id) -> dict:
    """What the whole plan's view says of the item for `user`, now."""
    access = policy.plan_access_for(user, plan.pk)
    view = WHOLE_VIEW(access)
    item = model.objects.get(pk=item_id)
    meta = view.item_meta(item)
    return {
        "version": meta["version"],
        "plan_version": meta["plan_version"],
        "created_by": meta["created_by"],
        "updated_by": meta["updated_by"],
        "created_at": meta["created_at"],
        "updated_at": meta["updated_at"],
        "etag": f'W/"{view.item_version(kinds.of(model).name, item_id, item.version)}"',
    }


def _said(response) -> dict:
    body = response.json()
    return {
        **{k: body[k] for k in META},
        "created_at": dt.datetime.fromisoformat(body["created_at"]),
        "updated_at": dt.datetime.fromisoformat(body["updated_at"]),
        "etag": response["ETag"],
    }


class _Committing:
    """An API client each of whose requests ends as its commit would in production: the work
    kept for after the commit (`visibility`'s kept item replays) is done. The test's own
    transaction never commits, so without this no replay would ever be kept."""

    def __init__(self, client, capture) -> None:
        self.client, self.capture = client, capture

    def __getattr__(self, name: str):
        method = getattr(self.client, name)

        def committed(*args, **kwargs):
            with self.capture(execute=True):
                return method(*args, **kwargs)

        return committed


class Walk:
    """Writes and reads through the API by the lead (child protection), a member of another
    class (a school curator) and a guardian, each answer checked against `_truth`."""

    def __init__(self, api, family_of_three, rng: random.Random, commit=None) -> None:
        self.lead, self.curator, self.guardian, self.plan, self.child, self.child_person = (
            family_of_three
        )
        self.readers = (self.lead, self.curator, self.guardian, self.child)
        self.rng = rng
        self.committing = commit is not None
        self.clients = {
            u.pk: _Committing(api.as_user(u), commit) if commit else api.as_user(u)
            for u in self.readers
        }
        self.checked = 0
        self.stored_checked = 0
        self.signatures_judged = 0

    def url(self, kind: str, item_id=None) -> str:
        base = f"/api/v1/plans/{self.plan.pk}/{kind}/"
        return f"{base}{item_id}/" if item_id else base

    def access(self, user):
        return policy.plan_access_for(user, self.plan.pk)

    def check(self, user, response, model, item_id) -> None:
        assert response.status_code in (200, 201), response.content
        assert _said(response) == _truth(user, self.plan, model, item_id), (model, user)
        self.checked += 1

    def check_stored(self, user) -> None:
        access = self.access(user)
        whole = WHOLE_VIEW(access)
        # What the family's access log may name: the items the whole view shows today.
        assert visibility.visible_ids(access) == whole.vis.ids, user
        stored = ReaderVersions.objects.filter(
            plan=self.plan, visibility=access.visibility, plan_version=access.plan.version
        ).first()
        if stored is None:
            return
        expected = visibility.ClassState.of(whole)
        assert stored.versions == expected.versions, user
        assert stored.updated_at == expected.updated_at, user
        assert stored.marks == expected.marks, user
        # The plan detail from the stored state is the one from the whole view, signatures'
        # states included, and the whole view's signature rule agrees with the marks.
        state = visibility.ClassState.from_row(
            stored.plan_version, (stored.versions, stored.updated_at, stored.marks)
        )
        assert state is not None
        assert document.detail(access, state) == document.detail(access), user
        for ack in Acknowledgement.objects.filter(plan=self.plan):
            kind = Person.objects.get(pk=ack.person_id).kind
            assert expected.outdated(ack, kind) == whole.outdated(ack, kind)
            self.signatures_judged += 1
        self.stored_checked += 1

    def visible(self, user, model):
        rows = policy.items_for(self.access(user), model.objects.all())
        return list(rows.order_by("created_at", "pk"))

    def create(self, user, model, data) -> None:
        response = self.clients[user.pk].post(self.url(model._meta.model_name + "s"), data)
        self.check(user, response, model, response.json()["id"])

    def patch(self, user, item, data) -> None:
        url = self.url(item._meta.model_name + "s", item.pk)
        read = self.clients[user.pk].get(url)
        self.check(user, read, type(item), item.pk)
        response = self.clients[user.pk].patch(url, data, HTTP_IF_MATCH=read["ETag"])
        self.check(user, response, type(item), item.pk)

    def sign(self, signer) -> None:
        version = self.clients[signer.pk].get(f"/api/v1/plans/{self.plan.pk}/").json()
        signed = self.clients[signer.pk].post(
            self.url("acknowledgements"),
            {"version": version["version"], "decision": self.rng.choice(["agree", "disagree"])},
        )
        assert signed.status_code == 201, signed.content

    def step(self) -> None:
        rng = self.rng
        user = rng.choice([self.lead, self.curator])
        writes = sorted(self.access(user).writes)
        needs, goals = self.visible(user, Need), self.visible(user, Goal)
        choice = rng.randrange(13)
        if choice == 0 or not needs:
            self.create(user, Need, {"category": rng.choice(writes), "title": "tarve"})
        elif choice == 1 or not goals:
            data = {"category": rng.choice(writes), "title": "tavoite", "desired_outcome": "o"}
            data["need"] = str(rng.choice(needs).pk) if rng.random() < 0.7 else None
            self.create(user, Goal, data)
        elif choice == 2:
            mine = [g for g in goals if g.category in writes]
            if mine:
                self.patch(user, rng.choice(mine), {"title": rng.choice(["a", "b", "b"])})
        elif choice == 3:
            mine = [g for g in goals if g.category in writes]
            if mine:
                need = rng.choice([None, *needs])
                self.patch(user, rng.choice(mine), {"need": str(need.pk) if need else None})
        elif choice == 4:
            mine = [g for g in goals if g.category in writes]
            if mine:
                self.patch(user, rng.choice(mine), {"category": rng.choice(writes)})
        elif choice == 5:
            self.create(self.guardian, Comment, {"target_type": "plan", "text": "kiitos"})
        elif choice == 6:
            reader = rng.choice([self.lead, self.curator, self.guardian])
            assert self.clients[reader.pk].get(f"/api/v1/plans/{self.plan.pk}/").status_code == 200
        elif choice == 7:
            target = rng.choice(goals)
            self.create(
                user, Comment, {"target_type": "goal", "target_id": str(target.pk), "text": "c"}
            )
        elif choice == 8:
            self.sign(rng.choice([self.guardian, self.child]))
        elif choice == 9:
            # The lead records (or lifts) the child's wish to hide a goal, or a need goals name
            # (which changes what the guardians see of those goals' links), from the guardians.
            writes = self.access(self.lead).writes
            model = rng.choice([Goal, Need])
            mine = [g for g in self.visible(self.lead, model) if g.category in writes]
            if mine:
                target = rng.choice(mine)
                url = self.url(model._meta.model_name + "s", target.pk)
                client = self.clients[self.lead.pk]
                etag = client.get(url)["ETag"]
                child = None if target.restricted_by_id else str(self.child_person.pk)
                done = client.post(f"{url}restrict/", {"child": child}, HTTP_IF_MATCH=etag)
                assert done.status_code == 200, done.content
        elif choice == 10:
            # The plan's own fields: a version every reader sees (and a signature's concern).
            client = self.clients[self.lead.pk]
            etag = client.get(f"/api/v1/plans/{self.plan.pk}/")["ETag"]
            done = client.patch(
                f"/api/v1/plans/{self.plan.pk}/",
                {"summary": rng.choice(["yhteenveto", "toinen"])},
                HTTP_IF_MATCH=etag,
            )
            assert done.status_code == 200, done.content
        elif choice == 11:
            # The team: a member joins, or the newest one leaves (a version with no item rows).
            from plan_service.plans import services

            lead = self.lead.professional
            extra = Membership.objects.filter(
                plan=self.plan, ended_at__isnull=True, professional__role="public_health_nurse"
            ).first()
            if extra is None:
                factories.add_member(self.plan, lead, factories.professional("public_health_nurse"))
            else:
                services.membership_end(
                    actor=self.lead, plan_id=self.plan.pk, membership_id=extra.pk
                )
        else:
            mine = [n for n in needs if n.category in self.access(self.lead).writes]
            if mine:  # a removal that unlinks goals: several rows in one version
                victim = rng.choice(mine)
                client = self.clients[self.lead.pk]
                etag = client.get(self.url("needs", victim.pk))["ETag"]
                gone = client.delete(self.url("needs", victim.pk), HTTP_IF_MATCH=etag)
                assert gone.status_code == 204, gone.content
        # Every reader's read of an item they see says what the whole view says, and a
        # class's stored plan versions, where current, are the whole view's. Committing, the
        # item is read twice: a first read after another class's write falls back to the
        # whole view (which stores the class's versions); the second answers from those and
        # from the replay the first kept.
        for reader in self.readers:
            self.check_stored(reader)
            for model in (Need, Goal):
                seen = self.visible(reader, model)
                if seen:
                    item = rng.choice(seen)
                    url = self.url(model._meta.model_name + "s", item.pk)
                    for _ in range(2 if self.committing else 1):
                        self.check(reader, self.clients[reader.pk].get(url), model, item.pk)


@pytest.mark.parametrize(
    ("seed", "committing"),
    [(1, False), (2, False), (3, False), (4, True), (5, True), (6, True)],
)
def test_answers_and_reads_say_what_the_whole_plans_view_says(
    api, family_of_three, seed, committing, monkeypatch, django_capture_on_commit_callbacks
):
    """With `committing`, every request's after-commit work runs, so item replays are kept
    between requests and taken up again (exactly, or continued across other writes)."""
    whole = []

    def counted(access):  # a spy: the real function, counted when item_view falls back
        whole.append(access.visibility)
        return WHOLE_VIEW(access)

    taken_up = []
    kept = visibility._kept

    def counted_kept(*args):  # a spy: counts the kept replays taken up
        replay = kept(*args)
        taken_up.append(replay is not None)
        return replay

    monkeypatch.setattr(visibility, "reader_view", counted)
    monkeypatch.setattr(visibility, "_kept", counted_kept)
    visibility.forget_kept_replays()
    commit = django_capture_on_commit_callbacks if committing else None
    walk = Walk(api, family_of_three, random.Random(seed), commit)
    lead, curator = walk.lead, walk.curator
    # A link to a need the curator cannot see, then the curator drops it: a save that changes
    # nothing the curator sees, so their own write is not a new version for them.
    lead_client = walk.clients[lead.pk]
    social = lead_client.post(walk.url("needs"), {"category": "social", "title": "salainen"})
    general = lead_client.post(
        walk.url("goals"),
        {
            "category": "general",
            "title": "yhteinen",
            "desired_outcome": "o",
            "need": social.json()["id"],
        },
    )
    assert general.status_code == 201, general.content
    assert "general" in walk.access(curator).writes
    walk.patch(curator, Goal.objects.get(pk=general.json()["id"]), {"need": None})
    walk.check_stored(curator)
    walk.create(curator, Need, {"category": "general", "title": "seuraava"})
    for signer in (walk.guardian, walk.child):  # signatures from the start, judged throughout
        walk.sign(signer)
    for _ in range(40):
        walk.step()
    assert walk.checked >= 100
    assert walk.stored_checked >= 30
    assert walk.signatures_judged >= 20
    # Most answers came without replaying the plan (the spy counts the fallbacks); the
    # comparisons above are not all of the whole view against itself.
    assert len(whole) < walk.checked * 0.4, (len(whole), walk.checked)
    if committing:  # the answers above came from kept replays too, not only fresh ones
        assert sum(taken_up) >= 20, (sum(taken_up), len(taken_up))
    else:
        assert not any(taken_up)


def test_a_write_that_changes_what_its_class_sees_is_not_continued(setting):
    """A write after which the item's visibility for the class differs (here: moved to a
    category the class cannot read) changes which earlier versions exist for the class: the
    stored versions must not be continued, nor the If-Match replay of the item."""
    from django.db import transaction

    lead, curator, _, plan = setting

    need = _new(lead, plan, Need, category="general", title="n")
    _edit(lead, plan, need, title="n2")
    with transaction.atomic():
        visibility.forget_written()  # as a request starts (the test's own writes never commit)
        access = policy.plan_access_for(curator, plan.pk, lock=True)
        visibility.remember(visibility.reader_view(access))
        before = visibility.item_version(access, "need", need.pk)  # replayed under the lock
        assert before == 2
        item = Need.objects.get(pk=need.pk)
        item.category = "social"  # the curator's class does not read it
        item.version += 1
        item.plan_version = advance(access.plan, lead, None, "item_changed")
        track(item, lead, "item_changed")
        item.save()
        visibility.note_item_written(access.plan, "need", item.pk)
        truth = visibility.reader_view(access)
        # The If-Match replay kept from before the write is not continued either.
        assert visibility.item_version(access, "need", need.pk, 0) == 0
        answered = visibility.item_view(access, "need", item.pk)
        assert answered.versions == truth.versions
        assert answered.item_version("need", need.pk) == truth.item_version("need", need.pk)
        # The need's two earlier versions are gone for the curator: it is hidden now.
        assert truth.item_version("need", need.pk, default=0) == 0
        transaction.set_rollback(True)


def test_a_version_that_wrote_more_than_one_item_is_not_continued(setting):
    """Only a version that wrote the one noted item continues the stored versions and the
    item's replay. Here one version changes a goal and also hides the need it links to from
    the curator's class (as a service writing two items at one version would): the goal's
    earlier links to the need stop being changes the curator sees."""
    from django.db import transaction

    lead, curator, _, plan = setting
    need = _new(lead, plan, Need, category="general", title="n")
    goal = _new(lead, plan, Goal, category="general", title="g", desired_outcome="o", need=need.pk)
    _edit(lead, plan, goal, need=None)
    with transaction.atomic():
        visibility.forget_written()  # as a request starts (the test's own writes never commit)
        access = policy.plan_access_for(curator, plan.pk, lock=True)
        visibility.remember(visibility.reader_view(access))
        assert visibility.item_version(access, "goal", goal.pk) == 2  # replayed, kept
        version = advance(access.plan, lead, None, "item_changed")
        for item, field, value in ((need, "category", "social"), (goal, "title", "g2")):
            item = type(item).objects.get(pk=item.pk)
            setattr(item, field, value)
            item.version += 1
            item.plan_version = version
            track(item, lead, "item_changed")
            item.save()
        visibility.note_item_written(access.plan, "other", need.pk)  # not the goal's write
        truth = visibility.reader_view(access)
        assert visibility.item_version(access, "goal", goal.pk) == truth.item_version(
            "goal", goal.pk
        )
        answered = visibility.item_view(access, "goal", goal.pk)
        assert answered.versions == truth.versions
        assert answered.item_version("goal", goal.pk) == truth.item_version("goal", goal.pk) == 2
        transaction.set_rollback(True)


def test_a_version_rolled_back_to_a_savepoint_is_never_stored(setting):
    """A write undone by a savepoint's rollback leaves the in-memory plan (and the noted
    version) ahead of the rows; a view then ends at a version no row has, and storing its
    versions under that number would give the next real write of it a wrong list."""
    from django.db import transaction

    from plan_service.plans import services

    lead, _, _, plan = setting
    with transaction.atomic():
        visibility.forget_written()
        access = policy.plan_access_for(lead, plan.pk, lock=True)
        try:
            with transaction.atomic():
                services.item_create(
                    actor=lead,
                    plan_id=plan.pk,
                    model=Need,
                    data={"category": "general", "title": "n"},
                    access=access,
                )
                raise RuntimeError("undo")
        except RuntimeError:
            pass
        phantom = access.plan.version
        assert visibility.written_version(plan.pk) == phantom
        assert not Plan.history.filter(id=plan.pk, version=phantom).exists()
        visibility.remember(visibility.reader_view(access))
        assert not ReaderVersions.objects.filter(plan=plan, plan_version=phantom).exists()
        transaction.set_rollback(True)


def test_a_history_row_after_the_note_ends_it(setting):
    """The note says the version wrote one item; any further historical row of the plan in the
    same transaction (a second item, the plan) ends it, and the answer replays the whole plan.
    Here the curator's own write is no change they see (a link to a need hidden from them
    dropped), and a second item at the same version is one they see."""
    from django.db import transaction

    lead, curator, _, plan = setting
    hidden = _new(lead, plan, Need, category="social", title="s")
    seen = _new(lead, plan, Need, category="general", title="n")
    goal = _new(
        lead, plan, Goal, category="general", title="g", desired_outcome="o", need=hidden.pk
    )
    with transaction.atomic():
        visibility.forget_written()
        access = policy.plan_access_for(curator, plan.pk, lock=True)
        visibility.remember(visibility.reader_view(access))
        _edit(curator, plan, goal, access=access, need=None)
        other = Need.objects.get(pk=seen.pk)
        other.title = "n2"
        other.version += 1
        other.plan_version = access.plan.version
        track(other, lead, "item_changed")
        other.save()
        truth = visibility.reader_view(access)
        answered = visibility.item_view(access, "goal", goal.pk)
        assert answered.versions == truth.versions
        assert truth.versions[-1] == access.plan.version  # the need's change counts
        transaction.set_rollback(True)


def test_a_stored_state_in_another_form_is_not_trusted(api, setting):
    """A row whose marks are not in this code's form (written by other code, edited by hand)
    is not used: the detail replays the plan instead of failing."""
    lead, _, guardian, plan = setting

    _new(lead, plan, Need, category="general", title="n")
    client = api.as_user(guardian)
    version = client.get(f"/api/v1/plans/{plan.pk}/").json()["version"]
    signed = client.post(
        f"/api/v1/plans/{plan.pk}/acknowledgements/", {"version": version, "decision": "agree"}
    )
    assert signed.status_code == 201, signed.content
    _new(lead, plan, Need, category="general", title="m")
    access = policy.plan_access(guardian, Plan.objects.get(pk=plan.pk))
    visibility.remember(WHOLE_VIEW(access))
    ReaderVersions.objects.filter(plan=plan).update(marks={"any": 1, "none": "x"})
    shown = client.get(f"/api/v1/plans/{plan.pk}/")
    assert shown.status_code == 200, shown.content
    assert shown.json()["acknowledgements"][0]["outdated"] is True
    assert shown.json()["version"] == WHOLE_VIEW(access).version


#
# Item replays kept between requests (`visibility._kept`)
#


def _goal_relinked(lead, plan):
    """A goal made for one need and then moved to another: two versions for every reader who
    sees both needs, one for a reader who sees neither."""
    needs = [_new(lead, plan, Need, category="general", title=f"n{n}") for n in (1, 2)]
    goal = _new(
        lead, plan, Goal, category="general", title="g", desired_outcome="o", need=needs[0].pk
    )
    _edit(lead, plan, goal, need=needs[1].pk)
    return goal, needs


def _hide_from_guardians(client, plan, needs, child) -> None:
    """The lead records the child's wish to hide each need from the guardians (the API)."""
    for need in needs:
        url = f"/api/v1/plans/{plan.pk}/needs/{need.pk}/"
        etag = client.get(url)["ETag"]
        hidden = client.post(f"{url}restrict/", {"child": str(child.pk)}, HTTP_IF_MATCH=etag)
        assert hidden.status_code == 200, hidden.content


def _kept_entry(plan, access, kind, item_id):
    return visibility._KEPT.get(visibility._kept_key(access, kind, item_id))


def test_an_item_named_by_the_kept_replay_changed_since_is_not_continued(
    api, family_of_three, django_capture_on_commit_callbacks, monkeypatch
):
    """The guardian's replay of a goal is kept; then both needs the goal ever linked to are
    hidden from the guardians (writes of the needs, no row of the goal). The goal's change of
    need is then no change the guardian sees: one version, not two. A kept replay continued
    over those versions would still say two, an ETag that tells the guardian about a hidden
    change."""
    lead, _, guardian, plan, _, child = family_of_three
    lead_client, family_client = api.as_user(lead), api.as_user(guardian)
    goal, needs = _goal_relinked(lead, plan)
    url = f"/api/v1/plans/{plan.pk}/goals/{goal.pk}/"
    visibility.forget_kept_replays()
    with django_capture_on_commit_callbacks(execute=True):
        assert family_client.get(url)["ETag"] == 'W/"2"'
    assert _kept_entry(
        plan, policy.plan_access(guardian, Plan.objects.get(pk=plan.pk)), "goal", goal.pk
    )
    _hide_from_guardians(lead_client, plan, needs, child)
    fresh = []
    replay = visibility._item_replay

    def counted(*args):
        fresh.append(args)
        return replay(*args)

    monkeypatch.setattr(visibility, "_item_replay", counted)
    read = family_client.get(url)
    assert read["ETag"] == _truth(guardian, plan, Goal, goal.pk)["etag"] == 'W/"1"'
    assert fresh, "the kept replay was continued across the needs' writes"


def test_a_kept_replay_continues_across_other_items_writes(
    api, setting, django_capture_on_commit_callbacks, monkeypatch
):
    """Writes of items the kept replay does not name leave it valid: the next read continues
    it (no replay of the item's whole history) and says what the whole view says."""
    lead, curator, _, plan = setting
    goal = _new(lead, plan, Goal, category="general", title="g", desired_outcome="o")
    for title in ("a", "b", "c"):
        _edit(lead, plan, goal, title=title)
    client = api.as_user(curator)
    url = f"/api/v1/plans/{plan.pk}/goals/{goal.pk}/"
    visibility.forget_kept_replays()
    with django_capture_on_commit_callbacks(execute=True):
        client.get(url)
    _new(lead, plan, Need, category="general", title="other")
    _edit(lead, plan, goal, title="d")
    monkeypatch.setattr(visibility, "_item_replay", None)  # any fresh replay would fail
    with django_capture_on_commit_callbacks(execute=True):
        read = client.get(url)
    assert _said(read) == _truth(curator, plan, Goal, goal.pk)
    assert read["ETag"] == 'W/"5"'
    with django_capture_on_commit_callbacks(execute=True):  # kept at the new version: exact
        assert _said(client.get(url)) == _truth(curator, plan, Goal, goal.pk)


def test_a_kept_replay_of_another_database_state_is_not_taken_up(
    api, setting, django_capture_on_commit_callbacks
):
    """A kept replay is taken up only for the database state it was made from: at its own
    version, the plan row's `updated_at` must be the one it was kept with; continued, the last
    row it read must still be there as it was. A database restored to an earlier state and
    written again reuses version numbers with other rows."""
    lead, curator, _, plan = setting
    goal = _new(lead, plan, Goal, category="general", title="g", desired_outcome="o")
    client = api.as_user(curator)
    url = f"/api/v1/plans/{plan.pk}/goals/{goal.pk}/"
    access = policy.plan_access(curator, Plan.objects.get(pk=plan.pk))
    key = visibility._kept_key(access, "goal", goal.pk)
    visibility.forget_kept_replays()
    with django_capture_on_commit_callbacks(execute=True):
        client.get(url)
    version, updated_at, replay = visibility._KEPT[key]
    assert visibility._kept(access, "goal", goal.pk, version) is not None
    visibility._KEPT[key] = (version, updated_at - dt.timedelta(seconds=1), replay)
    assert visibility._kept(access, "goal", goal.pk, version) is None
    # Continued across a write: the last row read must be the database's.
    visibility._KEPT[key] = (version, updated_at, replay)
    _new(lead, plan, Need, category="general", title="other")
    later = policy.plan_access(curator, Plan.objects.get(pk=plan.pk))
    assert visibility._kept(later, "goal", goal.pk, later.plan.version) is not None
    moved = replay.rows[-1]._replace(history_date=replay.rows[-1].history_date - dt.timedelta(1))
    replay.rows[-1] = moved
    assert visibility._kept(later, "goal", goal.pk, later.plan.version) is None


def test_a_rolled_back_transaction_keeps_no_replay(setting, django_capture_on_commit_callbacks):
    from django.db import transaction

    lead, curator, _, plan = setting
    goal = _new(lead, plan, Goal, category="general", title="g", desired_outcome="o")
    visibility.forget_kept_replays()
    with django_capture_on_commit_callbacks(execute=True), transaction.atomic():
        access = policy.plan_access_for(curator, plan.pk)
        assert visibility.item_version(access, "goal", goal.pk) == 1
        transaction.set_rollback(True)
    assert not visibility._KEPT
    with django_capture_on_commit_callbacks(execute=True), transaction.atomic():
        access = policy.plan_access_for(curator, plan.pk)
        visibility.item_version(access, "goal", goal.pk)
    assert _kept_entry(plan, access, "goal", goal.pk)


def test_kept_replays_are_bounded(setting, django_capture_on_commit_callbacks, monkeypatch):
    lead, curator, _, plan = setting
    goals = [
        _new(lead, plan, Goal, category="general", title=f"g{n}", desired_outcome="o")
        for n in range(3)
    ]
    monkeypatch.setattr(visibility, "KEPT_REPLAYS", 2)
    visibility.forget_kept_replays()
    access = policy.plan_access_for(curator, plan.pk)
    for goal in goals:
        with django_capture_on_commit_callbacks(execute=True):
            visibility.item_version(access, "goal", goal.pk)
    assert [k[3] for k in visibility._KEPT] == [goals[1].pk, goals[2].pk]


def test_a_kept_replay_of_versions_the_database_lost_is_not_continued(
    api, family_of_three, django_capture_on_commit_callbacks
):
    """A database that lost its last versions (restored to an earlier point, or a replica
    promoted before it had every commit) while the workers run on: the lost versions hid both
    needs the goal ever named from the guardians, and the guardian's replay of the goal was kept
    there. Other writes then make those version numbers again. Continued across them, the kept
    replay would still count one version of the goal where the database has two.
    (A savepoint rollback stands in for the lost commits.)"""
    from django.db import transaction

    lead, _, guardian, plan, _, child = family_of_three
    lead_client, family_client = api.as_user(lead), api.as_user(guardian)
    goal, needs = _goal_relinked(lead, plan)
    url = f"/api/v1/plans/{plan.pk}/goals/{goal.pk}/"
    visibility.forget_kept_replays()
    lost = transaction.savepoint()
    _hide_from_guardians(lead_client, plan, needs, child)
    with django_capture_on_commit_callbacks(execute=True):
        assert family_client.get(url)["ETag"] == 'W/"1"'
    kept = max(version for version, _, _ in visibility._KEPT.values())
    transaction.savepoint_rollback(lost)
    for n in range(3):
        _new(lead, plan, Need, category="general", title=f"other{n}")
    assert Plan.objects.get(pk=plan.pk).version > kept
    for _ in range(2):  # the first stores the class's versions, the second answers from them
        read = family_client.get(url)
        assert read["ETag"] == _truth(guardian, plan, Goal, goal.pk)["etag"] == 'W/"2"'
