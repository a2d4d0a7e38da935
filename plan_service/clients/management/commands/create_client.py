"""`./run create-client <client-id> --recipient <code> [--name NAME]`: register a machine client.

Prints the client id and its secret once; the secret is stored only as a digest and cannot be
shown again (rotate it with `./run client-rotate-secret <client-id>`).
"""

from __future__ import annotations

from argparse import ArgumentParser
from typing import Any

from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError
from django.utils.translation import gettext as _

from plan_service.clients import services
from plan_service.participants.models import Recipient


def fail(exc: ValidationError) -> CommandError:
    messages = [f"{field}: {' '.join(errors)}" for field, errors in exc.message_dict.items()]
    return CommandError("; ".join(messages))


class Command(BaseCommand):
    help = "Register a machine client (a portal) for one recipient; prints its secret once."

    def add_arguments(self, parser: ArgumentParser) -> None:
        parser.add_argument("client_id", help="a short slug, e.g. school-portal")
        parser.add_argument("--recipient", required=True, help="registry code of the recipient")
        parser.add_argument("--name", default="", help="a name people recognise")

    def handle(self, *args: Any, **options: Any) -> None:
        recipient = (
            Recipient.objects.select_related("organization")
            .filter(code=options["recipient"])
            .first()
        )
        if recipient is None:
            raise CommandError(_("recipient: No such recipient in the registry."))
        try:
            issued = services.client_create(
                client_id=options["client_id"],
                name=options["name"] or options["client_id"],
                recipient=recipient,
            )
        except ValidationError as exc:
            raise fail(exc) from exc
        self.stdout.write(_("client_id: %(id)s") % {"id": issued.client.client_id})
        self.stdout.write(_("client_secret: %(secret)s") % {"secret": issued.secret})
        self.stdout.write(_("The secret is shown only now; keep it in the portal's secret store."))
