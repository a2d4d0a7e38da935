"""FHIR export of plans: the snapshot selector and the export services.

`plan_snapshots` (and `plan_snapshot`, its one-plan form) is the only place a plan is read for
export. It reads through the policy: items via `policy.items_for` (and, when one query serves
several accesses, `policy.may_read_item` per access), so an item of a category the recipient may
not read (or one a mature minor hid from a guardian recipient) is not in the snapshot at all and
the FHIR functions cannot emit it, refer to it or count it; consents via `policy.consents_for`.
The `fhir_export` package then turns the snapshot into FHIR without touching the database.

Every export is one transaction that requires `Action.EXPORT`, takes a share lock on the plan
row (writers lock it for update, so the snapshot is exactly one version) and appends one
disclosure-log row and one access-log row per person whose data leaves the service. Nothing here
logs or puts in a URL a personal identity code.
"""

from __future__ import annotations

import copy
import dataclasses
import itertools
import operator
import uuid
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from functools import reduce
from typing import TYPE_CHECKING, Any

from django.contrib.auth import get_user_model
from django.core.exceptions import ValidationError
from django.db import connection, transaction
from django.http import Http404
from django.utils.translation import gettext as _

from fhir_export import snapshot as snap
from fhir_export.bundle import plan_bundle
from plan_service import policy
from plan_service.audit.models import AccessEvent
from plan_service.audit.services import record_access_batch, record_disclosure_batch
from plan_service.consent.models import Consent
from plan_service.participants.models import Guardianship, Organization, Person, Recipient, Role
from plan_service.plans import kinds, selectors
from plan_service.plans.models import (
    Action,
    Membership,
    Plan,
    PlanItem,
)

if TYPE_CHECKING:
    from django.contrib.auth.models import AbstractBaseUser

    User = AbstractBaseUser

#: What the disclosure log says left the service.
CONTENT = "FHIR R4 transaction Bundle (CarePlan, Goal, Condition, CareTeam, Consent, Provenance)"


@dataclass(frozen=True)
class Export:
    """One finished export: the Bundle and the snapshot it was built from."""

    bundle: dict[str, Any]
    snapshot: snap.PlanSnapshot


#
# Snapshot (selector)
#


def _display(user: Any) -> str:
    if user is None:
        return ""
    return user.get_full_name() or user.get_username()


def _role_labels() -> dict[str, str]:
    """Each professional role's label in the active language (`get_role_display` per member
    hashes every lazy label of the choices; the bulk export has thousands of members)."""
    return {value: str(label) for value, label in Role.choices}


def _member(m: Membership, roles: dict[str, str]) -> snap.MemberData:
    professional = m.professional
    return snap.MemberData(
        id=m.pk,
        role=m.role,
        user_id=m.user_id,
        basis=m.basis,
        valid_from=m.valid_from,
        given_name=m.user.first_name,
        family_name=m.user.last_name,
        display=_display(m.user),
        professional_id=professional.pk if professional else None,
        professional_role=professional.role if professional else "",
        professional_role_display=roles.get(professional.role, professional.role)
        if professional
        else "",
        organization_id=professional.organization_id if professional else None,
        person_id=m.person_id,
        statute=m.statute,
        consent_id=m.consent_id,
        valid_until=m.valid_until,
        ended_at=m.ended_at,
        terhikki_number=professional.terhikki_number if professional else "",
        sv_number=professional.sv_number if professional else "",
    )


@dataclass
class _Rows:
    """The rows of one plan's snapshot, gathered for many plans at once."""

    persons: list[Person] = field(default_factory=list)
    wards: dict[uuid.UUID, list[uuid.UUID]] = field(default_factory=dict)
    members: list[Membership] = field(default_factory=list)
    items: dict[type[PlanItem], list[Any]] = field(default_factory=dict)
    consents: list[Consent] = field(default_factory=list)


def _readable(accesses: Sequence[policy.PlanAccess], model: type[PlanItem]) -> list[Any]:
    """Items of `model` each access may read, in one query (`policy.items_for_many`).

    Accesses that read alike (every plan of one recipient) share one scope over all their
    plans, so the query stays small for a chunk of many plans; `policy.may_read_item` then
    sorts each row to the accesses that may read it.
    """
    groups: dict[tuple[Any, ...], list[policy.PlanAccess]] = {}
    for access in accesses:
        key = (access.kind, tuple(sorted(access.reads)), access.person_id)
        groups.setdefault(key, []).append(access)
    scopes = [policy.items_for_many(group, model.objects.all()) for group in groups.values()]
    return list(
        # Authors are few per chunk: one instance per author (prefetch), not one per item.
        reduce(operator.or_, scopes).prefetch_related("created_by").order_by("created_at", "id")
    )


def _gather(accesses: Sequence[policy.PlanAccess]) -> list[_Rows]:
    """Every row the snapshots of `accesses` need, in a fixed number of queries.

    One `_Rows` per access, in order. Several accesses may share a plan (different recipients):
    an item goes to an access only if `policy.may_read_item` (the in-memory twin of
    `items_for`) says that access may read it, so a union query never mixes their views.
    """
    rows = [_Rows() for _ in accesses]
    by_plan: dict[uuid.UUID, list[int]] = {}
    by_family: dict[uuid.UUID, list[int]] = {}
    for index, access in enumerate(accesses):
        by_plan.setdefault(access.plan.pk, []).append(index)
        by_family.setdefault(access.plan.family_id, []).append(index)
    # `policy.persons_for(user)` is the members of families whose plan the user may view; each
    # access proves its plan is one, so its family's members are exactly that set here.
    for person in Person.objects.filter(family_id__in=by_family).order_by("id"):
        for index in by_family[person.family_id]:
            rows[index].persons.append(person)
    for family_id, child_id, guardian_id in Guardianship.objects.filter(
        child__family_id__in=by_family, guardian__family_id__in=by_family
    ).values_list("child__family_id", "child_id", "guardian_id"):
        for index in by_family[family_id]:
            rows[index].wards.setdefault(guardian_id, []).append(child_id)
    for membership in (
        Membership.objects.filter(plan_id__in=by_plan)
        .prefetch_related("user", "professional")  # few distinct people in many plans
        .order_by("valid_from", "id")
    ):
        for index in by_plan[membership.plan_id]:
            rows[index].members.append(membership)
    for model in (kind.model for kind in kinds.all_kinds()):
        for plan_rows in rows:
            plan_rows.items[model] = []
        for item in _readable(accesses, model):
            for index in by_plan[item.plan_id]:
                if policy.may_read_item(accesses[index], item):
                    rows[index].items[model].append(item)
    by_user: dict[object, list[int]] = {}
    for index, access in enumerate(accesses):
        if access.recipient is not None:
            # What the recipient may receive: only the consents that give it something.
            rows[index].consents.extend(access.consents)
            continue
        by_user.setdefault(access.membership.user_id, []).append(index)
    for indices in by_user.values():
        user = accesses[indices[0]].membership.user
        wanted = {accesses[i].plan.family_id for i in indices}
        for consent in (
            policy.consents_for(user)
            .filter(family_id__in=wanted)
            .prefetch_related("subjects")
            .order_by("created_at", "id")
        ):
            for index in indices:
                if accesses[index].plan.family_id == consent.family_id:
                    rows[index].consents.append(consent)
    return rows


def plan_snapshots(accesses: Sequence[policy.PlanAccess]) -> list[snap.PlanSnapshot]:
    """The snapshots of many plans (bulk export), in as many queries as one plan takes."""
    rows = _gather(accesses)
    org_ids: set[uuid.UUID] = set()
    for plan_rows in rows:
        org_ids |= {m.professional.organization_id for m in plan_rows.members if m.professional}
        org_ids |= {c.recipient_organization_id for c in plan_rows.consents}
        org_ids |= {a.responsible_organization_id for a in plan_rows.items[Action]}
    org_ids.discard(None)  # type: ignore[arg-type]
    organizations = {o.pk: o for o in Organization.objects.filter(pk__in=org_ids)}
    roles = _role_labels()
    return [_snapshot(a, r, organizations, roles) for a, r in zip(accesses, rows, strict=True)]


def plan_snapshot(access: policy.PlanAccess) -> snap.PlanSnapshot:
    """The plan as the holder of `access` may receive it, at its current version.

    Reads only through the policy (items via `policy.items_for`, consents via
    `policy.consents_for`); references to items the recipient may not read are dropped here
    (and again, defensively, in fhir_export).
    """
    return plan_snapshots([access])[0]


def _snapshot(
    access: policy.PlanAccess,
    rows: _Rows,
    organizations: dict[uuid.UUID, Organization],
    roles: dict[str, str],
) -> snap.PlanSnapshot:
    plan = access.plan
    persons, wards, members, consents = rows.persons, rows.wards, rows.members, rows.consents
    person_ids = {p.pk for p in persons}
    actions = rows.items[Action]
    lead = next(
        (m for m in members if m.role == Membership.PlanRole.LEAD and m.ended_at is None), None
    )
    used = {m.professional.organization_id for m in members if m.professional}
    used |= {c.recipient_organization_id for c in consents if c.recipient_organization_id}
    used |= {a.responsible_organization_id for a in actions if a.responsible_organization_id}
    updated_at, updated_by = plan.updated_at, plan.updated_by_id
    reader_relative = access.recipient is not None
    if reader_relative:
        # The plan's own stamp moves with writes the recipient may not receive: date and
        # attribute this export by the latest item it does receive instead.
        latest = max(
            (i for items in rows.items.values() for i in items),
            key=lambda i: (i.updated_at, str(i.pk)),
            default=None,
        )
        updated_at = max(plan.created_at, latest.updated_at) if latest else plan.created_at
        updated_by = latest.updated_by_id if latest else plan.created_by_id
    return snap.PlanSnapshot(
        plan_id=plan.pk,
        version=plan.version,
        status=plan.status,
        summary=plan.summary,
        period_start=plan.period_start,
        period_end=plan.period_end,
        created_at=plan.created_at,
        updated_at=updated_at,
        updated_by_user_id=updated_by,
        language=getattr(plan, "language", "fi") or "fi",
        reader_relative=reader_relative,
        custodian_organization_id=lead.professional.organization_id
        if lead and lead.professional
        else None,
        family_id=plan.family_id,
        family_name=plan.family.name,
        persons=tuple(
            snap.PersonData(
                id=p.pk,
                kind=p.kind,
                given_name=p.given_name,
                family_name=p.family_name,
                identity_code=p.identity_code,
                birth_date=p.birth_date,
                user_id=p.user_id,
                guardian_of=tuple(sorted(wards.get(p.pk, []), key=str)),
                non_disclosure=p.non_disclosure,
            )
            for p in persons
        ),
        organizations=tuple(
            snap.OrganizationData(
                id=o.pk,
                name=o.name,
                oid=o.oid,
                sector=o.sector,
                public=o.public,
                custodian_register_id=o.custodian_register_id,
            )
            for o in sorted((organizations[i] for i in used if i in organizations), key=_pk)
        ),
        members=tuple(_member(m, roles) for m in members),
        **_item_snapshots(rows),
        consents=tuple(
            snap.ConsentData(
                id=c.pk,
                grantor_id=c.grantor_id,
                subject_ids=tuple(
                    sorted((s.pk for s in c.subjects.all() if s.pk in person_ids), key=str)
                ),
                categories=tuple(c.categories),
                purpose=c.purpose,
                status=c.status,
                valid_from=c.valid_from,
                created_at=c.created_at,
                valid_until=c.valid_until,
                recipient_organization_id=c.recipient_organization_id,
                recipient_sector=c.recipient_sector,
            )
            for c in consents
        ),
    )


def _pk(row: Any) -> str:
    return str(row.pk)


def _item_snapshots(rows: _Rows) -> dict[str, tuple[snap.ItemData, ...]]:
    """Each declared kind's items as snapshot data (its `snapshot` hook, plans/kinds.py), by the
    PlanSnapshot field they fill. References to items not in the snapshot are dropped by the
    hooks (`kinds.visible_id`); kinds sharing a field are merged in the order they were made."""
    visible = {
        kind.name: {i.pk for i in rows.items.get(kind.model, ())} for kind in kinds.all_kinds()
    }
    fields: dict[str, list[snap.ItemData]] = {}
    sources: dict[str, int] = {}
    for kind in kinds.all_kinds():
        if kind.snapshot is None or not kind.snapshot_field:
            continue
        built = [kind.snapshot(item, visible) for item in rows.items.get(kind.model, ())]
        fields.setdefault(kind.snapshot_field, []).extend(built)
        sources[kind.snapshot_field] = sources.get(kind.snapshot_field, 0) + 1
    for name, items in fields.items():
        if sources[name] > 1:
            items.sort(key=lambda i: (i.created_at, str(i.id)))
    return {name: tuple(items) for name, items in fields.items()}


#
# Export (services)
#


def _share_lock(plans: Sequence[Plan]) -> None:
    """Hold writers of these plans (they lock the row FOR UPDATE) until the export commits."""
    table = Plan._meta.db_table
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT 1 FROM {table} WHERE id = ANY(%s) ORDER BY id FOR SHARE",  # noqa: S608
            [[p.pk for p in plans]],
        )


def _check_version(plan: Plan, version: int, current: int | None = None) -> None:
    """A version to export must be one the plan has had (as the exporter sees its versions)."""
    current = plan.version if current is None else current
    if not 1 <= version <= current:
        raise ValidationError(
            {
                "version": ValidationError(
                    _("The plan has versions 1 to %(current)s."),
                    code="version_not_available",
                    params={"current": current},
                )
            }
        )


def plan_snapshot_at(access: policy.PlanAccess, version: int) -> snap.PlanSnapshot:
    """The plan as it stood at an earlier `version` (numbered as the holder of `access` sees
    the plan's versions), as they may receive it.

    Items and the plan's own fields come from the history tables, filtered by today's rules
    (`plans.history`); the family, the team and the consents are those of today.
    """
    from plan_service.plans import history
    from plan_service.plans.visibility import history_instance, reader_view

    view = reader_view(access)
    last = view.stored_range(version)[1]
    plan_row = (
        Plan.history.filter(id=access.plan.pk, version__lte=last)  # type: ignore[attr-defined]
        .order_by("-history_date", "-history_id")
        .first()
    )
    plan = copy.copy(access.plan)
    for name in ("status", "summary", "period_start", "period_end", "version", "updated_at"):
        setattr(plan, name, getattr(plan_row, name))
    plan.updated_by_id = plan_row.updated_by_id
    past = dataclasses.replace(access, plan=plan)
    rows = _gather([access])[0]
    state = history.state_at(view, last)
    rows.items = {model: [] for model in rows.items}
    for (kind, _id), change in sorted(
        state.items(), key=lambda kv: (kv[1].row.created_at, kv[0][1])
    ):
        model = kinds.get(kind).model
        rows.items[model].append(history_instance(model, change.row))
    authors = {i.created_by_id for items in rows.items.values() for i in items}
    users = {u.pk: u for u in get_user_model().objects.filter(pk__in=authors)}
    for items in rows.items.values():
        for item in items:
            item.created_by = users.get(item.created_by_id)
    org_ids = {m.professional.organization_id for m in rows.members if m.professional}
    org_ids |= {c.recipient_organization_id for c in rows.consents}
    org_ids |= {a.responsible_organization_id for a in rows.items[Action]}
    organizations = {o.pk: o for o in Organization.objects.filter(pk__in=org_ids - {None})}
    return _snapshot(past, rows, organizations, _role_labels())


def as_reader(snapshot: snap.PlanSnapshot, view: Any, version: int | None = None) -> Any:
    """The snapshot with versions, times and authors as its recipient sees them
    (plans/visibility.py): a change the recipient cannot see moves none of them."""
    number = version or view.version
    first, _last = view.stored_range(number)
    at, by = view.made(first)
    changes = {item_id: cs for (_kind, item_id), cs in view.items.items()}

    def item(data: Any) -> Any:
        found = changes.get(data.id)
        if not found:
            return data
        upto = [c for c in found if c.row.plan_version <= view.stored_range(number)[1]]
        if not upto:
            return data
        start = next((c for c in upto if c.present), upto[0])
        extra = {}
        if isinstance(data, snap.AcknowledgementData):
            extra["acknowledged_version"] = view.reader_version(data.acknowledged_version)
        return dataclasses.replace(
            data,
            version=upto[-1].number,
            created_at=start.row.history_date,
            updated_at=upto[-1].row.history_date,
            author_user_id=start.row.history_user_id,
            author_display=view.name(start.row.history_user_id) or "",
            **extra,
        )

    fields = dict.fromkeys(k.snapshot_field for k in kinds.all_kinds() if k.snapshot_field)
    return dataclasses.replace(
        snapshot,
        version=number,
        updated_at=at or snapshot.updated_at,
        updated_by_user_id=by if by is not None else snapshot.updated_by_user_id,
        **{name: tuple(item(d) for d in getattr(snapshot, name)) for name in fields},
    )


def recipient_label(recipient: Recipient | None, actor: User) -> str:
    """How the disclosure log names who received an export."""
    if recipient is None:
        return f"download by {actor.get_username()}"
    return f"{recipient.name} ({recipient.code})"


def _disclosure_entry(
    access: policy.PlanAccess, snapshot: snap.PlanSnapshot, recipient: str
) -> dict[str, Any]:
    subjects = [p.id for p in snapshot.persons]
    return {
        "recipient": recipient[:300],
        "subjects": subjects,
        "family_id": snapshot.family_id,
        "plan_id": snapshot.plan_id,
        "plan_version": snapshot.version,
        "content": CONTENT,
        "basis": access.legal_basis,
        "recipient_organization_id": access.recipient.organization_id
        if access.recipient is not None
        else None,
        "bases": {s: policy.disclosure_basis(access, s) for s in subjects}
        if access.recipient is not None
        else None,
    }


def access_entry(snapshot: snap.PlanSnapshot) -> dict[str, Any]:
    """The access-log entry of reading one exported plan (its people, plan and version)."""
    return {
        "subjects": [p.id for p in snapshot.persons],
        "family_id": snapshot.family_id,
        "plan_id": snapshot.plan_id,
        "object_type": "plan",
        "object_id": snapshot.plan_id,
        "object_version": snapshot.version,
    }


def log_disclosures(
    *,
    actor: User,
    exported: Sequence[tuple[policy.PlanAccess, snap.PlanSnapshot]],
    recipient: str,
) -> None:
    """The disclosure-log and access-log rows of many exports: one append per log.

    One row per person in each export; a named recipient's rows carry each person's basis
    (`policy.disclosure_basis`): the statute, plus the consents that name them.
    """
    if not exported:
        return
    record_disclosure_batch(
        actor=actor, entries=[_disclosure_entry(a, s, recipient) for a, s in exported]
    )
    record_access_batch(
        actor=actor,
        action=AccessEvent.Action.EXPORT,
        access=exported[0][0],
        entries=[access_entry(s) for _, s in exported],
    )


def log_disclosure(
    *,
    actor: User,
    access: policy.PlanAccess,
    snapshot: snap.PlanSnapshot,
    recipient: str,
) -> None:
    """Append the disclosure-log and access-log rows of one export, one per person in it."""
    log_disclosures(actor=actor, exported=[(access, snapshot)], recipient=recipient)


def resolve_recipient(code: object) -> Recipient | None:
    """The active recipient named `code`; None when absent; 400 naming `recipient` otherwise."""
    if code is None or code == "":
        return None
    recipient = None
    if isinstance(code, str) and len(code) <= 60:
        recipient = (
            Recipient.objects.filter(code=code, active=True).select_related("organization").first()
        )
    if recipient is None:
        raise ValidationError(
            {
                "recipient": ValidationError(
                    _("No such recipient in the registry."), code="unknown_recipient"
                )
            }
        )
    return recipient


def export_access_for(
    actor: User, plan: Plan, recipient: Recipient | None, *, to_recipient: bool = False
) -> policy.PlanAccess:
    """The access an export reads through: the recipient's (`policy.export_access`) when one is
    named, else the exporter's own (needs EXPORT).

    `to_recipient` says where the Bundle goes. True: to the recipient's own system (a push),
    which the exporter never sees, so it holds everything the recipient may receive. False (the
    default, a download): to the exporter, so it is also cut to what the exporter reads
    themself; what they may not see leaves no trace in what they get (docs/fhir.md).
    """
    if recipient is not None:
        return policy.export_access(actor, plan, recipient, shown_to_exporter=not to_recipient)
    return policy.require_plan(actor, policy.Action.EXPORT, plan)


def plan_export_prepare(
    *,
    actor: User,
    plan_id: object,
    version: int | None = None,
    recipient: Recipient | None = None,
    to_recipient: bool = False,
) -> tuple[policy.PlanAccess, Export]:
    """Check the right to export, lock, snapshot and build the Bundle; log nothing.

    Must run inside a transaction. Raises Http404 when the plan is invisible to `actor`,
    PermissionDenied when they may not export it (for `recipient`), ValidationError for a
    version that cannot be exported. `to_recipient`: see `export_access_for`.
    """
    plan = selectors.plan_get(user=actor, plan_id=plan_id)
    access = export_access_for(actor, plan, recipient, to_recipient=to_recipient)
    return access, _export_through(access, version)


def _export_through(access: policy.PlanAccess, version: int | None) -> Export:
    """Lock, snapshot and build the Bundle of the plan as the holder of `access` receives it."""
    from plan_service.plans.visibility import reader_view

    plan = access.plan
    _share_lock([plan])
    view = reader_view(access)
    if version is not None and version != view.version:
        _check_version(plan, version, view.version)
        snapshot = as_reader(plan_snapshot_at(access, version), view, version)
    else:
        snapshot = as_reader(plan_snapshot(access), view)
    return Export(bundle=plan_bundle(snapshot), snapshot=snapshot)


@transaction.atomic
def plan_export_for_client(*, actor: User, plan_id: object, version: int | None = None) -> Export:
    """A machine client's export: what its recipient may receive of a plan it may receive
    (`policy.client_export_access`), logged as a disclosure to that recipient with the client
    as the actor. Http404 for any other plan, the same as a missing one."""
    access = policy.client_export_access(actor, plan_id)
    export = _export_through(access, version)
    log_disclosure(
        actor=actor,
        access=access,
        snapshot=export.snapshot,
        recipient=recipient_label(access.recipient, actor),
    )
    return export


@transaction.atomic
def plan_export(
    *,
    actor: User,
    plan_id: object,
    version: int | None = None,
    recipient: Recipient | None = None,
    to_recipient: bool = False,
) -> Export:
    """Export a plan as a FHIR transaction Bundle, and log the disclosure.

    For a named `recipient` the Bundle holds what the recipient may receive
    (`policy.export_access`: the lead for any recipient, a member for their own organisation),
    cut to what the exporter reads unless it goes `to_recipient`'s own system (see
    `export_access_for`); without one, the lead's own view. Http404 when the plan is
    invisible, 403 when refused. The disclosure log gets one row per person in the export, in
    the same transaction, so a Bundle never leaves without its log rows. Exporting the same
    version twice gives the same Bundle.
    """
    access, export = plan_export_prepare(
        actor=actor,
        plan_id=plan_id,
        version=version,
        recipient=recipient,
        to_recipient=to_recipient,
    )
    log_disclosure(
        actor=actor,
        access=access,
        snapshot=export.snapshot,
        recipient=recipient_label(recipient, actor),
    )
    return export


#
# Bulk export
#


def export_plan_count(*, user: User) -> int:
    """How many plans `user` may export (for a progress bar)."""
    return policy.plans_for(user, policy.Action.EXPORT).count()


def export_plan_batches(
    *, user: User, chunk_size: int = 200
) -> Iterator[list[tuple[uuid.UUID, uuid.UUID]]]:
    """(family id, plan id) of every plan `user` may export, by family, `chunk_size` at a time.

    One query, decided when the export starts and streamed through a server-side cursor
    (`QuerySet.iterator`), so memory does not grow with the number of plans and plans of one
    family come together (the NDJSON writer uses that to write each person once). Each chunk's
    export checks its plans again. (A keyset page per chunk re-evaluated the user's whole
    permission set each time: about 0.1 s a page, and a quadratic run, at 20,000 plans.)
    """
    rows = (
        policy.plans_for(user, policy.Action.EXPORT)
        .order_by("family_id", "id")
        .values_list("family_id", "id")
        .iterator(chunk_size=chunk_size)
    )
    while batch := list(itertools.islice(rows, chunk_size)):
        yield batch


def plan_export_many_to(
    *,
    actor: User,
    plan_ids: Sequence[object],
    sink: Callable[[Export], None],
    recipient: str | Recipient,
) -> int:
    """Export plans into `sink` one by one and log their disclosures, in one transaction.

    The rights are checked per plan exactly as `plan_export` does (404 hidden, 403 refused;
    for a registry `Recipient`, everything that recipient may receive: a bulk export for a
    recipient is a delivery to its system, like a push), the plan rows are share-locked
    together, and their snapshots and reader views (versions, times and authors as the reader
    sees them, `as_reader`, exactly as a single export renders them) are read in a fixed
    number of queries (`plan_snapshots`, `visibility.reader_views`). The disclosure and access
    rows of the whole chunk are appended once, after `sink` took every Bundle; a sink that
    raises rolls back the rows of the whole call (the caller then deletes what the sink
    wrote). Returns the number of plans exported.
    """
    from plan_service.plans.visibility import preload_names, reader_views

    named = recipient if isinstance(recipient, Recipient) else None
    label = recipient_label(named, actor) if named is not None else str(recipient)
    with transaction.atomic():
        plans = {p.pk: p for p in selectors.plan_list(user=actor).filter(pk__in=plan_ids)}
        ordered = []
        for plan_id in plan_ids:
            plan = plans.get(plan_id)  # type: ignore[call-overload]
            if plan is None:
                raise Http404
            ordered.append(plan)
        if named is not None:
            accesses = policy.export_accesses(actor, ordered, named)
        else:
            accesses = policy.export_own_accesses(actor, ordered)
        _share_lock([a.plan for a in accesses])
        snapshots = plan_snapshots(accesses)
        views = reader_views(accesses)  # versions as each reader sees them, as `plan_export`
        preload_names(views)
        exported = []
        for access, stored, view in zip(accesses, snapshots, views, strict=True):
            snapshot = as_reader(stored, view)
            sink(Export(bundle=plan_bundle(snapshot), snapshot=snapshot))
            exported.append((access, snapshot))
        log_disclosures(actor=actor, exported=exported, recipient=label)
    return len(accesses)
