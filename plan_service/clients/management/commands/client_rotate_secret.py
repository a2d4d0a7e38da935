"""`./run client-rotate-secret <client-id>`: a new secret (printed once); live tokens end."""

from __future__ import annotations

from argparse import ArgumentParser
from typing import Any

from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand
from django.utils.translation import gettext as _

from plan_service.clients import services
from plan_service.clients.management.commands.create_client import fail


class Command(BaseCommand):
    help = "Give a machine client a new secret; the old one and its tokens stop working."

    def add_arguments(self, parser: ArgumentParser) -> None:
        parser.add_argument("client_id")

    def handle(self, *args: Any, **options: Any) -> None:
        try:
            issued = services.client_rotate_secret(client_id=options["client_id"])
        except ValidationError as exc:
            raise fail(exc) from exc
        self.stdout.write(_("client_id: %(id)s") % {"id": issued.client.client_id})
        self.stdout.write(_("client_secret: %(secret)s") % {"secret": issued.secret})
        self.stdout.write(_("The secret is shown only now; keep it in the portal's secret store."))
