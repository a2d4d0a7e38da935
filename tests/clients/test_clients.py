"""Machine clients (portals): OAuth 2.0 client credentials, scoped to one recipient, revocable,
logged as the client (docs/clients.md)."""

from __future__ import annotations

import base64
import datetime as dt
import json
from typing import Any

import pytest
import time_machine
from django.core.management import call_command
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from plan_service.audit.models import AccessEvent, Disclosure
from plan_service.clients import services
from plan_service.clients.models import ClientToken, MachineClient
from plan_service.consent.services import consent_create
from plan_service.participants.models import Person
from plan_service.plans import services as plan_services
from plan_service.plans.models import Need
from tests import factories

pytestmark = pytest.mark.django_db

TOKEN_URL = "/api/v1/oauth/token/"
REVOKE_URL = "/api/v1/oauth/revoke/"
NOT_FOUND = {"errors": [{"field": None, "code": "not_found", "message": "Not found."}]}


def basic(client_id: str, secret: str) -> dict[str, str]:
    raw = base64.b64encode(f"{client_id}:{secret}".encode()).decode()
    return {"HTTP_AUTHORIZATION": f"Basic {raw}"}


def bearer(token: str) -> dict[str, str]:
    return {"HTTP_AUTHORIZATION": f"Bearer {token}"}


class Portal:
    """A school with a portal client, a family whose plan its curator is on, and others."""

    def __init__(self) -> None:
        self.school = factories.organization("education")
        self.recipient = factories.recipient(sector="education", org=self.school)
        issued = services.client_create(
            client_id=factories.unique("portal").lower().replace("_", "-"),
            name="School portal",
            recipient=self.recipient,
        )
        self.client_row, self.secret = issued.client, issued.secret
        self.client_id = self.client_row.client_id
        social = factories.organization("social")
        self.lead = factories.professional("child_protection_social_worker", social)
        self.curator = factories.professional("school_curator", self.school)
        self.family = factories.family(children=1, guardians=1, child_age=13)
        self.plan = factories.plan(self.lead, self.family)
        factories.add_member(self.plan, self.lead, self.curator)
        for category in ("general", "social", "education"):
            plan_services.item_create(
                actor=self.lead.user if category != "education" else self.curator.user,
                plan_id=self.plan.pk,
                model=Need,
                data={"category": category, "title": f"need {category}"},
            )
        # Another family's plan with nobody of the school on it.
        self.other = factories.plan(self.lead, factories.family())

    def token(self, http: Client | None = None) -> str:
        response = (http or Client()).post(
            TOKEN_URL, {"grant_type": "client_credentials"}, **basic(self.client_id, self.secret)
        )
        assert response.status_code == 200, response.content
        return response.json()["access_token"]


@pytest.fixture
def portal() -> Portal:
    return Portal()


def _rows(**filters: Any) -> list[AccessEvent]:
    return list(AccessEvent.objects.filter(**filters).order_by("recorded_at", "chain", "seq"))


#
# The token endpoint
#


def test_it_issues_a_short_lived_token_for_the_right_secret(portal):
    response = Client().post(
        TOKEN_URL, {"grant_type": "client_credentials"}, **basic(portal.client_id, portal.secret)
    )
    assert response.status_code == 200
    assert "no-store" in response["Cache-Control"]
    body = response.json()
    assert body["token_type"].lower() == "bearer"
    assert body["expires_in"] == 300
    assert body["scope"] == "plans.read"
    assert body["access_token"].startswith("mc.")
    assert "refresh_token" not in body
    # Stored as a digest only.
    stored = ClientToken.objects.get(client=portal.client_row)
    assert body["access_token"] not in {stored.token_hash, stored.scope}


def test_it_accepts_the_secret_in_the_form_too(portal):
    response = Client().post(
        TOKEN_URL,
        {
            "grant_type": "client_credentials",
            "client_id": portal.client_id,
            "client_secret": portal.secret,
        },
    )
    assert response.status_code == 200


def test_the_issue_is_logged_with_the_client_as_actor(portal):
    portal.token()
    (row,) = _rows(action="login", actor_username=portal.client_id)
    assert row.actor_kind == "machine_client"
    assert row.actor_user_id is None
    assert row.actor_display == "School portal"
    assert row.actor_organization_id == portal.school.pk
    assert row.outcome == "success"
    assert row.object_type == "client_token"
    assert row.subject_id is None


def test_it_refuses_a_wrong_secret_and_logs_the_failure(portal):
    response = Client().post(
        TOKEN_URL, {"grant_type": "client_credentials"}, **basic(portal.client_id, "wrong")
    )
    assert response.status_code == 401
    assert response.json()["error"] == "invalid_client"
    assert "no-store" in response["Cache-Control"]
    assert not ClientToken.objects.filter(client=portal.client_row).exists()
    (row,) = _rows(action="login_failed", actor_username=portal.client_id)
    assert row.actor_kind == "machine_client"
    assert row.outcome == "denied"
    assert row.outcome_code == 401
    assert row.object_id == "invalid_client"
    # The secret tried is nowhere in the log.
    assert "wrong" not in json.dumps(row.query)


def test_an_unknown_client_is_refused_and_logged_as_nobody(portal):
    response = Client().post(
        TOKEN_URL, {"grant_type": "client_credentials"}, **basic("no-such-portal", "x")
    )
    assert response.status_code == 401
    (row,) = _rows(action="login_failed", query__client_id="no-such-portal")
    assert row.actor_kind == "anonymous"


@pytest.mark.parametrize(
    ("data", "error"),
    [
        ({"grant_type": "password", "username": "a", "password": "b"}, "unsupported_grant_type"),
        ({"grant_type": "client_credentials", "scope": "plans.write"}, "invalid_scope"),
        ({}, "unsupported_grant_type"),
    ],
)
def test_protocol_errors_follow_rfc_6749(portal, data, error):
    response = Client().post(TOKEN_URL, data, **basic(portal.client_id, portal.secret))
    assert response.status_code == 400
    assert response.json()["error"] == error


def test_a_persons_token_or_password_is_no_client_credential(portal):
    user = factories.professional().user
    as_bearer = Client().post(
        TOKEN_URL, {"grant_type": "client_credentials"}, **factories.token_header(user)
    )
    assert as_bearer.status_code == 401
    assert as_bearer.json()["error"] == "invalid_client"
    as_password = Client().post(
        TOKEN_URL,
        {"grant_type": "client_credentials"},
        **basic(user.username, "test-password-123"),
    )
    assert as_password.status_code == 401
    assert not ClientToken.objects.exists()


def test_only_post(portal):
    assert Client().get(TOKEN_URL).status_code == 405


#
# What a client token reaches
#


def test_a_client_token_reaches_no_person_endpoint(portal):
    token = portal.token()
    http = Client()
    for path in (
        "/api/v1/me/",
        "/api/v1/me/sessions/",
        "/api/v1/plans/",
        f"/api/v1/plans/{portal.plan.pk}/",
        f"/api/v1/plans/{portal.plan.pk}/fhir/",
        f"/api/v1/plans/{portal.plan.pk}/needs/",
        "/api/v1/families/",
        "/api/v1/audit/access-log/",
    ):
        response = http.get(path, **bearer(token))
        assert response.status_code == 403, path
    assert http.post("/api/v1/plans/", {}, **bearer(token)).status_code == 403
    # Each refusal is in the log, with the client as the actor.
    denied = _rows(action="denied", actor_username=portal.client_id)
    assert {r.actor_kind for r in denied} == {"machine_client"}
    assert any(r.plan_id == portal.plan.pk for r in denied)


def test_a_client_token_is_no_session_on_the_pages(portal):
    token = portal.token()
    response = Client().get("/", **bearer(token))
    assert response.status_code in (302, 200)
    assert b"School portal" not in response.content


def test_a_persons_token_is_refused_on_the_client_routes(portal):
    http = Client()
    for user in (portal.lead.user, portal.curator.user):
        headers = factories.token_header(user)
        assert http.get("/api/v1/client/plans/", **headers).status_code == 403
        path = f"/api/v1/client/plans/{portal.plan.pk}/fhir/"
        assert http.get(path, **headers).status_code == 403


def test_the_client_lists_only_plans_its_recipient_may_receive(portal):
    # A consent to the school's whole sector does not make a plan pullable.
    guardian = factories.link(Person.objects.get(family=portal.other.family, kind="guardian"))
    consent_create(
        actor=guardian,
        family=portal.other.family,
        grantor_id=None,
        subject_ids=[Person.objects.get(family=portal.other.family, kind="child").pk],
        categories=["general"],
        purpose="school",
        recipient_sector="education",
    )
    token = portal.token()
    body = Client().get("/api/v1/client/plans/", **bearer(token)).json()
    assert [p["id"] for p in body["results"]] == [str(portal.plan.pk)]
    assert body["results"][0]["fhir"] == f"/api/v1/client/plans/{portal.plan.pk}/fhir/"
    assert "version" not in body["results"][0]
    # A consent addressed to the school itself does.
    consent_create(
        actor=guardian,
        family=portal.other.family,
        grantor_id=None,
        subject_ids=[Person.objects.get(family=portal.other.family, kind="child").pk],
        categories=["general"],
        purpose="school",
        recipient_organization=portal.school,
    )
    body = Client().get("/api/v1/client/plans/", **bearer(token)).json()
    assert {p["id"] for p in body["results"]} == {str(portal.plan.pk), str(portal.other.pk)}
    rows = _rows(action="search", actor_username=portal.client_id)
    assert {r.plan_id for r in rows} >= {portal.plan.pk, portal.other.pk}
    assert {r.actor_kind for r in rows} == {"machine_client"}


def test_the_plan_leaves_the_list_when_the_school_leaves_the_team(portal):
    token = portal.token()
    membership = portal.plan.memberships.get(user=portal.curator.user, ended_at__isnull=True)
    plan_services.membership_end(
        actor=portal.lead.user, plan_id=portal.plan.pk, membership_id=membership.pk
    )
    http = Client()
    assert http.get("/api/v1/client/plans/", **bearer(token)).json()["results"] == []
    path = f"/api/v1/client/plans/{portal.plan.pk}/fhir/"
    assert http.get(path, **bearer(token)).status_code == 404


def test_the_fhir_export_holds_what_the_recipient_may_receive(portal):
    token = portal.token()
    response = Client().get(f"/api/v1/client/plans/{portal.plan.pk}/fhir/", **bearer(token))
    assert response.status_code == 200
    assert response["Content-Type"].startswith("application/fhir+json")
    assert "no-store" in response["Cache-Control"]
    text = response.content.decode()
    assert response.json()["resourceType"] == "Bundle"
    assert "need general" in text
    assert "need education" in text
    assert "need social" not in text  # a school receives no social-welfare data by law
    disclosures = set(
        Disclosure.objects.filter(actor_username=portal.client_id).values_list(
            "recipient", "basis", "actor_user_id", "actor_organization_id"
        )
    )
    label = f"{portal.recipient.name} ({portal.recipient.code})"
    assert disclosures == {(label, "statute:education", None, portal.school.pk)}
    exports = _rows(action="export", actor_username=portal.client_id)
    people = set(Person.objects.filter(family=portal.family).values_list("pk", flat=True))
    assert {r.subject_id for r in exports} == people
    assert {r.actor_kind for r in exports} == {"machine_client"}
    assert {r.legal_basis for r in exports} == {"statute:education"}


def test_a_plan_the_recipient_may_not_receive_is_the_same_404_as_a_missing_one(portal):
    token = portal.token()
    http = Client()
    hidden = http.get(f"/api/v1/client/plans/{portal.other.pk}/fhir/", **bearer(token))
    missing = http.get(
        "/api/v1/client/plans/0d5f3a3e-3f0b-4a4c-9a1e-2b8f6c1d9e77/fhir/", **bearer(token)
    )
    assert hidden.status_code == missing.status_code == 404
    assert hidden.json() == missing.json() == NOT_FOUND
    assert not Disclosure.objects.filter(actor_username=portal.client_id).exists()
    # One row per person the refused request was aimed at, the client as the actor.
    rows = _rows(action="denied", actor_username=portal.client_id, plan_id=portal.other.pk)
    people = set(Person.objects.filter(family=portal.other.family).values_list("pk", flat=True))
    assert {r.subject_id for r in rows} == people
    assert {(r.actor_kind, r.outcome_code) for r in rows} == {("machine_client", 404)}


#
# Ending tokens
#


def test_a_token_expires_by_the_clock(portal):
    http = Client()
    token = portal.token(http)
    assert http.get("/api/v1/client/plans/", **bearer(token)).status_code == 200
    with time_machine.travel(timezone.now() + dt.timedelta(seconds=301)):
        response = http.get("/api/v1/client/plans/", **bearer(token))
    assert response.status_code == 401
    assert response["WWW-Authenticate"].startswith("Bearer")
    (row,) = _rows(action="denied", actor_username=portal.client_id, outcome_code=401)
    assert row.actor_kind == "machine_client"
    assert row.query == {"path": "/api/v1/client/plans/", "reason": "expired"}


def test_revocation_takes_effect_on_the_next_request(portal):
    http = Client()
    token = portal.token(http)
    keep = portal.token(http)
    assert http.get("/api/v1/client/plans/", **bearer(token)).status_code == 200
    response = http.post(
        REVOKE_URL,
        {"token": token, "token_type_hint": "access_token"},
        **basic(portal.client_id, portal.secret),
    )
    assert response.status_code == 200
    assert http.get("/api/v1/client/plans/", **bearer(token)).status_code == 401
    assert http.get("/api/v1/client/plans/", **bearer(keep)).status_code == 200
    (row,) = _rows(action="token_revoke", actor_username=portal.client_id)
    assert row.actor_kind == "machine_client"
    (refused,) = _rows(action="denied", actor_username=portal.client_id, outcome_code=401)
    assert refused.query["reason"] == "revoked"


def test_a_client_cannot_revoke_another_clients_token(portal):
    other = services.client_create(
        client_id="other-portal", name="Other", recipient=portal.recipient
    )
    http = Client()
    token = portal.token(http)
    response = http.post(REVOKE_URL, {"token": token}, **basic("other-portal", other.secret))
    assert response.status_code == 400
    assert http.get("/api/v1/client/plans/", **bearer(token)).status_code == 200


def test_revoking_with_a_wrong_secret_is_refused(portal):
    http = Client()
    token = portal.token(http)
    response = http.post(REVOKE_URL, {"token": token}, **basic(portal.client_id, "wrong"))
    assert response.status_code == 401
    assert http.get("/api/v1/client/plans/", **bearer(token)).status_code == 200


def test_deactivating_the_client_ends_all_its_tokens(portal):
    http = Client()
    tokens = [portal.token(http), portal.token(http)]
    services.client_set_active(client_id=portal.client_id, active=False, reason="contract ended")
    for token in tokens:
        assert http.get("/api/v1/client/plans/", **bearer(token)).status_code == 401
    refused = http.post(
        TOKEN_URL, {"grant_type": "client_credentials"}, **basic(portal.client_id, portal.secret)
    )
    assert refused.status_code == 401
    history = MachineClient.history.filter(id=portal.client_row.pk).first()
    assert history.history_change_reason == "contract ended"
    assert not hasattr(history, "secret_hash")


def test_an_inactive_recipient_ends_what_the_client_may_read(portal):
    token = portal.token()
    portal.recipient.active = False
    portal.recipient.save()
    assert Client().get("/api/v1/client/plans/", **bearer(token)).status_code == 403


def test_rotating_the_secret_refuses_the_old_one_and_ends_the_tokens(portal):
    http = Client()
    token = portal.token(http)
    issued = services.client_rotate_secret(client_id=portal.client_id)
    assert http.get("/api/v1/client/plans/", **bearer(token)).status_code == 401
    old = http.post(
        TOKEN_URL, {"grant_type": "client_credentials"}, **basic(portal.client_id, portal.secret)
    )
    assert old.status_code == 401
    portal.secret = issued.secret
    assert http.get("/api/v1/client/plans/", **bearer(portal.token(http))).status_code == 200


def test_the_commands_create_rotate_and_deactivate(portal, capsys):
    call_command("create_client", "cmd-portal", recipient=portal.recipient.code, name="Cmd")
    out = capsys.readouterr().out
    secret = next(line.split(": ", 1)[1] for line in out.splitlines() if "client_secret" in line)
    client = MachineClient.objects.get(client_id="cmd-portal")
    assert client.secret_hash != secret
    response = Client().post(
        TOKEN_URL, {"grant_type": "client_credentials"}, **basic("cmd-portal", secret)
    )
    assert response.status_code == 200
    call_command("client_revoke_tokens", "cmd-portal")
    assert not ClientToken.objects.filter(client=client, revoked_at__isnull=True).exists()
    call_command("client_deactivate", "cmd-portal")
    client.refresh_from_db()
    assert client.active is False
    rows = _rows(object_type="machine_client", object_id="cmd-portal")
    assert [r.action for r in rows] == ["admin_change", "token_revoke", "activation_change"]
    assert secret not in json.dumps([r.query for r in rows])


def test_a_client_needs_its_own_organisations_recipient(portal):
    from django.core.exceptions import ValidationError

    sector = factories.recipient(kind="sector", sector="education")
    with pytest.raises(ValidationError) as caught:
        services.client_create(client_id="sector-portal", name="S", recipient=sector)
    assert "recipient" in caught.value.message_dict
    with pytest.raises(ValidationError) as caught:
        services.client_create(
            client_id="mismatch",
            name="M",
            recipient=portal.recipient,
            organization=factories.organization("health"),
        )
    assert "organization" in caught.value.message_dict


#
# Cost and schema
#


def _list_queries(portal: Portal, token: str) -> int:
    http = Client()
    with CaptureQueriesContext(connection) as ctx:
        response = http.get("/api/v1/client/plans/", **bearer(token))
    assert response.status_code == 200
    return len(ctx.captured_queries)


def test_the_plan_list_costs_the_same_for_one_plan_and_many(portal):
    token = portal.token()
    small = _list_queries(portal, token)
    for _ in range(6):
        plan = factories.plan(portal.lead, factories.family(children=2, guardians=2))
        factories.add_member(plan, portal.lead, portal.curator)
    large = _list_queries(portal, token)
    assert small == large
    assert large <= 12


def test_the_schema_describes_the_client_credentials_scheme(api):
    schema = Client().get("/api/schema/?format=json").json()
    scheme = schema["components"]["securitySchemes"]["clientCredentials"]
    assert scheme["type"] == "oauth2"
    assert scheme["flows"]["clientCredentials"]["tokenUrl"] == "/api/v1/oauth/token/"
    listed = schema["paths"]["/api/v1/client/plans/"]["get"]["security"]
    assert {"clientCredentials": ["plans.read"]} in listed
    assert {"bearerAuth": []} not in listed
    others = schema["paths"]["/api/v1/plans/"]["get"]["security"]
    assert {"clientCredentials": ["plans.read"]} not in others


def test_what_the_recipient_may_not_receive_leaves_no_trace(portal):
    """Noninterference for the client: a change in a category the school may not receive
    leaves its Bundle byte for byte the same; one it may receive changes it."""
    token = portal.token()
    path = f"/api/v1/client/plans/{portal.plan.pk}/fhir/"
    before = Client().get(path, **bearer(token))
    plan_services.item_create(
        actor=portal.lead.user,
        plan_id=portal.plan.pk,
        model=Need,
        data={"category": "social", "title": "hidden from the school"},
    )
    after = Client().get(path, **bearer(token))
    assert after.content == before.content
    assert after["ETag"] == before["ETag"]
    plan_services.item_create(
        actor=portal.curator.user,
        plan_id=portal.plan.pk,
        model=Need,
        data={"category": "education", "title": "seen by the school"},
    )
    changed = Client().get(path, **bearer(token))
    assert changed.content != before.content
    assert b"seen by the school" in changed.content


def test_the_organisations_auditor_sees_its_clients_rows(portal, api):
    portal.token()
    auditor = factories.professional("auditor", portal.school)
    body = api.as_user(auditor.user).get("/api/v1/audit/access-log/").json()
    mine = [r for r in body["results"] if r["actor_kind"] == "machine_client"]
    assert mine
    assert {r["action"] for r in mine} >= {"login"}
