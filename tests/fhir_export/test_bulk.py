"""`fhir_bulk_export`: Bulk Data NDJSON of every plan a recipient may export."""

from __future__ import annotations

import io
import json
from pathlib import Path

import pytest
from django.core.exceptions import PermissionDenied
from django.core.management import CommandError, call_command

from fhir_export import validated
from plan_service.audit.models import Disclosure
from plan_service.participants.models import Person
from plan_service.plans.export import plan_export_many_to
from tests import factories

pytestmark = pytest.mark.django_db


@pytest.fixture
def region() -> dict:
    """A lead of three plans (one with two children), and member of a fourth plan."""
    lead = factories.professional("public_health_nurse")
    led = [
        factories.plan(lead, factories.family(children=2, guardians=2)),
        factories.plan(lead, factories.family(children=1, guardians=1)),
        factories.plan(lead, factories.family(children=1, guardians=0)),
    ]
    other_lead = factories.professional("child_protection_social_worker")
    not_led = factories.plan(other_lead, factories.family(children=1, guardians=1))
    factories.add_member(not_led, other_lead, lead)
    return {"lead": lead, "led": led, "not_led": not_led}


def run(region: dict, out: Path, *extra: str) -> str:
    stdout = io.StringIO()
    call_command(
        "fhir_bulk_export",
        "--recipient",
        region["lead"].user.username,
        "--output",
        str(out),
        "--no-progress",
        *extra,
        stdout=stdout,
    )
    return stdout.getvalue()


def read(out: Path) -> dict[str, list[dict]]:
    return {
        path.stem: [json.loads(line) for line in path.read_text().splitlines()]
        for path in sorted(out.glob("*.ndjson"))
    }


def test_bulk_export_writes_one_ndjson_file_per_type_and_a_manifest(region, tmp_path) -> None:
    run(region, tmp_path, "--chunk-size", "1")
    files = read(tmp_path)
    manifest = json.loads((tmp_path / "manifest.json").read_text())
    assert {o["type"]: o["count"] for o in manifest["output"]} == {
        kind: len(rows) for kind, rows in files.items()
    }
    assert len(files["CarePlan"]) == 4  # 2 + 1 + 1 children in the three plans led
    assert len(files["Patient"]) == 4
    assert len(files["Organization"]) == 1  # shared, written once
    for kind, rows in files.items():
        for resource in rows:
            assert resource["resourceType"] == kind
            validated(resource)


def test_bulk_references_are_type_and_id_of_written_resources(region, tmp_path) -> None:
    run(region, tmp_path)
    files = read(tmp_path)
    written = {f"{r['resourceType']}/{r['id']}" for rows in files.values() for r in rows}
    text = "\n".join((tmp_path / f"{kind}.ndjson").read_text() for kind in files)
    assert "urn:uuid:" not in text
    refs = {part.split('"')[0] for part in text.split('"reference":"')[1:]}
    assert refs <= written


def test_bulk_export_exports_only_plans_the_recipient_may_export(region, tmp_path) -> None:
    run(region, tmp_path)
    plan_ids = {i["value"] for r in read(tmp_path)["CarePlan"] for i in r["identifier"]}
    assert plan_ids == {str(p.pk) for p in region["led"]}
    assert not Disclosure.objects.filter(plan_id=region["not_led"].pk).exists()


def test_bulk_export_logs_one_disclosure_per_person_of_each_plan(region, tmp_path) -> None:
    run(region, tmp_path)
    for plan in region["led"]:
        people = set(Person.objects.filter(family=plan.family).values_list("pk", flat=True))
        rows = Disclosure.objects.filter(plan_id=plan.pk)
        assert sorted(r.subject_id for r in rows) == sorted(people)


def test_bulk_ndjson_passes_both_validators(region, tmp_path, validator) -> None:
    run(region, tmp_path)
    for rows in read(tmp_path).values():
        for resource in rows:
            assert validator.errors(resource) == []


def test_failed_write_rolls_back_the_disclosure(region) -> None:
    written = []

    def broken(result: object) -> None:
        if written:
            raise OSError("disk full")
        written.append(result)

    ids = [p.pk for p in region["led"]]
    with pytest.raises(OSError, match="disk full"):
        plan_export_many_to(actor=region["lead"].user, plan_ids=ids, sink=broken, recipient="x")
    assert not Disclosure.objects.filter(plan_id__in=ids).exists()


def test_a_plan_the_recipient_may_not_export_stops_the_batch(region) -> None:
    ids = [region["led"][0].pk, region["not_led"].pk]
    with pytest.raises(PermissionDenied):
        plan_export_many_to(actor=region["lead"].user, plan_ids=ids, sink=print, recipient="x")
    assert not Disclosure.objects.filter(plan_id__in=ids).exists()


def test_chunk_size_does_not_change_the_output(region, tmp_path) -> None:
    run(region, tmp_path / "one", "--chunk-size", "1")
    run(region, tmp_path / "many", "--chunk-size", "100")
    for path in sorted((tmp_path / "one").glob("*.ndjson")):
        assert path.read_text() == (tmp_path / "many" / path.name).read_text()


def test_unknown_recipient_is_refused(tmp_path) -> None:
    with pytest.raises(CommandError):
        call_command("fhir_bulk_export", "--recipient", "nobody", "--output", str(tmp_path))


@pytest.mark.parametrize("server_side", [True, False])
def test_plan_batches_come_from_one_query_whatever_the_chunk_size(region, server_side) -> None:
    """The exportable plans are decided once and streamed (a server-side cursor, or read whole
    behind a pooler that forbids one): not a page query per chunk, which re-evaluated every
    permission of the exporter per chunk (quadratic in the plans)."""
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    from plan_service.plans.export import export_plan_batches

    user = region["lead"].user
    before = connection.settings_dict.get("DISABLE_SERVER_SIDE_CURSORS", False)
    connection.settings_dict["DISABLE_SERVER_SIDE_CURSORS"] = not server_side
    try:
        many = list(export_plan_batches(user=user, chunk_size=100))  # content types cached
        with CaptureQueriesContext(connection) as ctx:
            one = list(export_plan_batches(user=user, chunk_size=1))
    finally:
        connection.settings_dict["DISABLE_SERVER_SIDE_CURSORS"] = before
    assert len(ctx.captured_queries) == 1  # one statement (its rows fetched batch by batch)
    assert [len(b) for b in one] == [1, 1, 1]
    assert [row for batch in one for row in batch] == many[0]
    assert many[0] == sorted((p.family_id, p.pk) for p in region["led"])
