"""Bearer tokens: `Authorization: Bearer <token>` (or `Token <token>`), stored as SHA-256 only."""

from __future__ import annotations

import datetime as dt
import hashlib
import secrets

from django.conf import settings
from django.utils import timezone
from django.utils.translation import gettext_lazy as _
from rest_framework import authentication, exceptions

from plan_service.participants.models import ApiToken


def _digest(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


def token_issue(*, user: object) -> tuple[str, ApiToken]:
    """Create a token for `user`; the clear key is returned once and never stored."""
    key = secrets.token_urlsafe(32)
    token = ApiToken.objects.create(
        key_hash=_digest(key),
        user=user,
        expires_at=timezone.now() + dt.timedelta(hours=settings.API_TOKEN_TTL_HOURS),
    )
    return key, token


def token_revoke(*, token: ApiToken) -> None:
    """Revoke a token: later requests with it get 401."""
    token.delete()


class BearerTokenAuthentication(authentication.BaseAuthentication):
    """Accept `Bearer <token>` and `Token <token>`; answer 401 with WWW-Authenticate otherwise."""

    keywords = ("bearer", "token")

    def authenticate(self, request: object) -> tuple[object, ApiToken] | None:
        header = authentication.get_authorization_header(request).split()
        if not header or header[0].decode(errors="replace").lower() not in self.keywords:
            return None
        if len(header) != 2:
            raise exceptions.AuthenticationFailed(_("Invalid token header."))
        try:
            key = header[1].decode()
        except UnicodeDecodeError as exc:
            raise exceptions.AuthenticationFailed(_("Invalid token header.")) from exc
        token = (
            # The log needs the actor's role and organisation on every request: load them here.
            ApiToken.objects.select_related(
                "user", "user__professional__organization", "user__person"
            )
            .filter(key_hash=_digest(key), expires_at__gt=timezone.now())
            .first()
        )
        if token is None or not token.user.is_active:
            raise exceptions.AuthenticationFailed(_("Invalid or expired token."))
        return token.user, token

    def authenticate_header(self, request: object) -> str:
        return 'Bearer realm="api"'
