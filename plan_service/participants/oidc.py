"""Citizen sign-in over OpenID Connect, as Suomi.fi e-Identification's OIDC interface asks.

The relying party side of the authorization code flow with:

* PKCE (S256, RFC 7636), a fresh verifier per attempt;
* a signed request object (RFC 9101): every authorization parameter travels inside a JWT signed
  with our key, so it cannot be altered on the way;
* `private_key_jwt` client authentication at the token endpoint (RFC 7523), never a shared secret;
* encrypted ID tokens (JWE, RSA-OAEP-256 + A256GCM) wrapping a signed JWT (PS256/RS256), as
  Finnish identity brokers must send them; decrypted with our key, then verified against the
  provider's keys;
* provider metadata from discovery and keys from its JWKS, cached, and fetched again once when a
  token names a key we do not know (the provider rotated its keys);
* `state` and `nonce` single use and compared in constant time; the `iss` response parameter
  (RFC 9207) checked when the provider sends it.

Authlib builds the PKCE challenge and the client assertion; joserfc (Authlib's JOSE library)
does the JWS/JWE work. This module knows nothing of people: `complete` returns the verified
claims and the view matches them to the registry (by identity code, never by name).
"""

from __future__ import annotations

import hmac
import json
import secrets
import time
from base64 import urlsafe_b64decode
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

import httpx
from authlib.oauth2.rfc7523.assertion import private_key_jwt_sign
from authlib.oauth2.rfc7636 import create_s256_code_challenge
from django.conf import settings
from django.core.cache import cache as django_cache
from django.core.exceptions import ImproperlyConfigured
from joserfc import jwe, jwt
from joserfc.errors import JoseError
from joserfc.jwk import KeySet
from joserfc.jwt import JWTClaimsRegistry
from joserfc.registry import HeaderParameter

#: Algorithms we accept from the provider, and use ourselves. Nothing else is tried ("none",
#: HS256 with the public key as secret and the like are refused by omission).
ID_TOKEN_SIGNING_ALGS = ("PS256", "RS256", "ES256")
ID_TOKEN_ENCRYPTION = ("RSA-OAEP-256", "A256GCM")
CLIENT_SIGNING_ALG = "PS256"


def _any(value: object) -> None:
    """Replicated claims are compared with the signed claims after decryption instead."""


#: Claims an encrypting provider may repeat in the JWE header (oidc-provider does).
_REPLICATED = ("iss", "sub", "aud")
_JWE = jwe.JWERegistry(
    header_registry={
        name: HeaderParameter(f"replicated {name} claim", _any) for name in _REPLICATED
    },
    algorithms=list(ID_TOKEN_ENCRYPTION),
)
#: Seconds of clock difference tolerated between us and the provider.
LEEWAY = 60
#: How long a started sign-in may take before the user has to start again.
PENDING_MAX_AGE = 600


class SignInFailed(Exception):  # noqa: N818 (a domain outcome, not a programming error)
    """The sign-in could not be completed; `code` says why (logged, shown as a generic page)."""

    def __init__(self, code: str, detail: str = "") -> None:
        super().__init__(f"{code}: {detail}" if detail else code)
        self.code = code


@dataclass(frozen=True)
class RelyingParty:
    """Our registration at one OpenID provider."""

    issuer: str
    client_id: str
    keys: KeySet  # our private keys: one for signing (use=sig), one for decryption (use=enc)
    identity_claim: str
    scope: str = "openid"

    @property
    def signing_key(self) -> Any:
        return _key_for_use(self.keys, "sig")

    def public_jwks(self) -> dict[str, Any]:
        """Our public keys, for the provider (served at /auth/oidc/jwks.json)."""
        return {"keys": [key.as_dict(private=False) for key in self.keys.keys]}


def _key_for_use(keys: KeySet, use: str) -> Any:
    for key in keys.keys:
        if key.get("use") == use:
            return key
    raise ImproperlyConfigured(f"The OIDC client keys have no key with use={use!r}.")


def load_client_keys(raw: str) -> KeySet:
    """Our private JWKS from a JSON text or a file path (never from the database)."""
    text = raw.strip()
    if not text.startswith("{"):
        text = Path(text).read_text(encoding="utf-8")
    try:
        keys = KeySet.import_key_set(json.loads(text))
    except (ValueError, JoseError) as exc:
        raise ImproperlyConfigured(f"OIDC client keys are not a valid JWKS: {exc}") from exc
    for use in ("sig", "enc"):
        if not _key_for_use(keys, use).is_private:
            raise ImproperlyConfigured(f"The OIDC {use} key must be a private key.")
    return keys


@cache
def _keys_from_setting(raw: str) -> KeySet:
    return load_client_keys(raw)


def citizen_relying_party() -> RelyingParty | None:
    """The citizen identity provider from the settings, or None when sign-in is not configured."""
    issuer = settings.OIDC_CITIZEN_ISSUER
    if not issuer:
        return None
    if not (settings.OIDC_CITIZEN_CLIENT_ID and settings.OIDC_CLIENT_KEYS):
        raise ImproperlyConfigured(
            "OIDC_CITIZEN_ISSUER is set: OIDC_CITIZEN_CLIENT_ID and OIDC_CLIENT_KEYS are needed."
        )
    return RelyingParty(
        issuer=issuer.rstrip("/"),
        client_id=settings.OIDC_CITIZEN_CLIENT_ID,
        keys=_keys_from_setting(settings.OIDC_CLIENT_KEYS),
        identity_claim=settings.OIDC_IDENTITY_CLAIM,
        scope=settings.OIDC_CITIZEN_SCOPE,
    )


#
# The provider: discovery and keys
#


def _get_json(url: str) -> dict[str, Any]:
    try:
        response = httpx.get(url, timeout=settings.OIDC_HTTP_TIMEOUT, follow_redirects=False)
        response.raise_for_status()
        data = response.json()
    except (httpx.HTTPError, ValueError) as exc:
        raise SignInFailed("provider_unreachable", f"{url}: {exc}") from exc
    if not isinstance(data, dict):
        raise SignInFailed("provider_unreachable", f"{url}: not a JSON object")
    return data


def provider_metadata(issuer: str, *, refresh: bool = False) -> dict[str, Any]:
    """The provider's discovery document, cached for OIDC_METADATA_TTL seconds."""
    cache_key = f"oidc:meta:{issuer}"
    metadata = None if refresh else django_cache.get(cache_key)
    if metadata is None:
        metadata = _get_json(f"{issuer}/.well-known/openid-configuration")
        if metadata.get("issuer") != issuer:
            raise SignInFailed("issuer_mismatch", "discovery names another issuer")
        django_cache.set(cache_key, metadata, settings.OIDC_METADATA_TTL)
    return metadata


def provider_keys(issuer: str, *, refresh: bool = False) -> KeySet:
    """The provider's public signing keys from its JWKS, cached like the metadata."""
    cache_key = f"oidc:jwks:{issuer}"
    jwks = None if refresh else django_cache.get(cache_key)
    if jwks is None:
        jwks = _get_json(provider_metadata(issuer)["jwks_uri"])
        django_cache.set(cache_key, jwks, settings.OIDC_METADATA_TTL)
    try:
        return KeySet.import_key_set(jwks)
    except (ValueError, JoseError) as exc:
        raise SignInFailed("provider_keys", str(exc)) from exc


#
# The flow
#


def begin(rp: RelyingParty, *, redirect_uri: str, ui_locales: str = "") -> tuple[str, dict]:
    """The URL to send the browser to, and what to keep in the session until it comes back."""
    metadata = provider_metadata(rp.issuer)
    pending = {
        "state": secrets.token_urlsafe(32),
        "nonce": secrets.token_urlsafe(32),
        "code_verifier": secrets.token_urlsafe(64),
        "redirect_uri": redirect_uri,
        "started": int(time.time()),
    }
    now = int(time.time())
    request_claims = {
        "iss": rp.client_id,
        "aud": rp.issuer,
        "iat": now,
        "exp": now + 300,
        "jti": secrets.token_urlsafe(16),
        "client_id": rp.client_id,
        "response_type": "code",
        "redirect_uri": redirect_uri,
        "scope": rp.scope,
        "state": pending["state"],
        "nonce": pending["nonce"],
        "code_challenge": create_s256_code_challenge(pending["code_verifier"]),
        "code_challenge_method": "S256",
    }
    if ui_locales:
        request_claims["ui_locales"] = ui_locales
    key = rp.signing_key
    request_object = jwt.encode(
        {"alg": CLIENT_SIGNING_ALG, "kid": key.kid, "typ": "oauth-authz-req+jwt"},
        request_claims,
        key,
        algorithms=[CLIENT_SIGNING_ALG],
    )
    # OpenID Connect Core 6.1: response_type, client_id and scope also go as plain parameters.
    query = httpx.QueryParams(
        {
            "client_id": rp.client_id,
            "response_type": "code",
            "scope": rp.scope,
            "request": request_object,
        }
    )
    return f"{metadata['authorization_endpoint']}?{query}", pending


def complete(rp: RelyingParty, *, pending: dict | None, params: dict[str, str]) -> dict[str, Any]:
    """Finish the flow from the provider's redirect: verified ID token claims, or SignInFailed."""
    if not pending:
        raise SignInFailed("no_pending_sign_in")
    if int(time.time()) - int(pending.get("started", 0)) > PENDING_MAX_AGE:
        raise SignInFailed("sign_in_too_slow")
    if not hmac.compare_digest(str(params.get("state", "")), pending["state"]):
        raise SignInFailed("state_mismatch")
    if params.get("error"):
        raise SignInFailed("provider_error", str(params.get("error"))[:100])
    if "iss" in params and params["iss"] != rp.issuer:
        raise SignInFailed("issuer_mismatch", "iss response parameter")
    code = params.get("code")
    if not code:
        raise SignInFailed("no_code")
    tokens = _exchange(rp, code=code, pending=pending)
    id_token = tokens.get("id_token")
    if not isinstance(id_token, str):
        raise SignInFailed("no_id_token")
    return verify_id_token(rp, id_token, nonce=pending["nonce"])


def _exchange(rp: RelyingParty, *, code: str, pending: dict) -> dict[str, Any]:
    endpoint = provider_metadata(rp.issuer)["token_endpoint"]
    assertion = private_key_jwt_sign(
        rp.signing_key,
        client_id=rp.client_id,
        token_endpoint=endpoint,
        alg=CLIENT_SIGNING_ALG,
        header={"kid": rp.signing_key.kid},
    )
    try:
        response = httpx.post(
            endpoint,
            data={
                "grant_type": "authorization_code",
                "code": code,
                "redirect_uri": pending["redirect_uri"],
                "code_verifier": pending["code_verifier"],
                "client_id": rp.client_id,
                "client_assertion_type": "urn:ietf:params:oauth:client-assertion-type:jwt-bearer",
                "client_assertion": assertion,
            },
            timeout=settings.OIDC_HTTP_TIMEOUT,
        )
    except httpx.HTTPError as exc:
        raise SignInFailed("provider_unreachable", str(exc)) from exc
    if response.status_code != 200:
        raise SignInFailed("token_refused", response.text[:200])
    try:
        return response.json()
    except ValueError as exc:
        raise SignInFailed("token_refused", "not JSON") from exc


def verify_id_token(rp: RelyingParty, id_token: str, *, nonce: str) -> dict[str, Any]:
    """Decrypt (JWE) and verify (JWS) an ID token; check issuer, audience, times and nonce."""
    if id_token.count(".") != 4:
        # Finnish brokers must encrypt ID tokens: a bare signed token is refused.
        raise SignInFailed("id_token_not_encrypted")
    try:
        decrypted = jwe.decrypt_compact(id_token, _key_for_use(rp.keys, "enc"), registry=_JWE)
    except (JoseError, ValueError) as exc:
        raise SignInFailed("id_token_undecryptable", str(exc)) from exc
    inner = decrypted.plaintext or b""
    token = _verify_signature(rp, inner)
    claims = dict(token.claims)
    for name in _REPLICATED:
        # Claims a provider repeats in the JWE header (RFC 7519 5.3) must match the signed ones.
        if name in decrypted.protected and decrypted.protected[name] != claims.get(name):
            raise SignInFailed("id_token_claims", f"{name} in the encryption header differs")
    registry = JWTClaimsRegistry(
        leeway=LEEWAY,
        iss={"essential": True, "value": rp.issuer},
        sub={"essential": True},
        exp={"essential": True},
        iat={"essential": True},
    )
    try:
        registry.validate(claims)
    except JoseError as exc:
        raise SignInFailed("id_token_claims", str(exc)) from exc
    audience = claims.get("aud")
    audiences = audience if isinstance(audience, list) else [audience]
    if rp.client_id not in audiences:
        raise SignInFailed("id_token_claims", "audience")
    if len(audiences) > 1 and claims.get("azp") != rp.client_id:
        raise SignInFailed("id_token_claims", "azp")
    if int(claims["iat"]) > time.time() + LEEWAY:
        raise SignInFailed("id_token_claims", "issued in the future")
    if not hmac.compare_digest(str(claims.get("nonce", "")), nonce):
        raise SignInFailed("nonce_mismatch")
    return claims


def _verify_signature(rp: RelyingParty, inner: bytes) -> Any:
    try:
        header = json.loads(urlsafe_b64decode(_padded(inner.split(b".")[0])))
    except (ValueError, IndexError) as exc:
        raise SignInFailed("id_token_signature", "malformed header") from exc
    keys = provider_keys(rp.issuer)
    kid = header.get("kid") if isinstance(header, dict) else None
    if kid and all(key.kid != kid for key in keys.keys):
        # A key id we do not know: the provider rotated its keys. Fetch them once more.
        keys = provider_keys(rp.issuer, refresh=True)
    try:
        return jwt.decode(inner, keys, algorithms=list(ID_TOKEN_SIGNING_ALGS))
    except (JoseError, ValueError) as exc:
        raise SignInFailed("id_token_signature", str(exc)) from exc


def _padded(part: bytes) -> bytes:
    return part + b"=" * (-len(part) % 4)


def identity_code_of(rp: RelyingParty, claims: dict[str, Any]) -> str | None:
    """The personal identity code the provider vouched for, or None."""
    value = claims.get(rp.identity_claim)
    return value.strip().upper() if isinstance(value, str) and value.strip() else None


def end_session_url(rp: RelyingParty, *, post_logout_redirect_uri: str = "") -> str | None:
    """Where to send the browser to end the provider's session too (RP-initiated logout)."""
    endpoint = provider_metadata(rp.issuer).get("end_session_endpoint")
    if not endpoint:
        return None
    params = {"client_id": rp.client_id}
    if post_logout_redirect_uri:
        params["post_logout_redirect_uri"] = post_logout_redirect_uri
    return f"{endpoint}?{httpx.QueryParams(params)}"
