"""DRF authentication of machine clients: `Authorization: Bearer mc.<token>`.

Only tokens with the client prefix are looked at here (a person's token never has it, so a
person's request costs nothing and goes on to `participants.authentication`). A client token is
accepted while it is unexpired, unrevoked and its client active: revoking a token or
deactivating the client takes effect on the next request, by the clock, with nothing to run.
A known token that no longer works is refused (401) and logged under its client.
"""

from __future__ import annotations

from typing import Any

from django.utils import timezone
from django.utils.translation import gettext_lazy as _
from rest_framework import authentication, exceptions

from plan_service.audit.accounts import after_response
from plan_service.audit.models import AccessEvent
from plan_service.audit.services import record_access
from plan_service.clients.models import TOKEN_PREFIX, ClientToken, digest
from plan_service.clients.principal import ClientPrincipal


def _unusable(token: ClientToken | None) -> str:
    """Why the token cannot be used now ("" when it can)."""
    if token is None:
        return "unknown"
    if token.revoked_at is not None:
        return "revoked"
    if not token.client.active:
        return "client_inactive"
    if token.expires_at <= timezone.now():
        return "expired"
    return ""


def _log_refused(request: Any, token: ClientToken, reason: str) -> None:
    """A token of ours that no longer works: logged under its client, after the response
    (the request's own transaction is rolled back with the 401)."""
    client, path = token.client, request.path

    def write() -> None:
        record_access(
            actor=ClientPrincipal(client, token),
            action=AccessEvent.Action.DENIED,
            subjects=[],
            outcome=AccessEvent.Outcome.DENIED,
            outcome_code=401,
            object_type="client_token",
            object_id=str(token.pk),
            query={"path": path[:200], "reason": reason},
            purpose="machine_client",
        )

    after_response(getattr(request, "_request", request), write)


class ClientTokenAuthentication(authentication.BaseAuthentication):
    """Accept `Bearer mc.<token>` issued by the OAuth token endpoint; 401 when not valid."""

    def authenticate(self, request: object) -> tuple[ClientPrincipal, ClientToken] | None:
        header = authentication.get_authorization_header(request).split()
        if len(header) != 2 or header[0].decode(errors="replace").lower() != "bearer":
            return None
        try:
            key = header[1].decode()
        except UnicodeDecodeError:
            return None
        if not key.startswith(TOKEN_PREFIX):
            return None  # a person's token (participants.authentication decides)
        token = (
            ClientToken.objects.select_related(
                "client__organization", "client__recipient__organization"
            )
            .filter(token_hash=digest(key))
            .first()
        )
        reason = _unusable(token)
        if reason:
            if token is not None:
                _log_refused(request, token, reason)
            raise exceptions.AuthenticationFailed(_("Invalid, expired or revoked client token."))
        return ClientPrincipal(token.client, token), token  # type: ignore[union-attr]

    def authenticate_header(self, request: object) -> str:
        return 'Bearer realm="api"'
