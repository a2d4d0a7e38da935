"""`./run client-deactivate <client-id> [--reactivate]`: end a client and all its tokens."""

from __future__ import annotations

from argparse import ArgumentParser
from typing import Any

from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand
from django.utils.translation import gettext as _

from plan_service.clients import services
from plan_service.clients.management.commands.create_client import fail


class Command(BaseCommand):
    help = "Deactivate a machine client: its tokens stop working on their next request."

    def add_arguments(self, parser: ArgumentParser) -> None:
        parser.add_argument("client_id")
        parser.add_argument("--reactivate", action="store_true", help="activate it again")

    def handle(self, *args: Any, **options: Any) -> None:
        try:
            client = services.client_set_active(
                client_id=options["client_id"], active=bool(options["reactivate"])
            )
        except ValidationError as exc:
            raise fail(exc) from exc
        if client.active:
            self.stdout.write(_("%(id)s is active.") % {"id": client.client_id})
        else:
            self.stdout.write(
                _("%(id)s is deactivated; its tokens no longer work.") % {"id": client.client_id}
            )
