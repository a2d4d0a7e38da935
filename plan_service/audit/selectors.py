"""Reads of the logs: the auditor's organisation-wide view and the family's own view."""

from __future__ import annotations

import datetime as dt
from collections.abc import Collection, Mapping
from typing import TYPE_CHECKING, Any

from django.conf import settings
from django.db.models import Case, Exists, F, OuterRef, Q, QuerySet, UUIDField, Value, When
from django.utils import timezone

from plan_service import policy
from plan_service.audit.models import AccessEvent, Disclosure

if TYPE_CHECKING:
    from django.contrib.auth.models import AbstractBaseUser


def access_log_for_auditor(
    *, user: AbstractBaseUser, as_of: dt.datetime | None = None
) -> QuerySet[AccessEvent]:
    """Rows by the auditor's organisation's people, or about plans it has worked on, and the
    sign-in and account events that belong to no organisation (families' accounts, unknown
    usernames, administrators): the service's security is every auditor's business."""
    from plan_service.audit.accounts import ACCOUNT_ACTIONS

    scope = policy.auditor_log_scope(user, as_of=as_of)
    if scope is None:
        return AccessEvent.objects.none()
    unowned = Q(action__in=ACCOUNT_ACTIONS, actor_organization_id__isnull=True)
    return AccessEvent.objects.filter(scope | unowned).order_by("-recorded_at", "chain", "-seq")


def disclosures_for_auditor(
    *, user: AbstractBaseUser, as_of: dt.datetime | None = None
) -> QuerySet[Disclosure]:
    scope = policy.auditor_log_scope(user, as_of=as_of)
    if scope is None:
        return Disclosure.objects.none()
    return Disclosure.objects.filter(scope).order_by("-recorded_at", "chain", "-seq")


def access_log_for_family(
    *, access: policy.PlanAccess, visible_items: Mapping[str, Collection[Any]]
) -> QuerySet[AccessEvent]:
    """Who touched this family's data in the last FAMILY_ACCESS_LOG_DAYS (703/2023 §11).

    What the reader may not see leaves no trace here either:

    * rows about one plan item the reader cannot see (by today's rules, as in the plan's
      history) are left out, and so are rows about maturity assessments for the guardians (a
      child with an account sees those about themselves, as every row of a child's log is about
      them or about nobody in particular);
    * a list of items (action ``search``) writes one row per person its results
      concern, and those people and their number depend on items the reader may not see. The
      family sees such a read as **one row per request, about nobody in particular**
      (``shown_subject`` is null): that someone read the plan's needs stays visible (an
      emergency read above all), who exactly the hidden results were about does not.

    `visible_items` is what the plan shows the reader today: item kind -> the ids they may see
    (`plans.selectors.visible_item_ids`), every kind of item the plan holds.
    """
    since = timezone.now() - dt.timedelta(days=settings.FAMILY_ACCESS_LOG_DAYS)
    item_list = Q(object_type__in=sorted(visible_items), action=AccessEvent.Action.SEARCH)
    qs = AccessEvent.objects.filter(
        family_id=access.plan.family_id, recorded_at__gte=since, outcome="success"
    )
    only = policy.reads_only_about(access)
    if only is not None:
        qs = qs.filter(Q(subject_id=only) | Q(subject_id__isnull=True) | item_list)
    hidden = Q()  # a list of items names no item
    for kind, ids in visible_items.items():
        hidden |= ~item_list & Q(object_type=kind) & ~Q(object_id__in=sorted(map(str, ids)))
    if not policy.may_see_assessment_trail(access):
        hidden |= Q(object_type="maturityassessment")
    # Of the rows one list read wrote, the first stands for the read.
    earlier_row_of_the_same_read = Exists(
        AccessEvent.objects.filter(
            family_id=OuterRef("family_id"),
            request_id=OuterRef("request_id"),
            actor_user_id=OuterRef("actor_user_id"),
            action=OuterRef("action"),
            object_type=OuterRef("object_type"),
            chain=OuterRef("chain"),
            recorded_at=OuterRef("recorded_at"),  # one append: one time (commands have no id)
            seq__lt=OuterRef("seq"),
        )
    )
    repeated = item_list & Q(earlier_row_of_the_same_read)
    return (
        qs.exclude(hidden)
        .exclude(repeated)
        .annotate(
            shown_subject=Case(
                When(item_list, then=Value(None)),
                default=F("subject_id"),
                output_field=UUIDField(),
            )
        )
        .order_by("-recorded_at", "chain", "-seq")
    )
