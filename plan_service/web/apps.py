from __future__ import annotations

from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class WebConfig(AppConfig):
    name = "plan_service.web"
    label = "web"
    verbose_name = _("Web pages")
