"""Reads of the registry. Families and their members go through plan_service.policy."""

from __future__ import annotations

import uuid
from typing import TYPE_CHECKING

from django.db.models import Prefetch, QuerySet
from django.http import Http404

from plan_service import policy
from plan_service.participants.models import (
    Family,
    Guardianship,
    Organization,
    Person,
    Professional,
)

if TYPE_CHECKING:
    from django.contrib.auth.models import AbstractBaseUser


def organization_list() -> QuerySet[Organization]:
    """The organisation register is public to every signed-in user."""
    return Organization.objects.order_by("name", "id")


def professional_list(*, user: AbstractBaseUser) -> QuerySet[Professional]:
    """Professionals are listed to professionals and administrators, not to families."""
    if not policy.may_list_professionals(user):
        return Professional.objects.none()
    return Professional.objects.select_related("user", "organization").order_by(
        "user__last_name", "user__first_name", "id"
    )


def family_list(*, user: AbstractBaseUser) -> QuerySet[Family]:
    """Families the user may see, members and guardianships prefetched (constant queries)."""
    return (
        policy.families_for(user)
        .prefetch_related(
            Prefetch("members", queryset=Person.objects.order_by("kind", "given_name", "id")),
            Prefetch(
                "members__guardianships",
                queryset=Guardianship.objects.only("id", "child_id", "guardian_id"),
            ),
        )
        .order_by("name", "id")
    )


def family_get(*, user: AbstractBaseUser, family_id: object) -> Family:
    """One visible family; Http404 otherwise."""
    try:
        pk = uuid.UUID(str(family_id))
    except ValueError as exc:
        raise Http404 from exc
    family = family_list(user=user).filter(pk=pk).first()
    if family is None:
        raise Http404
    return family
