"""List filters. Related ids are plain UUID filters: a filter by an id the caller cannot see
must answer like one by an id that does not exist (an empty list), never "invalid choice"."""

from __future__ import annotations

import django_filters

from plan_service.plans.models import Action, Goal, Plan


class PlanFilter(django_filters.FilterSet):
    status = django_filters.ChoiceFilter(choices=Plan.Status.choices)
    family = django_filters.UUIDFilter(field_name="family_id")

    class Meta:
        model = Plan
        fields = ["status", "family"]


class GoalFilter(django_filters.FilterSet):
    need = django_filters.UUIDFilter(field_name="need_id")

    class Meta:
        model = Goal
        fields = ["category", "achievement", "need"]


class ActionFilter(django_filters.FilterSet):
    goal = django_filters.UUIDFilter(field_name="goal_id")

    class Meta:
        model = Action
        fields = ["category", "status", "goal"]
