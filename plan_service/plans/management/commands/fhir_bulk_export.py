"""`manage.py fhir_bulk_export --actor USER --recipient CODE --output DIR`: FHIR Bulk Data.

Exports every plan `--actor` may export (their EXPORT right, checked by the policy for each
plan) as the registry recipient `--recipient` may receive it (`policy.export_access`), into one
NDJSON file per resource type plus `manifest.json`. Without `--actor`, `--recipient` is taken as
a username and the plans go as that user sees them (the earlier form of the command).
Plans are read in chunks (one streamed query) and written as they come, so memory stays flat
however many plans there are. Each plan's disclosure rows (one per person) commit with that
plan's export; if the run fails, the files written so far are deleted. `--workers N` exports
the chunks in N worker processes (each with its own database connection; `plans.bulk`).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.utils import timezone
from django.utils.translation import gettext as _
from tqdm import tqdm

from fhir_export.ndjson import BulkWriter
from plan_service.participants.models import Recipient
from plan_service.plans import bulk, export


class Command(BaseCommand):
    help = "Export every plan a recipient may receive as FHIR Bulk Data NDJSON."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--recipient",
            required=True,
            help="Registry code of the recipient (or, without --actor, a username).",
        )
        parser.add_argument("--actor", default=None, help="Username of who exports (a lead).")
        parser.add_argument("--output", required=True, help="Directory for the NDJSON files.")
        parser.add_argument(
            "--chunk-size", type=int, default=100, help="Plans per query and transaction."
        )
        parser.add_argument(
            "--workers",
            type=int,
            default=1,
            help="Worker processes exporting chunks (each opens a database connection).",
        )
        parser.add_argument("--no-progress", action="store_true", help="No progress bar.")

    def handle(self, *args: Any, **options: Any) -> None:
        named = None
        username = options["actor"] or options["recipient"]
        user = get_user_model().objects.filter(username=username).first()
        if user is None or not user.is_active:
            raise CommandError(_("No active user with that username."))
        if options["actor"]:
            named = Recipient.objects.filter(code=options["recipient"], active=True).first()
            if named is None:
                raise CommandError(_("No such recipient in the registry."))
        if options["chunk_size"] < 1:
            raise CommandError(_("The chunk size must be at least 1."))
        if not 1 <= options["workers"] <= 64:
            raise CommandError(_("The number of workers must be from 1 to 64."))
        writer = BulkWriter(Path(options["output"]))
        started = timezone.now()
        recipient: str | Recipient = named or f"FHIR bulk export for {user.get_username()}"
        try:
            with tqdm(
                total=export.export_plan_count(user=user),
                unit="plan",
                disable=options["no_progress"],
                file=self.stderr._out,
            ) as bar:
                plans = bulk.export_all(
                    actor=user,
                    recipient=recipient,
                    writer=writer,
                    chunk_size=options["chunk_size"],
                    workers=options["workers"],
                    progress=bar.update,
                )
        except BaseException:
            writer.abort()
            raise
        manifest = writer.close(
            transaction_time=started,
            request=f"fhir_bulk_export --recipient {options['recipient']}",
        )
        lines = sum(item["count"] for item in manifest["output"])
        self.stdout.write(
            _("Exported %(plans)s plans as %(lines)s resources into %(dir)s.")
            % {"plans": plans, "lines": lines, "dir": options["output"]}
        )
