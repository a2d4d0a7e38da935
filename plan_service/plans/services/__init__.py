"""Writes to plans, their teams and their items.

Every service is one transaction that checks the policy, locks the plan row (then the item row),
compares the version the client based its write on, saves through the model (so
django-simple-history writes its row with the acting user and reason), advances the plan version
and appends the access-log rows. Nothing here uses QuerySet.update() or bulk writes on tracked
models.

The writes are split by what changes together: the plan itself (`plan`), its team (`team`) and
its items (`items`), over what they share (`_base`). Callers use this package's names.
"""

from plan_service.plans.services.items import (
    acknowledgement_create,
    item_create,
    item_delete,
    item_restore,
    item_restrict,
    item_update,
)
from plan_service.plans.services.plan import plan_create, plan_update
from plan_service.plans.services.team import family_sync, membership_add, membership_end

__all__ = [
    "acknowledgement_create",
    "family_sync",
    "item_create",
    "item_delete",
    "item_restore",
    "item_restrict",
    "item_update",
    "membership_add",
    "membership_end",
    "plan_create",
    "plan_update",
]
