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
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from fhir_export import FHIR_JSON
from fhir_export.bundle import to_json
from plan_service import policy
from plan_service.errors import ConflictError, UnavailableError, UpstreamError
from plan_service.participants.models import Recipient
from plan_service.plans import export
from plan_service.plans.models import Plan, PushRecord

if TYPE_CHECKING:
    from django.contrib.auth.models import AbstractBaseUser

    User = AbstractBaseUser

logger = logging.getLogger(__name__)


#
# Errors
#


class PushNotConfigured(UnavailableError):  # noqa: N818 (its name is part of the API's story)
    code = "fhir_push_not_configured"
    default_message = gettext_lazy("No FHIR server is configured for the push.")


class PushFailed(UpstreamError):  # noqa: N818
    """The FHIR server did not accept the Bundle; `outcome` is its OperationOutcome, if any."""

    code = "fhir_push_failed"
    default_message = gettext_lazy("The FHIR server did not accept the plan.")

    def __init__(
        self,
        message: str,
        *,
        code: str,
        server_status: int | None = None,
        outcome: dict[str, Any] | None = None,
        attempts: int = 1,
    ) -> None:
        super().__init__(message, code=code)
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
            return _accepted(base_url, response, attempt, len(bundle.get("entry", [])))
    finally:
        if own:
            http.close()
    raise AssertionError("unreachable")  # pragma: no cover


def _refused_reply(response: httpx.Response, attempt: int, why: str) -> PushFailed:
    return PushFailed(
        _("The FHIR server's answer is not a successful transaction response (%(why)s).")
        % {"why": why},
        code="fhir_bad_response",
        server_status=response.status_code,
        outcome=_outcome_of(response),
        attempts=attempt,
    )


def _accepted(
    base_url: str, response: httpx.Response, attempt: int, sent: int | None = None
) -> PushResult:
    """The result of a 2xx answer, if it proves the transaction happened; else PushFailed.

    Only a Bundle of type `transaction-response`, in FHIR JSON, with one entry per entry sent,
    each with a 2xx status, counts: an HTML page, a searchset or an empty body with 200 do not.
    """
    media = response.headers.get("content-type", "").split(";")[0].strip().lower()
    if media not in (FHIR_JSON, "application/json"):
        raise _refused_reply(response, attempt, f"content type {media or 'none'}")
    try:
        reply = response.json()
    except ValueError:
        raise _refused_reply(response, attempt, "not JSON") from None
    if not isinstance(reply, dict) or reply.get("resourceType") != "Bundle":
        raise _refused_reply(response, attempt, "not a Bundle")
    if reply.get("type") != "transaction-response":
        raise _refused_reply(response, attempt, f"Bundle type {reply.get('type')!s}")
    answers = reply.get("entry") if isinstance(reply.get("entry"), list) else []
    if sent is not None and len(answers) != sent:
        raise _refused_reply(response, attempt, f"{len(answers)} of {sent} entries answered")
    entries = []
    for entry in answers:
        answer = (entry.get("response") if isinstance(entry, dict) else None) or {}
        entries.append(
            {"status": str(answer.get("status", "")), "location": str(answer.get("location", ""))}
        )
        if not str(answer.get("status", "")).strip().startswith("2"):
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


class PushOutdatedError(ConflictError):
    """The version asked for is older than the one already pushed to that server (409, naming
    the field `version`)."""

    code = "older_than_pushed"
    field = "version"


#: Resource types that belong to one plan alone; a later push deletes those the recipient may
#: no longer receive. People and organisations are shared by plans and are never deleted.
PLAN_OWNED = frozenset({"CarePlan", "Goal", "Condition", "Consent"})


def _with_deletions(bundle: dict[str, Any], previous: list[str]) -> dict[str, Any]:
    """`bundle` plus a DELETE entry for each plan-owned resource pushed before and gone now."""
    now = {e["request"]["url"] for e in bundle["entry"]}
    gone = [r for r in previous if r not in now and r.split("/")[0] in PLAN_OWNED]
    if not gone:
        return bundle
    deletions = [{"request": {"method": "DELETE", "url": url}} for url in sorted(gone)]
    return {**bundle, "entry": [*deletions, *bundle["entry"]]}


@dataclass(frozen=True)
class PreparedPush:
    """A push checked and built, not yet sent (`push_prepare`)."""

    access: policy.PlanAccess  # the recipient's, full view
    export: export.Export
    target: str
    #: The Bundle to send: the export's plus DELETE entries (`_with_deletions`).
    bundle: dict[str, Any]
    #: The version last pushed to `target` (0 when never).
    pushed_before: int


def push_target(recipient: Recipient | None, base_url: str | None = None) -> str:
    """Where a push goes: `base_url`, else the recipient's registered server, else the setting."""
    return base_url or (recipient.fhir_base_url if recipient else "") or settings.FHIR_PUSH_BASE_URL


def push_prepare(
    *,
    actor: User,
    plan_id: object,
    recipient: Recipient | None,
    version: int | None = None,
    base_url: str | None = None,
) -> PreparedPush:
    """Check the right, snapshot and build what a push sends; send and log nothing.

    The Bundle is the recipient's full view (`export_access_for(..., to_recipient=True)`): it
    goes to the recipient's server, never to the person who pushes. Raises Http404 /
    PermissionDenied (rights first), PushNotConfigured without a server, PushOutdatedError for
    a version older than the one already pushed there, ValidationError for a version the plan
    never had. The snapshot is taken in its own short transaction (no lock over the network).
    """
    plan = Plan.objects.filter(pk=plan_id).first()
    if plan is None:
        raise Http404
    export.export_access_for(actor, plan, recipient, to_recipient=True)  # refuse first
    target = push_target(recipient, base_url)
    with transaction.atomic():  # rights first: 404 and 403 come before "not configured"
        access, result = export.plan_export_prepare(
            actor=actor, plan_id=plan_id, version=version, recipient=recipient, to_recipient=True
        )
    if not target:
        raise PushNotConfigured
    record = PushRecord.objects.filter(plan_id=plan.pk, base_url=target).first()
    if record is not None and result.snapshot.version < record.version:
        raise PushOutdatedError(
            _("Version %(asked)s is older than version %(pushed)s already pushed there.")
            % {"asked": result.snapshot.version, "pushed": record.version}
        )
    return PreparedPush(
        access=access,
        export=result,
        target=target,
        bundle=_with_deletions(result.bundle, record.resources if record is not None else []),
        pushed_before=record.version if record is not None else 0,
    )


def push_record(*, actor: User, prepared: PreparedPush, recipient: Recipient | None) -> None:
    """After the server accepted `prepared`: its disclosure rows (one per person) and the push
    record. Call inside the transaction that also marks whatever asked for the push done."""
    label = export.recipient_label(recipient, actor) if recipient else ""
    snapshot = prepared.export.snapshot
    export.log_disclosure(
        actor=actor,
        access=prepared.access,
        snapshot=snapshot,
        recipient=f"FHIR push to {label + ' at ' if label else ''}{prepared.target}",
    )
    PushRecord.objects.update_or_create(
        plan_id=snapshot.plan_id,
        base_url=prepared.target,
        defaults={
            "recipient": recipient,
            "version": max(snapshot.version, prepared.pushed_before),
            "resources": [e["request"]["url"] for e in prepared.export.bundle["entry"]],
            "pushed_at": timezone.now(),
        },
    )


def plan_push(
    *,
    actor: User,
    plan_id: object,
    recipient: Recipient | None = None,
    version: int | None = None,
    base_url: str | None = None,
    client: httpx.Client | None = None,
) -> PushResult:
    """Push the plan, as `recipient` may receive it, to that recipient's FHIR server.

    The rights are the export's (`policy.export_access`: 404 hidden, 403 refused), and the
    Bundle is everything the recipient may receive, not cut to what the pusher reads: the
    pusher never sees it, and the disclosure log records it (docs/fhir.md). The server is
    `base_url`, else the recipient's registered `fhir_base_url`, else FHIR_PUSH_BASE_URL.
    A version older than the last one pushed to that server is refused (409, `version`). The
    snapshot is taken in its own short transaction (no lock is held over the network), the
    Bundle is posted with DELETE entries for plan resources the recipient may no longer
    receive, and the disclosure rows (one per person) and the push record are written only
    after the server proved it applied the transaction (`_accepted`). Raises PushNotConfigured
    without a server, PushFailed when the server refuses or cannot be reached; then nothing is
    logged as disclosed. Idempotent: pushing the same version again updates the same resources.
    The background job (`plan_service.jobs`) runs the same steps with the queue's retries.
    """
    prepared = push_prepare(
        actor=actor, plan_id=plan_id, recipient=recipient, version=version, base_url=base_url
    )
    pushed = fhir_transaction(
        base_url=prepared.target,
        bundle=prepared.bundle,
        timeout=float(settings.FHIR_PUSH_TIMEOUT_SECONDS),
        attempts=max(1, settings.FHIR_PUSH_ATTEMPTS),
        backoff=settings.FHIR_PUSH_BACKOFF_MS / 1000,
        client=client,
    )
    with transaction.atomic():
        push_record(actor=actor, prepared=prepared, recipient=recipient)
    return pushed
