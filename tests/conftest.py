"""Shared fixtures: an API client that signs in with real bearer tokens."""

from __future__ import annotations

import json
from typing import Any

import pytest
from django.test import Client

from tests import factories
from tests.harness import db_guard, hypothesis_profiles  # noqa: F401 (registers profiles)
from tests.harness.db_roles import django_db_setup, owner_session  # noqa: F401 (the service role)


def pytest_configure(config: pytest.Config) -> None:
    """Before anything touches a database: only test databases the harness created."""
    db_guard.install()


class Api:
    """Django's test client speaking JSON with a bearer token (real auth path, real HTTP stack)."""

    def __init__(self, user: Any | None = None, *, acting_for: Any = None) -> None:
        self.client = Client()
        self.headers = factories.token_header(user) if user is not None else {}
        if acting_for is not None:
            # Acting for a child is a choice of the page session (/auth/act-for/): the API
            # honours it for requests made with that session, so the client signs in as the
            # pages do and keeps the choice there, instead of sending a bearer token.
            from plan_service.participants.acting import SESSION_KEY

            self.headers = {}
            self.client.force_login(user)
            session = self.client.session
            session[SESSION_KEY] = str(acting_for)
            session.save()

    def as_user(self, user: Any | None, *, acting_for: Any = None) -> Api:
        return Api(user, acting_for=acting_for)

    def as_machine_client(self, client_id: str, secret: str) -> Api:
        """Signed in as a machine client: a token from the real OAuth token endpoint."""
        api = Api()
        api.headers = factories.client_token_header(client_id, secret)
        return api

    def request(self, method: str, url: str, data: Any = None, **headers: Any) -> Any:
        extra = {**self.headers, **headers}
        body = json.dumps(data) if data is not None else None
        fn = getattr(self.client, method.lower())
        if method.upper() in ("GET", "HEAD"):
            return fn(url, data=data or {}, **extra)
        return fn(url, data=body, content_type="application/json", **extra)

    def get(self, url: str, params: Any = None, **h: Any) -> Any:
        return self.request("GET", url, params, **h)

    def post(self, url: str, data: Any = None, **h: Any) -> Any:
        return self.request("POST", url, data if data is not None else {}, **h)

    def put(self, url: str, data: Any = None, **h: Any) -> Any:
        return self.request("PUT", url, data if data is not None else {}, **h)

    def patch(self, url: str, data: Any = None, **h: Any) -> Any:
        return self.request("PATCH", url, data if data is not None else {}, **h)

    def delete(self, url: str, **h: Any) -> Any:
        return self.request("DELETE", url, None, **h)


def world_client(world: Any, role: str) -> Api:
    """The API client of a matrix role in the harness's world (tests/harness/world.py): the
    machine client with its token, no one, or the role's user (acting for a child if it does)."""
    if role == "client":
        return Api().as_machine_client(*world.machine_client)
    if role == "anon":
        return Api()
    return Api(world.user(role), acting_for=world.acting_for(role))


@pytest.fixture
def api() -> Api:
    """An anonymous API client; `api.as_user(u)` signs in as `u`."""
    return Api()


#: Tables that outlive a test: the logs (append-only, their triggers refuse emptying) and the
#: tables migrations fill once.
_KEEP = {
    "audit_accessevent",
    "audit_disclosure",
    "django_migrations",
    "django_content_type",
    "auth_permission",
}


@pytest.fixture
def live_db(django_db_setup: None, django_db_blocker: Any) -> Any:  # noqa: F811
    """Committed data, for tests with several threads or processes (each with its own
    connection). Afterwards every table but the logs is emptied; log rows stay, and their
    chains stay valid, so no other test may assume an empty log."""
    from django.db import connection

    with django_db_blocker.unblock():
        yield
        tables = [
            t
            for t in connection.introspection.django_table_names(only_existing=True)
            if t not in _KEEP and not t.startswith("audit_")
        ]
        with owner_session(), connection.cursor() as cursor:
            cursor.execute("TRUNCATE {} CASCADE".format(", ".join(f'"{t}"' for t in tables)))


@pytest.fixture(autouse=True)
def _language_of_the_settings() -> Any:
    """Every test starts and ends in LANGUAGE_CODE: a request's LocaleMiddleware activates the
    reader's language for the thread and nothing deactivates it, so a Swedish page read by one
    test would otherwise translate a later test's command output."""
    from django.utils import translation

    translation.deactivate()
    yield
    translation.deactivate()
