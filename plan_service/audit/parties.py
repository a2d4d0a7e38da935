"""Who acted and whose data it was: asked of the apps that know, never looked up here.

The audit app sits below the registry and the domain (docs/architecture.md, "Layers"), so it
imports none of their models. Three questions need them:

* who the actor is beyond their account (a professional's role, unit and organisation, or the
  kind of family member): the row's actor columns;
* whose data a family's plan is: the people a plan-level touch concerns;
* what a refused request was aimed at (a plan, a family, a consent named in the URL).

The app that owns each answer registers it from its `AppConfig.ready()`: the registry answers
the first two and the family target, the plans the plan target, consent the consent target.
A question nobody answers fails loudly rather than logging less than it should.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from django.core.exceptions import ImproperlyConfigured


@dataclass(frozen=True)
class Target:
    """What a refused request was aimed at: its family and plan, and the people concerned."""

    family_id: uuid.UUID | None = None
    plan_id: uuid.UUID | None = None
    people: list[uuid.UUID] = field(default_factory=list)


ActorFacts = Callable[[Any], dict[str, object]]
FamilyPeople = Callable[[Iterable[uuid.UUID]], dict[uuid.UUID, list[uuid.UUID]]]
TargetLookup = Callable[[uuid.UUID], Target | None]

_answers: dict[str, Any] = {}
_targets: dict[str, TargetLookup] = {}


def answer_actor_facts(lookup: ActorFacts) -> None:
    """Register who a signed-in user is for the log: AccessEvent actor columns (`actor_kind`,
    and for a professional `actor_role`, `actor_unit`, `actor_hide_name`,
    `actor_organization_id`, `actor_organization_name`)."""
    _answers["actor"] = lookup


def answer_family_people(lookup: FamilyPeople) -> None:
    """Register the lookup of the people of families (family id -> person ids), one query."""
    _answers["people"] = lookup


def answer_target(object_type: str, lookup: TargetLookup) -> None:
    """Register how a refused request aimed at an `object_type` id finds its people."""
    _targets[object_type] = lookup


def _answer(name: str) -> Any:
    try:
        return _answers[name]
    except KeyError:
        raise ImproperlyConfigured(f"nothing answers the audit log's question {name!r}") from None


def actor_facts(user: Any) -> dict[str, object]:
    return dict(_answer("actor")(user))


def family_people(family_ids: Iterable[uuid.UUID]) -> dict[uuid.UUID, list[uuid.UUID]]:
    return _answer("people")(family_ids)


def target(object_type: str, object_id: uuid.UUID) -> Target | None:
    """The target of a refused request; None when it does not exist or its kind names no
    people (only plans, families and consents do)."""
    lookup = _targets.get(object_type)
    if object_type == "plan" and lookup is None:
        raise ImproperlyConfigured("nothing answers the audit log's question 'plan target'")
    return lookup(object_id) if lookup is not None else None
