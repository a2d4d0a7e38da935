"""`historical.save`: a row and its history row in one statement, held to what Django's
`Model.save` and django-simple-history write and signal for the same change."""

from __future__ import annotations

import datetime as dt
import functools
import uuid
from collections.abc import Callable
from typing import Any

import pytest
from django.db import DatabaseError, DataError, connection, transaction
from django.db.models import Model
from django.db.models.signals import post_save, pre_save
from django.test.utils import CaptureQueriesContext
from django.utils import timezone
from simple_history.signals import post_create_historical_record, pre_create_historical_record

from plan_service import historical
from plan_service.participants.acting import reset_acting_for, set_acting_for
from plan_service.plans import visibility
from plan_service.plans.models import Comment, Goal, Plan
from tests import factories

pytestmark = pytest.mark.django_db

#: Columns that are the moment of the save: compared for agreement, not equality.
_MOMENTS = {"updated_at", "history_date"}


class _RollbackError(Exception):
    pass


def _rows(model: type[Model], pk: object) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    row = model.objects.filter(pk=pk).values().get()
    history = list(model.history.filter(id=pk).order_by("history_id").values())  # type: ignore[attr-defined]
    return row, history


def _both_ways(
    model: type[Model], pk: object, change: Callable[[Model], Model], **kwargs: Any
) -> dict[str, tuple[dict[str, Any], list[dict[str, Any]]]]:
    """The rows after `change` then the ORM's save, and after `change` then `historical.save`,
    each from the same starting point (the first is rolled back)."""
    out = {}
    for way in ("orm", "one statement"):
        try:
            with transaction.atomic():
                instance = change(model.objects.get(pk=pk))
                before = timezone.now()
                if way == "orm":
                    instance.save(**kwargs)
                else:
                    historical.save(instance, **kwargs)
                row, history = _rows(model, instance.pk)
                assert history[-1]["history_date"] >= before
                if "updated_at" in row and (not kwargs or "updated_at" in kwargs["update_fields"]):
                    assert row["updated_at"] >= before
                out[way] = (row, history)
                if way == "orm":
                    raise _RollbackError
        except _RollbackError:
            pass
    return out


def _assert_same(
    ways: dict[str, tuple[dict[str, Any], list[dict[str, Any]]]], moments: set[str] = _MOMENTS
) -> None:
    def without_moments(row: dict[str, Any]) -> dict[str, Any]:
        return {k: v for k, v in row.items() if k not in moments and k != "history_id"}

    (orm_row, orm_history), (row, history) = ways["orm"], ways["one statement"]
    assert without_moments(row) == without_moments(orm_row)
    assert len(history) == len(orm_history)
    assert [without_moments(h) for h in history] == [without_moments(h) for h in orm_history]
    # The history row holds the row as saved, moments included.
    for name in moments & set(row):
        assert history[-1][name] == row[name]


@pytest.fixture
def world():
    lead = factories.professional()
    plan = factories.plan(lead)
    guardian = factories.user()
    goal = Goal.objects.create(
        plan=plan,
        category="general",
        title="Sleep",
        created_by=lead.user,
        updated_by=lead.user,
        concerns=[plan.family.members.first().pk],
    )
    return {"lead": lead, "plan": plan, "goal": goal, "guardian": guardian}


def test_an_item_update_writes_what_model_save_writes(world):
    """Every column, the version, who acted, why, and on whose behalf (a guardian acting for a
    child: the registry's receiver fills it in)."""
    child = uuid.uuid4()

    def change(goal: Goal) -> Goal:
        goal.title = 'Sleeps through the night ✓ — "quoted" \\ back'
        goal.achievement = "improving"
        goal.target_date = dt.date(2027, 3, 1)
        goal.concerns = [child]
        goal.version += 1
        goal.plan_version = 7
        goal.updated_by = world["guardian"]
        goal._history_user = world["guardian"]
        goal._change_reason = "item-changed"
        return goal

    token = set_acting_for(world["guardian"].pk, child)
    try:
        ways = _both_ways(Goal, world["goal"].pk, change)
    finally:
        reset_acting_for(token)
    _assert_same(ways)
    last = ways["one statement"][1][-1]
    assert last["history_type"] == "~"
    assert last["history_user_id"] == world["guardian"].pk
    assert last["history_change_reason"] == "item-changed"
    assert last["history_on_behalf_of"] == child
    assert last["title"] == 'Sleeps through the night ✓ — "quoted" \\ back'


def test_a_plan_version_with_update_fields_writes_what_model_save_writes(world):
    """Only the named columns change; the history row keeps the whole plan and the writer's
    own words (the plans app's receiver)."""

    def change(plan: Plan) -> Plan:
        plan.version += 1
        plan.summary = "not saved: not among the update fields"
        plan.updated_by = world["lead"].user
        plan._history_user = world["lead"].user
        plan._change_reason = "item-added"
        plan._change_note = "Sovittu palaverissa"
        return plan

    fields = ["version", "updated_by", "updated_at"]
    ways = _both_ways(Plan, world["plan"].pk, change, update_fields=fields)
    _assert_same(ways)
    row, history = ways["one statement"]
    assert row["summary"] != "not saved: not among the update fields"
    assert history[-1]["change_note"] == "Sovittu palaverissa"
    # As simple-history does: the history row holds the instance as it stood in memory.
    assert history[-1]["summary"] == "not saved: not among the update fields"


def test_an_insert_writes_what_model_save_writes(world):
    plan, user = world["plan"], world["lead"].user
    pk = uuid.uuid4()
    out = {}
    for way in ("orm", "one statement"):
        try:
            with transaction.atomic():
                comment = Comment(
                    pk=pk,
                    plan=plan,
                    category="general",
                    target_type="plan",
                    text="Kiitos",
                    created_by=user,
                    updated_by=user,
                    plan_version=3,
                )
                comment._history_user = user
                comment._change_reason = "item-added"
                if way == "orm":
                    comment.save()
                else:
                    historical.save(comment)
                assert not comment._state.adding
                out[way] = _rows(Comment, pk)
                if way == "orm":
                    raise _RollbackError
        except _RollbackError:
            pass
    _assert_same(out, {*_MOMENTS, "created_at"})
    row, history = out["one statement"]
    assert [h["history_type"] for h in history] == ["+"]
    assert history[0]["created_at"] == row["created_at"]


def _signals_of(save: Callable[[], None]) -> list[tuple[str, Any]]:
    """The signals `save` sends, in order, each with what its receivers are told."""
    seen: list[tuple[str, Any]] = []

    def note(name: str) -> Callable[..., None]:
        def receiver(sender: Any, **kwargs: Any) -> None:
            told = {k: kwargs.get(k) for k in ("created", "update_fields", "raw", "using")}
            if "history_instance" in kwargs:
                told["history_instance"] = kwargs["history_instance"]
                told["history_change_reason"] = kwargs["history_change_reason"]
            seen.append((name, told))

        return receiver

    receivers = {
        pre_save: note("pre_save"),
        post_save: note("post_save"),
        pre_create_historical_record: note("pre_history"),
        post_create_historical_record: note("post_history"),
    }
    for signal, receiver in receivers.items():
        signal.connect(receiver, weak=False)
    try:
        save()
    finally:
        for signal, receiver in receivers.items():
            signal.disconnect(receiver)
    return seen


def test_one_statement_and_the_signals_model_save_sends_in_its_order(world):
    goal, plan = world["goal"], world["plan"]
    before = goal.history.count()

    def told(seen: list[tuple[str, Any]]) -> list[tuple[str, dict]]:
        return [(n, {k: v for k, v in t.items() if k != "history_instance"}) for n, t in seen]

    goal.title = "the ORM's"
    goal._change_reason = "item-changed"
    orm = _signals_of(lambda: goal.save(update_fields=["title"]))
    goal.title = "one statement"
    with CaptureQueriesContext(connection) as ctx:
        ours = _signals_of(lambda: historical.save(goal, update_fields=["title"]))
    assert len(ctx.captured_queries) == 1
    assert told(ours) == told(orm)
    assert [n for n, _ in ours] == [
        "pre_save",
        "pre_history",
        "pre_save",  # the history row's own
        "post_save",
        "post_history",
        "post_save",
    ]
    assert goal.history.count() == before + 2  # one row each, none twice
    history_instance = ours[4][1]["history_instance"]
    assert history_instance.history_id == goal.history.latest("history_id").history_id
    assert not history_instance._state.adding
    assert not hasattr(goal, "skip_history_when_saving")
    # The plans app's post_save receiver notes the version this transaction wrote.
    plan.version += 1
    historical.save(plan, update_fields=["version"])
    assert visibility.written_version(plan.pk) == plan.version


def test_no_update_field_saves_and_sends_nothing_and_the_key_is_not_one(world):
    goal = world["goal"]
    with CaptureQueriesContext(connection) as ctx:
        assert _signals_of(lambda: historical.save(goal, update_fields=[])) == []
    assert ctx.captured_queries == []
    with pytest.raises(ValueError, match="no field id"):
        historical.save(goal, update_fields=["id", "title"])


def test_what_it_does_not_do_as_the_library_does_is_left_to_model_save(world):
    """A row loaded with deferred fields is saved as Model.save saves it (those fields alone),
    with its history row."""
    goal = Goal.objects.only("id", "plan_id", "title", "version").get(pk=world["goal"].pk)
    before = goal.history.count()
    goal.title = "partly loaded"
    historical.save(goal)
    assert Goal.objects.get(pk=goal.pk).title == "partly loaded"
    assert goal.history.count() == before + 1


def test_a_row_that_is_gone_writes_no_history_and_says_so(world):
    goal = world["goal"]
    before = Goal.history.filter(id=goal.pk).count()
    Goal.objects.filter(pk=goal.pk).delete()
    goal.title = "into the void"
    with pytest.raises(DatabaseError, match="did not affect any row"):
        historical.save(goal)
    assert Goal.history.filter(id=goal.pk).count() == before + 1  # the deletion's row only


def test_too_long_a_value_is_refused_not_cut(world):
    """A value longer than its column fails the one statement, as Model.save fails, and nothing
    is written: in the row, and in the history row alone (the history values are cast to types
    without a length, so nothing is cut to fit)."""
    goal, plan = world["goal"], world["plan"]
    limit = Goal._meta.get_field("title").max_length
    goal.title = "x" * (limit + 1)
    before = Goal.history.filter(id=goal.pk).count()
    with pytest.raises(DataError), transaction.atomic():
        historical.save(goal)
    assert Goal.history.filter(id=goal.pk).count() == before
    assert Goal.objects.get(pk=goal.pk).title == "Sleep"
    reason = Plan.history.model._meta.get_field("history_change_reason").max_length
    language = Plan._meta.get_field("language").max_length
    too_long = [{"_change_reason": "x" * (reason + 1)}, {"language": "y" * (language + 1)}]
    for only_in_history in too_long:
        for way in ("orm", "one statement"):
            plan = Plan.objects.get(pk=plan.pk)
            for name, value in only_in_history.items():
                setattr(plan, name, value)
            plan.version += 1
            versions = plan.history.count()
            save = plan.save if way == "orm" else functools.partial(historical.save, plan)
            with pytest.raises(DataError), transaction.atomic():
                save(update_fields=["version"])
            assert plan.history.count() == versions
            assert Plan.objects.get(pk=plan.pk).version == plan.version - 1


def test_the_librarys_switch_for_no_history_row_is_honoured(world, settings):
    goal = world["goal"]
    before = Goal.history.filter(id=goal.pk).count()
    goal.title = "quietly"
    goal.skip_history_when_saving = True
    historical.save(goal)
    assert goal.skip_history_when_saving  # the caller's, left as it was
    del goal.skip_history_when_saving
    settings.SIMPLE_HISTORY_ENABLED = False
    goal.title = "quietly again"
    historical.save(goal)
    assert Goal.objects.get(pk=goal.pk).title == "quietly again"
    assert Goal.history.filter(id=goal.pk).count() == before


def test_an_update_field_the_model_lacks_is_refused_before_anything_is_sent(world):
    plan = world["plan"]
    with CaptureQueriesContext(connection) as ctx, pytest.raises(ValueError, match="no field"):
        historical.save(plan, update_fields=["version", "verison"])
    assert ctx.captured_queries == []
