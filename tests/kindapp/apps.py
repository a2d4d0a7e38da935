from __future__ import annotations

from django.apps import AppConfig


class KindAppConfig(AppConfig):
    """Installed by the test settings only (plan_service/settings/test.py)."""

    name = "tests.kindapp"
    label = "kindapp"
    default_auto_field = "django.db.models.BigAutoField"
