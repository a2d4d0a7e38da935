"""`manage.py fhir_push --actor USER --plan PLAN_ID --recipient CODE`: push one plan.

The plan goes as the registry recipient `--recipient` may receive it (if `--actor` may export
for it), to `--base-url`, the recipient's registered FHIR server, or FHIR_PUSH_BASE_URL.
Prints where each resource landed; on refusal prints the server's OperationOutcome and exits
non-zero. The disclosure is logged only when the server accepted.
"""

from __future__ import annotations

from typing import Any

from django.contrib.auth import get_user_model
from django.core.exceptions import PermissionDenied, ValidationError
from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.http import Http404
from django.utils.translation import gettext as _

from plan_service.plans import export, push


class Command(BaseCommand):
    help = "Push one plan as a FHIR R4 transaction Bundle to the configured FHIR server."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--actor", required=True, help="Username of who pushes (the lead).")
        parser.add_argument("--plan", required=True, help="Plan id.")
        parser.add_argument("--recipient", required=True, help="Registry code of the recipient.")
        parser.add_argument(
            "--plan-version", type=int, default=None, help="Plan version (the current one)."
        )
        parser.add_argument("--base-url", default=None, help="FHIR base URL (else the setting).")

    def handle(self, *args: Any, **options: Any) -> None:
        actor = get_user_model().objects.filter(username=options["actor"]).first()
        if actor is None or not actor.is_active:
            raise CommandError(_("No active user with that username."))
        try:
            result = push.plan_push(
                actor=actor,
                plan_id=options["plan"],
                recipient=export.resolve_recipient(options["recipient"]),
                version=options["plan_version"],
                base_url=options["base_url"],
            )
        except (Http404, PermissionDenied) as exc:
            raise CommandError(_("No such plan that this user may export.")) from exc
        except ValidationError as exc:
            raise CommandError("; ".join(exc.messages)) from exc
        except push.PushOutdatedError as exc:
            raise CommandError(str(exc.message)) from exc
        except push.PushNotConfigured as exc:
            raise CommandError(str(exc.message)) from exc
        except push.PushFailed as exc:
            for line in push.outcome_summary(exc.outcome):
                self.stderr.write(f"  {line}")
            raise CommandError(str(exc.message)) from exc
        self.stdout.write(
            _("Accepted by %(server)s (HTTP %(status)s, %(attempts)s attempt(s)):")
            % {
                "server": result.base_url,
                "status": result.server_status,
                "attempts": result.attempts,
            }
        )
        for entry in result.entries:
            self.stdout.write(f"  {entry['status']} {entry['location']}")
