"""Pushing a plan to a FHIR server (a national repository) as one transaction Bundle.

The Bundle is the export's (`plans.export`): every entry is `PUT <type>/<derived id>`, so a
repeated push of the same version updates the same resources and creates no duplicates, and no
URL carries an identity code. The HTTP client (httpx) has timeouts; network errors and 5xx
answers are retried with exponential backoff, 4xx answers are not (the server refused the
content; sending it again cannot help) and their OperationOutcome is reported to the caller.
The disclosure is logged only once the server has accepted the Bundle.

Nothing here logs a response body: a server's OperationOutcome may quote the data it refused,
identity codes included. It goes to the caller (who may see that data), never to the logs.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import httpx
from django.conf import settings
from django.db import transaction
from django.http import Http404
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from rest_framework import status
from rest_framework.exceptions import APIException

from fhir_export import FHIR_JSON
from fhir_export.bundle import to_json
from plan_service import policy
from plan_service.plans import export
from plan_service.plans.models import Plan

if TYPE_CHECKING:
    from django.contrib.auth.models import AbstractBaseUser

    User = AbstractBaseUser

logger = logging.getLogger(__name__)


#
# Errors
#


class PushNotConfigured(APIException):
    status_code = status.HTTP_503_SERVICE_UNAVAILABLE
    default_detail = gettext_lazy("No FHIR server is configured for the push.")
    default_code = "fhir_push_not_configured"


class PushFailed(APIException):
    """The FHIR server did not accept the Bundle; `outcome` is its OperationOutcome, if any."""

    status_code = status.HTTP_502_BAD_GATEWAY
    default_detail = gettext_lazy("The FHIR server did not accept the plan.")
    default_code = "fhir_push_failed"

    def __init__(
        self,
        detail: str,
        *,
        code: str,
        server_status: int | None = None,
        outcome: dict[str, Any] | None = None,
        attempts: int = 1,
    ) -> None:
        super().__init__(detail, code)
        self.code = code
        self.server_status = server_status
        self.outcome = outcome
        self.attempts = attempts


def outcome_summary(outcome: dict[str, Any] | None) -> list[str]:
    """One readable line per OperationOutcome issue: severity, code, text and where."""
    lines = []
    for issue in (outcome or {}).get("issue", []):
        text = (issue.get("details") or {}).get("text") or issue.get("diagnostics") or ""
        where = ", ".join(issue.get("expression") or issue.get("location") or [])
        line = f"{issue.get('severity', '?')} {issue.get('code', '?')}: {text}"
        lines.append(f"{line} (at {where})" if where else line)
    return lines


#
# The HTTP exchange
#


@dataclass(frozen=True)
class PushResult:
    """What the server answered to an accepted push."""

    base_url: str
    server_status: int
    attempts: int
    entries: list[dict[str, str]] = field(default_factory=list)


def _outcome_of(response: httpx.Response) -> dict[str, Any] | None:
    try:
        body = response.json()
    except ValueError:
        return None
    return (
        body if isinstance(body, dict) and body.get("resourceType") == "OperationOutcome" else None
    )


def fhir_transaction(
    *,
    base_url: str,
    bundle: dict[str, Any],
    timeout: float,
    attempts: int,
    backoff: float,
    client: httpx.Client | None = None,
    sleep: Callable[[float], None] = time.sleep,
) -> PushResult:
    """POST a transaction Bundle to `base_url`; return the accepted result or raise PushFailed.

    Retries network errors, timeouts and 5xx up to `attempts` times, waiting `backoff`, then
    twice that, and so on; a 4xx is final. A 2xx whose transaction-response has an entry
    outside 2xx counts as refused.
    """
    url = base_url.rstrip("/") + "/"
    body = to_json(bundle).encode()
    headers = {"Content-Type": FHIR_JSON, "Accept": FHIR_JSON}
    own = client is None
    http = client or httpx.Client(timeout=httpx.Timeout(timeout), follow_redirects=False)
    try:
        for attempt in range(1, attempts + 1):
            try:
                response = http.post(url, content=body, headers=headers)
            except httpx.TransportError as exc:
                logger.warning("FHIR push attempt %s/%s: %s", attempt, attempts, type(exc).__name__)
                if attempt == attempts:
                    raise PushFailed(
                        _("The FHIR server could not be reached (%(error)s).")
                        % {"error": type(exc).__name__},
                        code="fhir_unavailable",
                        attempts=attempt,
                    ) from exc
                sleep(backoff * 2 ** (attempt - 1))
                continue
            if response.status_code >= 500:
                logger.warning(
                    "FHIR push attempt %s/%s: HTTP %s", attempt, attempts, response.status_code
                )
                if attempt == attempts:
                    raise PushFailed(
                        _("The FHIR server failed (HTTP %(status)s) on every attempt.")
                        % {"status": response.status_code},
                        code="fhir_unavailable",
                        server_status=response.status_code,
                        outcome=_outcome_of(response),
                        attempts=attempt,
                    )
                sleep(backoff * 2 ** (attempt - 1))
                continue
            if response.status_code >= 300:
                outcome = _outcome_of(response)
                logger.info("FHIR push refused: HTTP %s", response.status_code)
                raise PushFailed(
                    _("The FHIR server refused the plan (HTTP %(status)s): %(issues)s")
                    % {
                        "status": response.status_code,
                        "issues": "; ".join(outcome_summary(outcome)) or _("no details given"),
                    },
                    code="fhir_refused",
                    server_status=response.status_code,
                    outcome=outcome,
                    attempts=attempt,
                )
            return _accepted(base_url, response, attempt)
    finally:
        if own:
            http.close()
    raise AssertionError("unreachable")  # pragma: no cover


def _accepted(base_url: str, response: httpx.Response, attempt: int) -> PushResult:
    try:
        reply = response.json()
    except ValueError:
        reply = {}
    entries = []
    for entry in reply.get("entry", []) if isinstance(reply, dict) else []:
        answer = entry.get("response") or {}
        entries.append(
            {"status": str(answer.get("status", "")), "location": answer.get("location", "")}
        )
        if not str(answer.get("status", "")).startswith("2"):
            raise PushFailed(
                _("The FHIR server refused an entry (%(status)s).")
                % {"status": answer.get("status")},
                code="fhir_refused",
                server_status=response.status_code,
                outcome=answer.get("outcome"),
                attempts=attempt,
            )
    return PushResult(
        base_url=base_url, server_status=response.status_code, attempts=attempt, entries=entries
    )


#
# The service
#


def plan_push(
    *,
    actor: User,
    plan_id: object,
    version: int | None = None,
    base_url: str | None = None,
    client: httpx.Client | None = None,
) -> PushResult:
    """Push the plan, as `actor` may export it, to the configured FHIR server.

    Requires `Action.EXPORT` (404 hidden, 403 not allowed). The snapshot is taken in its own
    short transaction (the plan's share lock is not held over the network when called outside a
    request), the Bundle is posted, and the disclosure rows (one per person) are written only
    after the server accepted it. Raises PushNotConfigured without a server, PushFailed when the
    server refuses or cannot be reached; then nothing is logged as disclosed.
    Idempotent: pushing the same version again updates the same server resources.
    """
    plan = Plan.objects.filter(pk=plan_id).first()
    if plan is None:
        raise Http404
    policy.require_plan(actor, policy.Action.EXPORT, plan)  # refuse before saying anything else
    with transaction.atomic():  # rights first: 404 and 403 come before "not configured"
        access, result = export.plan_export_prepare(actor=actor, plan_id=plan_id, version=version)
    target = base_url or settings.FHIR_PUSH_BASE_URL
    if not target:
        raise PushNotConfigured
    pushed = fhir_transaction(
        base_url=target,
        bundle=result.bundle,
        timeout=float(settings.FHIR_PUSH_TIMEOUT_SECONDS),
        attempts=max(1, settings.FHIR_PUSH_ATTEMPTS),
        backoff=settings.FHIR_PUSH_BACKOFF_MS / 1000,
        client=client,
    )
    with transaction.atomic():
        export.log_disclosure(
            actor=actor, access=access, snapshot=result.snapshot, recipient=f"FHIR push to {target}"
        )
    return pushed
