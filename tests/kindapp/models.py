"""The throwaway kind's model: a plan item like any other, written for the tests only."""

from __future__ import annotations

from django.db import models

from plan_service import historical
from plan_service.plans.models import Goal, PlanItem


class Strength(PlanItem):
    """A strength of the family, optionally linked to a goal it helps with."""

    goal = models.ForeignKey(
        Goal, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    title = models.CharField("title", max_length=300)
    text = models.TextField("text", blank=True, max_length=4000)
    history = historical.records()

    class Meta(PlanItem.Meta):
        verbose_name = "strength"
