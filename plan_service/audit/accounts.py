"""Sign-in, sign-out and account events in the chained access log.

Every path that signs someone in or out, or changes what an account may do, lands here through
Django's own signals, so a new sign-in path (the coming OpenID flow calls `login()` too) is
logged without code of its own:

* `user_logged_in` (session sign-in at /accounts/login/ and /admin/login/), `user_logged_out`;
* `user_login_failed` (every path that calls `authenticate()`, the token endpoint included):
  the attempted username, normalised (NFKC, outer whitespace removed) and capped, outcome
  `denied`; attempts past the throttle (django-axes) are counted in `ThrottledSignIn` instead,
  and one `lockout` row marks the moment an account or address was locked;
* a saved user whose password or `is_active` changed: one row, and every token and session of
  that user ends (`credentials_changed`: the registry ends them, `record_tokens_revoked`);
* every Django admin change (`LogEntry`): one row with the object and the changed fields.

A failed attempt's request usually rolls back (the error answer), so its rows are kept on the
request and written by `AccountEventsMiddleware` in their own transaction after the response.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import unicodedata
from collections.abc import Callable
from typing import Any

from django.conf import settings
from django.contrib.admin.models import ADDITION, CHANGE, DELETION, LogEntry
from django.contrib.auth import get_user_model
from django.contrib.auth.signals import user_logged_in, user_logged_out, user_login_failed
from django.db import DatabaseError, connection, transaction
from django.db.models.signals import post_save, pre_save
from django.dispatch import Signal
from django.http import HttpRequest, HttpResponse
from django.utils import timezone

from plan_service.audit.context import request_facts
from plan_service.audit.models import AccessEvent, ThrottledSignIn

logger = logging.getLogger(__name__)

Act = AccessEvent.Action
#: The account and security actions: no person's data, visible to auditors (see selectors).
ACCOUNT_ACTIONS = (
    Act.LOGIN,
    Act.LOGIN_FAILED,
    Act.LOCKOUT,
    Act.LOGOUT,
    Act.PASSWORD_CHANGE,
    Act.ACTIVATION_CHANGE,
    Act.TOKEN_REVOKE,
    Act.ADMIN_CHANGE,
)
USERNAME_LIMIT = 150
_PENDING = "_audit_account_events"


def normalise_username(raw: object) -> str:
    """An attempted username as logged: NFKC, outer whitespace removed, at most 150 chars."""
    text = unicodedata.normalize("NFKC", str(raw or "")).strip()
    return text[:USERNAME_LIMIT]


def sign_in_path(request: HttpRequest | None) -> str:
    """Which door: the token endpoint, the admin site, OpenID Connect, or the sign-in page."""
    path = getattr(request, "path", "") or ""
    if path.startswith("/api/"):
        return "token"
    if path.startswith("/admin/"):
        return "admin"
    if path.startswith("/auth/oidc/"):
        return "oidc"
    return "session" if request is not None else "other"


def _record(actor: Any, action: str, **columns: Any) -> None:
    from plan_service.audit.services import record_access

    columns.setdefault("purpose", "security")
    record_access(actor=actor, action=action, subjects=[], **columns)


def _defer(request: HttpRequest | None, write: Callable[[], None]) -> None:
    """Write now outside a transaction (or without a request), else after the response.

    Outside a transaction (an API read runs in autocommit) nothing will roll the row back, so
    it is written at once; as after the response, a log that cannot be written then is a
    warning, not the refusal's answer.
    """
    if request is None:
        with transaction.atomic():
            write()
        return
    if not connection.in_atomic_block:
        try:
            with transaction.atomic():
                write()
        except DatabaseError:
            logger.warning("could not log a sign-in event")
        return
    pending = getattr(request, _PENDING, None)
    if pending is None:
        pending = []
        setattr(request, _PENDING, pending)
    pending.append(write)


def after_response(request: HttpRequest | None, write: Callable[[], None]) -> None:
    """Write a log row in its own transaction once the request's own has ended (a refusal
    rolls the request's transaction back); used by the machine clients' refused tokens too."""
    _defer(request, write)


class AccountEventsMiddleware:
    """Write the failed-sign-in rows a request left behind, in their own transaction."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        response = self.get_response(request)
        pending = getattr(request, _PENDING, None)
        if pending:
            try:
                with transaction.atomic():
                    for write in pending:
                        write()
            except DatabaseError:
                logger.warning("could not log %d sign-in events", len(pending))
        return response


#
# Sign-in and sign-out
#


def _on_logged_in(sender: Any, request: HttpRequest | None, user: Any, **kwargs: Any) -> None:
    path = sign_in_path(request)
    _record(user, Act.LOGIN, object_type="session", object_id=str(user.pk), query={"path": path})


def _on_logged_out(sender: Any, request: HttpRequest | None, user: Any, **kwargs: Any) -> None:
    if user is None:
        return
    _record(user, Act.LOGOUT, object_type="session", object_id=str(user.pk))


def _account_columns(username: str) -> dict[str, Any]:
    """For an attempt naming an existing account: that account's id and organisation, so the
    organisation's auditors see attempts on their people's accounts."""
    user = (
        get_user_model()
        .objects.filter(username=username)
        .select_related("professional__organization")
        .first()
    )
    if user is None:
        return {}
    columns: dict[str, Any] = {"actor_user_id": user.pk}
    professional = getattr(user, "professional", None)
    if professional is not None:
        columns["actor_organization_id"] = professional.organization_id
        columns["actor_organization_name"] = professional.organization.name
    return columns


def _throttled(request: HttpRequest | None) -> bool:
    """Whether this attempt came after the throttle had already locked the account/address."""
    if request is None or not getattr(request, "axes_locked_out", False):
        return False
    failures = getattr(request, "axes_failures_since_start", None)
    return failures is None or failures > settings.AXES_FAILURE_LIMIT


def count_throttled(username: str) -> None:
    """One more refused attempt in this hour's counter of the client's address."""
    now = timezone.now()
    window = now.replace(minute=0, second=0, microsecond=0)
    ip = request_facts().client_ip or ""
    with connection.cursor() as cursor:
        cursor.execute(
            """
            INSERT INTO audit_throttledsignin
                (window_start, client_ip, last_username, attempts, first_at, last_at)
            VALUES (%s, %s, %s, 1, %s, %s)
            ON CONFLICT (window_start, client_ip) DO UPDATE SET
                attempts = audit_throttledsignin.attempts + 1,
                last_username = EXCLUDED.last_username,
                last_at = EXCLUDED.last_at
            """,
            [window, ip, username, now, now],
        )


def _on_login_failed(
    sender: Any, credentials: dict[str, Any], request: HttpRequest | None = None, **kwargs: Any
) -> None:
    username = normalise_username(credentials.get("username"))
    path = sign_in_path(request)
    if _throttled(request):
        _defer(request, lambda: count_throttled(username))
        return

    def write() -> None:
        _record(
            None,
            Act.LOGIN_FAILED,
            outcome=AccessEvent.Outcome.DENIED,
            outcome_code=401,
            actor_username=username,
            object_type="session" if path != "token" else "token",
            query={"path": path},
            **_account_columns(username),
        )

    _defer(request, write)


def _on_locked_out(
    sender: Any,
    request: HttpRequest | None,
    username: str | None,
    ip_address: str | None,
    **kw: Any,
) -> None:
    failures = getattr(request, "axes_failures_since_start", None)
    if failures is None or failures != settings.AXES_FAILURE_LIMIT:
        return  # already locked: counted, not chained again
    name = normalise_username(username)
    path = sign_in_path(request)

    def write() -> None:
        _record(
            None,
            Act.LOCKOUT,
            outcome=AccessEvent.Outcome.DENIED,
            outcome_code=429,
            actor_username=name,
            object_type="session" if path != "token" else "token",
            result_count=failures,
            query={"path": path, "failures": failures},
            **_account_columns(name),
        )

    _defer(request, write)


def summarise_throttled(*, now: dt.datetime | None = None) -> int:
    """Chain one row per closed hour of throttled attempts; returns the rows chained."""
    now = now or timezone.now()
    closed_before = now.replace(minute=0, second=0, microsecond=0)
    chained = 0
    with transaction.atomic():
        windows = list(
            ThrottledSignIn.objects.select_for_update(skip_locked=True)
            .filter(summarised_at__isnull=True, window_start__lt=closed_before)
            .order_by("window_start", "client_ip")
        )
        for window in windows:
            _record(
                None,
                Act.LOGIN_FAILED,
                outcome=AccessEvent.Outcome.DENIED,
                outcome_code=429,
                actor_username=window.last_username,
                object_type="throttled",
                result_count=window.attempts,
                query={
                    "throttled": True,
                    "client_ip": window.client_ip,
                    "window_start": window.window_start.isoformat(),
                    "first_at": window.first_at.isoformat(),
                    "last_at": window.last_at.isoformat(),
                },
            )
            chained += 1
        ThrottledSignIn.objects.filter(pk__in=[w.pk for w in windows]).update(summarised_at=now)
    return chained


def cool_off(request: HttpRequest | None) -> dt.timedelta:
    """Backoff: the base cool-off doubles with every failure past the limit, up to a day."""
    from axes.models import AccessAttempt
    from django.db.models import Max

    base = dt.timedelta(minutes=settings.SIGNIN_COOLOFF_MINUTES)
    failures = getattr(request, "axes_failures_since_start", None)
    if failures is None and request is not None:
        ip = getattr(request, "axes_ip_address", None)
        if ip:
            failures = AccessAttempt.objects.filter(ip_address=ip).aggregate(
                n=Max("failures_since_start")
            )["n"]
    extra = max(0, (failures or 0) - settings.AXES_FAILURE_LIMIT)
    return min(base * (2 ** min(extra, 10)), dt.timedelta(days=1))


#
# Password and activation changes: logged, and every token and session of the user ends
#


#: Sent when a user's password changed or the account was deactivated (after the change is
#: logged): the registry ends every token and session of the user and calls
#: `record_tokens_revoked`. Arguments: user, actor (None for the system), reason.
credentials_changed = Signal()


def record_tokens_revoked(
    *, actor: Any, user: Any, reason: str, tokens: int, sessions: int
) -> None:
    """The row that says a credential change ended the user's tokens and sessions."""
    who = {} if actor is not None else {"actor_kind": "system"}
    _record(
        actor,
        Act.TOKEN_REVOKE,
        object_type="account",
        object_id=str(user.pk),
        result_count=tokens + sessions,
        query={"reason": reason, "tokens": tokens, "sessions": sessions},
        **who,
    )


def _request_user() -> Any:
    """Who is making the change: the signed-in user of the current request, if any."""
    from simple_history.models import HistoricalRecords

    request = getattr(HistoricalRecords.context, "request", None)
    user = getattr(request, "user", None)
    return user if user is not None and user.is_authenticated else None


def _before_user_save(sender: Any, instance: Any, update_fields: Any = None, **kw: Any) -> None:
    if instance.pk is None or kw.get("raw"):
        return
    if update_fields is not None and not {"password", "is_active"} & set(update_fields):
        return
    # Django re-hashes a password on sign-in when the hasher changed: same password, new hash,
    # saved with update_fields=["password"] after clearing `_password`. Not a change.
    instance._audit_rehash = (
        update_fields is not None
        and set(update_fields) == {"password"}
        and getattr(instance, "_password", None) is None
    )
    instance._audit_before = (
        sender.objects.filter(pk=instance.pk).values_list("password", "is_active").first()
    )


def _after_user_save(sender: Any, instance: Any, created: bool, **kw: Any) -> None:
    before = getattr(instance, "_audit_before", None)
    instance._audit_before = None
    if created or before is None:
        return
    password_changed = before[0] != instance.password and not instance._audit_rehash
    activation_changed = before[1] != instance.is_active
    if not (password_changed or activation_changed):
        return
    actor = _request_user()
    who = {} if actor is not None else {"actor_kind": "system"}
    if password_changed:
        _record(
            actor, Act.PASSWORD_CHANGE, object_type="account", object_id=str(instance.pk), **who
        )
    if activation_changed:
        _record(
            actor,
            Act.ACTIVATION_CHANGE,
            object_type="account",
            object_id=str(instance.pk),
            query={"is_active": instance.is_active},
            **who,
        )
    if password_changed or not instance.is_active:
        credentials_changed.send(
            sender=sender,
            user=instance,
            actor=actor,
            reason="password_change" if password_changed else "deactivation",
        )


#
# Django admin
#

_FLAGS = {ADDITION: "add", CHANGE: "change", DELETION: "delete"}


def _changed_fields(message: str) -> list[Any]:
    """The changed field names of an admin change message, without object names."""
    try:
        parts = json.loads(message or "[]")
    except ValueError:
        return []
    out: list[Any] = []
    for part in parts if isinstance(parts, list) else []:
        for kind, detail in part.items() if isinstance(part, dict) else []:
            out.append({kind: {"fields": list(detail.get("fields", []))}})
    return out


def _on_admin_log(sender: Any, instance: LogEntry, created: bool, **kw: Any) -> None:
    if not created:
        return
    content_type = instance.content_type
    label = f"{content_type.app_label}.{content_type.model}" if content_type else ""
    _record(
        instance.user,
        Act.ADMIN_CHANGE,
        object_type=f"admin:{label}"[:40],
        object_id=str(instance.object_id or ""),
        query={
            "action": _FLAGS.get(instance.action_flag, str(instance.action_flag)),
            "changes": _changed_fields(instance.change_message),
        },
    )


def connect() -> None:
    """Connect the receivers (from AuditConfig.ready)."""
    from axes.signals import user_locked_out

    user = get_user_model()
    user_logged_in.connect(_on_logged_in, dispatch_uid="audit_logged_in")
    user_logged_out.connect(_on_logged_out, dispatch_uid="audit_logged_out")
    user_login_failed.connect(_on_login_failed, dispatch_uid="audit_login_failed")
    user_locked_out.connect(_on_locked_out, dispatch_uid="audit_locked_out")
    pre_save.connect(_before_user_save, sender=user, dispatch_uid="audit_user_before")
    post_save.connect(_after_user_save, sender=user, dispatch_uid="audit_user_after")
    post_save.connect(_on_admin_log, sender=LogEntry, dispatch_uid="audit_admin_log")


def client_ip(request: HttpRequest) -> str | None:
    """The address axes throttles by: the same one the log records (REMOTE_ADDR)."""
    from plan_service.audit.context import normalise_ip

    return normalise_ip(request.META.get("REMOTE_ADDR"))
