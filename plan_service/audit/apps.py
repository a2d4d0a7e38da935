from __future__ import annotations

from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class AuditConfig(AppConfig):
    name = "plan_service.audit"
    label = "audit"
    verbose_name = _("audit")

    def ready(self) -> None:
        from plan_service.audit import accounts

        accounts.connect()
