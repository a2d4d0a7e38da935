"""The Django admin is the registry's, the administrator's alone, and leaves its traces
(issue 17): who may enter, what it shows, that each change has its history and log rows, that
a family member's record shown is a logged read about them, and that nothing is deleted."""

from __future__ import annotations

import pytest
from django.contrib import admin
from django.contrib.auth import get_user_model
from django.test import Client

from plan_service.audit.models import AccessEvent
from plan_service.participants.models import Organization, Person, Professional
from tests import factories

pytestmark = pytest.mark.django_db

#: The registry, and accounts with their second factor and sign-in lockouts.
REGISTRY_APPS = {"participants", "auth", "otp_totp", "axes"}


def _staff(user):
    user.is_staff = True
    user.save(update_fields=["is_staff"])
    return user


def _browser(user):
    client = Client()
    client.force_login(user)
    return client


@pytest.fixture
def administrator():
    return _staff(factories.professional("administrator").user)


def test_the_admin_holds_the_registry_and_nothing_else():
    registered = {model._meta.app_label for model in admin.site._registry}
    assert registered == REGISTRY_APPS
    names = {model._meta.model_name for model in admin.site._registry}
    assert {"organization", "professional", "family", "person", "recipient"} <= names
    assert not names & {"plan", "membership", "consent", "accessevent", "maturityassessment"}


@pytest.mark.parametrize(
    ("who", "status"),
    [
        ("administrator", 200),
        ("superuser", 200),
        ("lead", 302),  # a professional of a team, even with the staff flag
        ("auditor", 302),
        ("guardian", 302),
        ("anonymous", 302),
    ],
)
def test_only_an_administrator_enters(who, status, administrator):
    if who == "administrator":
        client = _browser(administrator)
    elif who == "superuser":
        root = get_user_model().objects.create_superuser(factories.unique("root"), "", "x-pw-123")
        client = _browser(root)
    elif who == "anonymous":
        client = Client()
    elif who == "guardian":
        family = factories.family()
        guardian = Person.objects.get(family=family, kind="guardian")
        client = _browser(_staff(factories.link(guardian)))
    else:
        role = "auditor" if who == "auditor" else "child_protection_social_worker"
        client = _browser(_staff(factories.professional(role).user))
    for path in ("/admin/", "/admin/participants/person/", "/admin/participants/organization/"):
        response = client.get(path)
        assert response.status_code == status, (who, path)
        if status == 302:
            assert response["Location"].startswith("/admin/login/")


def test_a_change_keeps_its_history_and_its_log_row(administrator):
    organization = factories.organization()
    client = _browser(administrator)
    form = client.get(f"/admin/participants/organization/{organization.pk}/change/")
    assert form.status_code == 200
    data = {
        "name": "Renamed unit",
        "oid": organization.oid,
        "sector": organization.sector,
        "public": "on",
        "custodian_register_id": "",
    }
    response = client.post(f"/admin/participants/organization/{organization.pk}/change/", data)
    assert response.status_code == 302, response.content
    organization.refresh_from_db()
    assert organization.name == "Renamed unit"
    latest = organization.history.first()
    assert (latest.name, latest.history_user_id) == ("Renamed unit", administrator.pk)
    [row] = AccessEvent.objects.filter(action="admin_change", actor_user_id=administrator.pk)
    assert (row.object_type, row.object_id) == (
        "admin:participants.organization",
        str(organization.pk),
    )
    assert row.query["changes"] == [{"changed": {"fields": ["Name"]}}]
    history = client.get(f"/admin/participants/organization/{organization.pk}/history/")
    assert history.status_code == 200
    assert "Renamed unit" in history.content.decode()


def test_a_family_members_record_shown_is_a_logged_read_about_them(administrator):
    family = factories.family(children=1, guardians=1)
    child = Person.objects.get(family=family, kind="child")
    client = _browser(administrator)
    response = client.get(f"/admin/participants/person/{child.pk}/change/")
    assert response.status_code == 200
    [read] = AccessEvent.objects.filter(action="read", actor_user_id=administrator.pk)
    assert (read.subject_id, read.family_id, read.object_type) == (child.pk, family.pk, "person")
    assert read.purpose == "administration"
    listing = client.get("/admin/participants/person/")
    assert listing.status_code == 200
    shown = AccessEvent.objects.filter(action="search", actor_user_id=administrator.pk)
    assert set(shown.values_list("subject_id", flat=True)) == set(
        Person.objects.values_list("pk", flat=True)
    )
    family_page = client.get(f"/admin/participants/family/{family.pk}/change/")
    assert family_page.status_code == 200
    about_family = AccessEvent.objects.filter(
        action="read", actor_user_id=administrator.pk, object_type="family"
    )
    assert set(about_family.values_list("subject_id", flat=True)) == set(
        family.members.values_list("pk", flat=True)
    )


def test_identity_codes_are_neither_listed_nor_searchable(administrator):
    family = factories.family(children=1, guardians=1)
    child = Person.objects.get(family=family, kind="child")
    client = _browser(administrator)
    listing = client.get("/admin/participants/person/").content.decode()
    assert child.family_name in listing
    assert child.identity_code not in listing
    found = client.get("/admin/participants/person/", {"q": child.identity_code})
    assert child.family_name not in found.content.decode().split("<tbody>", 1)[-1]


def test_nothing_is_deleted_through_the_admin(administrator):
    lead = factories.professional()
    client = _browser(administrator)
    response = client.get(f"/admin/participants/professional/{lead.pk}/delete/")
    assert response.status_code == 403
    response = client.post(f"/admin/participants/professional/{lead.pk}/delete/", {"post": "yes"})
    assert response.status_code == 403
    assert Professional.objects.filter(pk=lead.pk).exists()
    assert Organization.objects.filter(pk=lead.organization_id).exists()
