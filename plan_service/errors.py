"""Domain errors: plain Python exceptions the services raise when a request cannot be done.

They know nothing of HTTP. The API maps them to answers in one place
(`plan_service.api.exceptions.DOMAIN_STATUS`), the pages show their message. Validation of
input is Django's `django.core.exceptions.ValidationError` (field → messages), also mapped there.
"""

from __future__ import annotations

from typing import Any

from django.utils.translation import gettext_lazy as _


class DomainError(Exception):
    """A request the current state does not allow. `code` is stable, `message` translated."""

    code = "error"
    default_message: Any = _("The request cannot be done.")
    #: The input field the error is about, if one is (the API names it in the error body).
    field: str | None = None

    def __init__(
        self, message: Any = None, *, code: str | None = None, field: str | None = None
    ) -> None:
        self.message = message if message is not None else self.default_message
        if code is not None:
            self.code = code
        if field is not None:
            self.field = field
        super().__init__(str(self.message))


class ConflictError(DomainError):
    """The request conflicts with the current state (a second open plan, a reviewed grant)."""

    code = "conflict"
    default_message = _("The request conflicts with the current state.")


class PreconditionRequiredError(DomainError):
    """A write that makes a version came without the version it is based on."""

    code = "precondition_required"
    default_message = _("This write needs an If-Match header with the version it is based on.")


class StaleVersionError(DomainError):
    """The write was based on an older version; `current_version` is the one to merge with."""

    code = "stale_version"
    default_message = _("The object has changed since the version this write was based on.")

    def __init__(self, current_version: int) -> None:
        super().__init__()
        self.current_version = current_version


class UnavailableError(DomainError):
    """Something the request needs is not there now (say, no FHIR server configured)."""

    code = "unavailable"
    default_message = _("The service cannot do this now.")


class UpstreamError(DomainError):
    """Another system this request relies on refused or failed."""

    code = "upstream_failed"
    default_message = _("Another system did not accept the request.")
