"""DRF authentication of machine clients: `Authorization: Bearer mc.<token>`.

Only tokens with the client prefix are looked at here (a person's token never has it, so a
person's request costs nothing and goes on to `participants.authentication`). A client token is
accepted while it is unexpired, unrevoked and its client active: revoking a token or
deactivating the client takes effect on the next request, by the clock, with nothing to run.
"""

from __future__ import annotations

from django.utils import timezone
from django.utils.translation import gettext_lazy as _
from rest_framework import authentication, exceptions

from plan_service.clients.models import TOKEN_PREFIX, ClientToken, digest
from plan_service.clients.principal import ClientPrincipal


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
            .filter(
                token_hash=digest(key),
                expires_at__gt=timezone.now(),
                revoked_at__isnull=True,
                client__active=True,
            )
            .first()
        )
        if token is None:
            raise exceptions.AuthenticationFailed(_("Invalid, expired or revoked client token."))
        return ClientPrincipal(token.client, token), token

    def authenticate_header(self, request: object) -> str:
        return 'Bearer realm="api"'
