"""Machine clients (portals) and the access tokens issued to them (OAuth 2.0 client credentials).

A machine client is not a person: it has no user account, no password and no session. It
belongs to one organisation and stands for one export recipient of the registry
(`participants.Recipient`); what it may reach is decided by `plan_service.policy`
(`client_plans_for`, `client_export_access`). Its secret and its tokens are stored as SHA-256
digests only: both are 256-bit random strings, shown once (docs/clients.md).
"""

from __future__ import annotations

import hashlib
import hmac
import uuid

from django.db import models
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from plan_service import historical
from plan_service.models_base import Stamped
from plan_service.participants.models import Organization, Recipient

#: Every access token issued to a machine client starts with this. A person's token
#: (`secrets.token_urlsafe`) never contains a dot, so the two kinds can never be mistaken for
#: each other and a person's request costs no look-up in the client tables.
TOKEN_PREFIX = "mc."  # noqa: S105 (a public prefix, not a secret)
#: The one scope a client token carries: read the plans its recipient may receive.
SCOPE_PLANS_READ = "plans.read"
SCOPES = (SCOPE_PLANS_READ,)


def digest(value: str) -> str:
    """SHA-256 of a secret or token, as stored (the clear value is never stored)."""
    return hashlib.sha256(value.encode()).hexdigest()


class MachineClient(Stamped):
    """A portal or other system that fetches plans for one recipient with its own credentials."""

    client_id = models.SlugField(_("client id"), max_length=60, unique=True)
    name = models.CharField(_("name"), max_length=200)
    organization = models.ForeignKey(
        Organization,
        on_delete=models.PROTECT,
        related_name="machine_clients",
        verbose_name=_("organisation"),
    )
    recipient = models.ForeignKey(
        Recipient,
        on_delete=models.PROTECT,
        related_name="machine_clients",
        verbose_name=_("recipient"),
        help_text=_("The client receives what this recipient may receive, nothing more."),
    )
    #: SHA-256 of the secret; the secret is shown once, at creation or rotation.
    secret_hash = models.CharField(max_length=64, editable=False)
    secret_rotated_at = models.DateTimeField(_("secret set at"), default=timezone.now)
    active = models.BooleanField(
        _("active"),
        default=True,
        help_text=_("Deactivating a client ends all its tokens at once."),
    )
    history = historical.records(excluded_fields=["secret_hash"])

    class Meta:
        ordering = ["name"]
        verbose_name = _("machine client")
        verbose_name_plural = _("machine clients")

    def __str__(self) -> str:
        return f"{self.name} ({self.client_id})"

    # Authlib's ClientMixin (authlib.oauth2.rfc6749.ClientMixin): a confidential client that
    # uses the client credentials grant only, authenticating with its secret.

    def get_client_id(self) -> str:
        return self.client_id

    def get_default_redirect_uri(self) -> None:
        return None

    def get_allowed_scope(self, scope: str | None) -> str:
        if not scope:
            return SCOPE_PLANS_READ
        return " ".join(s for s in scope.split() if s in SCOPES)

    def check_redirect_uri(self, redirect_uri: str) -> bool:
        return False

    def check_client_secret(self, client_secret: str) -> bool:
        return bool(self.active) and hmac.compare_digest(digest(client_secret), self.secret_hash)

    def check_endpoint_auth_method(self, method: str, endpoint: str) -> bool:
        return method in ("client_secret_basic", "client_secret_post")

    def check_response_type(self, response_type: str) -> bool:
        return False

    def check_grant_type(self, grant_type: str) -> bool:
        return grant_type == "client_credentials"


class ClientToken(models.Model):
    """An access token issued to a machine client: short-lived, revocable, stored as a digest."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    client = models.ForeignKey(
        MachineClient, on_delete=models.CASCADE, related_name="tokens", verbose_name=_("client")
    )
    token_hash = models.CharField(max_length=64, unique=True, editable=False)
    scope = models.CharField(_("scope"), max_length=200, blank=True)
    issued_at = models.DateTimeField(_("issued at"), default=timezone.now)
    expires_at = models.DateTimeField(_("expires at"))
    revoked_at = models.DateTimeField(_("revoked at"), null=True, blank=True)

    class Meta:
        ordering = ["-issued_at"]
        verbose_name = _("machine client token")
        verbose_name_plural = _("machine client tokens")
        indexes = [models.Index(fields=["client", "expires_at"], name="clienttoken_live")]

    def __str__(self) -> str:
        return f"token {self.token_hash[:12]} of {self.client_id}"

    # Authlib's TokenMixin, for the revocation endpoint (RFC 7009).

    def check_client(self, client: MachineClient) -> bool:
        return self.client_id == client.pk

    def get_scope(self) -> str:
        return self.scope

    def get_expires_in(self) -> int:
        return max(0, int((self.expires_at - self.issued_at).total_seconds()))

    def is_expired(self) -> bool:
        return self.expires_at <= timezone.now()

    def is_revoked(self) -> bool:
        return self.revoked_at is not None
