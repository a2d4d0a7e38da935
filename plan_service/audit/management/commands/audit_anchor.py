"""`manage.py audit_anchor [--if-due] [--dir DIR | --output FILE]`: sign and write the heads.

Writes the current head of every chain of both logs, signed with the Ed25519 key in
`AUDIT_ANCHOR_KEY_FILE` (which the database never sees), as a new file in `AUDIT_ANCHOR_DIR`.
Run it from cron or a systemd timer every few minutes with `--if-due`: it then writes only when
the newest anchor is older than `AUDIT_ANCHOR_INTERVAL_MINUTES`. Each run first chains the
summaries of closed hours of throttled sign-in attempts. `audit_backup` anchors before each dump.
"""

from __future__ import annotations

from argparse import ArgumentParser
from typing import Any

from django.core.management.base import BaseCommand, CommandError
from django.utils.translation import gettext as _

from plan_service.audit import anchors
from plan_service.audit.accounts import summarise_throttled


class Command(BaseCommand):
    help = "Sign the current heads of both audit logs and write them outside the database."

    def add_arguments(self, parser: ArgumentParser) -> None:
        parser.add_argument("--dir", help="directory of anchors (AUDIT_ANCHOR_DIR)")
        parser.add_argument("--output", "-o", help="write this file instead")
        parser.add_argument("--key", help="private key file (AUDIT_ANCHOR_KEY_FILE)")
        parser.add_argument("--reason", default="scheduled", help="recorded in the anchor")
        parser.add_argument(
            "--if-due", action="store_true", help="only when the interval has passed"
        )

    def handle(self, *args: Any, **options: Any) -> None:
        summarised = summarise_throttled()
        if summarised:
            self.stderr.write(_("Chained %(n)d throttled sign-in summaries.") % {"n": summarised})
        if options["if_due"] and not options["output"] and not anchors.is_due(options["dir"]):
            return
        try:
            path = anchors.write_anchor(
                options["dir"],
                reason=options["reason"],
                key=anchors.load_private_key(options["key"]),
                output=options["output"],
            )
        except (anchors.AnchorError, OSError) as exc:
            raise CommandError(str(exc)) from exc
        self.stdout.write(str(path))
