"""Information categories: every plan item carries one, and who may read it follows from it."""

from __future__ import annotations

from django.db import models
from django.utils.translation import gettext_lazy as _


class Category(models.TextChoices):
    """The information category of a plan item (product.md, "What the plan holds")."""

    GENERAL = "general", _("general")
    SOCIAL = "social", _("social welfare (incl. child protection)")
    HEALTH = "health", _("health")
    EDUCATION = "education", _("education")
    FAMILY = "family", _("family's own")
