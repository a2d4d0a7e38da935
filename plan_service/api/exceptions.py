"""One error shape for every answer the API refuses:

    {"errors": [{"field": "target_date", "code": "invalid", "message": "..."}]}

`field` is a dotted path into the request body (null for errors about the request as a whole).
Hidden and missing objects give the very same 404 body. Database outages answer 503 with
Retry-After instead of 500.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Mapping
from typing import Any

from django.core.exceptions import PermissionDenied, RequestDataTooBig
from django.core.exceptions import ValidationError as DjangoValidationError
from django.db import DatabaseError, DataError, IntegrityError, connection, transaction
from django.http import Http404, HttpRequest, HttpResponse, JsonResponse
from django.utils.translation import gettext as _
from rest_framework import exceptions, status
from rest_framework.response import Response

from plan_service.errors import (
    ConflictError,
    DomainError,
    PreconditionRequiredError,
    StaleVersionError,
    UnavailableError,
    UpstreamError,
)

logger = logging.getLogger(__name__)

RETRY_AFTER_SECONDS = "5"
#: Longest error message returned (characters).
MAX_MESSAGE = 300


def flatten(detail: Any, prefix: str | None = None) -> list[dict[str, Any]]:
    """Turn DRF's nested error detail into a flat list of field errors."""
    if isinstance(detail, dict):
        out: list[dict[str, Any]] = []
        for key, value in detail.items():
            name = None if key in ("non_field_errors", "__all__", "detail") else str(key)
            path = ".".join(p for p in (prefix, name) if p) or None
            out.extend(flatten(value, path))
        return out
    if isinstance(detail, list):
        out = []
        for index, value in enumerate(detail):
            if isinstance(value, dict | list):
                out.extend(flatten(value, f"{prefix}.{index}" if prefix else str(index)))
            else:
                out.extend(flatten(value, prefix))
        return out
    code = getattr(detail, "code", None) or "invalid"
    message = str(detail)
    if len(message) > MAX_MESSAGE:  # messages may quote the input: never echo a megabyte
        message = message[: MAX_MESSAGE - 1] + "…"
    return [{"field": prefix, "code": code, "message": message}]


def _django_validation_detail(exc: DjangoValidationError) -> Any:
    if hasattr(exc, "error_dict"):
        return {
            field: [exceptions.ErrorDetail(m, code=e.code or "invalid") for e in errors for m in e]
            for field, errors in exc.error_dict.items()
        }
    return [exceptions.ErrorDetail(m, code=exc.code or "invalid") for m in exc.messages]


#: The one place domain errors (plan_service.errors, plain exceptions) become HTTP statuses;
#: a subclass answers as its nearest mapped base.
DOMAIN_STATUS: dict[type[DomainError], int] = {
    DomainError: status.HTTP_409_CONFLICT,
    ConflictError: status.HTTP_409_CONFLICT,
    PreconditionRequiredError: status.HTTP_428_PRECONDITION_REQUIRED,
    StaleVersionError: status.HTTP_412_PRECONDITION_FAILED,
    UnavailableError: status.HTTP_503_SERVICE_UNAVAILABLE,
    UpstreamError: status.HTTP_502_BAD_GATEWAY,
}


def domain_status(exc: DomainError) -> int:
    return next(DOMAIN_STATUS[c] for c in type(exc).__mro__ if c in DOMAIN_STATUS)


def set_rollback(context: Mapping[str, Any]) -> None:
    """Undo the request's writes: an error answer changes nothing.

    The view's own transaction (`PolicyViewSet.opens_transaction`) is marked for rollback;
    a read has none, and any transaction around the request (a test's) is not the request's.
    REST framework's own `set_rollback` acts only under `ATOMIC_REQUESTS`, which the service
    does not use, so with it a write made before the error (by a service call that had
    finished, or outside any service) was committed with the error answer.
    """
    if getattr(context.get("view"), "owns_transaction", False) and connection.in_atomic_block:
        transaction.set_rollback(True)


def error_body(status_code: int, code: str, message: str) -> dict[str, Any]:
    return {"errors": [{"field": None, "code": code, "message": message}]}


def not_found_body() -> dict[str, Any]:
    """The one body for every 404, hidden or missing alike."""
    return error_body(404, "not_found", _("Not found."))


def exception_handler(exc: Exception, context: dict[str, Any]) -> Response | None:
    """DRF exception handler producing the one error shape, never a 500 for client input."""
    headers: dict[str, str] = {}
    if isinstance(exc, Http404 | exceptions.NotFound):
        set_rollback(context)
        return Response(not_found_body(), status=status.HTTP_404_NOT_FOUND)
    if isinstance(exc, RequestDataTooBig):
        set_rollback(context)
        return Response(
            error_body(413, "too_large", _("The request body is too large.")),
            status=status.HTTP_413_REQUEST_ENTITY_TOO_LARGE,
        )
    if isinstance(exc, PermissionDenied):
        exc = exceptions.PermissionDenied()
    if isinstance(exc, DjangoValidationError):
        exc = exceptions.ValidationError(_django_validation_detail(exc))
    if isinstance(exc, IntegrityError):
        set_rollback(context)
        logger.info("integrity error answered 409: %s", type(exc).__name__)
        return Response(
            error_body(409, "conflict", _("The request conflicts with existing data.")),
            status=status.HTTP_409_CONFLICT,
        )
    if isinstance(exc, DataError):
        # The database refused a value the client sent (say, a NUL character): the client's
        # doing, so a 400, and nothing was changed.
        set_rollback(context)
        return Response(
            error_body(400, "invalid", _("The request holds a value that cannot be stored.")),
            status=status.HTTP_400_BAD_REQUEST,
        )
    if isinstance(exc, DatabaseError):
        set_rollback(context)
        logger.warning("database unavailable: %s", type(exc).__name__)
        return Response(
            error_body(503, "unavailable", _("The service is briefly unavailable. Retry soon.")),
            status=status.HTTP_503_SERVICE_UNAVAILABLE,
            headers={"Retry-After": RETRY_AFTER_SECONDS},
        )
    if isinstance(exc, DomainError):
        set_rollback(context)
        code = domain_status(exc)
        body: dict[str, Any] = {
            "errors": [{"field": exc.field, "code": exc.code, "message": str(exc.message)}]
        }
        if isinstance(exc, StaleVersionError):
            body["current_version"] = exc.current_version
            headers["ETag"] = f'W/"{exc.current_version}"'
        return Response(body, status=code, headers=headers)
    if not isinstance(exc, exceptions.APIException):
        return None
    set_rollback(context)
    if getattr(exc, "auth_header", None):
        headers["WWW-Authenticate"] = exc.auth_header  # type: ignore[attr-defined]
    if getattr(exc, "wait", None):
        headers["Retry-After"] = str(int(exc.wait))  # type: ignore[attr-defined]
    if isinstance(exc, exceptions.ValidationError):
        body = {"errors": flatten(exc.detail)}
    else:
        code = exc.get_codes() if isinstance(exc.get_codes(), str) else exc.default_code
        body = error_body(exc.status_code, str(code), str(exc.detail))
    return Response(body, status=exc.status_code, headers=headers)


def lockout_response(request: HttpRequest, credentials: Any = None, *args: Any) -> HttpResponse:
    """django-axes' answer to a locked-out attempt: 429 with Retry-After, JSON on the API."""
    from axes.helpers import get_cool_off

    cool_off = get_cool_off(request) or dt.timedelta(minutes=15)
    seconds = str(int(cool_off.total_seconds()))
    message = _("Too many failed sign-in attempts. Try again later.")
    if request.path.startswith("/api/"):
        response: HttpResponse = JsonResponse(error_body(429, "throttled", message), status=429)
    else:
        response = HttpResponse(message, status=429, content_type="text/plain; charset=utf-8")
    response["Retry-After"] = seconds
    return response


def page_not_found(request: Any, exception: Exception | None = None) -> Any:
    """Django's 404 for URLs no route matches: the API's own body under /api/."""
    from django.views.defaults import page_not_found as html_not_found

    if request.path.startswith("/api/"):
        return JsonResponse(not_found_body(), status=404)
    return html_not_found(request, exception)
