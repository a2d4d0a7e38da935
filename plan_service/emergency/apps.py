from __future__ import annotations

from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class EmergencyConfig(AppConfig):
    name = "plan_service.emergency"
    label = "emergency"
    verbose_name = _("emergency access")
