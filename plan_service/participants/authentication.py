"""Bearer tokens: `Authorization: Bearer <token>` (or `Token <token>`), stored as SHA-256 only."""

from __future__ import annotations

import datetime as dt
import hashlib
import secrets

from django.conf import settings
from django.contrib.auth import get_user_model
from django.db.models import QuerySet
from django.utils import timezone
from django.utils.translation import gettext_lazy as _
from rest_framework import authentication, exceptions

from plan_service import prepared
from plan_service.participants.models import ApiToken, Organization, Person, Professional


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


def token_get(key_hash: str) -> ApiToken | None:
    """The unexpired token with this hash, with its user and (the log needs the actor's role
    and organisation on every request) the user's professional, organisation and person, in
    one statement compiled once per process (`prepared`)."""
    found = prepared.rows(
        ("token_get",),
        _token_statement,
        {"key_hash": prepared.Slot.text(1), "now": prepared.Slot.moment(1)},
        {"key_hash": key_hash, "now": timezone.now()},
    )
    if not found:
        return None
    row = found[0]
    token = prepared.instance(ApiToken, row)
    user = prepared.instance(get_user_model(), row, "user__")
    professional = prepared.instance(Professional, row, "user__professional__")
    if professional is not None:
        professional.organization = prepared.instance(
            Organization, row, "user__professional__organization__"
        )
        professional.user = user
    person = prepared.instance(Person, row, "user__person__")
    if person is not None:
        person.user = user
    # What select_related leaves on the user: the reverse one-to-ones, None when absent.
    user_model = get_user_model()
    user_model.professional.related.set_cached_value(user, professional)
    user_model.person.related.set_cached_value(user, person)
    token.user = user
    return token


def _token_statement(*, key_hash: str, now: dt.datetime) -> QuerySet[ApiToken]:
    return ApiToken.objects.filter(key_hash=key_hash, expires_at__gt=now).values(
        *prepared.columns(ApiToken),
        *prepared.columns(get_user_model(), "user__"),
        *prepared.columns(Professional, "user__professional__"),
        *prepared.columns(Organization, "user__professional__organization__"),
        *prepared.columns(Person, "user__person__"),
    )[:1]


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
        token = token_get(_digest(key))
        if token is None or not token.user.is_active:
            raise exceptions.AuthenticationFailed(_("Invalid or expired token."))
        return token.user, token

    def authenticate_header(self, request: object) -> str:
        return 'Bearer realm="api"'
