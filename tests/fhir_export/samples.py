"""A hand-written snapshot like the demo's Virtanen family, for tests that need no database."""

from __future__ import annotations

import datetime as dt
import uuid

from fhir_export.snapshot import (
    ActionData,
    ConsentData,
    GoalData,
    MemberData,
    NeedData,
    OrganizationData,
    PersonData,
    PlanSnapshot,
    RemarkData,
    ReviewData,
)
from plan_service.participants.identity_codes import temporary_identity_code

UTC = dt.UTC
T0 = dt.datetime(2026, 1, 5, 9, 30, tzinfo=UTC)


def _id(name: str) -> uuid.UUID:
    return uuid.uuid5(uuid.NAMESPACE_URL, f"https://example.test/{name}")


def demo_snapshot() -> PlanSnapshot:
    """Two children, two guardians, a health-sector lead, an ECE member, a consent, items."""
    aino, eetu, mikko, sanna = (_id(n) for n in ("aino", "eetu", "mikko", "sanna"))
    org, ece_org = _id("org"), _id("ece-org")
    need = NeedData(
        id=_id("need"),
        version=1,
        category="health",
        created_at=T0,
        updated_at=T0,
        concerns=(eetu,),
        author_user_id=1,
        title="Eetun puheen kehityksen tukeminen",
        description="Neuvolan 5-vuotistarkastuksessa havaittiin viivettä puheessa.",
    )
    goal = GoalData(
        id=_id("goal"),
        version=2,
        category="health",
        created_at=T0,
        updated_at=T0,
        concerns=(eetu,),
        author_user_id=1,
        title="Eetu tulee ymmärretyksi päiväkodissa",
        desired_outcome="Eetu kertoo päivästään kolmen sanan lausein.",
        evidence="Puheterapeutin arvio ja päiväkodin havainnot.",
        target_date=dt.date(2026, 7, 1),
        achievement="improving",
        need_id=need.id,
    )
    return PlanSnapshot(
        plan_id=_id("plan"),
        version=12,
        status="active",
        summary="Vanhemmat asuvat erillään ja lapset vuoroviikoin molemmilla.",
        period_start=dt.date(2026, 1, 5),
        created_at=T0,
        updated_at=T0 + dt.timedelta(days=3),
        updated_by_user_id=1,
        custodian_organization_id=org,
        family_id=_id("family"),
        family_name="Virtanen",
        persons=(
            PersonData(
                aino,
                "child",
                "Aino",
                "Virtanen",
                temporary_identity_code(dt.date(2018, 1, 5), 901),
                dt.date(2018, 1, 5),
            ),
            PersonData(
                eetu,
                "child",
                "Eetu",
                "Virtanen",
                temporary_identity_code(dt.date(2021, 1, 5), 902),
                dt.date(2021, 1, 5),
            ),
            PersonData(
                mikko,
                "guardian",
                "Mikko",
                "Virtanen",
                temporary_identity_code(dt.date(1988, 3, 14), 903),
                dt.date(1988, 3, 14),
                user_id=3,
                guardian_of=(aino, eetu),
            ),
            PersonData(
                sanna,
                "guardian",
                "Sanna",
                "Korhonen",
                temporary_identity_code(dt.date(1990, 7, 2), 904),
                dt.date(1990, 7, 2),
                guardian_of=(aino, eetu),
                non_disclosure=True,
            ),
        ),
        organizations=(
            OrganizationData(
                org,
                "Aurinkolaakson hyvinvointialue",
                "1.2.246.10.1234567.10.0",
                "social",
                custodian_register_id="1.2.246.10.1234567.19.0",
            ),
            OrganizationData(
                ece_org, "Aurinkolaakson kaupunki", "1.2.246.10.7654321.10.0", "education"
            ),
        ),
        members=(
            MemberData(
                _id("m-lead"),
                "lead",
                1,
                "statute",
                T0,
                "Maria",
                "Koskinen",
                "Maria Koskinen",
                _id("p-maria"),
                "public_health_nurse",
                "terveydenhoitaja (public health nurse)",
                org,
                statute="Terveydenhuoltolaki 1326/2010 §15",
                terhikki_number="10100123456",
            ),
            MemberData(
                _id("m-ece"),
                "member",
                2,
                "statute",
                T0,
                "Sari",
                "Mattila",
                "Sari Mattila",
                _id("p-sari"),
                "ece_teacher",
                "varhaiskasvatuksen opettaja",
                ece_org,
                statute="Varhaiskasvatuslaki 540/2018 §40",
            ),
            MemberData(_id("m-mikko"), "family", 3, "family", T0, person_id=mikko),
        ),
        needs=(need,),
        goals=(goal,),
        actions=(
            ActionData(
                id=_id("action"),
                version=1,
                category="health",
                created_at=T0,
                updated_at=T0,
                concerns=(eetu,),
                author_user_id=1,
                description="Lähete puheterapeutin arvioon.",
                responsible_kind="member",
                responsible_user_id=1,
                due_date=dt.date(2026, 2, 5),
                status="in-progress",
                goal_id=goal.id,
            ),
        ),
        reviews=(
            ReviewData(
                id=_id("review"),
                version=1,
                category="general",
                created_at=T0,
                updated_at=T0,
                author_user_id=1,
                held_on=dt.date(2026, 1, 1),
                participants=("Maria Koskinen", "Mikko Virtanen"),
                notes="Sovittiin tavoitteista.",
                next_review_on=dt.date(2026, 3, 1),
            ),
        ),
        remarks=(
            RemarkData(
                id=_id("comment"),
                version=1,
                category="health",
                created_at=T0,
                updated_at=T0,
                concerns=(eetu,),
                author_user_id=3,
                kind="guardian_view",
                target_type="goal",
                target_id=goal.id,
                text="Toivomme, että puheterapia järjestyy isän viikoilla.",
            ),
        ),
        consents=(
            ConsentData(
                id=_id("consent"),
                grantor_id=mikko,
                subject_ids=(aino, eetu),
                categories=("general", "health", "education"),
                purpose="Yhteinen perhesuunnitelma: sosiaaliohjaus",
                status="active",
                valid_from=T0,
                created_at=T0,
                recipient_sector="social",
            ),
        ),
    )
