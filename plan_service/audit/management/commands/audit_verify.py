"""`manage.py audit_verify [--anchor FILE] [--json]`: recompute both logs' hash chains.

Prints, per log, the rows checked and the first broken row; exits with status 1 when either log
is broken. With `--anchor`, also checks each chain still reaches the head saved by
`audit_anchor`, which is how tail truncation and a full rewrite are caught.
"""

from __future__ import annotations

import json
from argparse import ArgumentParser
from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError
from django.utils.translation import gettext as _

from plan_service.audit import chain


def read_anchor(path: str) -> dict[str, Any]:
    """The per-log heads from an anchor file written by `audit_anchor`."""
    try:
        data = json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise CommandError(
            _("Cannot read the anchor %(path)s: %(error)s") % {"path": path, "error": exc}
        ) from exc
    logs = data.get("logs") if isinstance(data, dict) else None
    if not isinstance(logs, dict):
        raise CommandError(_("%(path)s is not an audit anchor.") % {"path": path})
    return logs


class Command(BaseCommand):
    help = "Verify the hash chains of the access and disclosure logs."

    def add_arguments(self, parser: ArgumentParser) -> None:
        parser.add_argument("--anchor", help="an anchor file written by audit_anchor")
        parser.add_argument("--json", action="store_true", help="print one JSON document")

    def handle(self, *args: Any, **options: Any) -> None:
        anchors = read_anchor(options["anchor"]) if options["anchor"] else {}
        results = {
            name: chain.verify(model, anchor=anchors.get(name)).as_dict()
            for name, model in chain.LOGS.items()
        }
        if options["json"]:
            self.stdout.write(json.dumps(results, indent=2))
        else:
            for name, result in results.items():
                self.stdout.write(self._line(name, result))
        if not all(r["ok"] for r in results.values()):
            raise CommandError(_("Audit log verification failed."), returncode=1)

    def _line(self, name: str, result: dict[str, Any]) -> str:
        if result["ok"]:
            return _("%(log)s log: %(rows)d rows checked, intact") % {
                "log": name,
                "rows": result["rows_checked"],
            }
        broken = result["first_broken"]
        return _(
            "%(log)s log: %(rows)d rows checked, BROKEN at chain %(chain)s seq %(seq)s "
            "(id %(id)s): %(problem)s"
        ) % {"log": name, "rows": result["rows_checked"], **broken}
