"""A push holds no lock and no transaction over the network (plans/push.py: the snapshot in
one short transaction, the record in another; api/viewsets.py: no request transaction around
them). Inside a request transaction the snapshot's share lock on the plan was a savepoint's,
held until the request committed: after every attempt and backoff, so a goal edit waited on a
slow or failing server. On committed data (`live_db`), the push in one thread, and the plan
row probed from another connection while the server is refusing and being asked again.
"""

from __future__ import annotations

import threading
import time
from typing import Any

from django.db import OperationalError, connections, transaction

from plan_service.plans.models import Plan
from tests.conftest import Api
from tests.fhir_export.test_push import body, setup  # noqa: F401 (fixture)


def _probe(plan: Plan) -> str:
    """Whether a writer could take the plan row now (a write locks it FOR UPDATE)."""
    try:
        with transaction.atomic():
            list(Plan.objects.select_for_update(nowait=True).filter(pk=plan.pk))
    except OperationalError:
        return "locked"
    return "free"


def test_a_push_holds_no_lock_on_the_plan_while_the_server_is_asked(
    live_db,
    setup,  # noqa: F811 (test_push's fixture)
    settings,
):
    lead, plan, fhir_server = setup  # live_db first: the scene is committed
    settings.FHIR_PUSH_BACKOFF_MS = 300  # 0.3, 0.6 and 1.2 s between the four attempts
    client = Api(lead.user)
    asked = fhir_server.hook("requests")["requests"]
    fhir_server.hook("fail", status=503, count=3)
    answer: dict[str, Any] = {}

    def push() -> None:
        try:
            answer["response"] = client.post(f"/api/v1/plans/{plan.pk}/fhir/push/", body(plan))
        finally:
            connections.close_all()

    thread = threading.Thread(target=push)
    thread.start()
    probes = []
    deadline = time.monotonic() + 60
    while thread.is_alive() and time.monotonic() < deadline:
        if 1 <= fhir_server.hook("requests")["requests"] - asked <= 3:  # refused, to be asked again
            probe = _probe(plan)
            # Kept only if the last attempt had still not reached the server: after it, the push
            # record's foreign key takes a key-share lock on the plan, rightly.
            if fhir_server.hook("requests")["requests"] - asked <= 3:
                probes.append(probe)
        time.sleep(0.05)
    thread.join(timeout=60)
    assert not thread.is_alive()
    response = answer["response"]
    assert response.status_code == 200, response.content
    assert response.json()["attempts"] == 4
    assert probes, "no probe while the server was being asked"
    assert set(probes) == {"free"}, probes
