"""Sign-ins, sign-outs, failed attempts, password and activation changes, tokens and Django
admin changes all land in the chained access log, visible to the auditor (issue 12, found 2);
failed sign-ins are throttled per account and per address, and attempts past the throttle are
counted, not chained one by one.
"""

from __future__ import annotations

import datetime as dt

import pytest
from axes.models import AccessAttempt
from django.contrib.admin.models import LogEntry
from django.contrib.auth import get_user_model
from django.contrib.sessions.models import Session
from django.test import Client
from django.utils import timezone

from plan_service.audit import chain
from plan_service.audit.accounts import summarise_throttled
from plan_service.audit.models import AccessEvent, ThrottledSignIn
from plan_service.participants.models import ApiToken
from tests import factories

pytestmark = pytest.mark.django_db

TOKEN = "/api/v1/auth/token/"
LOG = "/api/v1/audit/access-log/"
PASSWORD = "test-password-123"


@pytest.fixture
def org_auditor(api):
    org = factories.organization()
    worker = factories.professional(org=org)
    auditor = factories.professional("auditor", org=org)
    return {"org": org, "worker": worker, "client": api.as_user(auditor.user)}


def _rows(**filters) -> list[AccessEvent]:
    return list(AccessEvent.objects.filter(**filters).order_by("recorded_at", "chain", "seq"))


def _seen(client, **params) -> list[dict]:
    response = client.get(LOG, {"page_size": 200, **params})
    assert response.status_code == 200
    return response.json()["results"]


def test_failed_token_signin_is_denied_with_the_normalised_username_and_seen_by_auditors(
    api, org_auditor
):
    fullwidth = "".join(chr(0xFF41 + ord(ch) - ord("a")) for ch in "mallory")
    response = api.post(TOKEN, {"username": f"  {fullwidth}\u00a0", "password": "nope"})
    assert response.status_code == 400
    [row] = _rows(action="login_failed")
    assert row.outcome == "denied"
    assert row.outcome_code == 401
    assert row.actor_username == "mallory"  # NFKC, outer whitespace removed
    assert row.actor_user_id is None
    assert row.query == {"path": "token"}
    seen = _seen(org_auditor["client"], action="login_failed")
    assert [r["id"] for r in seen] == [str(row.pk)]
    assert chain.verify(AccessEvent).ok


def test_attempted_username_is_capped_after_normalisation(api):
    # 100 characters pass the endpoint's length check; NFKC makes each one 18.
    response = api.post(TOKEN, {"username": "\ufdfa" * 100, "password": "nope"})
    assert response.status_code == 400
    [row] = _rows(action="login_failed")
    assert len(row.actor_username) == 150
    assert row.actor_username.startswith("صلى الله عليه وسلم")


def test_failed_signin_on_a_professionals_account_is_seen_by_their_organisations_auditor(
    api, org_auditor
):
    worker = org_auditor["worker"].user
    api.post(TOKEN, {"username": worker.username, "password": "wrong"})
    [row] = _rows(action="login_failed")
    assert row.actor_user_id == worker.pk
    assert row.actor_organization_id == org_auditor["org"].pk
    assert [r["id"] for r in _seen(org_auditor["client"], action="login_failed")] == [str(row.pk)]
    other = factories.professional("auditor")  # another organisation's auditor
    assert _seen(api.as_user(other.user), action="login_failed") == []


def test_token_signin_issue_and_signout_are_logged(api, org_auditor):
    worker = org_auditor["worker"].user
    response = api.post(TOKEN, {"username": worker.username, "password": PASSWORD})
    assert response.status_code == 200
    token = ApiToken.objects.get(user=worker)
    [login] = _rows(action="login", actor_user_id=worker.pk)
    assert (login.object_type, login.object_id, login.outcome) == (
        "token",
        str(token.pk),
        "success",
    )
    bearer = {"HTTP_AUTHORIZATION": f"Bearer {response.json()['token']}"}
    assert api.delete(TOKEN, **bearer).status_code == 204
    [logout] = _rows(action="logout", actor_user_id=worker.pk)
    assert (logout.object_type, logout.object_id) == ("token", str(token.pk))
    seen = {r["action"] for r in _seen(org_auditor["client"], actor=worker.pk)}
    assert {"login", "logout"} <= seen


def test_session_signin_failure_and_signout_are_logged():
    worker = factories.professional().user
    client = Client()
    response = client.post("/accounts/login/", {"username": worker.username, "password": "bad"})
    assert response.status_code == 200  # the form again
    [failed] = _rows(action="login_failed")
    assert failed.query == {"path": "session"}
    assert failed.actor_username == worker.username
    response = client.post("/accounts/login/", {"username": worker.username, "password": PASSWORD})
    assert response.status_code == 302
    [login] = _rows(action="login", actor_user_id=worker.pk)
    assert (login.object_type, login.query) == ("session", {"path": "session"})
    assert client.post("/accounts/logout/").status_code in (200, 302)
    [logout] = _rows(action="logout", actor_user_id=worker.pk)
    assert logout.object_type == "session"


def _signed_in_everywhere(user) -> tuple[dict, Client]:
    header = factories.token_header(user)
    browser = Client()
    response = browser.post("/accounts/login/", {"username": user.username, "password": PASSWORD})
    assert response.status_code == 302
    assert Session.objects.count() >= 1
    return header, browser


def _still_in(api, header, browser) -> tuple[int, bool]:
    status = api.get("/api/v1/me/", **header).status_code
    response = browser.get("/api/v1/me/")
    return status, response.status_code == 200


def test_a_password_change_is_logged_and_ends_every_token_and_session(api):
    user = factories.professional().user
    header, browser = _signed_in_everywhere(user)
    assert _still_in(api, header, browser) == (200, True)
    user.set_password("another-password-456")
    user.save()
    [change] = _rows(action="password_change")
    assert (change.object_type, change.object_id, change.actor_kind) == (
        "account",
        str(user.pk),
        "system",
    )
    [revoked] = _rows(action="token_revoke")
    assert revoked.query["reason"] == "password_change"
    assert revoked.query["tokens"] == 1
    assert revoked.query["sessions"] == 1
    assert not ApiToken.objects.filter(user=user).exists()
    assert _still_in(api, header, browser) == (401, False)


def test_a_deactivation_is_logged_and_ends_every_token_and_session(api):
    user = factories.professional().user
    header, browser = _signed_in_everywhere(user)
    user.is_active = False
    user.save()
    [change] = _rows(action="activation_change")
    assert change.query == {"is_active": False}
    [revoked] = _rows(action="token_revoke")
    assert revoked.query["reason"] == "deactivation"
    assert _still_in(api, header, browser) == (401, False)
    user.is_active = True
    user.save(update_fields=["is_active"])
    assert [r.query for r in _rows(action="activation_change")][-1] == {"is_active": True}


def test_a_signin_that_saves_only_last_login_logs_no_account_change(api):
    user = factories.professional().user
    api.post(TOKEN, {"username": user.username, "password": PASSWORD})
    Client().post("/accounts/login/", {"username": user.username, "password": PASSWORD})
    assert len(_rows(action="login", actor_user_id=user.pk)) == 2
    assert _rows(action__in=["password_change", "activation_change", "token_revoke"]) == []


def test_every_django_admin_change_is_chained_and_seen_by_auditors(org_auditor):
    admin = get_user_model().objects.create_superuser("root-admin", "", PASSWORD)
    browser = Client()
    response = browser.post("/admin/login/", {"username": "root-admin", "password": PASSWORD})
    assert response.status_code == 302
    [login] = _rows(action="login", actor_user_id=admin.pk)
    assert login.query == {"path": "admin"}
    response = browser.post("/admin/auth/group/add/", {"name": "Reviewers"})
    assert response.status_code == 302
    entry = LogEntry.objects.get(user=admin)
    [row] = _rows(action="admin_change")
    assert row.actor_user_id == admin.pk
    assert (row.object_type, row.object_id) == ("admin:auth.group", entry.object_id)
    assert row.query["action"] == "add"
    target = factories.professional().user
    response = browser.post(
        f"/admin/auth/user/{target.pk}/password/",
        {"password1": "brand-new-pass-789", "password2": "brand-new-pass-789"},
    )
    assert response.status_code == 302
    [change] = _rows(action="password_change")
    assert change.actor_user_id == admin.pk  # who changed it, from the request
    assert {"admin_change", "login", "password_change", "token_revoke"} <= {
        r["action"] for r in _seen(org_auditor["client"], actor=admin.pk)
    }


#
# Throttling
#


def test_failed_signins_are_throttled_per_account_with_429_and_counted_not_chained(api):
    user = factories.professional().user
    limit = 5
    codes = [
        api.post(TOKEN, {"username": user.username, "password": f"bad{i}"}).status_code
        for i in range(limit)
    ]
    assert codes == [400] * (limit - 1) + [429]
    chained = AccessEvent.objects.count()
    # Every attempt up to the limit was checked against the password, and is chained.
    assert len(_rows(action="login_failed")) == limit
    [lockout] = _rows(action="lockout")
    assert (lockout.actor_user_id, lockout.result_count, lockout.outcome_code) == (
        user.pk,
        limit,
        429,
    )
    for _ in range(20):  # attempts past the throttle: counted, not chained
        response = api.post(TOKEN, {"username": user.username, "password": PASSWORD})
        assert response.status_code == 429
        assert int(response["Retry-After"]) > 0
    assert AccessEvent.objects.count() == chained
    [counter] = ThrottledSignIn.objects.all()
    assert counter.attempts == 20
    # Once the hour is over, the periodic anchor run chains one summary row for it.
    assert summarise_throttled(now=timezone.now() + dt.timedelta(hours=1)) == 1
    [summary] = _rows(object_type="throttled")
    assert (summary.action, summary.result_count) == ("login_failed", 20)
    assert summarise_throttled(now=timezone.now() + dt.timedelta(hours=1)) == 0


def test_failed_signins_are_throttled_per_address_across_usernames(api):
    for i in range(5):
        api.post(TOKEN, {"username": f"guess{i}", "password": "x"})
    response = api.post(TOKEN, {"username": "someone-else", "password": "x"})
    assert response.status_code == 429
    assert response.json()["errors"][0]["code"] == "throttled"


def test_the_cool_off_backs_off_with_further_failures(api):
    from django.test import RequestFactory

    from plan_service.audit.accounts import cool_off

    request = RequestFactory().post(TOKEN)
    request.axes_failures_since_start = 5
    first = cool_off(request)
    request.axes_failures_since_start = 8
    assert cool_off(request) == first * 8
    request.axes_failures_since_start = 500
    assert cool_off(request) == dt.timedelta(days=1)
    assert AccessAttempt.objects.count() == 0


def test_the_token_endpoint_declares_429_in_the_schema(api):
    response = api.get("/api/schema/", HTTP_ACCEPT="application/json")
    schema = response.json()
    assert "429" in schema["paths"]["/api/v1/auth/token/"]["post"]["responses"]
