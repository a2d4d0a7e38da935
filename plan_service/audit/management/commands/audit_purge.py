"""`manage.py audit_purge [--days N] [--dry-run]`: remove expired log segments.

Removes, in each chain of both logs, the run of rows from its start that are older than the
retention period (`AUDIT_RETENTION_DAYS`, or `--days`), records a purge point per chain cut and
one access-log row saying what was removed. It runs only as the purge role
(`DATABASE_PURGE_ROLE`, see `db_roles`): connect with that role's DATABASE_URL. The cutoff is
taken from the database's clock; the delete trigger checks both again. See docs/audit.md.
"""

from __future__ import annotations

from argparse import ArgumentParser
from typing import Any

from django.core.management.base import BaseCommand, CommandError
from django.utils.translation import gettext as _

from plan_service.audit.retention import PurgeRefusedError, retention_cutoff, retention_purge


class Command(BaseCommand):
    help = "Remove audit-log rows older than the retention period, whole chain segments only."

    def add_arguments(self, parser: ArgumentParser) -> None:
        parser.add_argument("--days", type=int, help="retention in days (AUDIT_RETENTION_DAYS)")
        parser.add_argument("--dry-run", action="store_true", help="report, remove nothing")

    def handle(self, *args: Any, **options: Any) -> None:
        try:
            cutoff = retention_cutoff(days=options["days"])
            segments = retention_purge(cutoff=cutoff, dry_run=options["dry_run"])
        except PurgeRefusedError as exc:
            raise CommandError(str(exc)) from exc
        verb = _("would remove") if options["dry_run"] else _("removed")
        for s in segments:
            self.stdout.write(
                _("%(log)s chain %(chain)d: %(verb)s %(rows)d rows before seq %(seq)d")
                % {
                    "log": s.log,
                    "chain": s.chain,
                    "verb": verb,
                    "rows": s.rows_removed,
                    "seq": s.first_seq,
                }
            )
        self.stdout.write(
            _("Cutoff %(cutoff)s: %(verb)s %(rows)d rows in %(n)d segments.")
            % {
                "cutoff": cutoff.isoformat(),
                "verb": verb,
                "rows": sum(s.rows_removed for s in segments),
                "n": len(segments),
            }
        )
