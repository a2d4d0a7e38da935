"""`python -m plan_service seed-demo`: build the demo region, idempotently, and print logins.

Everything goes through the services, so the demo has real history and access-log rows.
Passwords come from DEMO_PASSWORD (default documented in the README; local use only).
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand
from django.db import transaction
from django.utils import timezone

from plan_service.consent.services import consent_create
from plan_service.participants import assessments
from plan_service.participants.identity_codes import temporary_identity_code
from plan_service.participants.models import Family, Organization, Person, Professional, Recipient
from plan_service.participants.services import family_create, person_link_account
from plan_service.plans import services
from plan_service.plans.models import Action, Comment, Dissent, Goal, Need, Review

ORG_SOCIAL_HEALTH = ("Aurinkolaakson hyvinvointialue", "1.2.246.10.1234567.10.0", "social")
ORG_EDUCATION = (
    "Aurinkolaakson kaupunki, kasvatus ja opetus",
    "1.2.246.10.7654321.10.0",
    "education",
)
ORG_PSYCHIATRY = (
    "Aurinkolaakson nuorisopsykiatrian poliklinikka",
    "1.2.246.10.1234567.10.7",
    "health",
)
#: Custodian ids in the register of information custodians (fi-base public custodian).
CUSTODIAN_IDS = {ORG_SOCIAL_HEALTH[1]: "1.2.246.10.1234567.19.0"}

#: The demo recipients: code, name, kind, sector, organisation (index) and repository profile.
RECIPIENTS = [
    (
        "kanta-potilastiedon-arkisto",
        "Kanta, potilastiedon arkisto",
        "repository",
        "health",
        None,
        "kanta_patient_records",
    ),
    ("aurinkolaakson-koulu", "Aurinkolaakson koulu", "organization", "education", 1, ""),
    (
        "aurinkolaakson-sosiaalihuolto",
        "Aurinkolaakson hyvinvointialue, sosiaalihuolto",
        "organization",
        "social",
        0,
        "",
    ),
    (
        "nuorisopsykiatria",
        "Aurinkolaakson nuorisopsykiatrian poliklinikka",
        "organization",
        "health",
        2,
        "",
    ),
]
#: Terhikki numbers of the demo's health professionals (fictional, 11 digits).
TERHIKKI = {"terveydenhoitaja": "10100123456", "psykiatrinen": "10100765432"}

PROFESSIONALS = [
    # username, first, last, org index, role, unit
    ("sosiaalityontekija", "Helena", "Laine", 0, "child_protection_social_worker", "Lastensuojelu"),
    ("sosiaaliohjaaja", "Juha", "Heikkinen", 0, "social_counsellor", "Perhesosiaalityö"),
    (
        "terveydenhoitaja",
        "Maria",
        "Koskinen",
        0,
        "public_health_nurse",
        "Neuvola ja kouluterveydenhuolto",
    ),
    ("psykiatrinen", "Tiina", "Salonen", 0, "psychiatric_nurse", "Nuorisopsykiatria"),
    ("kuraattori", "Antti", "Järvinen", 1, "school_curator", "Aurinkolaakson koulu"),
    ("opettaja", "Liisa", "Lehtonen", 1, "teacher", "Aurinkolaakson koulu"),
    ("varhaiskasvatus", "Sari", "Mattila", 1, "ece_teacher", "Päiväkoti Tähtitarha"),
    ("tietosuoja", "Pekka", "Rantanen", 0, "auditor", "Tietosuoja"),
    ("paakayttaja", "Kaisa", "Hiltunen", 0, "administrator", "Tietohallinto"),
]


class Command(BaseCommand):
    help = "Create the demo region (idempotent) and print who can log in as whom."

    def _migrate_first(self) -> None:
        """On a fresh database, apply the migrations first and say so."""
        from django.core.management import call_command
        from django.db import connection
        from django.db.migrations.executor import MigrationExecutor

        executor = MigrationExecutor(connection)
        if executor.migration_plan(executor.loader.graph.leaf_nodes()):
            self.stdout.write("The database is not up to date: applying migrations first.")
            call_command("migrate", interactive=False, verbosity=0)

    def handle(self, *args: Any, **options: Any) -> None:
        self._migrate_first()
        if not Organization.objects.filter(oid=ORG_SOCIAL_HEALTH[1]).exists():
            with transaction.atomic():
                self._build()
            self.stdout.write(self.style.SUCCESS("Demo region created."))
        else:
            self.stdout.write("Demo region already present; nothing to do.")
        self._print_logins()

    #
    # Building
    #

    def _user(self, username: str, first: str, last: str) -> Any:
        user_model = get_user_model()
        user, _ = user_model.objects.get_or_create(
            username=username, defaults={"first_name": first, "last_name": last}
        )
        user.set_password(settings.DEMO_PASSWORD)
        user.save()
        return user

    def _build(self) -> None:
        orgs = [
            Organization.objects.create(
                name=n, oid=o, sector=s, custodian_register_id=CUSTODIAN_IDS.get(o, "")
            )
            for n, o, s in (ORG_SOCIAL_HEALTH, ORG_EDUCATION, ORG_PSYCHIATRY)
        ]
        for code, name, kind, sector, org_index, profile in RECIPIENTS:
            Recipient.objects.create(
                code=code,
                name=name,
                kind=kind,
                sector=sector,
                organization=orgs[org_index] if org_index is not None else None,
                profile=profile,
            )
        self.psychiatry = orgs[2]
        pro: dict[str, Any] = {}
        for username, first, last, org, role, unit in PROFESSIONALS:
            user = self._user(username, first, last)
            Professional.objects.create(
                user=user,
                organization=orgs[org],
                role=role,
                unit=unit,
                terhikki_number=TERHIKKI.get(username, ""),
            )
            pro[username] = user
        prof = {p.user.username: p for p in Professional.objects.select_related("user")}
        self._family_virtanen(pro, prof)
        self._family_nieminen(pro, prof)
        self._family_makinen(pro, prof)

    def _link(self, family: Family, given_name: str, username: str) -> Any:
        person = Person.objects.get(family=family, given_name=given_name)
        user = self._user(username, person.given_name, person.family_name)
        person_link_account(person=person, user=user)
        return user

    def _family_virtanen(self, pro: dict, prof: dict) -> None:
        """Two children, two guardians who live apart; led from the child-health clinic."""
        lead = pro["terveydenhoitaja"]
        today = timezone.localdate()
        family = family_create(
            actor=lead,
            name="Virtanen",
            members=[
                _member("child", "Aino", "Virtanen", today.replace(year=today.year - 8), 901),
                _member("child", "Eetu", "Virtanen", today.replace(year=today.year - 5), 902),
                _member("guardian", "Mikko", "Virtanen", dt.date(1988, 3, 14), 903, [0, 1]),
                _member("guardian", "Sanna", "Korhonen", dt.date(1990, 7, 2), 904, [0, 1]),
            ],
        )
        plan = services.plan_create(
            actor=lead,
            family=family,
            statute="Terveydenhuoltolaki 1326/2010 §15",
            summary=(
                "Vanhemmat asuvat erillään ja lapset vuoroviikoin molemmilla. Eetun puheen "
                "kehitys ja Ainon koulunkäynnin aloitus ovat perheen toiveesta yhteisen "
                "suunnitelman keskiössä."
            ),
        )
        mikko = self._link(family, "Mikko", "mikko.virtanen")
        self._link(family, "Sanna", "sanna.korhonen")
        children = list(Person.objects.filter(family=family, kind="child").order_by("given_name"))
        consent = consent_create(
            actor=mikko,
            family=family,
            grantor_id=None,
            subject_ids=[c.pk for c in children],
            categories=["general", "health", "education"],
            purpose="Yhteinen perhesuunnitelma: sosiaaliohjaus",
            recipient_sector="social",
        )
        services.membership_add(
            actor=lead,
            plan_id=plan.pk,
            professional=prof["sosiaaliohjaaja"],
            role="member",
            basis="consent",
            consent_id=consent.pk,
        )
        services.membership_add(
            actor=lead,
            plan_id=plan.pk,
            professional=prof["varhaiskasvatus"],
            role="member",
            basis="statute",
            statute="Varhaiskasvatuslaki 540/2018 §40",
        )
        services.plan_update(
            actor=lead, plan_id=plan.pk, expected_version=None, data={"status": "active"}
        )
        need = services.item_create(
            actor=lead,
            plan_id=plan.pk,
            model=Need,
            data={
                "category": "health",
                "concerns": [children[1].pk],
                "title": "Eetun puheen kehityksen tukeminen",
                "description": "Neuvolan 5-vuotistarkastuksessa havaittiin viivettä puheessa.",
            },
        )
        goal = services.item_create(
            actor=lead,
            plan_id=plan.pk,
            model=Goal,
            data={
                "category": "health",
                "concerns": [children[1].pk],
                "need": need.pk,
                "title": "Eetu tulee ymmärretyksi päiväkodissa",
                "desired_outcome": "Eetu kertoo päivästään kolmen sanan lausein.",
                "evidence": "Puheterapeutin arvio ja päiväkodin havainnot.",
                "target_date": today + dt.timedelta(days=180),
            },
        )
        services.item_create(
            actor=lead,
            plan_id=plan.pk,
            model=Action,
            data={
                "category": "health",
                "goal": goal.pk,
                "concerns": [children[1].pk],
                "description": "Lähete puheterapeutin arvioon.",
                "responsible_kind": "member",
                "responsible_user": lead.pk,
                "due_date": today + dt.timedelta(days=30),
                "status": "in-progress",
            },
        )
        ece_goal = services.item_create(
            actor=pro["varhaiskasvatus"],
            plan_id=plan.pk,
            model=Goal,
            data={
                "category": "education",
                "concerns": [children[1].pk],
                "title": "Kuvatuki päiväkodin arkeen",
                "desired_outcome": "Päivän kulku on Eetulle ennakoitava.",
            },
        )
        services.item_update(
            actor=pro["varhaiskasvatus"],
            plan_id=plan.pk,
            model=Goal,
            item_id=ece_goal.pk,
            expected_version=1,
            data={"achievement": "improving"},
            reason="kuukauden seuranta",
        )
        services.item_create(
            actor=mikko,
            plan_id=plan.pk,
            model=Comment,
            data={
                "kind": "guardian_view",
                "target_type": "goal",
                "target_id": goal.pk,
                "text": "Toivomme, että puheterapia järjestyy isän viikoilla.",
            },
        )
        services.item_create(
            actor=lead,
            plan_id=plan.pk,
            model=Review,
            data={
                "category": "general",
                "held_on": today - dt.timedelta(days=7),
                "participants": ["Maria Koskinen", "Mikko Virtanen", "Sanna Korhonen"],
                "notes": "Sovittiin tavoitteista ja seuraavasta tapaamisesta.",
                "progress": [{"goal": str(goal.pk), "note": "Lähete tehty."}],
                "next_review_on": today + dt.timedelta(days=60),
            },
        )

    def _family_nieminen(self, pro: dict, prof: dict) -> None:
        """A 13-year-old with an own account and a matter hidden from the guardian."""
        lead = pro["kuraattori"]
        today = timezone.localdate()
        family = family_create(
            actor=lead,
            name="Nieminen",
            members=[
                _member("child", "Lauri", "Nieminen", today.replace(year=today.year - 13), 905),
                _member("guardian", "Päivi", "Nieminen", dt.date(1982, 11, 20), 906, [0]),
            ],
        )
        plan = services.plan_create(
            actor=lead,
            family=family,
            statute="Oppilas- ja opiskelijahuoltolaki 1287/2013 §14",
            summary="Laurin koulupoissaolot ovat lisääntyneet syksyn aikana.",
        )
        paivi = self._link(family, "Päivi", "paivi.nieminen")
        lauri = self._link(family, "Lauri", "lauri.nieminen")
        lauri_person = Person.objects.get(user=lauri)
        consent = consent_create(
            actor=paivi,
            family=family,
            grantor_id=None,
            subject_ids=[lauri_person.pk],
            categories=["general", "health", "education"],
            purpose="Nuorisopsykiatrian ja koulun yhteistyö",
            recipient_sector="health",
            valid_until=timezone.now() + dt.timedelta(days=365),
        )
        # The psychiatric unit may also receive the social-welfare part (a named recipient).
        consent_create(
            actor=paivi,
            family=family,
            grantor_id=None,
            subject_ids=[lauri_person.pk],
            categories=["social"],
            purpose="Nuorisopsykiatrian arvio: lastensuojelun suunnitelma",
            recipient_organization=self.psychiatry,
            valid_until=timezone.now() + dt.timedelta(days=365),
        )
        services.membership_add(
            actor=lead,
            plan_id=plan.pk,
            professional=prof["terveydenhoitaja"],
            role="member",
            basis="statute",
            statute="Terveydenhuoltolaki 1326/2010 §16",
        )
        services.membership_add(
            actor=lead,
            plan_id=plan.pk,
            professional=prof["psykiatrinen"],
            role="member",
            basis="consent",
            consent_id=consent.pk,
        )
        services.plan_update(
            actor=lead, plan_id=plan.pk, expected_version=None, data={"status": "active"}
        )
        services.item_create(
            actor=lead,
            plan_id=plan.pk,
            model=Goal,
            data={
                "category": "education",
                "concerns": [lauri_person.pk],
                "title": "Säännöllinen koulunkäynti",
                "desired_outcome": "Lauri on koulussa vähintään neljänä päivänä viikossa.",
                "evidence": "Wilman poissaolomerkinnät.",
                "target_date": today + dt.timedelta(days=90),
            },
        )
        hidden = services.item_create(
            actor=pro["terveydenhoitaja"],
            plan_id=plan.pk,
            model=Need,
            data={
                "category": "health",
                "concerns": [lauri_person.pk],
                "title": "Unettomuus ja mieliala",
                "description": "Lauri toivoo, ettei tätä näytetä huoltajalle.",
            },
        )
        assessments.assessment_record(
            actor=pro["terveydenhoitaja"],
            plan_id=plan.pk,
            child_id=lauri_person.pk,
            code=3,
            note="Lauri ymmärtää asian merkityksen ja toivoo, ettei sitä näytetä huoltajalle.",
        )
        services.item_restrict(
            actor=pro["terveydenhoitaja"],
            plan_id=plan.pk,
            model=Need,
            item_id=hidden.pk,
            child_id=lauri_person.pk,
            expected_version=hidden.version,
        )
        services.item_create(
            actor=lauri,
            plan_id=plan.pk,
            model=Comment,
            data={
                "kind": "child_view",
                "target_type": "plan",
                "text": "Aamut ovat vaikeita, mutta haluan päästä takaisin kouluun.",
            },
        )

    def _family_makinen(self, pro: dict, prof: dict) -> None:
        """A child-protection family: the school curator must not see child-protection items."""
        lead = pro["sosiaalityontekija"]
        today = timezone.localdate()
        family = family_create(
            actor=lead,
            name="Mäkinen",
            members=[
                _member("child", "Onni", "Mäkinen", today.replace(year=today.year - 10), 907),
                _member("guardian", "Jenni", "Mäkinen", dt.date(1991, 5, 9), 908, [0]),
            ],
        )
        plan = services.plan_create(
            actor=lead,
            family=family,
            statute="Lastensuojelulaki 417/2007 §30",
            summary="Avohuollon tukitoimet; äidin jaksaminen ja Onnin koulunkäynnin tuki.",
        )
        jenni = self._link(family, "Jenni", "jenni.makinen")
        for username, statute in (
            ("kuraattori", "Oppilas- ja opiskelijahuoltolaki 1287/2013 §14"),
            ("opettaja", "Perusopetuslaki 628/1998 §40"),
        ):
            services.membership_add(
                actor=lead,
                plan_id=plan.pk,
                professional=prof[username],
                role="member",
                basis="statute",
                statute=statute,
            )
        services.plan_update(
            actor=lead, plan_id=plan.pk, expected_version=None, data={"status": "active"}
        )
        need = services.item_create(
            actor=lead,
            plan_id=plan.pk,
            model=Need,
            data={
                "category": "social",
                "title": "Äidin jaksaminen arjessa",
                "description": "Lastensuojelun avohuollon asiakkuus alkoi keväällä.",
            },
        )
        goal = services.item_create(
            actor=lead,
            plan_id=plan.pk,
            model=Goal,
            data={
                "category": "social",
                "need": need.pk,
                "title": "Perhetyö tukee arjen rutiineja",
                "desired_outcome": "Aamut sujuvat ja Onni ehtii kouluun ajoissa.",
            },
        )
        services.item_create(
            actor=lead,
            plan_id=plan.pk,
            model=Action,
            data={
                "category": "social",
                "goal": goal.pk,
                "description": "Perhetyöntekijä käy kotona kahdesti viikossa.",
                "responsible_kind": "member",
                "responsible_user": lead.pk,
                "status": "in-progress",
            },
        )
        services.item_create(
            actor=pro["opettaja"],
            plan_id=plan.pk,
            model=Goal,
            data={
                "category": "education",
                "title": "Läksyt tehdään iltapäiväkerhossa",
                "desired_outcome": "Läksyt ovat tehtyinä neljänä päivänä viikossa.",
            },
        )
        services.item_create(
            actor=jenni,
            plan_id=plan.pk,
            model=Dissent,
            data={
                "target_type": "goal",
                "target_id": goal.pk,
                "text": "En ole samaa mieltä kotikäyntien tiheydestä; kerran viikossa riittää.",
            },
        )

    #
    # Output
    #

    def _print_logins(self) -> None:
        rows = [
            (p.user.username, p.get_role_display(), p.organization.name)
            for p in Professional.objects.select_related("user", "organization").order_by(
                "organization__name", "user__username"
            )
        ]
        rows += [
            (p.user.username, f"{p.get_kind_display()} ({p.family.name})", "")
            for p in Person.objects.filter(user__isnull=False)
            .select_related("user", "family")
            .order_by("family__name", "user__username")
        ]
        self.stdout.write(
            "\nDemo logins (password from DEMO_PASSWORD; "
            f"the local default is {settings.DEMO_PASSWORD!r}):"
        )
        for username, role, org in rows:
            self.stdout.write(f"  {username:22} {role}{'  — ' + org if org else ''}")


def _member(
    kind: str,
    given: str,
    family_name: str,
    born: dt.date,
    individual: int,
    wards: list | None = None,
) -> dict[str, Any]:
    return {
        "kind": kind,
        "given_name": given,
        "family_name": family_name,
        "identity_code": temporary_identity_code(born, individual),
        "guardian_of": wards or [],
    }
