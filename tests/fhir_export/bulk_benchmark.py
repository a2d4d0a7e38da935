"""Seed many plans quickly, for measuring `fhir_bulk_export` (not collected by pytest).

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/plan_fhir_bench \\
    DJANGO_SETTINGS_MODULE=plan_service.settings.test \\
        python -m tests.fhir_export.bulk_benchmark --plans 10000

Rows are bulk-inserted (no access-log rows): this measures the export, and seeding 10,000 plans
through the services would take most of an hour. Each plan has two children and a guardian, a
lead (one professional leads them all, so one recipient receives them all), a statutory member,
a need, two goals, two actions and a comment, and the history the services would have written
for them: the plan at versions 1 to 7 and each item's creation at the version it made, a minute
apart (the export reads them for the versions, times and authors the recipient may see). Then it
prints the command line to time.
"""

from __future__ import annotations

import argparse
import datetime as dt
import itertools
import uuid

import django


def seed(plans: int) -> str:
    """Insert `plans` plans led by one new professional; return the lead's username."""
    from django.contrib.auth import get_user_model
    from django.contrib.auth.models import Permission
    from django.utils import timezone

    from plan_service.participants.identity_codes import temporary_identity_code
    from plan_service.participants.models import (
        Family,
        Guardianship,
        Organization,
        Person,
        Professional,
    )
    from plan_service.plans.models import (
        Action,
        ChangeCode,
        Comment,
        Goal,
        Membership,
        Need,
        Plan,
        PlanUserObjectPermission,
    )

    tag = uuid.uuid4().hex[:8]
    org = Organization.objects.create(
        name=f"Bench {tag}", oid=f"1.2.246.10.{int(tag, 16) % 10**7}.10.0", sector="health"
    )
    users = get_user_model()
    lead_user = users.objects.create_user(f"bench-lead-{tag}", first_name="Bench", last_name="Lead")
    member_user = users.objects.create_user(f"bench-member-{tag}", first_name="M", last_name="X")
    lead = Professional.objects.create(user=lead_user, organization=org, role="public_health_nurse")
    member = Professional.objects.create(user=member_user, organization=org, role="teacher")
    perms = list(
        Permission.objects.filter(content_type__app_label="plans", codename__endswith="_plan")
    )
    lead_perms = [
        p
        for p in perms
        if p.codename.split("_")[0] in {"view", "change", "contribute", "manage", "export"}
    ]
    member_perms = [
        p for p in lead_perms if p.codename.split("_")[0] in {"view", "change", "contribute"}
    ]
    used = set(Person.objects.values_list("identity_code", flat=True))
    codes = (
        code
        for day in itertools.count()
        for n in range(900, 1000)
        if (code := temporary_identity_code(dt.date(1950, 1, 1) + dt.timedelta(days=day), n))
        not in used
    )
    now = timezone.now()
    for start in range(0, plans, 500):
        size = min(500, plans - start)
        families = Family.objects.bulk_create(
            [Family(name=f"Perhe {tag}-{start + i}") for i in range(size)]
        )
        people, guardianships, plan_rows, members, grants = [], [], [], [], []
        needs, goals, actions, comments = [], [], [], []
        for family in families:
            kids = [
                Person(
                    family=family,
                    kind="child",
                    given_name=f"Lapsi{k}",
                    family_name=family.name,
                    identity_code=next(codes),
                )
                for k in range(2)
            ]
            guardian = Person(
                family=family,
                kind="guardian",
                given_name="Huoltaja",
                family_name=family.name,
                identity_code=next(codes),
            )
            people += [*kids, guardian]
            guardianships += [Guardianship(child=k, guardian=guardian) for k in kids]
            plan = Plan(family=family, status="active", summary="Perheen tilanne.", version=7)
            plan_rows.append(plan)
            members.append(
                Membership(
                    plan=plan,
                    user=lead_user,
                    role="lead",
                    professional=lead,
                    basis="statute",
                    statute="THL 1326/2010 §15",
                )
            )
            members.append(
                Membership(
                    plan=plan,
                    user=member_user,
                    role="member",
                    professional=member,
                    basis="statute",
                    statute="POL 628/1998 §40",
                )
            )
            grants += [
                PlanUserObjectPermission(user=lead_user, permission=p, content_object=plan)
                for p in lead_perms
            ]
            grants += [
                PlanUserObjectPermission(user=member_user, permission=p, content_object=plan)
                for p in member_perms
            ]
            need = Need(
                plan=plan, category="health", title="Uni", concerns=[kids[0].id], plan_version=2
            )
            needs.append(need)
            goal_a = Goal(
                plan=plan,
                category="health",
                title="Hyvä uni",
                desired_outcome="Nukkuu yönsä",
                need=need,
                target_date=now.date(),
                plan_version=3,
            )
            goal_b = Goal(
                plan=plan,
                category="education",
                title="Koulu",
                desired_outcome="Läsnä",
                achievement="improving",
                plan_version=4,
            )
            goals += [goal_a, goal_b]
            actions.append(
                Action(
                    plan=plan,
                    category="health",
                    goal=goal_a,
                    description="Unikoulu",
                    responsible_kind="member",
                    responsible_user=lead_user,
                    status="in-progress",
                    plan_version=5,
                )
            )
            actions.append(
                Action(
                    plan=plan,
                    category="general",
                    goal=goal_b,
                    description="Tapaaminen",
                    responsible_kind="guardian",
                    responsible_person=guardian,
                    concerns=[kids[1].id],
                    plan_version=6,
                )
            )
            comments.append(
                Comment(
                    plan=plan,
                    category="health",
                    kind="guardian_view",
                    target_type="goal",
                    target_id=goal_a.id,
                    text="Hyvä suunnitelma.",
                    plan_version=7,
                )
            )
        Person.objects.bulk_create(people)
        Guardianship.objects.bulk_create(guardianships)
        Plan.objects.bulk_create(plan_rows)
        Membership.objects.bulk_create(members)
        PlanUserObjectPermission.objects.bulk_create(grants)
        Need.objects.bulk_create(needs)
        Goal.objects.bulk_create(goals)
        Action.objects.bulk_create(actions)
        Comment.objects.bulk_create(comments)
        _history(plan_rows, [*needs, *goals, *actions, *comments], lead_user, now, ChangeCode)
        print(f"seeded {start + size} plans", flush=True)
    return lead_user.username


def _history(plans: list, items: list, user: object, now: object, codes: type) -> None:
    """The rows the services write with each version: the plan at versions 1 to 7, each item
    created at its `plan_version`; version v is dated 7 - v minutes before `now`."""
    import datetime as dt

    def at(version: int) -> object:
        return now - dt.timedelta(minutes=7 - version)  # type: ignore[operator]

    model = type(plans[0])
    for version in range(1, 8):
        for plan in plans:
            plan.version = version
        model.history.bulk_history_create(
            plans,
            update=version > 1,
            default_user=user,
            default_date=at(version),
            default_change_reason=codes.PLAN_CREATED if version == 1 else codes.ITEM_ADDED,
        )
    by_kind: dict[tuple[type, int], list] = {}
    for item in items:
        by_kind.setdefault((type(item), item.plan_version), []).append(item)
    for (kind, version), rows in by_kind.items():
        kind.history.bulk_history_create(rows, default_user=user, default_date=at(version))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--plans", type=int, default=10000)
    args = parser.parse_args()
    django.setup()
    username = seed(args.plans)
    from django.db import connection

    # Fresh planner statistics, as autovacuum would gather them after a bulk load: with the
    # seeded rows unknown to the planner, the export's keyset query took 2.3 s a chunk instead
    # of 35 ms (a nested loop over every permission row of the lead, per plan).
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE")
    from plan_service.participants.models import Recipient

    Recipient.objects.get_or_create(
        code="bench-kanta",
        defaults={
            "name": "Kanta (benchmark)",
            "kind": "repository",
            "sector": "health",
            "profile": "kanta_patient_records",
        },
    )
    print(
        "now run: /usr/bin/time -v python manage.py fhir_bulk_export "
        f"--actor {username} --recipient bench-kanta --output var/bulk-{args.plans}"
    )


if __name__ == "__main__":
    main()
