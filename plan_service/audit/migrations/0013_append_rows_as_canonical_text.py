"""The log append takes each row once, as the canonical text it is hashed from.

`audit_chain_append` (migrations 0005, 0012) took a JSON array in which every row came twice:
its columns, and its canonical text cut around the seq (`_head`, `_tail`). Every column of a
chained log but `prev_hash` and `row_hash` is hashed, so the canonical text holds them all:
the function now takes the rows as one text, the rows apart by U+001E and each cut where its seq
goes by U+001F, hashes each row as before and stores its columns from that same text. Half the
bytes, one JSON document fewer to write in Python and to parse in PostgreSQL (a plan list
appends ~190 rows). The hashes are unchanged (`tests/audit/test_append_function.py` compares
every appended row with `chain.row_hash`).

The function of migration 0012 (rows as JSON) is a separate overload and stays, so workers still
running the previous release keep appending during a rolling deploy; a later release drops it.
"""

from django.db import migrations

FUNCTION = r"""
CREATE OR REPLACE FUNCTION audit_chain_append(
    p_table text, p_log text, p_chain integer, p_rows text
) RETURNS TABLE(seq bigint, prev_hash text, row_hash text)
LANGUAGE plpgsql AS $fn$
#variable_conflict use_column
DECLARE
    v_seq bigint;
    v_prev text;
    v_hash text;
    v_cut integer;
    v_row text;
    v_pieces text[];
    v_texts text[] := '{}';
    v_seqs bigint[] := '{}';
    v_prevs text[] := '{}';
    v_hashes text[] := '{}';
BEGIN
    IF p_table NOT IN ('audit_accessevent', 'audit_disclosure') THEN
        RAISE EXCEPTION 'audit_chain_append: % is not a chained log', p_table;
    END IF;
    PERFORM pg_advisory_xact_lock(hashtext(p_table), p_chain);
    IF p_table = 'audit_accessevent' THEN
        SELECT t.seq, t.row_hash INTO v_seq, v_prev
          FROM audit_accessevent t WHERE t.chain = p_chain ORDER BY t.seq DESC LIMIT 1;
    ELSE
        SELECT t.seq, t.row_hash INTO v_seq, v_prev
          FROM audit_disclosure t WHERE t.chain = p_chain ORDER BY t.seq DESC LIMIT 1;
    END IF;
    IF v_seq IS NULL THEN
        SELECT pp.first_seq - 1, pp.prev_hash INTO v_seq, v_prev
          FROM audit_purgepoint pp
         WHERE pp.log = p_log AND pp.chain = p_chain
         ORDER BY pp.first_seq DESC LIMIT 1;
        IF v_seq IS NULL THEN
            v_seq := 0;
            v_prev := repeat('0', 64);
        END IF;
    END IF;
    -- One text per row, rows apart by U+001E, each cut where its seq goes by U+001F: JSON text
    -- escapes every control character, so neither can occur inside a row's canonical text.
    v_pieces := string_to_array(p_rows, E'\x1e');
    FOREACH v_row IN ARRAY v_pieces LOOP
        v_seq := v_seq + 1;
        v_cut := strpos(v_row, E'\x1f');
        IF v_cut = 0 THEN
            RAISE EXCEPTION 'audit_chain_append: row % has no place for its seq', v_seq;
        END IF;
        v_row := left(v_row, v_cut - 1) || v_seq::text || substr(v_row, v_cut + 1);
        v_hash := encode(sha256(convert_to(v_prev || v_row, 'UTF8')), 'hex');
        v_texts := v_texts || v_row;
        v_seqs := v_seqs || v_seq;
        v_prevs := v_prevs || v_prev;
        v_hashes := v_hashes || v_hash;
        v_prev := v_hash;
    END LOOP;
    -- One INSERT for all rows: each row's columns from its own canonical text (every column
    -- but prev_hash and row_hash is hashed), its place in the chain from the arrays.
    IF p_table = 'audit_accessevent' THEN
        INSERT INTO audit_accessevent
        SELECT rec.*
          FROM unnest(v_texts, v_seqs, v_prevs, v_hashes)
               WITH ORDINALITY AS h(body, seq, prev, hash, n)
         CROSS JOIN LATERAL jsonb_populate_record(
               NULL::audit_accessevent,
               h.body::jsonb || jsonb_build_object('chain', p_chain, 'seq', h.seq,
                                                   'prev_hash', h.prev, 'row_hash', h.hash)) AS rec
         ORDER BY h.n;
    ELSE
        INSERT INTO audit_disclosure
        SELECT rec.*
          FROM unnest(v_texts, v_seqs, v_prevs, v_hashes)
               WITH ORDINALITY AS h(body, seq, prev, hash, n)
         CROSS JOIN LATERAL jsonb_populate_record(
               NULL::audit_disclosure,
               h.body::jsonb || jsonb_build_object('chain', p_chain, 'seq', h.seq,
                                                   'prev_hash', h.prev, 'row_hash', h.hash)) AS rec
         ORDER BY h.n;
    END IF;
    RETURN QUERY SELECT * FROM unnest(v_seqs, v_prevs, v_hashes);
END;
$fn$;
"""

PREVIOUS = "DROP FUNCTION IF EXISTS audit_chain_append(text, text, integer, text);"


class Migration(migrations.Migration):
    dependencies = [
        ("audit", "0012_append_function_static_sql"),
    ]

    operations = [migrations.RunSQL(FUNCTION, PREVIOUS)]
