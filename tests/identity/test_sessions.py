"""A person's own sessions and tokens: listed, ended one by one or all at once; browser
sessions end when idle too long or too old."""

from __future__ import annotations

import datetime as dt

import pytest
import time_machine
from django.test import Client
from django.utils import timezone

from plan_service.participants import sessions
from plan_service.participants.models import ApiToken, SignInSession
from tests import factories

pytestmark = pytest.mark.django_db


def _browser(user) -> Client:
    client = Client()
    response = client.post(
        "/accounts/login/", {"username": user.username, "password": "test-password-123"}
    )
    assert response.status_code == 302
    return client


def test_sign_ins_are_listed_with_the_current_one_marked(api):
    user = factories.professional().user
    browser = _browser(user)
    client = api.as_user(user)
    rows = client.get("/api/v1/me/sessions/").json()
    assert sorted(r["kind"] for r in rows) == ["session", "token"]
    assert [r["kind"] for r in rows if r["current"]] == ["token"]
    seen_by_browser = browser.get("/api/v1/me/sessions/").json()
    assert [r["kind"] for r in seen_by_browser if r["current"]] == ["session"]
    for row in rows:
        assert row["id"] not in {t.key_hash for t in ApiToken.objects.all()}


def test_ending_one_session_signs_that_browser_out_only(api):
    user = factories.professional().user
    first, second = _browser(user), _browser(user)
    client = api.as_user(user)
    sessions = [r for r in client.get("/api/v1/me/sessions/").json() if r["kind"] == "session"]
    assert len(sessions) == 2
    target = SignInSession.objects.get(session_key=first.session.session_key)
    assert client.delete(f"/api/v1/me/sessions/{target.pk}/").status_code == 204
    assert first.get("/api/v1/me/").status_code == 401  # signed out
    assert second.get("/api/v1/me/").status_code == 200


def test_nobody_ends_another_persons_session(api):
    owner, other = factories.professional().user, factories.professional().user
    _browser(owner)
    target = SignInSession.objects.get(user=owner)
    assert api.as_user(other).delete(f"/api/v1/me/sessions/{target.pk}/").status_code == 404
    assert SignInSession.objects.filter(pk=target.pk).exists()


def test_signing_out_everywhere_ends_every_session_and_token(api):
    user = factories.professional().user
    browser = _browser(user)
    client = api.as_user(user)
    other_token = api.as_user(user)
    ended = client.post("/api/v1/me/sessions/end-all/").json()
    assert ended == {"tokens": 2, "sessions": 1}
    assert browser.get("/api/v1/me/").status_code == 401
    assert other_token.get("/api/v1/me/").status_code == 401
    assert client.get("/api/v1/me/").status_code == 401


def test_an_idle_session_ends(settings):
    settings.SESSION_IDLE_MINUTES = 30
    user = factories.professional().user
    with time_machine.travel(timezone.now(), tick=False) as clock:
        browser = _browser(user)
        clock.shift(dt.timedelta(minutes=29))
        assert browser.get("/api/v1/me/").status_code == 200  # use resets the idle clock
        clock.shift(dt.timedelta(minutes=29))
        assert browser.get("/api/v1/me/").status_code == 200
        clock.shift(dt.timedelta(minutes=31))
        assert browser.get("/api/v1/me/").status_code == 401
        assert sessions.sessions_of(user) == []  # no longer listed as live


def test_a_session_ends_at_its_maximum_age_however_busy(settings):
    settings.SESSION_IDLE_MINUTES = 30
    settings.SESSION_MAX_HOURS = 8
    user = factories.professional().user
    with time_machine.travel(timezone.now(), tick=False) as clock:
        browser = _browser(user)
        for _ in range(16):
            clock.shift(dt.timedelta(minutes=29))
            assert browser.get("/api/v1/me/").status_code == 200
        clock.shift(dt.timedelta(minutes=29))  # 8 h 41 min after signing in
        assert browser.get("/api/v1/me/").status_code == 401
