"""Managing machine clients: create, rotate the secret, deactivate, revoke tokens.

Each is one transaction that writes the client's history (who and why) and an access-log row
(`admin_change` / `token_revoke`, about no person, the client named in the row). The secret is
returned once and stored only as its SHA-256 digest. The operators' interface is the commands
(`./run create-client`, `client-rotate-secret`, `client-deactivate`, `client-revoke-tokens`;
docs/operations.md).
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from typing import Any

from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from plan_service import policy
from plan_service.audit.models import AccessEvent
from plan_service.audit.services import record_access
from plan_service.clients.models import ClientToken, MachineClient, digest
from plan_service.participants.models import Organization, Recipient


@dataclass(frozen=True)
class Issued:
    """A client and its secret in clear: shown once, never stored."""

    client: MachineClient
    secret: str


def _new_secret() -> str:
    return secrets.token_urlsafe(32)


def _stamp(client: MachineClient, actor: Any | None, reason: str) -> None:
    """Who changed the client (a person; None for the system's commands) and why, on the row
    and its history row."""
    person = actor if getattr(actor, "pk", None) else None
    if client._state.adding:
        client.created_by = person
    client.updated_by = person
    client._history_user = person  # type: ignore[attr-defined]
    client._change_reason = reason  # type: ignore[attr-defined]


def _log(client: MachineClient, action: str, change: str, actor: Any | None) -> None:
    record_access(
        actor=actor,
        action=action,
        subjects=[],
        object_type="machine_client",
        object_id=client.client_id,
        query={"change": change, "client_id": client.client_id},
        purpose="administration",
        **({} if actor is not None else {"actor_kind": "system"}),
    )


@transaction.atomic
def client_create(
    *,
    client_id: str,
    name: str,
    recipient: Recipient,
    organization: Organization | None = None,
    actor: Any | None = None,
    reason: str = "",
) -> Issued:
    """Register a machine client for `recipient` (an organisation's recipient, its own).

    ValidationError naming the field when the id is taken or malformed, or the recipient is not
    an active organisation recipient of the client's organisation.
    """
    organization = organization or recipient.organization
    errors: dict[str, list[str]] = {}
    mismatch = policy.client_recipient_mismatch(recipient, organization)
    if mismatch:
        errors[mismatch] = [
            _(
                "A machine client stands for an active recipient of the kind organisation, "
                "of its own organisation."
            )
        ]
    if MachineClient.objects.filter(client_id=client_id).exists():
        errors["client_id"] = [_("A client with this id exists already.")]
    if errors:
        raise ValidationError(errors)
    secret = _new_secret()
    client = MachineClient(
        client_id=client_id,
        name=name,
        organization=organization,
        recipient=recipient,
        secret_hash=digest(secret),
    )
    client.full_clean(exclude=["secret_hash"])
    _stamp(client, actor, reason or "created")
    client.save()
    _log(client, AccessEvent.Action.ADMIN_CHANGE, "created", actor)
    return Issued(client=client, secret=secret)


def _locked(client_id: str) -> MachineClient:
    client = MachineClient.objects.select_for_update().filter(client_id=client_id).first()
    if client is None:
        raise ValidationError({"client_id": [_("No such machine client.")]})
    return client


def _revoke_all(client: MachineClient) -> int:
    now = timezone.now()
    revoked = 0
    for token in ClientToken.objects.filter(
        client=client, revoked_at__isnull=True, expires_at__gt=now
    ):
        token.revoked_at = now
        token.save(update_fields=["revoked_at"])
        revoked += 1
    return revoked


@transaction.atomic
def client_rotate_secret(*, client_id: str, actor: Any | None = None, reason: str = "") -> Issued:
    """A new secret for the client (the old one stops working at once); its live tokens end."""
    client = _locked(client_id)
    secret = _new_secret()
    client.secret_hash = digest(secret)
    client.secret_rotated_at = timezone.now()
    _stamp(client, actor, reason or "secret rotated")
    client.save()
    _revoke_all(client)
    _log(client, AccessEvent.Action.ADMIN_CHANGE, "secret_rotated", actor)
    return Issued(client=client, secret=secret)


@transaction.atomic
def client_set_active(
    *, client_id: str, active: bool, actor: Any | None = None, reason: str = ""
) -> MachineClient:
    """Deactivate (every token ends on its next request) or reactivate a client."""
    client = _locked(client_id)
    client.active = active
    _stamp(client, actor, reason or ("activated" if active else "deactivated"))
    client.save()
    if not active:
        _revoke_all(client)
    _log(
        client,
        AccessEvent.Action.ACTIVATION_CHANGE,
        "activated" if active else "deactivated",
        actor,
    )
    return client


@transaction.atomic
def client_revoke_tokens(*, client_id: str, actor: Any | None = None) -> int:
    """End every live token of the client now; it may ask for new ones with its secret."""
    client = _locked(client_id)
    revoked = _revoke_all(client)
    _log(client, AccessEvent.Action.TOKEN_REVOKE, "tokens_revoked", actor)
    return revoked
