from __future__ import annotations

from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class NotificationsConfig(AppConfig):
    name = "plan_service.notifications"
    label = "notifications"
    verbose_name = _("notifications")

    def ready(self) -> None:
        from plan_service.notifications import receivers

        receivers.connect()
