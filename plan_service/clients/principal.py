"""Who `request.user` is when a machine client's token authenticated the request.

Not a Django user and never one: it has no primary key, no password, no groups and no object
permissions, so nothing that serves people can mistake it for one. The policy answers no to every
question about people for it (`policy._active`), and the access log records it as the client
(`actor_log_columns`: actor kind `machine_client`, the client id, its organisation).
"""

from __future__ import annotations

from typing import Any

from plan_service.audit.services import ACTOR_MACHINE_CLIENT
from plan_service.clients.models import ClientToken, MachineClient


class ClientPrincipal:
    """The authenticated machine client of one request (its token and the scopes it carries)."""

    is_authenticated = True
    is_anonymous = False
    is_staff = False
    is_superuser = False
    pk = None
    id = None

    def __init__(self, client: MachineClient, token: ClientToken) -> None:
        self.machine_client = client
        self.token = token
        self.scopes = tuple(token.scope.split())

    @property
    def is_active(self) -> bool:
        return bool(self.machine_client.active)

    def actor_log_columns(self) -> dict[str, object]:
        """Who acted, for the access log: the client, never a person (no user id)."""
        client = self.machine_client
        return {
            "actor_kind": ACTOR_MACHINE_CLIENT,
            "actor_username": client.client_id,
            "actor_display": client.name,
            "actor_organization_id": client.organization_id,
            "actor_organization_name": client.organization.name,
        }

    def get_username(self) -> str:
        return self.machine_client.client_id

    def get_full_name(self) -> str:
        return self.machine_client.name

    def has_perm(self, perm: str, obj: Any = None) -> bool:
        return False

    def has_perms(self, perms: Any, obj: Any = None) -> bool:
        return False

    def has_module_perms(self, app_label: str) -> bool:
        return False

    def __str__(self) -> str:
        return f"machine client {self.machine_client.client_id}"
