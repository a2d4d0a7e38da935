from __future__ import annotations

from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class ConsentConfig(AppConfig):
    name = "plan_service.consent"
    label = "consent"
    verbose_name = _("consent")

    def ready(self) -> None:
        from plan_service.audit import parties
        from plan_service.consent.selectors import consent_target

        parties.answer_target("consent", consent_target)
