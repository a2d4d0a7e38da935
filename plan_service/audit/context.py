"""The request facts every log row carries (request id, client address, user agent).

Set by `plan_service.api.middleware.RequestIdMiddleware` for each request; commands and tests
that write outside a request get an empty context.
"""

from __future__ import annotations

import ipaddress
import uuid
from contextvars import ContextVar
from dataclasses import dataclass


@dataclass(frozen=True)
class RequestFacts:
    request_id: str = ""
    client_ip: str | None = None
    user_agent: str = ""
    on_behalf_of: uuid.UUID | None = None  # the child a guardian acts for (participants.acting)


_current: ContextVar[RequestFacts | None] = ContextVar("audit_request_facts", default=None)


def set_request_facts(facts: RequestFacts | None) -> object:
    """Install the facts for the current request; returns a token for `reset_request_facts`."""
    return _current.set(facts)


def reset_request_facts(token: object) -> None:
    _current.reset(token)  # type: ignore[arg-type]


def request_facts() -> RequestFacts:
    return _current.get() or RequestFacts()


def normalise_ip(raw: str | None) -> str | None:
    """The canonical text form of an address, or None when it is not one."""
    if not raw:
        return None
    try:
        return str(ipaddress.ip_address(raw.strip()))
    except ValueError:
        return None
