"""Writes to the registry: families and their members, organisations and professionals."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from django.contrib.auth import get_user_model
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.utils.translation import gettext as _

from plan_service import policy
from plan_service.audit.models import AccessEvent
from plan_service.audit.services import record_access
from plan_service.participants import signals
from plan_service.participants.models import (
    Family,
    Guardianship,
    Organization,
    Person,
    Professional,
)

if TYPE_CHECKING:
    from django.contrib.auth.models import AbstractBaseUser

    User = AbstractBaseUser


@transaction.atomic
def family_create(*, actor: User, name: str, members: Sequence[dict[str, Any]]) -> Family:
    """A professional registers a family with its children and guardians.

    Each member may list `guardian_of` (indexes of children in `members`). Identity codes are
    validated by checksum and must be new to the registry.
    """
    policy.require_model(actor, policy.may_create_plan(actor))
    family = Family(name=name, created_by=actor, updated_by=actor)
    family._history_user = actor  # type: ignore[attr-defined]
    family.save()
    people: list[Person] = []
    for index, entry in enumerate(members):
        person = Person(
            family=family,
            kind=entry["kind"],
            given_name=entry["given_name"],
            family_name=entry["family_name"],
            identity_code=entry["identity_code"],
            created_by=actor,
            updated_by=actor,
        )
        person._history_user = actor  # type: ignore[attr-defined]
        try:
            with transaction.atomic():
                person.save()
        except IntegrityError as exc:
            raise ValidationError(
                {
                    f"members.{index}.identity_code": ValidationError(
                        _("This identity code is already registered."), code="duplicate"
                    )
                }
            ) from exc
        people.append(person)
    for index, entry in enumerate(members):
        for child_index in entry.get("guardian_of", []):
            if not (0 <= child_index < len(people)) or people[child_index].kind != "child":
                raise ValidationError(
                    {
                        f"members.{index}.guardian_of": ValidationError(
                            _("Name children of this family by their position."), code="invalid"
                        )
                    }
                )
            if people[index].kind != "guardian":
                raise ValidationError(
                    {
                        f"members.{index}.guardian_of": ValidationError(
                            _("Only guardians have wards."), code="invalid"
                        )
                    }
                )
            child, guardian = people[child_index], people[index]
            if not Guardianship.objects.filter(child=child, guardian=guardian).exists():
                guardianship = Guardianship(child=child, guardian=guardian)
                guardianship._history_user = actor  # type: ignore[attr-defined]
                guardianship._change_reason = "family registered"  # type: ignore[attr-defined]
                guardianship.save()
    record_access(
        actor=actor,
        action=AccessEvent.Action.CREATE,
        subjects=[p.pk for p in people],
        family_id=family.pk,
        object_type="family",
        object_id=family.pk,
        legal_basis="registration",
    )
    return family


@transaction.atomic
def person_link_account(*, person: Person, user: User) -> Person:
    """Link a family member to the account an identity provider vouched for by identity code.

    The person becomes a family member of the family's open plan at once; the link is logged
    as a change to that person's data.
    """
    person.user = user
    person._history_user = user  # type: ignore[attr-defined]
    person._change_reason = "account linked"  # type: ignore[attr-defined]
    person.save()
    signals.account_linked.send(sender=Person, person=person)  # the plans add them
    # Found by subject (the person) for auditors; not part of the family's own access account,
    # which tells the family what others did with its data.
    record_access(
        actor=user,
        action=AccessEvent.Action.UPDATE,
        subjects=[person.pk],
        object_type="person",
        object_id=person.pk,
        legal_basis="identification",
    )
    return person


@transaction.atomic
def organization_create(*, actor: User, name: str, oid: str, sector: str) -> Organization:
    """An administrator registers an organisation (history row and access-log row with it)."""
    policy.require_model(actor, policy.is_admin(actor))
    organization = Organization(
        name=name, oid=oid, sector=sector, created_by=actor, updated_by=actor
    )
    organization._history_user = actor  # type: ignore[attr-defined]
    organization._change_reason = "organisation registered"  # type: ignore[attr-defined]
    try:
        with transaction.atomic():
            organization.save()
    except IntegrityError as exc:
        raise ValidationError(
            {"oid": ValidationError(_("This OID is already registered."), code="duplicate")}
        ) from exc
    _log_registry_write(actor, "organization", organization.pk)
    return organization


def _log_registry_write(actor: User, object_type: str, object_id: object) -> None:
    """An administrator's registry write, in the access log (no family's data is touched)."""
    record_access(
        actor=actor,
        action=AccessEvent.Action.CREATE,
        subjects=[],
        object_type=object_type,
        object_id=object_id,
        legal_basis="registry administration",
    )


@transaction.atomic
def professional_create(
    *,
    actor: User,
    username: str,
    first_name: str,
    last_name: str,
    email: str,
    organization: Organization,
    role: str,
    unit: str = "",
) -> Professional:
    """An administrator registers a professional and their account (password set separately)."""
    policy.require_model(actor, policy.is_admin(actor))
    user_model = get_user_model()
    if user_model.objects.filter(username=username).exists():
        raise ValidationError(
            {"username": ValidationError(_("This username is taken."), code="duplicate")}
        )
    user = user_model.objects.create_user(
        username=username, first_name=first_name, last_name=last_name, email=email
    )
    user.set_unusable_password()
    user.save()
    professional = Professional(
        user=user, organization=organization, role=role, unit=unit, created_by=actor
    )
    professional._history_user = actor  # type: ignore[attr-defined]
    professional._change_reason = "professional registered"  # type: ignore[attr-defined]
    professional.save()
    _log_registry_write(actor, "professional", professional.pk)
    return professional


@transaction.atomic
def citizen_account_for(*, person: Person) -> User:
    """The account of a family member who signed in strongly; made and linked on first sign-in.

    Only for a person already in the registry (matched by identity code by the caller). The
    account has no usable password: the identity provider is its only way in.
    """
    if person.user_id is not None:
        return person.user
    user = get_user_model()(
        username=f"citizen-{person.pk.hex[:16]}",
        first_name=person.given_name,
        last_name=person.family_name,
    )
    user.set_unusable_password()
    user.save()
    person_link_account(person=person, user=user)
    return user
