"""Reads of the logs: the auditor's organisation-wide view and the family's own view."""

from __future__ import annotations

import datetime as dt
from typing import TYPE_CHECKING

from django.conf import settings
from django.db.models import Q, QuerySet
from django.utils import timezone

from plan_service import policy
from plan_service.audit.models import AccessEvent, Disclosure

if TYPE_CHECKING:
    from django.contrib.auth.models import AbstractBaseUser


def access_log_for_auditor(*, user: AbstractBaseUser) -> QuerySet[AccessEvent]:
    """Rows by the auditor's organisation's people, or about plans it has worked on, and the
    sign-in and account events that belong to no organisation (families' accounts, unknown
    usernames, administrators): the service's security is every auditor's business."""
    from plan_service.audit.accounts import ACCOUNT_ACTIONS

    scope = policy.auditor_log_scope(user)
    if scope is None:
        return AccessEvent.objects.none()
    unowned = Q(action__in=ACCOUNT_ACTIONS, actor_organization_id__isnull=True)
    return AccessEvent.objects.filter(scope | unowned).order_by("-recorded_at", "chain", "-seq")


def disclosures_for_auditor(*, user: AbstractBaseUser) -> QuerySet[Disclosure]:
    scope = policy.auditor_log_scope(user)
    if scope is None:
        return Disclosure.objects.none()
    return Disclosure.objects.filter(scope).order_by("-recorded_at", "chain", "-seq")


def access_log_for_family(*, access: policy.PlanAccess) -> QuerySet[AccessEvent]:
    """Who touched this family's data in the last FAMILY_ACCESS_LOG_DAYS (703/2023 §11).

    What the reader may not see leaves no trace here either: rows about a plan item the reader
    cannot see (by today's rules, as in the plan's history) are left out, and so are rows about
    maturity assessments for the guardians (a child with an account sees those about
    themselves, as every row of a child's log is about them or about nobody in particular).
    """
    from plan_service.plans.visibility import reader_view

    since = timezone.now() - dt.timedelta(days=settings.FAMILY_ACCESS_LOG_DAYS)
    qs = AccessEvent.objects.filter(
        family_id=access.plan.family_id, recorded_at__gte=since, outcome="success"
    )
    only = policy.reads_only_about(access)
    if only is not None:
        qs = qs.filter(Q(subject_id=only) | Q(subject_id__isnull=True))
    hidden = Q()
    for kind, ids in reader_view(access).vis.ids.items():
        hidden |= Q(object_type=kind) & ~Q(object_id__in=sorted(str(i) for i in ids))
    if not policy.may_see_assessment_trail(access):
        hidden |= Q(object_type="maturityassessment")
    return qs.exclude(hidden).order_by("-recorded_at", "chain", "-seq")
