"""`manage.py audit_anchor [--output FILE]`: write the current head of every chain as JSON.

Keep the file outside the database (another system, write-once storage, a signed e-mail): a
later `audit_verify --anchor FILE` then detects removal of the newest rows and a rewrite of a
chain, which a hash chain alone cannot.
"""

from __future__ import annotations

import json
from argparse import ArgumentParser
from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand
from django.utils import timezone
from django.utils.translation import gettext as _

from plan_service.audit import chain


def anchor_document() -> dict[str, Any]:
    """Both logs' heads, chain by chain.

    Heads are read one chain at a time, so chains appended to meanwhile are anchored at slightly
    different moments; each head is still a committed row, which is all an anchor needs.
    """
    logs = {str(name): chain.anchor_heads(model) for name, model in chain.LOGS.items()}
    return {"created_at": timezone.now().isoformat(), "algorithm": "sha256", "logs": logs}


class Command(BaseCommand):
    help = "Write the current heads of both audit logs as JSON (to a file or stdout)."

    def add_arguments(self, parser: ArgumentParser) -> None:
        parser.add_argument("--output", "-o", help="file to write (default: stdout)")

    def handle(self, *args: Any, **options: Any) -> None:
        text = json.dumps(anchor_document(), indent=2, sort_keys=True)
        if options["output"]:
            Path(options["output"]).write_text(text + "\n", encoding="utf-8")
            self.stderr.write(_("Anchor written to %(path)s") % {"path": options["output"]})
        else:
            self.stdout.write(text)
