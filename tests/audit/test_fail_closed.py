"""A read of plan data fails closed: when its log row cannot be written, no data, a 503.

The log insert is made to fail by a trigger added inside the test's transaction (rolled back
afterwards): the real database refuses, nothing of ours is mocked.
"""

from __future__ import annotations

import pytest
from django.db import connection

from plan_service.audit.models import AccessEvent
from plan_service.plans.models import Need
from plan_service.plans.services import item_create
from tests import factories
from tests.audit.helpers import refuse_log_rows
from tests.harness.db_roles import owner_powers

pytestmark = pytest.mark.django_db


@pytest.fixture
def broken_log() -> None:
    # Only the owner may add a trigger: this plays a failing log, not the service.
    with owner_powers(), connection.cursor() as cursor:
        refuse_log_rows(cursor)


@pytest.fixture
def team():
    lead = factories.professional()
    plan = factories.plan(lead)
    need = item_create(
        actor=lead.user,
        plan_id=plan.pk,
        model=Need,
        data={"category": "social", "concerns": [], "title": "Secret title"},
    )
    return lead, plan, need


@pytest.mark.parametrize(
    "path",
    [
        "/api/v1/plans/{plan}/",
        "/api/v1/plans/",
        "/api/v1/plans/{plan}/needs/",
        "/api/v1/plans/{plan}/needs/{need}/",
        "/api/v1/families/{family}/",
    ],
)
def test_a_read_whose_log_row_cannot_be_written_returns_no_data(api, team, broken_log, path):
    lead, plan, need = team
    before = AccessEvent.objects.count()
    url = path.format(plan=plan.pk, need=need.pk, family=plan.family_id)
    response = api.as_user(lead.user).get(url, HTTP_X_REQUEST_ID="fail-closed-read")
    assert response.status_code == 503
    assert response["Retry-After"]
    body = response.content.decode()
    assert "Secret title" not in body
    assert str(plan.pk) not in body
    assert AccessEvent.objects.count() == before


def test_a_write_whose_log_row_cannot_be_written_is_not_made(api, team, broken_log):
    lead, plan, _ = team
    response = api.as_user(lead.user).post(
        f"/api/v1/plans/{plan.pk}/needs/",
        {"category": "social", "concerns": [], "title": "Unlogged"},
    )
    assert response.status_code == 503
    assert not Need.objects.filter(title="Unlogged").exists()


def test_reads_work_again_once_the_log_can_be_written(api, team, broken_log):
    lead, plan, _ = team
    client = api.as_user(lead.user)
    url = f"/api/v1/plans/{plan.pk}/"
    assert client.get(url).status_code == 503  # the log is broken first
    with connection.cursor() as cursor:
        cursor.execute("DROP TRIGGER audit_test_refuse ON audit_accessevent")
    before = AccessEvent.objects.filter(plan_id=plan.pk, action="read").count()
    response = client.get(url, HTTP_X_REQUEST_ID="fail-closed-again")
    assert response.status_code == 200
    assert response.json()["id"] == str(plan.pk)
    assert AccessEvent.objects.filter(plan_id=plan.pk, action="read").count() > before
    assert AccessEvent.objects.filter(request_id="fail-closed-again").exists()
