"""The auditor's queries: filters, CSV and FHIR AuditEvent exports, verify; all logged."""

from __future__ import annotations

import csv
import datetime as dt
import io
import json
import uuid

import pytest
from django.utils import timezone

from fhir_export import resource_model
from fhir_export.identifiers import derive
from plan_service.audit import chain
from plan_service.audit.models import AccessEvent, Disclosure
from plan_service.audit.services import record_disclosure
from tests import factories
from tests.audit.helpers import (
    access_row,
    append_rows,
    bypass_triggers,
    disclosure_row,
    fresh_chain_offset,
    key_for_chain,
)

pytestmark = pytest.mark.django_db

LOG = "/api/v1/audit/access-log/"
DISCLOSURES = "/api/v1/audit/disclosures/"


@pytest.fixture
def scene(api):
    """An auditor and a lead of one organisation, a stranger's organisation, some log rows."""
    org = factories.organization()
    lead = factories.professional(org=org)
    auditor = factories.professional("auditor", org=org)
    outsider = factories.professional()
    plan = factories.plan(lead)  # create + update rows by the lead
    other_plan = factories.plan(outsider)
    child = plan.family.members.filter(kind="child").first()
    client = api.as_user(auditor.user)
    client.get(f"/api/v1/plans/{other_plan.pk}/")  # the auditor is denied: a denied row
    return {
        "client": client,
        "lead": lead,
        "auditor": auditor,
        "plan": plan,
        "other_plan": other_plan,
        "outsider": outsider,
        "child": child,
    }


def _ids(response) -> set[str]:
    return {row["id"] for row in response.json()["results"]}


def _expected(**filters) -> set[str]:
    return {str(pk) for pk in AccessEvent.objects.filter(**filters).values_list("pk", flat=True)}


def test_auditor_sees_only_their_organisations_scope(scene):
    response = scene["client"].get(LOG, {"page_size": 200})
    assert response.status_code == 200
    seen = {(row["plan_id"], row["actor_username"]) for row in response.json()["results"]}
    assert (str(scene["plan"].pk), scene["lead"].user.username) in seen
    # The outsider's work on their own plan is not this organisation's business; the
    # auditor's own refused attempt at that plan is.
    other = str(scene["other_plan"].pk)
    assert {who for plan, who in seen if plan == other} == {scene["auditor"].user.username}


@pytest.mark.parametrize(
    "name",
    ["subject", "actor", "organization", "plan", "action", "outcome", "since", "until"],
)
def test_each_filter_narrows_the_access_log_exactly(scene, name):
    lead, plan, child = scene["lead"], scene["plan"], scene["child"]
    activated = AccessEvent.objects.filter(plan_id=plan.pk, action="update")
    middle = activated.order_by("recorded_at").first().recorded_at  # create rows come before
    value, where = {
        "subject": (child.pk, {"subject_id": child.pk}),
        "actor": (lead.user.pk, {"actor_user_id": lead.user.pk}),
        "organization": (lead.organization_id, {"actor_organization_id": lead.organization_id}),
        "plan": (plan.pk, {"plan_id": plan.pk}),
        "action": ("update", {"action": "update"}),
        "outcome": ("denied", {"outcome": "denied"}),
        "since": (middle.isoformat(), {"recorded_at__gte": middle}),
        "until": (middle.isoformat(), {"recorded_at__lt": middle}),
    }[name]
    before = {str(pk) for pk in AccessEvent.objects.values_list("pk", flat=True)}
    response = scene["client"].get(LOG, {name: str(value), "page_size": 200})
    assert response.status_code == 200, response.content
    in_scope = _ids(scene["client"].get(LOG, {"page_size": 200})) & before
    assert _ids(response) == _expected(**where) & in_scope
    assert _ids(response)


def test_a_bad_filter_value_is_a_400(scene):
    assert scene["client"].get(LOG, {"since": "yesterday"}).status_code == 400
    assert scene["client"].get(LOG, {"action": "peek"}).status_code == 400


def test_non_auditors_cannot_query_the_logs(api, scene):
    lead = api.as_user(scene["lead"].user)
    for url in (
        LOG,
        DISCLOSURES,
        f"{LOG}export.csv/",
        f"{LOG}export.fhir/",
        "/api/v1/audit/verify/",
    ):
        assert lead.get(url).status_code == 403, url


def test_reading_the_log_is_logged_per_person_with_the_query(scene):
    client, child = scene["client"], scene["child"]
    response = client.get(LOG, {"subject": str(child.pk)}, HTTP_X_REQUEST_ID="auditor-read-1")
    assert response.status_code == 200
    rows = list(AccessEvent.objects.filter(request_id="auditor-read-1"))
    assert [(r.action, r.subject_id, r.purpose) for r in rows] == [("search", child.pk, "audit")]
    assert rows[0].query == {"subject": [str(child.pk)]}
    assert rows[0].result_count == len(response.json()["results"])


def test_csv_export_streams_the_filtered_rows_and_is_logged(scene):
    plan = scene["plan"]
    response = scene["client"].get(
        f"{LOG}export.csv/", {"plan": str(plan.pk)}, HTTP_X_REQUEST_ID="auditor-csv"
    )
    assert response.status_code == 200
    assert response.streaming
    assert response["Content-Type"].startswith("text/csv")
    text = b"".join(response.streaming_content).decode()
    table = list(csv.DictReader(io.StringIO(text)))
    assert {r["id"] for r in table} == _expected(plan_id=plan.pk) - _expected(
        request_id="auditor-csv"
    )
    assert "row_hash" in table[0]
    logged = AccessEvent.objects.filter(request_id="auditor-csv")
    assert {r.action for r in logged} == {"export"}
    family = set(plan.family.members.values_list("pk", flat=True))
    assert {r.subject_id for r in logged} == family


def test_csv_cells_that_look_like_formulas_are_defused(scene):
    [row] = append_rows(AccessEvent, 1)  # a row outside any organisation: give it the lead's org
    bypass_triggers()
    # An actor id no user of the test database has: the scene's own users' rows (the lead's
    # id may be 7, as the helper's rows say, depending on the order tests ran in) stay out.
    AccessEvent.objects.filter(pk=row.pk).update(
        user_agent="=HYPERLINK(1)",
        actor_organization_id=scene["lead"].organization_id,
        actor_user_id=2_000_000_007,
    )
    response = scene["client"].get(f"{LOG}export.csv/", {"actor": "2000000007"})
    table = list(csv.DictReader(io.StringIO(b"".join(response.streaming_content).decode())))
    assert [r["user_agent"] for r in table] == ["'=HYPERLINK(1)"]


def test_disclosure_log_query_and_csv_export(scene):
    plan, lead = scene["plan"], scene["lead"]
    people = list(plan.family.members.values_list("pk", flat=True))
    committed = {str(pk) for pk in Disclosure.objects.values_list("pk", flat=True)}
    record_disclosure(
        actor=lead.user,
        recipient="Kanta",
        subjects=people,
        family_id=plan.family_id,
        plan_id=plan.pk,
        plan_version=plan.version,
        content="CarePlan",
        basis="statute",
    )
    response = scene["client"].get(DISCLOSURES, {"recipient": "kanta"})
    assert response.status_code == 200
    assert len(response.json()["results"]) == len(people)
    assert scene["client"].get(DISCLOSURES, {"recipient": "other"}).json()["results"] == []
    export = scene["client"].get(f"{DISCLOSURES}export.csv/")
    table = list(csv.DictReader(io.StringIO(b"".join(export.streaming_content).decode())))
    ids = {r["id"] for r in table}
    assert ids <= {str(pk) for pk in Disclosure.objects.values_list("pk", flat=True)}
    assert ids - committed == {str(d.pk) for d in Disclosure.objects.filter(plan_id=plan.pk)}


def _exported(response, model) -> set[str]:
    """The ids of the log rows an export sent (a FHIR export's AuditEvents, derived from them)."""
    body = b"".join(response.streaming_content).decode()
    if response["Content-Type"].startswith("text/csv"):
        return {row["id"] for row in csv.DictReader(io.StringIO(body))}
    return {entry["resource"]["id"] for entry in json.loads(body)["entry"]}


def _as_exported(response, model, pks) -> set[str]:
    if response["Content-Type"].startswith("text/csv"):
        return {str(pk) for pk in pks}
    kind = ("disclosure",) if model is Disclosure else ()
    return {derive("AuditEvent", *kind, pk) for pk in pks}


@pytest.mark.parametrize(
    ("url", "model"),
    [
        (f"{LOG}export.csv/", AccessEvent),
        (f"{LOG}export.fhir/", AccessEvent),
        (f"{DISCLOSURES}export.fhir/", Disclosure),
    ],
)
def test_an_export_leaves_out_rows_appended_after_it_began(scene, settings, url, model):
    """An export is sent after its view has returned and its log row is written; a row
    appended in between (to a chain in use, or to a chain begun since) would leave with it
    unlogged: the export's log rows neither count it nor name its person."""
    plan, child = scene["plan"], scene["child"]
    build = access_row if model is AccessEvent else disclosure_row
    about = {"plan_id": plan.pk, "family_id": plan.family_id, "subject_id": child.pk}
    chain.append([build(**about)], key=key_for_chain(1))
    before = model.objects.filter(plan_id=plan.pk).values_list("pk", flat=True)
    before = set(before)
    response = scene["client"].get(url, {"plan": str(plan.pk)}, HTTP_X_REQUEST_ID="cut-export")
    assert response.status_code == 200
    stranger = uuid.uuid4()  # a person the export's log rows do not name
    late = [build(**about) for _ in range(2)]
    for row in late:
        row.subject_id = stranger
    chain.append([late[0]], key=key_for_chain(1))
    settings.AUDIT_CHAINS = fresh_chain_offset() + 1
    chain.append([late[1]], key=key_for_chain(settings.AUDIT_CHAINS - 1))
    assert late[1].seq == 1  # a chain the export's cut did not know
    assert _exported(response, model) == _as_exported(response, model, before)
    logged = AccessEvent.objects.filter(request_id="cut-export")
    assert {row.result_count for row in logged} == {len(before)}
    assert stranger not in {row.subject_id for row in logged}


def test_an_export_counts_and_sends_the_same_cut_of_the_log(scene, monkeypatch):
    """Unfiltered, so the export's own log rows and a row appended between the cut and the
    count are in the auditor's scope: neither is sent, counted or named."""
    from plan_service.audit import selectors

    auditor = scene["auditor"]
    cut = chain.last_seqs
    stranger = uuid.uuid4()

    def cut_then_append(model):
        seqs = cut(model)
        late = access_row(actor_organization_id=auditor.organization_id, subject_id=stranger)
        chain.append([late], key=key_for_chain(0))
        return seqs

    before = set(selectors.access_log_for_auditor(user=auditor.user).values_list("pk", flat=True))
    monkeypatch.setattr(chain, "last_seqs", cut_then_append)
    response = scene["client"].get(f"{LOG}export.csv/", HTTP_X_REQUEST_ID="whole-export")
    assert response.status_code == 200
    exported = _exported(response, AccessEvent)
    assert exported == {str(pk) for pk in before}
    logged = AccessEvent.objects.filter(request_id="whole-export")
    assert logged.exists()
    assert not exported & {str(pk) for pk in logged.values_list("pk", flat=True)}
    assert {row.result_count for row in logged} == {len(before)}
    assert stranger not in {row.subject_id for row in logged}


def test_export_pages_continue_exactly_where_the_last_ended(scene, monkeypatch):
    """Pages are keyset queries on (recorded_at, chain, seq): rows recorded at the same moment,
    in one chain or several, are neither repeated nor skipped at a page's edge."""
    from plan_service.audit.api import views

    plan = scene["plan"]
    moment = timezone.now() - dt.timedelta(minutes=1)
    for number in (0, 1, 2):
        rows = [access_row(plan_id=plan.pk, recorded_at=moment) for _ in range(3)]
        chain.append(rows, key=key_for_chain(number))
    ordered = (
        AccessEvent.objects.filter(plan_id=plan.pk)
        .order_by(*views.EXPORT_ORDER)
        .values_list("pk", flat=True)
    )
    expected = [str(pk) for pk in ordered]
    for size in (1, 2, 4, 2000):
        monkeypatch.setattr(views, "EXPORT_PAGE", size)
        response = scene["client"].get(f"{LOG}export.csv/", {"plan": str(plan.pk)})
        text = b"".join(response.streaming_content).decode()
        assert [row["id"] for row in csv.DictReader(io.StringIO(text))] == expected, size


def test_an_exports_pages_keep_the_scope_it_was_counted_with(scene, monkeypatch):
    """The auditor's scope reaches plans their organisation has worked on; a membership added
    while the export is being sent must not bring that plan's rows into later pages, uncounted
    and their people unnamed."""
    from plan_service.audit.api import views

    monkeypatch.setattr(views, "EXPORT_PAGE", 1)
    other = scene["other_plan"]
    theirs = access_row(plan_id=other.pk, family_id=other.family_id)  # by another organisation
    chain.append([theirs], key="scope-as-of")
    response = scene["client"].get(f"{LOG}export.csv/", HTTP_X_REQUEST_ID="scope-export")
    pieces = iter(response.streaming_content)
    sent = [next(pieces), next(pieces)]  # the header and the first page
    colleague = factories.professional(org=scene["auditor"].organization)
    factories.add_member(other, scene["outsider"], colleague)  # the organisation now works on it
    sent.extend(pieces)
    rows = list(csv.DictReader(io.StringIO(b"".join(sent).decode())))
    assert str(theirs.pk) not in {row["id"] for row in rows}
    (counted,) = {r.result_count for r in AccessEvent.objects.filter(request_id="scope-export")}
    assert len(rows) == counted


def test_fhir_export_gives_valid_balp_audit_events_one_per_row(scene):
    plan = scene["plan"]
    response = scene["client"].get(
        f"{LOG}export.fhir/", {"plan": str(plan.pk)}, HTTP_X_REQUEST_ID="auditor-fhir"
    )
    assert response.status_code == 200
    assert response["Content-Type"].startswith("application/fhir+json")
    bundle = json.loads(b"".join(response.streaming_content))
    resource_model("Bundle").model_validate(bundle)
    events = [e["resource"] for e in bundle["entry"]]
    expected = _expected(plan_id=plan.pk) - _expected(request_id="auditor-fhir")
    assert len(events) == len(expected)
    for event in events:
        resource_model("AuditEvent").model_validate(event)
        patients = [e for e in event.get("entity", []) if e["role"]["code"] == "1"]
        assert len(patients) <= 1


def test_verify_endpoint_reports_both_logs_and_the_first_broken_row(scene):
    rows = append_rows(AccessEvent, 3, chain_no=3)
    response = scene["client"].get("/api/v1/audit/verify/")
    assert response.status_code == 200
    assert [r["log"] for r in response.json()] == ["access", "disclosure"]
    assert all(r["ok"] for r in response.json())
    bypass_triggers()
    AccessEvent.objects.filter(pk=rows[1].pk).update(purpose="edited")
    broken = scene["client"].get("/api/v1/audit/verify/").json()[0]
    assert broken["ok"] is False
    assert broken["first_broken"]["chain"] == 3
    assert broken["first_broken"]["seq"] == rows[1].seq


def test_family_access_log_shows_unit_when_a_professional_asks(api):
    lead = factories.professional(unit="Child protection east", hide_name_from_family=True)
    plan = factories.plan(lead)
    guardian = factories.link(plan.family.members.filter(kind="guardian").first())
    since = timezone.now() - dt.timedelta(minutes=5)
    response = api.as_user(guardian).get(f"/api/v1/plans/{plan.pk}/access-log/")
    assert response.status_code == 200
    rows = response.json()["results"]
    assert rows
    assert {r["who"] for r in rows} == {"Child protection east"}
    assert all(dt.datetime.fromisoformat(r["recorded_at"]) >= since for r in rows)
    assert all("object_id" not in r for r in rows)  # ids could name hidden items
