"""Professionals sign in with a password and a TOTP code; no password-only professional access
while PROFESSIONAL_SECOND_FACTOR is on (everywhere but the demo)."""

from __future__ import annotations

import pytest
from django.test import Client
from django_otp.oath import TOTP

from plan_service.audit.models import AccessEvent
from plan_service.participants import second_factor
from tests import factories

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _second_factor_on(settings):
    settings.PROFESSIONAL_SECOND_FACTOR = True


def _code(device) -> str:
    totp = TOTP(device.bin_key, device.step, device.t0, device.digits, device.drift)
    return f"{totp.token():0{device.digits}d}"


def _token(api, user, **extra):
    return api.post(
        "/api/v1/auth/token/",
        {"username": user.username, "password": "test-password-123", **extra},
    )


def test_a_professional_without_a_code_gets_no_token(api):
    lead = factories.professional()
    second_factor.enrol(lead.user)
    before = AccessEvent.objects.filter(action="login_failed").count()
    response = _token(api, lead.user)
    assert response.status_code == 400
    assert response.json()["errors"][0]["field"] == "otp"
    assert "token" not in response.json()
    assert AccessEvent.objects.filter(action="login_failed").count() == before + 1


def test_a_professional_with_a_wrong_code_gets_no_token(api):
    lead = factories.professional()
    device = second_factor.enrol(lead.user)
    wrong = f"{(int(_code(device)) + 1) % 10**6:06d}"
    assert _token(api, lead.user, otp=wrong).status_code == 400


def test_a_professional_with_a_valid_code_gets_a_token_and_the_code_works_once(api):
    lead = factories.professional()
    device = second_factor.enrol(lead.user)
    code = _code(device)
    response = _token(api, lead.user, otp=code)
    assert response.status_code == 200
    assert response.json()["token"]
    assert _token(api, lead.user, otp=code).status_code == 400  # replayed code


def test_a_professional_without_a_device_cannot_sign_in_with_a_password_alone(api):
    lead = factories.professional()
    assert _token(api, lead.user).status_code == 400


def test_family_members_and_the_demo_need_no_code(api, settings):
    fam = factories.family()
    guardian = factories.link(fam.members.get(kind="guardian"))
    assert _token(api, guardian).status_code == 200
    settings.PROFESSIONAL_SECOND_FACTOR = False
    assert _token(api, factories.professional().user).status_code == 200


def test_the_session_sign_in_page_asks_professionals_for_a_code():
    lead = factories.professional()
    device = second_factor.enrol(lead.user)
    client = Client()
    form = {"username": lead.user.username, "password": "test-password-123", "next": "/api/v1/me/"}
    refused = client.post("/accounts/login/", form)
    assert refused.status_code == 200
    assert b"one-time code" in refused.content
    assert "_auth_user_id" not in client.session
    signed_in = client.post("/accounts/login/", {**form, "otp_token": _code(device)})
    assert signed_in.status_code == 302
    me = client.get("/api/v1/me/")
    assert me.json()["kind"] == "professional"


def test_no_door_gives_a_professional_a_session_without_the_second_factor():
    """The admin's own sign-in form takes a password alone; the session it makes is ended on
    its next request (participants.sessions), for the API and the pages alike."""
    lead = factories.professional()
    lead.user.is_staff = True
    lead.user.save(update_fields=["is_staff"])
    second_factor.enrol(lead.user)
    client = Client()
    form = {"username": lead.user.username, "password": "test-password-123"}
    client.post("/admin/login/?next=/admin/", form)
    assert client.get("/api/v1/me/").status_code in (401, 403)
    assert "_auth_user_id" not in client.session
    assert client.get("/").status_code == 200  # the sign-in page, not a landing page
