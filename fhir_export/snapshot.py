"""The input of the export: a plain, immutable picture of one plan as one recipient may see it.

The selector `plan_service.plans.export.plan_snapshot` fills it through the policy, so every item
here is already one the recipient may read. It holds no ORM objects and no querysets: the FHIR
functions can be called (and property-tested) without a database, and cannot leak what the
recipient may not see by following a relation.
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Collection
from dataclasses import dataclass
from typing import Any


def visible_id(value: Any, ids: Collection[Any]) -> Any:
    """`value` (an id of a related item) if the reader may see that item, else None.

    THE rule for related ids, used by the API serializers, the history views, the export
    snapshot (through `plan_service.plans.kinds`) and the FHIR builders: a link to an item the
    reader cannot see reads as no link, so it reveals neither the item nor that a link exists.
    """
    if value is None or value not in ids:
        return None
    return value


@dataclass(frozen=True)
class OrganizationData:
    """An organisation of the SOTE register (its OID goes under urn:oid:1.2.246.537.6.202)."""

    id: uuid.UUID
    name: str
    oid: str
    sector: str
    public: bool = True
    custodian_register_id: str = ""


@dataclass(frozen=True)
class PersonData:
    """A child or guardian of the family. `guardian_of` lists the children of a guardian."""

    id: uuid.UUID
    kind: str  # "child" or "guardian"
    given_name: str
    family_name: str
    identity_code: str
    birth_date: dt.date | None = None
    user_id: int | None = None
    guardian_of: tuple[uuid.UUID, ...] = ()
    non_disclosure: bool = False  # turvakielto: labelled, and no address data exported


@dataclass(frozen=True)
class MemberData:
    """A place in the care team: a professional (lead or member) or a family member."""

    id: uuid.UUID
    role: str  # "lead", "member" or "family"
    user_id: int
    basis: str  # "consent", "statute" or "family"
    valid_from: dt.datetime
    given_name: str = ""
    family_name: str = ""
    display: str = ""
    professional_id: uuid.UUID | None = None
    professional_role: str = ""
    professional_role_display: str = ""
    organization_id: uuid.UUID | None = None
    person_id: uuid.UUID | None = None
    statute: str = ""
    consent_id: uuid.UUID | None = None
    valid_until: dt.datetime | None = None
    ended_at: dt.datetime | None = None
    terhikki_number: str = ""
    sv_number: str = ""

    @property
    def is_professional(self) -> bool:
        return self.professional_id is not None


@dataclass(frozen=True)
class ItemData:
    """Fields every plan item shares. `restricted` marks an item a mature minor hid from the
    guardians (THL code 3): the recipient may see it, the guardians may not."""

    id: uuid.UUID
    version: int
    category: str
    created_at: dt.datetime
    updated_at: dt.datetime
    concerns: tuple[uuid.UUID, ...] = ()
    restricted: bool = False
    author_user_id: int | None = None
    author_display: str = ""


@dataclass(frozen=True)
class NeedData(ItemData):
    title: str = ""
    description: str = ""


@dataclass(frozen=True)
class GoalData(ItemData):
    title: str = ""
    desired_outcome: str = ""
    evidence: str = ""
    target_date: dt.date | None = None
    achievement: str = "in-progress"
    need_id: uuid.UUID | None = None


@dataclass(frozen=True)
class ActionData(ItemData):
    description: str = ""
    responsible_kind: str = "member"
    responsible_user_id: int | None = None
    responsible_person_id: uuid.UUID | None = None
    responsible_organization_id: uuid.UUID | None = None
    due_date: dt.date | None = None
    status: str = "not-started"
    goal_id: uuid.UUID | None = None


@dataclass(frozen=True)
class ProgressData:
    """One goal's progress as noted in a review meeting."""

    goal_id: uuid.UUID
    note: str = ""
    achievement: str = ""


@dataclass(frozen=True)
class ReviewData(ItemData):
    held_on: dt.date | None = None
    participants: tuple[str, ...] = ()
    notes: str = ""
    progress: tuple[ProgressData, ...] = ()
    next_review_on: dt.date | None = None


@dataclass(frozen=True)
class RemarkData(ItemData):
    """A comment, a child's or guardians' view, or a dissent (kind "dissent"), about the plan
    (`target_type` "plan") or one of its items."""

    kind: str = "comment"  # comment, child_view, guardian_view or dissent
    target_type: str = "plan"
    target_id: uuid.UUID | None = None
    text: str = ""


@dataclass(frozen=True)
class AcknowledgementData(ItemData):
    person_id: uuid.UUID | None = None
    acknowledged_version: int = 0
    decision: str = "agree"
    comment: str = ""


@dataclass(frozen=True)
class NoteItemData(ItemData):
    """An item of a kind whose FHIR form is an annotation on the CarePlan: `note_kind` codes it
    (annotation-kind), `text` is what the kind's declaration (plans/kinds.py) says of it. The
    simplest FHIR builder a new item kind can have; a kind needing a resource of its own adds a
    snapshot field and a builder here instead."""

    note_kind: str = "comment"
    text: str = ""


@dataclass(frozen=True)
class ConsentData:
    """A consent record the recipient may see, shaped like FHIR Consent."""

    id: uuid.UUID
    grantor_id: uuid.UUID
    subject_ids: tuple[uuid.UUID, ...]
    categories: tuple[str, ...]
    purpose: str
    status: str  # active, withdrawn or refused
    valid_from: dt.datetime
    created_at: dt.datetime
    valid_until: dt.datetime | None = None
    recipient_organization_id: uuid.UUID | None = None
    recipient_sector: str = ""


@dataclass(frozen=True)
class PlanSnapshot:
    """One plan at one version, as one recipient may receive it.

    `custodian_organization_id` is the information custodian (rekisterinpitäjä): the organisation
    of the plan's lead. `updated_by_user_id` is who produced this version (Provenance author).
    """

    plan_id: uuid.UUID
    version: int
    status: str
    summary: str
    period_start: dt.date
    created_at: dt.datetime
    updated_at: dt.datetime
    family_id: uuid.UUID
    family_name: str
    period_end: dt.date | None = None
    updated_by_user_id: int | None = None
    custodian_organization_id: uuid.UUID | None = None
    persons: tuple[PersonData, ...] = ()
    organizations: tuple[OrganizationData, ...] = ()
    members: tuple[MemberData, ...] = ()
    needs: tuple[NeedData, ...] = ()
    goals: tuple[GoalData, ...] = ()
    actions: tuple[ActionData, ...] = ()
    reviews: tuple[ReviewData, ...] = ()
    remarks: tuple[RemarkData, ...] = ()
    acknowledgements: tuple[AcknowledgementData, ...] = ()
    #: Items of declared kinds exported as notes on the CarePlan (`NoteItemData`).
    other_items: tuple[NoteItemData, ...] = ()
    consents: tuple[ConsentData, ...] = ()
    #: The language of the plan's texts (fi, sv or en): `Resource.language` and the narrative's.
    language: str = "fi"
    #: True for an export to a named recipient: the plan's own version, change time and last
    #: author (moved by writes the recipient may not receive) are then not exported; the
    #: Provenance and Bundle are named by a digest of the content instead.
    reader_relative: bool = False

    @property
    def children(self) -> tuple[PersonData, ...]:
        return tuple(p for p in self.persons if p.kind == "child")

    @property
    def guardians(self) -> tuple[PersonData, ...]:
        return tuple(p for p in self.persons if p.kind == "guardian")
