"""The plan page for a professional shows the family's signatures, not a form to sign: only
the family signs (`policy.may_acknowledge`), and the team needs to know who has."""

from __future__ import annotations

import pytest

from plan_service import policy
from plan_service.participants.models import Person
from plan_service.plans import services
from plan_service.plans.visibility import reader_view
from tests import factories
from tests.web.helpers import page_client

pytestmark = pytest.mark.django_db


def test_the_team_sees_who_signed_and_no_form_to_sign():
    lead = factories.professional("child_protection_social_worker")
    family = factories.family(children=1, guardians=1)
    plan = factories.plan(lead, family)
    person = Person.objects.get(family=family, kind="guardian")
    guardian = factories.link(person)
    page = f"/plans/{plan.pk}/"

    before = page_client(lead.user).get(page).content.decode()
    assert "No one in the family has signed this plan yet." in before
    assert f'action="{page}sign/"' not in before

    access = policy.plan_access(guardian, plan)
    services.acknowledgement_create(
        actor=guardian,
        plan_id=plan.pk,
        version=reader_view(access).version,
        decision="disagree",
        comment="ei vielä",
    )
    after = page_client(lead.user).get(page).content.decode()
    assert f"{person.given_name} {person.family_name}: disagree" in after.replace("\n", " ")
    assert "ei vielä" in after
    assert f'action="{page}sign/"' not in after
    # The guardian still signs on their own page.
    assert f'action="{page}sign/"' in page_client(guardian).get(page).content.decode()
