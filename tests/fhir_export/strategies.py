"""Hypothesis strategies for plan snapshots of every shape, and a hand-written demo-like one.

Shapes covered: no children to several, guardians of some or all children, teams with ended and
consent-based members, every plan status, every goal achievement and activity status, items for
the family or named children, items hidden from guardians, remarks of every kind on every kind of
target (including targets the recipient cannot see), consents of every status and recipient.
"""

from __future__ import annotations

import datetime as dt
import uuid

from hypothesis import strategies as st

from fhir_export.snapshot import (
    AcknowledgementData,
    ActionData,
    ConsentData,
    GoalData,
    MemberData,
    NeedData,
    OrganizationData,
    PersonData,
    PlanSnapshot,
    ProgressData,
    RemarkData,
    ReviewData,
)
from plan_service.participants.identity_codes import temporary_identity_code

UTC = dt.UTC
ACHIEVEMENTS = [
    "in-progress",
    "improving",
    "worsening",
    "no-change",
    "achieved",
    "sustaining",
    "not-achieved",
    "no-progress",
    "not-attainable",
]
ACTION_STATUSES = ["not-started", "scheduled", "in-progress", "on-hold", "completed", "cancelled"]
CATEGORIES = ["general", "social", "health", "education", "family"]
ROLES = [
    ("child_protection_social_worker", "lastensuojelun sosiaalityöntekijä"),
    ("public_health_nurse", "terveydenhoitaja"),
    ("school_curator", "koulukuraattori"),
    ("psychiatric_nurse", "psykiatrinen sairaanhoitaja"),
]

text = st.text(alphabet=st.characters(codec="utf-8", exclude_categories=("Cs", "Cc")), max_size=40)
instants = st.datetimes(
    min_value=dt.datetime(2020, 1, 1),  # noqa: DTZ001 (hypothesis wants naive bounds)
    max_value=dt.datetime(2030, 1, 1),  # noqa: DTZ001
    timezones=st.just(UTC),
).map(lambda d: d.replace(microsecond=0))
dates = st.dates(min_value=dt.date(2020, 1, 1), max_value=dt.date(2030, 1, 1))


@st.composite
def snapshots(draw: st.DrawFn) -> PlanSnapshot:
    """A plan snapshot of any shape the service can produce for some recipient."""
    n_children = draw(st.integers(0, 3))
    n_guardians = draw(st.integers(0, 2))
    birth = draw(st.dates(min_value=dt.date(2008, 1, 1), max_value=dt.date(2024, 12, 28)))
    people_ids = [uuid.uuid4() for _ in range(n_children + n_guardians)]
    children = [
        PersonData(
            id=people_ids[i],
            kind="child",
            given_name=draw(text),
            family_name=draw(text),
            identity_code=temporary_identity_code(birth, 900 + i),
            birth_date=birth,
            user_id=draw(st.sampled_from([None, 1000 + i])),
            non_disclosure=draw(st.booleans()),
        )
        for i in range(n_children)
    ]
    child_ids = [p.id for p in children]
    guardians = [
        PersonData(
            id=people_ids[n_children + i],
            kind="guardian",
            given_name=draw(text),
            family_name=draw(text),
            identity_code=temporary_identity_code(dt.date(1985, 1, 1 + i), 950 + i),
            birth_date=dt.date(1985, 1, 1 + i),
            user_id=draw(st.sampled_from([None, 2000 + i])),
            guardian_of=tuple(draw(st.lists(st.sampled_from(child_ids), unique=True)))
            if child_ids
            else (),
            non_disclosure=draw(st.booleans()),
        )
        for i in range(n_guardians)
    ]
    orgs = [
        OrganizationData(
            id=uuid.uuid4(),
            name=draw(text) or "org",
            oid=f"1.2.246.10.{1234567 + i}.10.0",
            sector=draw(st.sampled_from(["social", "health", "education"])),
            public=draw(st.booleans()),
            custodian_register_id=draw(st.sampled_from(["", f"1.2.246.10.{7654321 + i}.19.0"])),
        )
        for i in range(draw(st.integers(1, 3)))
    ]
    members = []
    for i in range(draw(st.integers(1, 4))):
        code, display = draw(st.sampled_from(ROLES))
        ended = draw(st.booleans()) if i else False
        start = draw(instants)
        members.append(
            MemberData(
                id=uuid.uuid4(),
                role="lead" if i == 0 else "member",
                user_id=10 + draw(st.integers(0, 4)) if i else 10,
                basis=draw(st.sampled_from(["statute", "consent"])) if i else "statute",
                valid_from=start,
                given_name=draw(text),
                family_name=draw(text),
                display=draw(text),
                professional_id=uuid.uuid4(),
                professional_role=code,
                professional_role_display=display,
                organization_id=draw(st.sampled_from([o.id for o in orgs])),
                statute="LSL 417/2007 §30",
                valid_until=draw(st.none() | st.just(start + dt.timedelta(days=30))),
                ended_at=start + dt.timedelta(days=1) if ended else None,
                terhikki_number=draw(st.sampled_from(["", "10100123456"])),
                sv_number=draw(st.sampled_from(["", "123456"])),
            )
        )
    for person in [*children, *guardians]:
        if person.user_id is not None:
            members.append(
                MemberData(
                    id=uuid.uuid4(),
                    role="family",
                    user_id=person.user_id,
                    basis="family",
                    valid_from=draw(instants),
                    person_id=person.id,
                )
            )
    user_ids = [m.user_id for m in members] + [None, 99]
    family_people = [p.id for p in [*children, *guardians]]

    def base(**extra: object) -> dict[str, object]:
        created = draw(instants)
        return {
            "id": uuid.uuid4(),
            "version": draw(st.integers(1, 5)),
            "category": draw(st.sampled_from(CATEGORIES)),
            "created_at": created,
            "updated_at": created,
            "concerns": tuple(draw(st.lists(st.sampled_from(child_ids), unique=True)))
            if child_ids
            else (),
            "restricted": draw(st.booleans()),
            "author_user_id": draw(st.sampled_from(user_ids)),
            "author_display": draw(text),
            **extra,
        }

    needs = [
        NeedData(**base(), title=draw(text), description=draw(text))
        for _ in range(draw(st.integers(0, 3)))
    ]
    need_refs = [n.id for n in needs] + [None, uuid.uuid4()]  # uuid4: a need not visible
    goals = [
        GoalData(
            **base(),
            title=draw(text),
            desired_outcome=draw(text),
            evidence=draw(text),
            target_date=draw(st.none() | dates),
            achievement=draw(st.sampled_from(ACHIEVEMENTS)),
            need_id=draw(st.sampled_from(need_refs)),
        )
        for _ in range(draw(st.integers(0, 3)))
    ]
    goal_refs = [g.id for g in goals] + [None, uuid.uuid4()]
    actions = []
    for _ in range(draw(st.integers(0, 3))):
        kind = draw(st.sampled_from(["member", "guardian", "child", "organization"]))
        actions.append(
            ActionData(
                **base(),
                description=draw(text),
                responsible_kind=kind,
                responsible_user_id=draw(st.sampled_from(user_ids)) if kind == "member" else None,
                responsible_person_id=draw(st.sampled_from(family_people))
                if kind in ("guardian", "child") and family_people
                else None,
                responsible_organization_id=draw(st.sampled_from([o.id for o in orgs]))
                if kind == "organization"
                else None,
                due_date=draw(st.none() | dates),
                status=draw(st.sampled_from(ACTION_STATUSES)),
                goal_id=draw(st.sampled_from(goal_refs)),
            )
        )
    reviews = [
        ReviewData(
            **base(),
            held_on=draw(dates),
            participants=tuple(draw(st.lists(text, max_size=3))),
            notes=draw(text),
            progress=tuple(
                ProgressData(
                    goal_id=draw(st.sampled_from(goal_refs[:-2] or [uuid.uuid4()])),
                    note=draw(text),
                    achievement=draw(st.sampled_from(["", *ACHIEVEMENTS])),
                )
                for _ in range(draw(st.integers(0, 2)))
            ),
            next_review_on=draw(st.none() | dates),
        )
        for _ in range(draw(st.integers(0, 2)))
    ]
    targets = (
        [("plan", None)]
        + [("need", n.id) for n in needs]
        + [("goal", g.id) for g in goals]
        + [("action", a.id) for a in actions]
        + [("review", r.id) for r in reviews]
        + [("goal", uuid.uuid4())]  # an item the recipient cannot see
    )
    remarks = []
    for _ in range(draw(st.integers(0, 4))):
        target_type, target_id = draw(st.sampled_from(targets))
        remarks.append(
            RemarkData(
                **base(),
                kind=draw(st.sampled_from(["comment", "child_view", "guardian_view", "dissent"])),
                target_type=target_type,
                target_id=target_id,
                text=draw(text),
            )
        )
    acks = [
        AcknowledgementData(
            **base(),
            person_id=draw(st.sampled_from(family_people)),
            acknowledged_version=draw(st.integers(1, 9)),
            decision=draw(st.sampled_from(["agree", "disagree"])),
            comment=draw(text),
        )
        for _ in range(draw(st.integers(0, 2)) if family_people else 0)
    ]
    consents = []
    if child_ids and family_people:
        for _ in range(draw(st.integers(0, 2))):
            start = draw(instants)
            to_org = draw(st.booleans())
            consents.append(
                ConsentData(
                    id=uuid.uuid4(),
                    grantor_id=draw(st.sampled_from(family_people)),
                    subject_ids=tuple(
                        draw(st.lists(st.sampled_from(child_ids), min_size=1, unique=True))
                    ),
                    categories=tuple(
                        draw(st.lists(st.sampled_from(CATEGORIES), min_size=1, unique=True))
                    ),
                    purpose=draw(text),
                    status=draw(st.sampled_from(["active", "withdrawn", "refused"])),
                    valid_from=start,
                    created_at=start,
                    valid_until=draw(st.none() | st.just(start + dt.timedelta(days=365))),
                    recipient_organization_id=orgs[0].id if to_org else None,
                    recipient_sector="" if to_org else "health",
                )
            )
    created = draw(instants)
    start = draw(dates)
    return PlanSnapshot(
        plan_id=uuid.uuid4(),
        version=draw(st.integers(1, 50)),
        status=draw(st.sampled_from(["draft", "active", "on_hold", "completed"])),
        summary=draw(text),
        period_start=start,
        period_end=draw(st.none() | st.just(start + dt.timedelta(days=200))),
        created_at=created,
        updated_at=created + dt.timedelta(days=draw(st.integers(0, 100))),
        updated_by_user_id=draw(st.sampled_from(user_ids)),
        custodian_organization_id=draw(st.sampled_from([None, orgs[0].id])),
        family_id=uuid.uuid4(),
        family_name=draw(text),
        persons=(*children, *guardians),
        organizations=tuple(orgs),
        members=tuple(members),
        needs=tuple(needs),
        goals=tuple(goals),
        actions=tuple(actions),
        reviews=tuple(reviews),
        remarks=tuple(remarks),
        acknowledgements=tuple(acks),
        consents=tuple(consents),
        language=draw(st.sampled_from(["fi", "sv", "en"])),
        reader_relative=draw(st.booleans()),
    )
