"""On whose behalf the current request acts: a guardian who chose one of their children.

Set per request by `ActingForMiddleware` (after the policy has re-checked the right to act, so a
block recorded in the registry takes effect on the very next request) and read by the policy and
the access log. Outside a request, and for everyone who did not choose a child, it is None.
"""

from __future__ import annotations

import uuid
from contextvars import ContextVar, Token

_acting_for: ContextVar[uuid.UUID | None] = ContextVar("acting_for", default=None)

#: Where the chosen child is kept in the session (its id only, never an identity code).
SESSION_KEY = "acting_for"


def acting_for() -> uuid.UUID | None:
    """The child the current request acts for, or None."""
    return _acting_for.get()


def set_acting_for(child_id: uuid.UUID | None) -> Token:
    return _acting_for.set(child_id)


def reset_acting_for(token: Token) -> None:
    _acting_for.reset(token)
