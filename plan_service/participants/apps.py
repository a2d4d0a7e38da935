from __future__ import annotations

from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class ParticipantsConfig(AppConfig):
    name = "plan_service.participants"
    label = "participants"
    verbose_name = _("participants")

    def ready(self) -> None:
        from plan_service.participants import sessions

        sessions.connect()
