"""The OAuth 2.0 authorization server for machine clients, built on Authlib.

* `POST /api/v1/oauth/token/`: the client credentials grant (RFC 6749 section 4.4). The client
  authenticates with its id and secret (`client_secret_basic`, or `client_secret_post`) and
  gets a short-lived bearer token (`CLIENT_TOKEN_TTL_SECONDS`, 5 minutes by default) for the
  scope `plans.read`. No refresh token: a client asks again.
* `POST /api/v1/oauth/revoke/`: token revocation (RFC 7009), by the client that holds it.

Authlib does the protocol: parsing, client authentication, the error responses of RFC 6749
section 5.2 (`invalid_client` 401 with a challenge, `invalid_request`, `unsupported_grant_type`,
`invalid_scope` 400) and `Cache-Control: no-store`. Ours is what it stores and logs: the token as
a SHA-256 digest only, and an access-log row for every issue, refusal and revocation with the
client as the actor (never a person, never the secret or the token).
"""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import json
import secrets
from typing import Any
from urllib.parse import unquote

from authlib.integrations.django_oauth2 import AuthorizationServer
from authlib.integrations.django_oauth2 import RevocationEndpoint as _RevocationEndpoint
from authlib.integrations.django_oauth2.requests import DjangoOAuth2Payload, DjangoOAuth2Request
from authlib.oauth2.rfc6749 import OAuth2Request, grants
from authlib.oauth2.rfc6750 import BearerTokenGenerator
from django.conf import settings
from django.db import DatabaseError, transaction
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.utils import timezone
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_POST

from plan_service.audit.models import AccessEvent
from plan_service.audit.services import record_access
from plan_service.clients.models import (
    SCOPES,
    TOKEN_PREFIX,
    ClientToken,
    MachineClient,
    digest,
)
from plan_service.clients.principal import ClientPrincipal

AUTH_METHODS = ["client_secret_basic", "client_secret_post"]


def _new_access_token(*args: Any, **kwargs: Any) -> str:
    return TOKEN_PREFIX + secrets.token_urlsafe(32)


def _expires_in(client: MachineClient, grant_type: str) -> int:
    return int(settings.CLIENT_TOKEN_TTL_SECONDS)


class ClientCredentialsGrant(grants.ClientCredentialsGrant):
    TOKEN_ENDPOINT_AUTH_METHODS = AUTH_METHODS


class RevocationEndpoint(_RevocationEndpoint):
    CLIENT_AUTH_METHODS = AUTH_METHODS
    SUPPORTED_TOKEN_TYPES = ("access_token",)

    def query_token(self, token: str, token_type_hint: str | None) -> ClientToken | None:
        if not token.startswith(TOKEN_PREFIX):
            return None
        return ClientToken.objects.filter(token_hash=digest(token)).first()

    def revoke_token(self, token: ClientToken, request: Any) -> None:
        if token.revoked_at is None:
            token.revoked_at = timezone.now()
            token.save(update_fields=["revoked_at"])
        _log(token.client, AccessEvent.Action.TOKEN_REVOKE, token=token, path="oauth/revoke")


class _Request(DjangoOAuth2Request):
    """Authlib's request, transport already checked by our views (`_insecure`), which honour
    the proxy's `X-Forwarded-Proto` as Django does (`SECURE_PROXY_SSL_HEADER`)."""

    def __init__(self, request: HttpRequest) -> None:
        OAuth2Request.__init__(
            self,
            method=request.method,
            uri=f"https://{request.get_host()}{request.get_full_path()}",
            headers=request.headers,
        )
        self.payload = DjangoOAuth2Payload(request)
        self._request = request


class ClientServer(AuthorizationServer):
    """Authlib's Django server with our models: active clients only, tokens stored hashed."""

    def __init__(self) -> None:
        super().__init__(MachineClient, ClientToken)
        self.scopes_supported = list(SCOPES)

    def create_bearer_token_generator(self) -> BearerTokenGenerator:
        return BearerTokenGenerator(
            access_token_generator=_new_access_token, expires_generator=_expires_in
        )

    def create_oauth2_request(self, request: HttpRequest) -> _Request:
        return _Request(request)

    def query_client(self, client_id: str) -> MachineClient | None:
        return (
            MachineClient.objects.select_related("organization", "recipient")
            .filter(client_id=client_id[:60], active=True)
            .first()
        )

    def save_token(self, token: dict[str, Any], request: Any) -> ClientToken:
        now = timezone.now()
        row = ClientToken.objects.create(
            client=request.client,
            token_hash=digest(token["access_token"]),
            scope=token.get("scope") or "",
            issued_at=now,
            expires_at=now + dt.timedelta(seconds=int(token["expires_in"])),
        )
        _log(request.client, AccessEvent.Action.LOGIN, token=row, path="oauth/token")
        return row


server = ClientServer()
server.register_grant(ClientCredentialsGrant)
server.register_endpoint(RevocationEndpoint)


def _log(
    client: MachineClient | None,
    action: str,
    *,
    token: ClientToken | None = None,
    path: str,
    outcome: str = AccessEvent.Outcome.SUCCESS,
    code: int | None = None,
    reason: str = "",
    named: str = "",
) -> None:
    """One access-log row about no person: the client (or, for an unknown id, nobody) acted."""
    actor = ClientPrincipal(client, token or ClientToken(scope="")) if client else None
    query: dict[str, str] = {"path": path}
    if client is None and named:
        query["client_id"] = named[:60]
    record_access(
        actor=actor,
        action=action,
        subjects=[],
        outcome=outcome,
        outcome_code=code,
        object_type="client_token",
        object_id=str(token.pk) if token is not None else reason,
        query=query,
        purpose="machine_client",
        legal_basis="",
    )


def _named_client_id(request: HttpRequest) -> str:
    """The client id a request names (Basic credentials or the form), never its secret."""
    auth = request.headers.get("Authorization", "")
    if auth[:6].lower() == "basic ":
        try:
            decoded = base64.b64decode(auth[6:].strip(), validate=True).decode()
        except (binascii.Error, UnicodeDecodeError):
            return ""
        return unquote(decoded.partition(":")[0])
    return str(request.POST.get("client_id", ""))


def _refused(request: HttpRequest, response: HttpResponse, path: str, action: str) -> None:
    """Log a refused token or revocation request in its own transaction."""
    try:
        reason = str(json.loads(response.content).get("error", ""))[:64]
    except (ValueError, AttributeError):
        reason = "refused"
    named = _named_client_id(request)
    client = MachineClient.objects.filter(client_id=named[:60]).first() if named else None
    with transaction.atomic():
        _log(
            client,
            action,
            path=path,
            outcome=AccessEvent.Outcome.DENIED,
            code=response.status_code,
            reason=reason,
            named=named,
        )


def _insecure(request: HttpRequest) -> JsonResponse | None:
    """OAuth 2.0 needs TLS (RFC 6749 section 1.6): refused over plain HTTP unless
    OAUTH_REQUIRE_HTTPS is off (local work and tests)."""
    if not settings.OAUTH_REQUIRE_HTTPS or request.is_secure():
        return None
    response = JsonResponse(
        {"error": "invalid_request", "error_description": "HTTPS is required."}, status=400
    )
    response["Cache-Control"] = "no-store"
    return response


def _unavailable() -> JsonResponse:
    response = JsonResponse(
        {"error": "temporarily_unavailable", "error_description": "Try again shortly."},
        status=503,
    )
    response["Retry-After"] = "5"
    response["Cache-Control"] = "no-store"
    return response


@csrf_exempt
@require_POST
def token(request: HttpRequest) -> HttpResponse:
    """The token endpoint: a bearer token for a machine client's credentials, logged."""
    if (refused := _insecure(request)) is not None:
        return refused
    try:
        with transaction.atomic():
            response = server.create_token_response(request)
            if response.status_code != 200:
                transaction.set_rollback(True)
        if response.status_code != 200:
            _refused(request, response, "oauth/token", AccessEvent.Action.LOGIN_FAILED)
    except DatabaseError:
        return _unavailable()
    return response


@csrf_exempt
@require_POST
def revoke(request: HttpRequest) -> HttpResponse:
    """RFC 7009: the client ends one of its own tokens; it stops working at once."""
    if (refused := _insecure(request)) is not None:
        return refused
    try:
        with transaction.atomic():
            response = server.create_endpoint_response(RevocationEndpoint.ENDPOINT_NAME, request)
            if response.status_code != 200:
                transaction.set_rollback(True)
        if response.status_code != 200:
            _refused(request, response, "oauth/revoke", AccessEvent.Action.DENIED)
    except DatabaseError:
        return _unavailable()
    response["Cache-Control"] = "no-store"
    return response
