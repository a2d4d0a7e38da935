"""What happens in the registry, announced to whoever listens (the plans keep their family
members in step), so the registry need not know the plans."""

from __future__ import annotations

from django.dispatch import Signal

#: A family member's account was linked (the family's open plans add them). Sent with `person`.
account_linked = Signal()
