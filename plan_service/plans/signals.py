"""What happens to a plan, announced to whoever listens (notifications, issue 19), so the plan
services need not know their listeners. Sent inside the write's transaction, after its history
and log rows: a listener's own writes commit or roll back with it.
"""

from __future__ import annotations

from django.dispatch import Signal

#: The plan's own fields changed. Sent with `actor`, `plan`.
plan_changed = Signal()
#: An item was added (`created`), changed or removed. Sent with `actor`, `plan`, `item`, `created`.
item_changed = Signal()
#: A professional's place in the team began or ended. Sent with `membership`.
membership_added = Signal()
membership_ended = Signal()
