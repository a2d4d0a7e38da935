from __future__ import annotations

from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class ParticipantsConfig(AppConfig):
    name = "plan_service.participants"
    label = "participants"
    verbose_name = _("participants")

    def ready(self) -> None:
        from simple_history.signals import pre_create_historical_record

        from plan_service.historical import stamp_on_behalf_of
        from plan_service.participants import sessions

        sessions.connect()
        # Every history row says on whose behalf the change was made (a guardian acting for
        # their child, issue 18).
        pre_create_historical_record.connect(
            stamp_on_behalf_of, dispatch_uid="historical.on_behalf_of"
        )
