"""Builders for test data. They write through the services where the services own the rule
(plans, memberships, items, consents), so tests exercise the same paths as the API."""

from __future__ import annotations

import datetime as dt
import itertools
from typing import Any

from django.contrib.auth import get_user_model
from django.utils import timezone

from plan_service.participants.authentication import token_issue
from plan_service.participants.identity_codes import temporary_identity_code
from plan_service.participants.models import Family, Organization, Person, Professional
from plan_service.participants.services import person_link_account
from plan_service.plans import services
from plan_service.plans.models import Plan

_counter = itertools.count(1)
_codes = itertools.count(0)


def unique(prefix: str) -> str:
    return f"{prefix}{next(_counter)}"


def identity_code(age_years: int = 8) -> str:
    """A fresh, checksum-valid identity code in the temporary range."""
    n = next(_codes)
    today = timezone.localdate()
    born = dt.date(today.year - age_years, 1 + n % 12, 1 + (n // 12) % 28)
    return temporary_identity_code(born, 900 + (n // 336) % 100) if n < 33600 else _overflow(n)


def _overflow(n: int) -> str:
    born = dt.date(1950 + n % 60, 1 + n % 12, 1 + n % 28)
    return temporary_identity_code(born, 900 + n % 100)


def user(username: str | None = None, **extra: Any) -> Any:
    name = username or unique("user")
    return get_user_model().objects.create_user(
        username=name, password="test-password-123", first_name=name.title(), **extra
    )


def organization(sector: str = "social", **extra: Any) -> Organization:
    n = next(_counter)
    return Organization.objects.create(
        name=extra.pop("name", f"Organisation {n}"),
        oid=extra.pop("oid", f"1.2.246.10.{1000000 + n}.10.0"),
        sector=sector,
        **extra,
    )


def professional(
    role: str = "child_protection_social_worker", org: Organization | None = None, **extra: Any
) -> Professional:
    u = user(extra.pop("username", None))
    return Professional.objects.create(
        user=u, organization=org or organization(), role=role, **extra
    )


def family(children: int = 1, guardians: int = 1, child_age: int = 8, name: str = "") -> Family:
    """A family with children and guardians (each guardian of every child)."""
    fam = Family.objects.create(name=name or unique("Family "))
    kids = [
        Person.objects.create(
            family=fam,
            kind="child",
            given_name=f"Child{i}",
            family_name=fam.name,
            identity_code=identity_code(child_age),
        )
        for i in range(children)
    ]
    for i in range(guardians):
        g = Person.objects.create(
            family=fam,
            kind="guardian",
            given_name=f"Guardian{i}",
            family_name=fam.name,
            identity_code=identity_code(35),
        )
        for kid in kids:
            kid.guardianships.create(guardian=g)
    return fam


def link(person: Person) -> Any:
    """Give a family member an account (as an identity provider would) and return the user."""
    u = user(unique(f"{person.kind}"))
    person_link_account(person=person, user=u)
    return u


def plan(lead: Professional, fam: Family | None = None, status: str = "active") -> Plan:
    """An open plan led by `lead`, moved to `status` through the state machine."""
    fam = fam or family()
    if fam.created_by_id is None:  # the registering professional may open its plan
        fam.created_by = lead.user
        fam.save(update_fields=["created_by"])
    p = services.plan_create(actor=lead.user, family=fam, statute="LSL 417/2007 §30")
    path = {
        "draft": [],
        "active": ["active"],
        "on_hold": ["active", "on_hold"],
        "completed": ["active", "completed"],
    }[status]
    for step in path:
        p = services.plan_update(
            actor=lead.user, plan_id=p.pk, expected_version=None, data={"status": step}
        )
    return p


def add_member(p: Plan, lead: Professional, who: Professional, **extra: Any) -> Any:
    return services.membership_add(
        actor=lead.user,
        plan_id=p.pk,
        professional=who,
        role=extra.pop("role", "member"),
        basis=extra.pop("basis", "statute"),
        statute=extra.pop("statute", "OHL 1287/2013 §14"),
        **extra,
    )


def token_header(u: Any) -> dict[str, str]:
    key, _ = token_issue(user=u)
    return {"HTTP_AUTHORIZATION": f"Bearer {key}"}


def client_token_header(client_id: str, secret: str) -> dict[str, str]:
    """A machine client's bearer token from the OAuth token endpoint (client credentials).

    The view is called directly, not through Django's test client: the test client reconnects
    `close_old_connections` to the request signals, which tests that keep one connection
    across in-process requests (the schema conformance run) have disconnected.
    """
    import base64
    import json

    from django.test import RequestFactory

    from plan_service.clients import oauth

    basic = base64.b64encode(f"{client_id}:{secret}".encode()).decode()
    request = RequestFactory().post(
        "/api/v1/oauth/token/",
        {"grant_type": "client_credentials"},
        HTTP_AUTHORIZATION=f"Basic {basic}",
    )
    response = oauth.token(request)
    assert response.status_code == 200, response.content
    return {"HTTP_AUTHORIZATION": f"Bearer {json.loads(response.content)['access_token']}"}


def recipient(
    kind: str = "organization",
    sector: str = "health",
    org: Organization | None = None,
    **extra: Any,
) -> Any:
    """A recipient of exports in the registry (an organisation's needs `org`)."""
    from plan_service.participants.models import Recipient

    return Recipient.objects.create(
        code=extra.pop("code", unique("rcpt").lower().replace("_", "-")),
        name=unique("Recipient"),
        kind=kind,
        sector=sector,
        organization=org,
        profile=extra.pop("profile", "kanta_patient_records" if kind == "repository" else ""),
        **extra,
    )
