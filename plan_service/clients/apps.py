from __future__ import annotations

from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class ClientsConfig(AppConfig):
    name = "plan_service.clients"
    label = "clients"
    verbose_name = _("machine clients")
