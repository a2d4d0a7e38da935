"""`manage.py audit_verify [--anchor FILE | --latest] [--public-key PEM] [--json]`.

Recomputes both logs' hash chains and reports every break in every chain; exits with status 1
when either log is broken. With a signed anchor (from `audit_anchor` or `audit_backup`), whose
signature is checked first against the public key, it also checks each chain still reaches the
anchored head: that is how removal of the newest rows and a rewritten chain are caught. Rows
written after the anchor are accepted.
"""

from __future__ import annotations

import json
from argparse import ArgumentParser
from typing import Any

from django.core.management.base import BaseCommand, CommandError
from django.utils.translation import gettext as _

from plan_service.audit import anchors, chain


class Command(BaseCommand):
    help = "Verify the hash chains of the access and disclosure logs, reporting every break."

    def add_arguments(self, parser: ArgumentParser) -> None:
        parser.add_argument("--anchor", help="a signed anchor file")
        parser.add_argument(
            "--latest", action="store_true", help="the newest anchor in AUDIT_ANCHOR_DIR"
        )
        parser.add_argument("--public-key", help="public key (AUDIT_ANCHOR_PUBLIC_KEY_FILE)")
        parser.add_argument("--json", action="store_true", help="print one JSON document")

    def handle(self, *args: Any, **options: Any) -> None:
        path = options["anchor"]
        if options["latest"] and not path:
            latest = anchors.latest_anchor()
            if latest is None:
                raise CommandError(_("No anchor found in AUDIT_ANCHOR_DIR."))
            path = str(latest)
        logs: dict[str, Any] = {}
        if path:
            try:
                logs = anchors.read_anchor(path, anchors.load_public_key(options["public_key"]))
            except anchors.AnchorError as exc:
                raise CommandError(str(exc)) from exc
        results = {
            str(name): chain.verify(model, anchor=logs.get(str(name))).as_dict()
            for name, model in chain.LOGS.items()
        }
        ok = all(r["ok"] for r in results.values())
        if options["json"]:
            summary = {
                "ok": ok,
                "anchor": path,
                "rows_checked": sum(int(r["rows_checked"]) for r in results.values()),
                "breaks": sum(len(r["breaks"]) for r in results.values()),
                "logs": results,
            }
            self.stdout.write(json.dumps(summary, indent=2))
        else:
            for name, result in results.items():
                for line in self._lines(name, result):
                    self.stdout.write(line)
        if not ok:
            raise CommandError(_("Audit log verification failed."), returncode=1)

    def _lines(self, name: str, result: dict[str, Any]) -> list[str]:
        if result["ok"]:
            return [
                _("%(log)s log: %(rows)d rows checked, intact")
                % {"log": name, "rows": result["rows_checked"]}
            ]
        lines = [
            _("%(log)s log: %(rows)d rows checked, %(n)d breaks")
            % {"log": name, "rows": result["rows_checked"], "n": len(result["breaks"])}
        ]
        lines += [
            _("  BROKEN at chain %(chain)s seq %(seq)s (id %(id)s): %(problem)s") % broken
            for broken in result["breaks"]
        ]
        return lines
