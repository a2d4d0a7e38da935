"""The notices listen to what happens (plans.signals, emergency.signals); connected in ready()."""

from __future__ import annotations

from typing import Any

from plan_service.notifications import services


def plan_changed(sender: Any, *, actor: Any, plan: Any, **kwargs: Any) -> None:
    services.plan_changed(actor=actor, plan=plan)


def item_changed(
    sender: Any, *, actor: Any, plan: Any, item: Any, created: bool, **kw: Any
) -> None:
    services.item_changed(actor=actor, plan=plan, item=item, created=created)


def membership_added(sender: Any, *, membership: Any, **kwargs: Any) -> None:
    services.membership_added(membership=membership)


def membership_ended(sender: Any, *, membership: Any, **kwargs: Any) -> None:
    services.membership_ended(membership=membership)


def emergency_opened(sender: Any, *, grant: Any, **kwargs: Any) -> None:
    services.emergency_opened(grant=grant)


def connect() -> None:
    from plan_service.emergency import signals as emergency
    from plan_service.plans import signals as plans

    plans.plan_changed.connect(plan_changed, dispatch_uid="notices.plan_changed")
    plans.item_changed.connect(item_changed, dispatch_uid="notices.item_changed")
    plans.membership_added.connect(membership_added, dispatch_uid="notices.membership_added")
    plans.membership_ended.connect(membership_ended, dispatch_uid="notices.membership_ended")
    emergency.opened.connect(emergency_opened, dispatch_uid="notices.emergency_opened")
