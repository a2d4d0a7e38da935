"""The auditor's console page (issue 17, first part): search, trace a read to its request,
access over time with peaks, chain verification, downloads; the read is itself logged."""

from __future__ import annotations

import datetime as dt
import re

import pytest
import time_machine
from django.utils import timezone

from plan_service.audit.models import AccessEvent
from plan_service.audit.services import record_access, record_disclosure
from tests import factories
from tests.web.helpers import page_client, text_of

pytestmark = pytest.mark.django_db


@pytest.fixture
def scene(api):
    org = factories.organization()
    auditor = factories.professional("auditor", org=org)
    lead = factories.professional("child_protection_social_worker", org=org)
    family = factories.family(children=1, guardians=1)
    plan = factories.plan(lead, family)
    stranger = factories.professional("school_curator")  # another organisation
    return {"auditor": auditor, "lead": lead, "plan": plan, "stranger": stranger, "api": api}


def test_the_auditor_traces_a_read_back_to_its_request(scene):
    read = (
        scene["api"]
        .as_user(scene["lead"].user)
        .get(f"/api/v1/plans/{scene['plan'].pk}/", HTTP_X_REQUEST_ID="trace-me-7d1f")
    )
    assert read.status_code == 200
    client = page_client(scene["auditor"].user)
    page = client.get("/audit/", {"request": "trace-me-7d1f"})
    assert page.status_code == 200
    assert page["Cache-Control"] == "no-store"
    html = page.content.decode()
    table = html.split('<table class="log">')[1].split("</table>")[0]
    rows = re.findall(r"<tr>\s*<td>", table)
    expected = AccessEvent.objects.filter(request_id="trace-me-7d1f").count()
    assert expected >= 1
    assert len(rows) == expected
    assert str(scene["plan"].pk)[:8] in html
    assert "?request=trace-me" in html  # each row links to its request
    assert "/api/v1/audit/access-log/export.csv?request=trace-me-7d1f" in html
    # The console's own read is in the log, with its query and no results.
    logged = AccessEvent.objects.filter(
        actor_user_id=scene["auditor"].user.pk, object_type="accessevent"
    ).latest("recorded_at")
    assert logged.query["request"] == ["trace-me-7d1f"]
    assert logged.purpose == "audit"
    assert logged.subject_id is not None  # one row per person the shown rows are about


def test_rows_outside_the_auditors_scope_are_not_found(scene):
    other = factories.plan(scene["stranger"], factories.family())
    scene["api"].as_user(scene["stranger"].user).get(
        f"/api/v1/plans/{other.pk}/", HTTP_X_REQUEST_ID="elsewhere-1"
    )
    client = page_client(scene["auditor"].user)
    text = text_of(client.get("/audit/", {"request": "elsewhere-1"}).content)
    assert "No rows." in text


@pytest.mark.parametrize("who", ["lead", "guardian"])
def test_only_auditors_have_the_console(scene, who):
    if who == "guardian":
        from plan_service.participants.models import Person

        user = factories.link(
            Person.objects.filter(family=scene["plan"].family, kind="guardian")[0]
        )
    else:
        user = scene["lead"].user
    client = page_client(user)
    assert client.get("/audit/").status_code == 403
    assert client.post("/audit/verify/").status_code == 403
    denied = AccessEvent.objects.filter(actor_user_id=user.pk, outcome="denied")
    assert denied.exists()


def test_bad_search_input_is_a_400_naming_the_field(scene):
    client = page_client(scene["auditor"].user)
    page = client.get("/audit/", {"since": "yesterday", "action": "steal"})
    assert page.status_code == 400
    text = text_of(page.content)
    assert "Since:" in text
    assert "Action:" in text


def test_an_unusual_day_stands_out_in_the_chart(scene):
    lead = scene["lead"].user
    start = timezone.now() - dt.timedelta(days=12)
    for day in range(10):
        with time_machine.travel(start + dt.timedelta(days=day), tick=False):
            for _ in range(30 if day == 6 else 2):
                record_access(actor=lead, action="read", subjects=[], object_type="plan")
    client = page_client(scene["auditor"].user)
    html = client.get("/audit/", {"actor": lead.pk}).content.decode()
    # Ten days, one of them busy, and today (the plan was made today): ten ordinary bars.
    assert html.count('class="bar"') == 10
    assert html.count('class="peak"') == 1
    assert "unusual" in text_of(html)


def test_verify_now_reports_intact_chains(scene):
    client = page_client(scene["auditor"].user)
    page = client.post("/audit/verify/")
    assert page.status_code == 200
    text = text_of(page.content)
    assert "access: intact" in text
    assert "disclosure: intact" in text


def test_a_bad_page_number_is_the_404_page(scene):
    client = page_client(scene["auditor"].user)
    assert client.get("/audit/", {"page": "²"}).status_code == 404


def test_the_pages_of_a_search_keep_its_filters(scene):
    lead = scene["lead"].user
    for _ in range(60):  # more than one page of rows
        record_access(actor=lead, action="read", subjects=[], object_type="plan")
    client = page_client(scene["auditor"].user)
    first = client.get("/audit/", {"actor": lead.pk}).content.decode()
    assert f'href="?actor={lead.pk}&amp;page=2"' in first
    second = client.get("/audit/", {"actor": lead.pk, "page": 2}).content.decode()
    assert f'href="?actor={lead.pk}&amp;page=1"' in second


def test_the_auditor_searches_the_disclosure_log(scene):
    """What left the service, to whom, about whom: found by recipient, linked to the request
    that made it, downloadable; the search itself is a logged read about those shown."""
    plan, lead = scene["plan"], scene["lead"]
    people = sorted(plan.family.members.values_list("pk", flat=True), key=str)
    for recipient in ("Kanta patient data repository", "School health care"):
        record_disclosure(
            actor=lead.user,
            recipient=recipient,
            subjects=people,
            family_id=plan.family_id,
            plan_id=plan.pk,
            plan_version=plan.version,
            content="CarePlan",
            basis="statute",
        )
    client = page_client(scene["auditor"].user)
    page = client.get("/audit/disclosures/", {"recipient": "kanta"})
    assert page.status_code == 200
    assert page["Cache-Control"] == "no-store"
    html = page.content.decode()
    table = html.split('<table class="log">')[1].split("</table>")[0]
    assert len(re.findall(r"<tr>\s*<td>", table)) == len(people)
    assert "Kanta patient data repository" in table
    assert "School health care" not in table
    assert "/api/v1/audit/disclosures/export.csv?recipient=kanta" in html
    assert 'aria-current="page">Disclosures</a>' in html
    logged = AccessEvent.objects.filter(
        actor_user_id=scene["auditor"].user.pk, object_type="disclosure"
    )
    assert sorted((r.subject_id for r in logged), key=str) == people
    assert {tuple(r.query["recipient"]) for r in logged} == {("kanta",)}


def test_the_disclosure_search_names_a_bad_field_and_reads_nothing(scene):
    client = page_client(scene["auditor"].user)
    before = AccessEvent.objects.count()
    page = client.get("/audit/disclosures/", {"since": "yesterday"})
    assert page.status_code == 400
    assert "Since: Enter a valid date/time." in text_of(page.content)
    assert AccessEvent.objects.count() == before  # no read, no log row


def test_the_disclosure_log_shows_another_organisations_disclosures_to_nobody(scene):
    """The auditor's scope: disclosures by another organisation's people about plans it has
    not worked on are not shown."""
    other_lead = factories.professional("child_protection_social_worker")
    other_plan = factories.plan(other_lead, factories.family())
    record_disclosure(
        actor=other_lead.user,
        recipient="Elsewhere",
        subjects=list(other_plan.family.members.values_list("pk", flat=True)),
        family_id=other_plan.family_id,
        plan_id=other_plan.pk,
        plan_version=other_plan.version,
        content="CarePlan",
        basis="statute",
    )
    page = page_client(scene["auditor"].user).get("/audit/disclosures/", {"recipient": "else"})
    assert page.status_code == 200
    assert "Elsewhere" not in page.content.decode()
