"""`manage.py audit_keygen --output FILE`: a new Ed25519 key pair for signing anchors.

Writes the private key to FILE (mode 0600) and the public key to FILE.pub. Keep the private key
with the anchoring job only (not on the database server, not readable by the service); give the
public key to whoever verifies.
"""

from __future__ import annotations

from argparse import ArgumentParser
from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError

from plan_service.audit.anchors import generate_key


class Command(BaseCommand):
    help = "Create an Ed25519 key pair for signing audit anchors."

    def add_arguments(self, parser: ArgumentParser) -> None:
        parser.add_argument("--output", "-o", required=True, help="private key file to create")

    def handle(self, *args: Any, **options: Any) -> None:
        try:
            public = generate_key(Path(options["output"]))
        except FileExistsError as exc:
            raise CommandError(f"{options['output']} exists; not overwritten") from exc
        self.stdout.write(str(public))
