"""Filters of the auditor's log searches, shared by the API and the console page (django-filter).

The access log has an index for each filter (audit.models: subject, actor, organisation, plan,
action, time, request id); the disclosure log for subject, plan and time, and its recipient
filter is a substring match within the auditor's scope.
"""

from __future__ import annotations

import django_filters
from django.utils.translation import gettext_lazy as _

from plan_service.audit.models import AccessEvent, Disclosure


class AccessLogFilter(django_filters.FilterSet):
    subject = django_filters.UUIDFilter(field_name="subject_id", label=_("subject person"))
    actor = django_filters.NumberFilter(field_name="actor_user_id", label=_("actor user id"))
    organization = django_filters.UUIDFilter(
        field_name="actor_organization_id", label=_("actor organisation")
    )
    plan = django_filters.UUIDFilter(field_name="plan_id", label=_("plan"))
    action = django_filters.ChoiceFilter(choices=AccessEvent.Action.choices, label=_("action"))
    outcome = django_filters.ChoiceFilter(choices=AccessEvent.Outcome.choices, label=_("outcome"))
    request = django_filters.CharFilter(field_name="request_id", label=_("request id"))
    since = django_filters.IsoDateTimeFilter(
        field_name="recorded_at", lookup_expr="gte", label=_("since")
    )
    until = django_filters.IsoDateTimeFilter(
        field_name="recorded_at", lookup_expr="lt", label=_("until")
    )

    class Meta:
        model = AccessEvent
        fields: list[str] = []


class DisclosureFilter(django_filters.FilterSet):
    subject = django_filters.UUIDFilter(field_name="subject_id", label=_("subject person"))
    actor = django_filters.NumberFilter(field_name="actor_user_id", label=_("actor user id"))
    organization = django_filters.UUIDFilter(
        field_name="actor_organization_id", label=_("actor organisation")
    )
    plan = django_filters.UUIDFilter(field_name="plan_id", label=_("plan"))
    recipient = django_filters.CharFilter(
        field_name="recipient", lookup_expr="icontains", label=_("recipient")
    )
    since = django_filters.IsoDateTimeFilter(
        field_name="recorded_at", lookup_expr="gte", label=_("since")
    )
    until = django_filters.IsoDateTimeFilter(
        field_name="recorded_at", lookup_expr="lt", label=_("until")
    )

    class Meta:
        model = Disclosure
        fields: list[str] = []
