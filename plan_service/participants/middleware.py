"""Acting for one's child: re-checked on every request, carried to the policy and the log."""

from __future__ import annotations

import dataclasses
import uuid
from collections.abc import Callable

from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpRequest, HttpResponse

from plan_service import policy
from plan_service.audit.context import request_facts, reset_request_facts, set_request_facts
from plan_service.participants.acting import SESSION_KEY, reset_acting_for, set_acting_for


class ActingForMiddleware:
    """If the signed-in guardian chose a child, check the right to act for them again now.

    The right comes from the registry (guardianship, age, blocks), so a custody decision, a
    placement restriction or a non-disclosure marking recorded a second ago ends it at the next
    request: the choice is dropped from the session and the guardian is back to acting as
    themselves. While it holds, the policy narrows what is shown to that child's part of the plan
    and every access-log row names the child as the one acted for.
    """

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        child_id = self._child(request)
        request.acting_for = child_id  # type: ignore[attr-defined]
        if child_id is None:
            return self.get_response(request)
        acting = set_acting_for(request.user.pk, child_id)
        facts = set_request_facts(dataclasses.replace(request_facts(), on_behalf_of=child_id))
        try:
            return self.get_response(request)
        finally:
            reset_request_facts(facts)
            reset_acting_for(acting)

    @staticmethod
    def _child(request: HttpRequest) -> uuid.UUID | None:
        session = getattr(request, "session", None)
        raw = session.get(SESSION_KEY) if session is not None else None
        if not raw:
            return None
        try:
            child = policy.require_act_for(request.user, raw)
        except (Http404, PermissionDenied):
            session.pop(SESSION_KEY, None)
            return None
        return child.pk
