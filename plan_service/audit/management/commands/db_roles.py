"""`manage.py db_roles`: create the service and purge roles and set their grants (as the owner).

Run after every `migrate`, as the role that owns the tables. Idempotent. See
`plan_service.db_roles` for what each role may do, and docs/operations.md.
"""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand
from django.db import connection, transaction
from django.utils.translation import gettext as _

from plan_service.db_roles import apply_roles, configured_roles


class Command(BaseCommand):
    help = "Create the service's database roles (DATABASE_APP_ROLE, DATABASE_PURGE_ROLE) and grant."

    def handle(self, *args: Any, **options: Any) -> None:
        roles = configured_roles()
        with transaction.atomic(), connection.cursor() as cursor:
            apply_roles(cursor, roles, retention_days=settings.AUDIT_RETENTION_DAYS)
        self.stdout.write(
            _("Roles %(app)s (service) and %(purge)s (purge) granted.")
            % {"app": roles.app, "purge": roles.purge}
        )
