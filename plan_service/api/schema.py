"""OpenAPI details drf-spectacular cannot infer.

* the bearer-token scheme (people) and the OAuth client-credentials scheme (machine clients);
* views whose `list` answers one object (`/me/`) or a plain array (`/audit/verify/`), not a page;
* answers any operation can give whatever its view does: 413 (body too large) where there is a
  body, 503 (database briefly unavailable,
  with Retry-After), 414 (request line too long, from the HTTP server) and 429 (too many
  attempts, with Retry-After) where the view is throttled. They are added by one
  postprocessing hook, so a new route gets them without anyone remembering.
"""

from __future__ import annotations

from typing import Any

from drf_spectacular.extensions import OpenApiAuthenticationExtension
from drf_spectacular.openapi import AutoSchema as SpectacularAutoSchema
from drf_spectacular.utils import OpenApiResponse

from plan_service.api.serializers import ErrorSerializer

#: The refusals every operation documents (`responses={200: ..., **ERRORS}`); writes add theirs.
ERRORS = {
    400: OpenApiResponse(ErrorSerializer, description="Invalid input; each bad field is named."),
    401: OpenApiResponse(ErrorSerializer, description="Not authenticated."),
    403: OpenApiResponse(ErrorSerializer, description="Visible, but not allowed."),
    404: OpenApiResponse(ErrorSerializer, description="Not found (or not visible)."),
}
WRITE_ERRORS = {
    **ERRORS,
    409: OpenApiResponse(ErrorSerializer, description="Conflicts with the current state."),
    412: OpenApiResponse(ErrorSerializer, description="Stale If-Match; body has current_version."),
    415: OpenApiResponse(ErrorSerializer, description="Only application/json is accepted."),
    428: OpenApiResponse(ErrorSerializer, description="If-Match missing."),
}


def _for_machine_clients(auto_schema: Any) -> bool:
    """Routes only machine clients may use (`machine_clients_only` on the view set)."""
    return bool(getattr(auto_schema.view, "machine_clients_only", False))


class BearerTokenScheme(OpenApiAuthenticationExtension):
    """People's tokens: every route but the machine clients' own."""

    target_class = "plan_service.participants.authentication.BearerTokenAuthentication"
    name = "bearerAuth"

    def get_security_definition(self, auto_schema: Any) -> dict[str, str]:
        return {"type": "http", "scheme": "bearer", "description": "POST /api/v1/auth/token/"}

    def get_security_requirement(self, auto_schema: Any) -> dict[str, list[str]] | None:
        return None if _for_machine_clients(auto_schema) else {self.name: []}


class ClientCredentialsScheme(OpenApiAuthenticationExtension):
    """Machine clients (portals): OAuth 2.0 client credentials, only on their own routes."""

    target_class = "plan_service.clients.authentication.ClientTokenAuthentication"
    name = "clientCredentials"

    def get_security_definition(self, auto_schema: Any) -> dict[str, Any]:
        return {
            "type": "oauth2",
            "description": "Machine clients only: POST client_id and client_secret (HTTP Basic) "
            "with grant_type=client_credentials to the token URL; send the access token as "
            "`Authorization: Bearer mc.…`. Revoke at /api/v1/oauth/revoke/ (RFC 7009).",
            "flows": {
                "clientCredentials": {
                    "tokenUrl": "/api/v1/oauth/token/",
                    "scopes": {"plans.read": "Read the plans the client's recipient may receive"},
                }
            },
        }

    def get_security_requirement(self, auto_schema: Any) -> dict[str, list[str]] | None:
        return {self.name: ["plans.read"]} if _for_machine_clients(auto_schema) else None


class AutoSchema(SpectacularAutoSchema):
    """drf-spectacular's schema, told which `list` actions answer a single object."""

    def _is_list_view(self, serializer: Any = None) -> bool:
        if getattr(self.view, "list_is_single_object", False):
            return False
        return bool(super()._is_list_view(serializer))


#: Operations a throttle guards (method, path); issue-12's sign-in throttling adds to this.
THROTTLED: set[tuple[str, str]] = {("post", "/api/v1/auth/token/")}

_ERROR = {"$ref": "#/components/schemas/Error"}
_RETRY_AFTER = {
    "Retry-After": {
        "schema": {"type": "integer"},
        "description": "Seconds to wait before retrying.",
    }
}
_GENERIC: dict[str, dict[str, Any]] = {
    "503": {
        "description": "The service is briefly unavailable (database); retry after a moment.",
        "headers": _RETRY_AFTER,
    },
    "414": {"description": "The request line is too long (answered by the HTTP server)."},
}
_REFUSALS = {
    "400": "Bad input: the body names each bad field, parameter or header and why.",
    "401": "Not signed in.",
    "403": "Visible, but not allowed.",
    "404": "Not visible to the caller, or missing (the same answer).",
}
_THROTTLED = {
    "description": "Too many attempts; retry later.",
    "headers": _RETRY_AFTER,
}


def add_generic_responses(result: dict[str, Any], **kwargs: Any) -> dict[str, Any]:
    """Postprocessing hook: declare 503 and 414 on every operation, the refusals (400, 401,
    403, 404) on every API operation, and 429 on throttled ones."""
    content = {"application/json": {"schema": _ERROR}}
    for path, item in result.get("paths", {}).items():
        for method, operation in item.items():
            if not isinstance(operation, dict) or "responses" not in operation:
                continue
            responses = operation["responses"]
            for code, response in _GENERIC.items():
                declared = responses.setdefault(code, {"description": response["description"]})
                declared.setdefault("description", response["description"])
                if code == "503":
                    declared.setdefault("headers", response["headers"])
                    declared.setdefault("content", content)
            if path.startswith("/api/v1/"):
                # Every API operation can refuse: bad query or paging (400), no sign-in (401),
                # not allowed (403), not visible or missing (404). Views that declare their own
                # wording keep it.
                for code, text in _REFUSALS.items():
                    responses.setdefault(code, {"description": text, "content": content})
            if "requestBody" in operation:
                responses.setdefault(
                    "413", {"description": "The body is too large.", "content": content}
                )
            if (method, path) in THROTTLED:
                responses.setdefault("429", {**_THROTTLED, "content": content})
    return result
