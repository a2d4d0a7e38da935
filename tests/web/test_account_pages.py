"""One's own sessions on a page: list, end one, sign out everywhere (issues 16 and 18). The
page and `/api/v1/me/sessions/` share the service, which writes exactly one log row per end."""

from __future__ import annotations

import pytest

from plan_service.audit.models import AccessEvent
from plan_service.participants.models import Person, SignInSession
from tests import factories
from tests.web.helpers import page_client, text_of

pytestmark = pytest.mark.django_db


@pytest.fixture
def guardian():
    family = factories.family(children=1, guardians=1)
    return factories.link(Person.objects.get(family=family, kind="guardian"))


def _logouts(user) -> list[AccessEvent]:
    return list(AccessEvent.objects.filter(actor_user_id=user.pk, action="logout"))


def _token(api, user) -> str:
    answer = api.post(
        "/api/v1/auth/token/", {"username": user.username, "password": "test-password-123"}
    )
    assert answer.status_code == 200, answer.content
    return answer.json()["token"]


def test_the_list_marks_this_session_and_ending_another_signs_only_that_one_out(guardian, api):
    phone, laptop = page_client(guardian), page_client(guardian)
    _token(api, guardian)
    page = phone.get("/sessions/")
    assert page.status_code == 200
    text = text_of(page.content)
    assert text.count("Signed in with a password") == 2
    assert "A program's access key" in text
    assert text.count("(this session)") == 1
    laptop_entry = str(SignInSession.objects.get(session_key=laptop.session.session_key).pk)
    ended = phone.post("/sessions/end/", {"entry": laptop_entry})
    assert ended.status_code == 302
    assert ended["Location"] == "/sessions/"
    assert laptop.get("/notices/").status_code == 302  # to the sign-in page
    assert phone.get("/notices/").status_code == 200
    (row,) = _logouts(guardian)
    assert (row.object_type, row.object_id) == ("session", laptop_entry)


def test_sign_out_everywhere_ends_every_session_and_token(guardian, api):
    phone, laptop = page_client(guardian), page_client(guardian)
    token = _token(api, guardian)
    answer = phone.post("/sessions/end/")
    assert answer.status_code == 302
    assert answer["Location"] == "/"
    assert phone.get("/notices/").status_code == 302
    assert laptop.get("/notices/").status_code == 302
    assert api.get("/api/v1/me/", HTTP_AUTHORIZATION=f"Bearer {token}").status_code == 401
    (row,) = _logouts(guardian)
    assert row.object_id == "*"
    assert row.query == {"ended": {"tokens": 1, "sessions": 2}}


def test_someone_elses_session_is_not_found(guardian):
    other = factories.link(
        Person.objects.get(family=factories.family(children=1, guardians=1), kind="guardian")
    )
    theirs = page_client(other)
    entry = str(SignInSession.objects.get(session_key=theirs.session.session_key).pk)
    assert page_client(guardian).post("/sessions/end/", {"entry": entry}).status_code == 404
    assert theirs.get("/notices/").status_code == 200
    assert _logouts(guardian) == []


def test_the_api_end_writes_one_row_too(guardian, api):
    token = _token(api, guardian)
    bearer = {"HTTP_AUTHORIZATION": f"Bearer {token}"}
    listed = api.get("/api/v1/me/sessions/", **bearer).json()
    ref = next(r["id"] for r in listed if r["kind"] == "token")
    assert api.delete(f"/api/v1/me/sessions/{ref}/", **bearer).status_code == 204
    rows = AccessEvent.objects.filter(actor_user_id=guardian.pk, action="token_revoke")
    assert [r.object_id for r in rows] == [ref]
