"""Whether a consent covers a professional is one rule (policy._recipients_of), read in SQL for
the one-statement plan access and in Python for the notices' fan-out and the basis check; the two
readings give the same answer for every recipient and every professional."""

from __future__ import annotations

import itertools

import pytest

from plan_service import policy
from plan_service.consent.models import Consent
from plan_service.consent.services import consent_create
from plan_service.participants.models import Person, Role
from plan_service.plans import services
from tests import factories

pytestmark = pytest.mark.django_db


def test_the_sql_and_the_python_reading_of_the_recipient_rule_agree():
    family = factories.family(children=1, guardians=1)
    guardian = factories.link(Person.objects.get(family=family, kind="guardian"))
    child = Person.objects.get(family=family, kind="child")
    lead = factories.professional()
    services.family_sync(plan=factories.plan(lead, family), actor=lead.user)
    home, other = factories.organization("social"), factories.organization("health")
    recipients = [
        {"recipient_organization": home},
        {"recipient_organization": other},
        {"recipient_sector": "social"},
        {"recipient_sector": "health"},
        {"recipient_sector": "education"},
        {"recipient_organization": other, "recipient_sector": "social"},
    ]
    consents = [
        consent_create(
            actor=guardian,
            family=family,
            grantor_id=None,
            subject_ids=[child.pk],
            categories=["general"],
            purpose="rule",
            **recipient,
        )
        for recipient in recipients
    ]
    roles = [Role.CHILD_PROTECTION_SOCIAL_WORKER, Role.PUBLIC_HEALTH_NURSE, Role.SCHOOL_CURATOR]
    roles += [r for r in Role.values if r not in policy.ROLE_SECTOR][:1]  # a role of no sector
    professionals = [
        factories.professional(role, org=org)
        for role, org in itertools.product(roles, [home, other])
    ]
    answers = set()
    for consent, professional in itertools.product(consents, professionals):
        python = policy.consent_addressed_to(consent, professional)
        sql = Consent.objects.filter(policy._recipient_q(professional), pk=consent.pk).exists()
        assert python == sql, (consent.recipient_sector, professional.role)
        answers.add(python)
    assert answers == {True, False}
