"""Issue 15: the log append in one round trip hashes exactly as `chain.row_hash` does.

The database function `audit_chain_append` computes each row's hash from the canonical text
Python made; if the two ever differed by one byte, `audit-verify` would report the log broken.
These tests compare every appended row, read back from the database, with `chain.row_hash`,
with values chosen to stress JSON escaping.
"""

from __future__ import annotations

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from plan_service.audit import chain
from plan_service.audit.models import AccessEvent, Disclosure
from tests.audit.helpers import access_row, disclosure_row, key_for_chain

pytestmark = pytest.mark.django_db

AWKWARD = [
    'quote " and backslash \\ and slash /',
    "tab\tnewline\nreturn\rbell\x07 unit\x1f record\x1e",  # \x1e, \x1f part the payload
    "ääkköset, Åland, 家族, emoji 👪, \u2028 line separator",
    '"seq":"\\u0000seq\\u0000"',  # the marker's text, as a value
    "",
]


def _check(model, rows) -> None:
    stored = {r.pk: r for r in model.objects.filter(pk__in=[r.pk for r in rows])}
    assert len(stored) == len(rows)
    for row in rows:
        again = stored[row.pk]
        assert (again.chain, again.seq, again.prev_hash, again.row_hash) == (
            row.chain,
            row.seq,
            row.prev_hash,
            row.row_hash,
        )
        assert again.row_hash == chain.row_hash(again.prev_hash, again)
    assert chain.verify(model).ok


@pytest.mark.parametrize("text", AWKWARD)
def test_appended_access_rows_hash_as_python_does(text):
    key = key_for_chain(1)
    rows = [
        access_row(user_agent=text, actor_display=text, legal_basis=text[:300]),
        access_row(query={text or "k": [text, "x"], "seq": ["1"]}, outcome_code=None),
        access_row(subject_id=None, consent_id=None, client_ip=None, query=None),
    ]
    chain.append(rows, key=key)
    assert [r.seq for r in rows] == list(range(rows[0].seq, rows[0].seq + 3))
    assert rows[1].prev_hash == rows[0].row_hash
    _check(AccessEvent, rows)
    assert AccessEvent.objects.get(pk=rows[2].pk).query is None  # SQL NULL, as the ORM stores


def test_appended_disclosure_rows_hash_as_python_does():
    rows = [disclosure_row(content=text or "c") for text in AWKWARD]
    chain.append(rows, key=key_for_chain(2))
    _check(Disclosure, rows)


def test_one_round_trip_per_append():
    rows = [access_row() for _ in range(20)]
    with CaptureQueriesContext(connection) as ctx:
        chain.append(rows, key=key_for_chain(0))
    assert len(ctx.captured_queries) == 1
    _check(AccessEvent, rows)


def test_a_chain_continues_from_its_head_across_appends():
    key = key_for_chain(3)
    first = [access_row()]
    chain.append(first, key=key)
    second = [access_row(), access_row()]
    chain.append(second, key=key)
    assert second[0].prev_hash == first[0].row_hash
    assert second[0].seq == first[0].seq + 1
    _check(AccessEvent, first + second)


def test_rows_given_as_values_hash_as_the_same_rows_read_back():
    """`append_values` (what the services append: plain values, not model instances) takes a
    value of another type than the field's own (a uuid or a number as text, an address not in
    its canonical form) through the field's `to_python`, as the row read back will hold it,
    and fills every column left out with its default."""
    import uuid

    subject = uuid.uuid4()
    given = [
        {
            "action": "read",
            "outcome": AccessEvent.Outcome.SUCCESS,
            "subject_id": str(subject).upper(),
            "object_version": "7",
            "actor_user_id": "12",
            "actor_hide_name": True,
            "client_ip": "::FFFF:10.0.0.1",
            "query": {"ä": ["x", 1]},
        },
        {"action": "search", "outcome": "denied"},
    ]
    placed = chain.append_values(AccessEvent, given, key=key_for_chain(1))
    rows = list(AccessEvent.objects.filter(seq__in=[p[0] for p in placed], chain=1).order_by("seq"))
    assert [(r.seq, r.prev_hash, r.row_hash) for r in rows] == placed
    first, second = rows
    assert (first.subject_id, first.object_version, first.actor_user_id) == (subject, 7, 12)
    assert first.client_ip == "::ffff:10.0.0.1"
    assert (second.subject_id, second.actor_username, second.purpose) == (None, "", "")
    for row in rows:
        assert row.row_hash == chain.row_hash(row.prev_hash, row)
    assert chain.verify(AccessEvent).ok


def test_rows_sharing_objects_each_store_their_own_values():
    """`append_values` converts a value again only when it is not the very object the row
    before gave: rows that alternate values (A, B, A), share one dict, or give an equal but
    distinct object all store and hash what they gave. A cache keyed on anything looser than
    identity (the column alone, or equality: {"n": 1} == {"n": True}) would store the row
    before's value."""
    import uuid

    a, b = uuid.uuid4(), uuid.uuid4()
    shared = {"filter": ["x"]}
    given = [
        {"action": "read", "subject_id": a, "query": shared, "object_version": 1},
        {"action": "read", "subject_id": b, "query": shared, "object_version": True},
        {"action": "read", "subject_id": str(a), "query": {"filter": ["y"]}, "object_version": 1},
        {"action": "read", "subject_id": None, "query": shared, "object_version": "2"},
        {"action": "read", "query": {"n": 1}},
        {"action": "read", "query": {"n": True}},  # equal to the row before's, not the same
    ]
    placed = chain.append_values(AccessEvent, given, key=key_for_chain(2))
    rows = list(AccessEvent.objects.filter(seq__in=[p[0] for p in placed], chain=2).order_by("seq"))
    assert [r.subject_id for r in rows] == [a, b, a, None, None, None]
    assert [r.query for r in rows][:4] == [shared, shared, {"filter": ["y"]}, shared]
    assert [r.object_version for r in rows][:4] == [1, 1, 1, 2]
    assert [type(r.query["n"]) for r in rows[4:]] == [int, bool]  # not a cache keyed on ==
    for row in rows:
        assert row.row_hash == chain.row_hash(row.prev_hash, row)
    assert chain.verify(AccessEvent).ok


def test_a_value_for_no_column_is_refused_and_nothing_is_written():
    before = AccessEvent.objects.count()
    with pytest.raises(TypeError, match="AccessEvent has no column subjcet_id"):
        chain.append_values(
            AccessEvent, [{"action": "read", "subjcet_id": None}], key=key_for_chain(0)
        )
    assert AccessEvent.objects.count() == before


def test_the_append_function_writes_only_to_the_two_logs():
    """The function names its tables itself (static SQL, planned once per connection); any
    other table name is refused, so it cannot be used to write elsewhere."""
    from django.db import DatabaseError, transaction

    refused = pytest.raises(DatabaseError, match="is not a chained log")
    with refused, transaction.atomic(), connection.cursor() as cursor:
        cursor.execute("SELECT * FROM audit_chain_append('plans_plan', 'access', 0, ''::text)")


def test_a_row_without_the_place_of_its_seq_is_refused():
    """The function puts each row's seq where the row's text is cut; a text with no cut is not
    a row `_payload` made, and is refused rather than hashed and stored with a wrong seq."""
    from django.db import DatabaseError, transaction

    before = AccessEvent.objects.count()
    row = chain._payload(AccessEvent, [{"action": "read"}], 0).replace(chain._SEQ_CUT, "1")
    refused = pytest.raises(DatabaseError, match="has no place for its seq")
    with refused, transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(
            "SELECT * FROM audit_chain_append('audit_accessevent', 'access', 0, %s::text)", [row]
        )
    assert AccessEvent.objects.count() == before


def test_a_log_must_hash_every_column_it_stores(monkeypatch):
    """The function stores each row's columns from its canonical text, so a column left out of
    HASHED_FIELDS would be stored empty: such a model is refused before anything is sent."""
    chain._layout.cache_clear()
    monkeypatch.setattr(
        AccessEvent, "HASHED_FIELDS", tuple(f for f in AccessEvent.HASHED_FIELDS if f != "purpose")
    )
    try:
        with pytest.raises(ValueError, match="must hash seq and every column"):
            chain.append_values(AccessEvent, [{"action": "read"}], key=key_for_chain(0))
    finally:
        chain._layout.cache_clear()


@pytest.mark.parametrize("number", [1e20, -0.0, 0.5])
def test_a_float_in_a_logged_query_is_refused_and_nothing_is_written(number):
    """jsonb keeps a number as its decimal value, so a float can come back in another form
    (1e+20 as the integer 100000000000000000000, -0.0 as 0.0): the row read back would hash
    differently and `verify` would report a row nobody changed. The append refuses every
    float (0.5 would survive, but no rule short of all floats is simple enough to trust), at
    any depth, before writing anything: the rows before it in the call included."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT %s::jsonb::text", [chain._canonical_json({"n": 1e20, "z": -0.0})])
        assert cursor.fetchone()[0] == '{"n": 100000000000000000000, "z": 0.0}'
    before = AccessEvent.objects.count()
    rows = [
        {"action": "read", "query": {"ok": [1, "x", True, None]}},
        {"action": "read", "query": {"f": [{"n": number}]}},
    ]
    with pytest.raises(ValueError, match="query: a chained log row cannot hold the number"):
        chain.append_values(AccessEvent, rows, key=key_for_chain(3))
    assert AccessEvent.objects.count() == before


@pytest.mark.parametrize(
    "text",
    ["", "plain", 'quote " and back\\slash', "line\nbreak\ttab\x1f\x7f", "åäö ÅÄÖ 𝄞 \u2028\u2029"],
)
def test_a_string_member_is_written_as_json_dumps_writes_it(text):
    """Strings take a shorter way into the canonical text than other values (the string
    encoder alone): it must write exactly what `json.dumps` writes, and a row holding such
    text must hash as the same row read back."""
    import json

    assert chain._canonical_json(text) == json.dumps(text, ensure_ascii=False)
    compact = json.dumps({"k": text}, ensure_ascii=False, separators=(",", ":"))
    assert chain._canonical_json({"k": text}) == compact
    placed = chain.append_values(
        AccessEvent, [{"action": "read", "user_agent": text}], key=key_for_chain(3)
    )
    row = AccessEvent.objects.get(chain=3, seq=placed[0][0])
    assert row.user_agent == text
    assert row.row_hash == chain.row_hash(row.prev_hash, row)
