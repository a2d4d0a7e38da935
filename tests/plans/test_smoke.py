from __future__ import annotations

import pytest

from tests import factories

pytestmark = pytest.mark.django_db


def test_lead_reads_own_plan(api):
    lead = factories.professional()
    plan = factories.plan(lead)
    response = api.as_user(lead.user).get(f"/api/v1/plans/{plan.pk}/")
    assert response.status_code == 200, response.content
    assert response.json()["permissions"]["plan_role"] == "lead"
