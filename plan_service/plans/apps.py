from __future__ import annotations

from typing import Any

from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


def _family_member_linked(sender: Any, *, person: Any, **kwargs: Any) -> None:
    """A family member's account was linked: the family's open plans add them at once."""
    from plan_service.plans.models import Plan
    from plan_service.plans.services import family_sync

    for plan in Plan.objects.filter(family_id=person.family_id).exclude(
        status=Plan.Status.COMPLETED
    ):
        family_sync(plan=plan, actor=None)


def _keep_change_note(sender: Any, instance: Any, history_instance: Any, **kwargs: Any) -> None:
    """Copy the writer's free-text reason onto the plan's new historical row (simple-history's
    documented way to fill an extra history column; the services set `_change_note`)."""
    history_instance.change_note = getattr(instance, "_change_note", "") or ""


class PlansConfig(AppConfig):
    name = "plan_service.plans"
    label = "plans"
    verbose_name = _("plans")

    def ready(self) -> None:
        from django.core.signals import request_started
        from django.db.backends.signals import connection_created
        from django.db.models.signals import post_save
        from simple_history.signals import (
            post_create_historical_record,
            pre_create_historical_record,
        )

        from plan_service import db_loaders
        from plan_service.audit import parties
        from plan_service.participants.signals import account_linked
        from plan_service.plans import kinds  # noqa: F401 (declares the built-in item kinds)
        from plan_service.plans.models import Plan
        from plan_service.plans.selectors import plan_target
        from plan_service.plans.visibility import (
            forget_written,
            note_history_written,
            note_written,
        )

        # Plans are read timestamp by timestamp; psycopg's C loader where it equals Django's.
        connection_created.connect(db_loaders.use_c_loader, dispatch_uid="db_loaders.c_loader")
        parties.answer_target("plan", plan_target)
        # Versions a reader is shown count this transaction's own writes (plans.visibility).
        post_save.connect(note_written, sender=Plan, dispatch_uid="plans.note_written")
        request_started.connect(forget_written, dispatch_uid="plans.forget_written")
        # A version that writes more than the noted item is not continued (visibility.item_view).
        post_create_historical_record.connect(
            note_history_written, dispatch_uid="plans.note_history_written"
        )

        pre_create_historical_record.connect(
            _keep_change_note,
            sender=Plan.history.model,  # type: ignore[attr-defined]
            dispatch_uid="plans.keep_change_note",
        )
        account_linked.connect(_family_member_linked, dispatch_uid="plans.family_member_linked")
