"""A person's own sessions and tokens: lifetime, idle timeout, listing, ending one or all.

* A browser session ends after SESSION_IDLE_MINUTES without use, and after SESSION_MAX_HOURS
  whatever happens (`SessionLifetimeMiddleware`), for the pages and the API alike; a session of
  a professional that was not verified with a second factor ends at once, whichever door made it.
* Each session is tracked in `SignInSession` from the moment of sign-in (Django's
  `user_logged_in`, so every sign-in path is covered) until it ends.
* `end_all` ends every session and token of a user: "sign out everywhere".
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Callable
from typing import Any

from django.conf import settings
from django.contrib.auth import logout
from django.contrib.auth.signals import user_logged_in, user_logged_out
from django.contrib.sessions.models import Session
from django.db import transaction
from django.http import HttpRequest, HttpResponse
from django.utils import timezone

from plan_service import policy
from plan_service.audit.accounts import credentials_changed, record_tokens_revoked
from plan_service.audit.models import AccessEvent
from plan_service.audit.services import record_access
from plan_service.participants.models import ApiToken, SignInSession

_SIGNED_IN_AT = "signed_in_at"
_LAST_SEEN = "last_seen_at"
#: Touch the session's "last seen" at most this often (a write per request would be waste).
TOUCH_EVERY = dt.timedelta(seconds=60)


def signed_in(session: Any) -> bool:
    """Whether `session` was made by a sign-in (any path: Django's user_logged_in)."""
    return session.get(_SIGNED_IN_AT) is not None


def _on_login(sender: Any, request: HttpRequest | None, user: Any, **kwargs: Any) -> None:
    if request is None or not hasattr(request, "session"):
        return
    now = timezone.now()
    request.session[_SIGNED_IN_AT] = now.timestamp()
    request.session[_LAST_SEEN] = now.timestamp()
    if request.session.session_key is None:
        request.session.save()
    SignInSession.objects.update_or_create(
        session_key=request.session.session_key,
        defaults={
            "user": user,
            "method": request.session.get("signin_method", "password"),
            "user_agent": request.headers.get("User-Agent", "")[:300].replace("\x00", ""),
        },
    )


def _on_logout(sender: Any, request: HttpRequest | None, user: Any, **kwargs: Any) -> None:
    key = getattr(getattr(request, "session", None), "session_key", None)
    if key:
        SignInSession.objects.filter(session_key=key).delete()


def connect() -> None:
    """Called from the app's ready(): track sign-ins and sign-outs of every path."""
    user_logged_in.connect(_on_login, dispatch_uid="participants.sessions.login")
    user_logged_out.connect(_on_logout, dispatch_uid="participants.sessions.logout")
    credentials_changed.connect(
        _on_credentials_changed, dispatch_uid="participants.sessions.credentials_changed"
    )


class SessionLifetimeMiddleware:
    """End a browser session that was idle too long or is older than its maximum lifetime."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        session = getattr(request, "session", None)
        user = getattr(request, "user", None)
        if session is not None and user is not None and user.is_authenticated:
            now = timezone.now().timestamp()
            started = session.get(_SIGNED_IN_AT, now)
            seen = session.get(_LAST_SEEN, now)
            if (
                now - seen > settings.SESSION_IDLE_MINUTES * 60
                or now - started > settings.SESSION_MAX_HOURS * 3600
                or not _second_factor_met(request, user)
            ):
                logout(request)
            elif now - seen > TOUCH_EVERY.total_seconds():
                session[_LAST_SEEN] = now
                SignInSession.objects.filter(session_key=session.session_key).update(
                    last_seen_at=timezone.now()
                )
        return self.get_response(request)


def _second_factor_met(request: HttpRequest, user: Any) -> bool:
    """A session of someone who needs a second factor must have been verified with one
    (django-otp's OTPMiddleware sets `is_verified`), whatever door made it: the sign-in page
    does, the admin's password-only form would not. Strong identification through the OpenID
    provider counts as verified."""
    if request.session.get("signin_method") == "oidc" or not policy.requires_second_factor(user):
        return True
    return bool(getattr(user, "is_verified", lambda: False)())


def current_entry(request: HttpRequest) -> str:
    """The id under which `sessions_of` lists the request's own session or token ("" if none)."""
    if isinstance(getattr(request, "auth", None), ApiToken):
        return token_reference(request.auth)  # type: ignore[attr-defined]
    key = request.session.session_key
    row = SignInSession.objects.filter(session_key=key).first() if key else None
    return str(row.pk) if row else ""


def token_reference(token: ApiToken) -> str:
    """An opaque reference to a token: a prefix of the SHA-256 of its key (never the key)."""
    return f"token-{token.key_hash[:32]}"


def sessions_of(user: Any) -> list[dict[str, Any]]:
    """The user's own live sessions and tokens, newest first (for "end this one")."""
    rows = [
        {
            "id": str(s.pk),
            "kind": "session",
            "method": s.method,
            "started_at": s.signed_in_at,
            "last_seen_at": s.last_seen_at,
            "user_agent": s.user_agent,
        }
        for s in SignInSession.objects.filter(
            user=user,
            # A session ended elsewhere (a password change ends them all) is not listed.
            session_key__in=Session.objects.filter(expire_date__gt=timezone.now()).values(
                "session_key"
            ),
        )
    ]
    rows += [
        {
            "id": token_reference(t),
            "kind": "token",
            "method": "token",
            "started_at": t.created_at,
            "last_seen_at": None,
            "user_agent": "",
        }
        for t in ApiToken.objects.filter(user=user, expires_at__gt=timezone.now())
    ]
    return sorted(rows, key=lambda r: r["started_at"], reverse=True)


@transaction.atomic
def end_one(*, user: Any, entry_id: str) -> bool:
    """End one of the user's own sessions or tokens, logged; False when it is not theirs or gone."""
    if not _end_one(user, entry_id):
        return False
    is_token = entry_id.startswith("token-")
    record_access(
        actor=user,
        action=AccessEvent.Action.TOKEN_REVOKE if is_token else AccessEvent.Action.LOGOUT,
        subjects=[],
        object_type="token" if is_token else "session",
        object_id=entry_id,
        purpose="security",
    )
    return True


def _end_one(user: Any, entry_id: str) -> bool:
    session = None
    if not entry_id.startswith("token-"):
        try:
            session = SignInSession.objects.filter(user=user, pk=uuid.UUID(entry_id)).first()
        except ValueError:
            return False
    if session is not None:
        Session.objects.filter(session_key=session.session_key).delete()
        session.delete()
        return True
    prefix = entry_id.removeprefix("token-")
    if len(prefix) != 32 or entry_id == prefix:
        return False
    deleted, _ = ApiToken.objects.filter(user=user, key_hash__startswith=prefix).delete()
    return bool(deleted)


def _end_everything(user: Any) -> tuple[int, int]:
    keys = list(SignInSession.objects.filter(user=user).values_list("session_key", flat=True))
    Session.objects.filter(session_key__in=keys).delete()
    sessions, _ = SignInSession.objects.filter(user=user).delete()
    tokens, _ = ApiToken.objects.filter(user=user).delete()
    return tokens, sessions


@transaction.atomic
def end_all(user: Any) -> tuple[int, int]:
    """End every session and token of `user`, logged; returns (tokens, sessions) ended."""
    tokens, sessions = _end_everything(user)
    record_access(
        actor=user,
        action=AccessEvent.Action.LOGOUT,
        subjects=[],
        object_type="session",
        object_id="*",
        purpose="security",
        query={"ended": {"tokens": tokens, "sessions": sessions}},
    )
    return tokens, sessions


def _on_credentials_changed(
    sender: Any, *, user: Any, actor: Any, reason: str, **kwargs: Any
) -> None:
    """A password changed or an account was deactivated: every token and session ends."""
    tokens, sessions = _end_everything(user)
    record_tokens_revoked(actor=actor, user=user, reason=reason, tokens=tokens, sessions=sessions)
