"""On whose behalf the current request acts: a guardian who chose one of their children.

Set per request by `ActingForMiddleware` (after the policy has re-checked the right to act, so a
block recorded in the registry takes effect on the very next request) and read by the policy and
the access log. Outside a request, and for everyone who did not choose a child, it is None.
"""

from __future__ import annotations

import uuid
from contextvars import ContextVar, Token
from typing import Any

#: (user id, child id) of the request's signed-in guardian, or None.
_acting_for: ContextVar[tuple[object, uuid.UUID] | None] = ContextVar("acting_for", default=None)

#: Where the chosen child is kept in the session (its id only, never an identity code).
SESSION_KEY = "acting_for"


def acting_for(user_id: object) -> uuid.UUID | None:
    """The child the current request's user acts for, if `user_id` is that user; else None
    (deciding another person's access, for a notice or an explanation, never uses it)."""
    current = _acting_for.get()
    if current is None or str(current[0]) != str(user_id):
        return None
    return current[1]


def stamp_on_behalf_of(sender: Any, history_instance: Any, **kwargs: Any) -> None:
    """`pre_create_historical_record`: the child the user making the change acts for (every
    history declared by `historical.records` has the column)."""
    if hasattr(history_instance, "history_on_behalf_of"):
        history_instance.history_on_behalf_of = acting_for(history_instance.history_user_id)


def set_acting_for(user_id: object, child_id: uuid.UUID) -> Token:
    return _acting_for.set((user_id, child_id))


def reset_acting_for(token: Token) -> None:
    _acting_for.reset(token)
