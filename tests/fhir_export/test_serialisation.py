"""The export's fast text paths give exactly what the plain definitions give (no database).

The bulk export writes with orjson, rewrites references in the JSON text and cleans free text
with one regular expression, for speed (docs/performance.md, issue 20). Each of these is checked
here against the slow, obvious definition it replaces, over every plan shape the strategies
make and over hand-picked hostile text.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import sys
import unicodedata
from typing import Any

from hypothesis import HealthCheck, given, settings

from fhir_export.bundle import plan_bundle, plan_resources, to_json, to_json_bytes
from fhir_export.ndjson import bundle_lines
from fhir_export.primitives import string
from fhir_export.provenance import content_digest
from fhir_export.snapshot import PlanSnapshot
from tests.fhir_export.resolve import bulk_resource
from tests.fhir_export.samples import demo_snapshot
from tests.fhir_export.strategies import snapshots
from tests.harness.hypothesis_profiles import examples

SETTINGS = settings(
    max_examples=examples(60), deadline=None, suppress_health_check=[HealthCheck.too_slow]
)

HOSTILE = [
    'quote " backslash \\ slash / and "reference":"urn:uuid:x"',
    "tab\tnewline\nreturn\r",
    "ääkköset, Åland, 家族, emoji 👪, \u2028 \u2029 \x7f \u0085",
    "</div><script>alert(1)</script>",
]


def _standard(value: Any, *, sort_keys: bool = False) -> bytes:
    text = json.dumps(value, ensure_ascii=False, separators=(",", ":"), sort_keys=sort_keys)
    return text.encode()


def _types(bundle: dict[str, Any]) -> dict[str, str]:
    return {
        e["fullUrl"]: f"{e['resource']['resourceType']}/{e['resource']['id']}"
        for e in bundle["entry"]
    }


def _check(snapshot: PlanSnapshot) -> None:
    bundle = plan_bundle(snapshot)
    assert to_json_bytes(bundle) == _standard(bundle)
    assert to_json(bundle) == _standard(bundle).decode()
    resources = plan_resources(snapshot)
    old_digest = hashlib.sha256(_standard(resources, sort_keys=True)).hexdigest()[:32]
    assert content_digest(resources) == old_digest
    types = _types(bundle)
    lines = bundle_lines(bundle)
    assert [(kind, rid) for kind, rid, _ in lines] == [
        (e["resource"]["resourceType"], e["resource"]["id"]) for e in bundle["entry"]
    ]
    for (_kind, _rid, line), entry in zip(lines, bundle["entry"], strict=True):
        assert line == to_json_bytes(bulk_resource(entry["resource"], types))


@SETTINGS
@given(snapshots())
def test_fast_json_and_reference_rewrite_equal_the_plain_definitions(
    snapshot: PlanSnapshot,
) -> None:
    """orjson's bytes are json.dumps's (so content digests that name versions already pushed do
    not move), and `bulk_line` is `bulk_resource` then JSON, for every plan shape."""
    _check(snapshot)


def test_hostile_text_is_serialised_alike_and_never_taken_for_a_reference() -> None:
    """Free text that spells a reference member, with a fullUrl of the very Bundle in it, stays
    text: only the builders' own `reference` members are rewritten."""
    base = demo_snapshot()
    bundle = plan_bundle(base)
    target = bundle["entry"][0]["fullUrl"]
    for text in [*HOSTILE, f'x","reference":"{target}"', f'"reference":"{target}"']:
        snapshot = dataclasses.replace(base, summary=text)
        _check(snapshot)
        plans = [
            json.loads(line)
            for kind, _rid, line in bundle_lines(plan_bundle(snapshot))
            if kind == "CarePlan"
        ]
        assert plans
        assert {p["description"] for p in plans} == {string(text)}


def test_string_drops_exactly_the_control_characters_and_surrogates() -> None:
    """`primitives.string` (one regular expression) keeps tab, LF and CR and drops every other
    character of Unicode category Cc or Cs, checked over every code point."""
    dropped = {
        cp
        for cp in range(sys.maxunicode + 1)
        if unicodedata.category(chr(cp)) in ("Cc", "Cs") and chr(cp) not in "\t\n\r"
    }
    everything = "".join(chr(cp) for cp in range(sys.maxunicode + 1))
    kept = string("x" + everything + "x")
    assert kept is not None
    assert {ord(ch) for ch in everything} - {ord(ch) for ch in kept} == dropped
    assert string("\x00\x1f \x7f\u0085\ud800 ") is None
    assert string(" a\tb\nc\r ") == "a\tb\nc"


def test_a_value_json_dumps_would_refuse_is_refused_not_written_in_another_format() -> None:
    """orjson writes dates and dataclasses in its own format where json.dumps raises; a builder
    that left one in a resource must fail, not move a digest or a line."""
    import dataclasses as dc
    import datetime as dt

    import pytest

    @dc.dataclass
    class Slip:
        x: int = 1

    for value in (dt.date(2026, 1, 2), dt.datetime(2026, 1, 2, tzinfo=dt.UTC), Slip()):
        with pytest.raises(TypeError):
            json.dumps({"v": value})
        with pytest.raises(TypeError):
            to_json_bytes({"v": value})
        with pytest.raises(TypeError):
            content_digest([{"v": value}])
