"""Reads of the registry. Families and their members go through plan_service.policy."""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from typing import TYPE_CHECKING

from django.db import connection
from django.db.models import Model, Prefetch, QuerySet
from django.http import Http404

from plan_service import policy, prepared
from plan_service.audit.parties import Target
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


#
# What the access log asks of the registry (registered in ParticipantsConfig.ready)
#


def family_people(family_ids: Iterable[uuid.UUID]) -> dict[uuid.UUID, list[uuid.UUID]]:
    """Person ids of each family (in the register's order of people), in one statement:
    whose data a plan-level touch concerns.

    The families travel as one array, so the statement is the same for one family or a plan
    list's fifty, bound and prepared on the server (`prepared.server_cursor`): built by the
    ORM it had one parameter per family and was compiled and planned anew on every request.
    """
    people: dict[uuid.UUID, list[uuid.UUID]] = {}
    ids = sorted({uuid.UUID(str(family_id)) for family_id in family_ids}, key=str)
    if not ids:
        return people
    with prepared.server_cursor() as cursor:
        cursor.execute(_FAMILY_PEOPLE, [ids])
        for person_id, family_id in cursor.fetchall():
            people.setdefault(family_id, []).append(person_id)
    return people


def _order_by(model: type[Model]) -> str:
    """`model`'s default ordering as SQL."""
    columns = []
    for name in model._meta.ordering:
        descending = name.startswith("-")
        column = connection.ops.quote_name(model._meta.get_field(name.lstrip("-")).column)
        columns.append(f"{column} DESC" if descending else column)
    return ", ".join(columns)


_FAMILY_PEOPLE = (
    f"SELECT id, family_id FROM {connection.ops.quote_name(Person._meta.db_table)} "  # noqa: S608
    f"WHERE family_id = ANY(%s::uuid[]) ORDER BY {_order_by(Person)}"
)


def actor_facts(user: AbstractBaseUser) -> dict[str, object]:
    """Who a signed-in user is, as the access log's actor columns record it."""
    try:
        professional = user.professional  # type: ignore[attr-defined]
    except Professional.DoesNotExist:
        professional = None
    if professional is not None:
        return {
            "actor_kind": "professional",
            "actor_role": professional.role,
            "actor_unit": professional.unit,
            "actor_hide_name": professional.hide_name_from_family,
            "actor_organization_id": professional.organization_id,
            "actor_organization_name": professional.organization.name,
        }
    try:
        return {"actor_kind": user.person.kind}  # type: ignore[attr-defined]
    except Person.DoesNotExist:
        return {"actor_kind": "other"}


def family_target(family_id: uuid.UUID) -> Target | None:
    """A refused request aimed at a family: the family's people."""
    if not Family.objects.filter(pk=family_id).exists():
        return None
    return Target(family_id=family_id, people=family_people([family_id]).get(family_id, []))
