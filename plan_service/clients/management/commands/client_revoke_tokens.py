"""`./run client-revoke-tokens <client-id>`: end every live token of a client now."""

from __future__ import annotations

from argparse import ArgumentParser
from typing import Any

from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand
from django.utils.translation import gettext as _

from plan_service.clients import services
from plan_service.clients.management.commands.create_client import fail


class Command(BaseCommand):
    help = "Revoke every live token of a machine client (it may ask for new ones)."

    def add_arguments(self, parser: ArgumentParser) -> None:
        parser.add_argument("client_id")

    def handle(self, *args: Any, **options: Any) -> None:
        try:
            count = services.client_revoke_tokens(client_id=options["client_id"])
        except ValidationError as exc:
            raise fail(exc) from exc
        self.stdout.write(_("Tokens revoked: %(count)s") % {"count": count})
