"""Request plumbing: a request id for every request, and no caching of API answers."""

from __future__ import annotations

import re
import uuid
from collections.abc import Callable

from django.http import HttpRequest, HttpResponse

from plan_service.audit.context import (
    RequestFacts,
    normalise_ip,
    reset_request_facts,
    set_request_facts,
)

_SAFE_ID = re.compile(r"^[A-Za-z0-9._-]{1,64}$")


class RequestIdMiddleware:
    """Take a well-formed X-Request-Id or make one; echo it; mark API answers `no-store`."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        incoming = request.headers.get("X-Request-Id", "")
        request_id = incoming if _SAFE_ID.match(incoming) else uuid.uuid4().hex
        request.request_id = request_id  # type: ignore[attr-defined]
        token = set_request_facts(
            RequestFacts(
                request_id=request_id,
                client_ip=normalise_ip(request.META.get("REMOTE_ADDR")),
                user_agent=request.headers.get("User-Agent", "")[:300].replace("\x00", ""),
            )
        )
        try:
            response = self.get_response(request)
        finally:
            reset_request_facts(token)
        response["X-Request-Id"] = request_id
        if request.path.startswith("/api/"):
            response["Cache-Control"] = "no-store"
            response["Pragma"] = "no-cache"
        return response


#: Methods no route serves; they are refused before authentication, so the answer is 405.
REFUSED_METHODS = frozenset({"TRACE", "CONNECT"})


class RefuseMethodsMiddleware:
    """Answer TRACE and CONNECT with 405 on every path, signed in or not."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        if request.method in REFUSED_METHODS:
            from django.http import JsonResponse
            from django.utils.translation import gettext as _

            from plan_service.api.exceptions import error_body

            response = JsonResponse(
                error_body(405, "method_not_allowed", _("This method is not allowed.")),
                status=405,
            )
            response["Allow"] = "GET, POST, PUT, PATCH, DELETE, HEAD, OPTIONS"
            return response
        return self.get_response(request)
