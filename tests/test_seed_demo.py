"""The demo region builds through the services, idempotently, and means what the README says."""

from __future__ import annotations

import io

import pytest
from django.core.management import call_command

from plan_service.participants.models import Professional
from plan_service.plans.models import Need, Plan
from tests.conftest import Api

pytestmark = pytest.mark.django_db


def test_seed_demo_is_idempotent_and_prints_logins():
    out = io.StringIO()
    call_command("seed_demo", stdout=out)
    first = out.getvalue()
    call_command("seed_demo", stdout=(again := io.StringIO()))
    assert "already present" in again.getvalue()
    assert Plan.objects.count() == 3
    assert Plan.objects.filter(status="active").count() == 3
    for username in (
        "sosiaalityontekija",
        "kuraattori",
        "tietosuoja",
        "paakayttaja",
        "mikko.virtanen",
        "lauri.nieminen",
    ):
        assert username in first
    sectors = {p.sector for p in Professional.objects.all()} - {None}
    assert sectors == {"social", "health", "education"}
    assert Professional.objects.values("role").distinct().count() >= 6


def test_demo_guardian_does_not_see_what_lauri_hid_but_lauri_does():
    call_command("seed_demo", stdout=io.StringIO())
    hidden = Need.objects.get(restricted_by__isnull=False)
    from django.contrib.auth import get_user_model

    users = get_user_model().objects
    paivi, lauri = users.get(username="paivi.nieminen"), users.get(username="lauri.nieminen")
    url = f"/api/v1/plans/{hidden.plan_id}/needs/"
    assert str(hidden.pk) not in Api(paivi).get(url).content.decode()
    assert str(hidden.pk) in Api(lauri).get(url).content.decode()
    curator = users.get(username="kuraattori")
    makinen = Plan.objects.get(family__name="Mäkinen")
    seen = Api(curator).get(f"/api/v1/plans/{makinen.pk}/needs/").json()
    assert seen["count"] == 0  # child protection only


def test_linking_an_account_is_logged_against_the_person():
    from plan_service.audit.models import AccessEvent
    from plan_service.participants.models import Person
    from tests import factories

    lead = factories.professional()
    plan = factories.plan(lead)
    guardian = Person.objects.get(family=plan.family, kind="guardian")
    user = factories.link(guardian)
    row = AccessEvent.objects.get(object_type="person", object_id=str(guardian.pk))
    assert (row.action, row.subject_id, row.actor_user_id) == ("update", guardian.pk, user.pk)
    assert plan.memberships.filter(user=user, role="family").exists()
