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


#
# Whether the current request logged its reads (PolicyViewSet refuses to answer a read that
# did not: a new route cannot forget the access log)
#

_reads_logged: ContextVar[list[int] | None] = ContextVar("audit_reads_logged", default=None)


def start_counting_logged_reads() -> object:
    """Begin counting the log appends of this request; returns a token for `stop_counting`."""
    return _reads_logged.set([0])


def stop_counting_logged_reads(token: object) -> None:
    _reads_logged.reset(token)  # type: ignore[arg-type]


def note_logged_read() -> None:
    """Called by every append to the access or disclosure log (also for an empty batch: the
    view asked the log, and a list with no rows concerns nobody)."""
    counter = _reads_logged.get()
    if counter is not None:
        counter[0] += 1


def logged_reads() -> int:
    """How many log appends the current request made (0 outside a counted request)."""
    counter = _reads_logged.get()
    return counter[0] if counter is not None else 0
