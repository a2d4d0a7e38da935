"""The log append function with static SQL, so PostgreSQL keeps its plans.

`audit_chain_append` (migration 0005) named its table with `EXECUTE format(...)`, and PL/pgSQL
plans a dynamic statement anew on every call: the head lookup and the INSERT were planned on
every request that logs. The two chained logs are now two static branches, which PL/pgSQL
prepares once per connection; any other table name is refused. The hashing and the rows
inserted are unchanged (`tests/audit/test_append_function.py` compares every appended row with
`chain.row_hash`).
"""

import importlib

from django.db import migrations

FUNCTION = """
CREATE OR REPLACE FUNCTION audit_chain_append(
    p_table text, p_log text, p_chain integer, p_rows jsonb
) RETURNS TABLE(seq bigint, prev_hash text, row_hash text)
LANGUAGE plpgsql AS $fn$
#variable_conflict use_column
DECLARE
    v_seq bigint;
    v_prev text;
    v_hash text;
    v_row jsonb;
    v_seqs bigint[] := '{}';
    v_prevs text[] := '{}';
    v_hashes text[] := '{}';
    i integer;
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
    FOR i IN 0 .. jsonb_array_length(p_rows) - 1 LOOP
        v_row := p_rows -> i;
        v_seq := v_seq + 1;
        v_hash := encode(sha256(convert_to(
            v_prev || (v_row ->> '_head') || v_seq::text || (v_row ->> '_tail'), 'UTF8')), 'hex');
        v_seqs := v_seqs || v_seq;
        v_prevs := v_prevs || v_prev;
        v_hashes := v_hashes || v_hash;
        v_prev := v_hash;
    END LOOP;
    -- One INSERT for all rows: each row's columns from p_rows (the _head and _tail keys match
    -- no column and are ignored), its place in the chain from the arrays.
    IF p_table = 'audit_accessevent' THEN
        INSERT INTO audit_accessevent
        SELECT rec.*
          FROM jsonb_array_elements(p_rows) WITH ORDINALITY AS r(value, n)
          JOIN unnest(v_seqs, v_prevs, v_hashes) WITH ORDINALITY AS h(seq, prev, hash, n)
         USING (n)
         CROSS JOIN LATERAL jsonb_populate_record(
               NULL::audit_accessevent,
               r.value || jsonb_build_object('chain', p_chain, 'seq', h.seq,
                                             'prev_hash', h.prev, 'row_hash', h.hash)) AS rec
         ORDER BY n;
    ELSE
        INSERT INTO audit_disclosure
        SELECT rec.*
          FROM jsonb_array_elements(p_rows) WITH ORDINALITY AS r(value, n)
          JOIN unnest(v_seqs, v_prevs, v_hashes) WITH ORDINALITY AS h(seq, prev, hash, n)
         USING (n)
         CROSS JOIN LATERAL jsonb_populate_record(
               NULL::audit_disclosure,
               r.value || jsonb_build_object('chain', p_chain, 'seq', h.seq,
                                             'prev_hash', h.prev, 'row_hash', h.hash)) AS rec
         ORDER BY n;
    END IF;
    RETURN QUERY SELECT * FROM unnest(v_seqs, v_prevs, v_hashes);
END;
$fn$;
"""

PREVIOUS = importlib.import_module(
    "plan_service.audit.migrations.0005_issue15_append_function"
).FUNCTION


class Migration(migrations.Migration):
    dependencies = [
        ("audit", "0011_actor_plan_read_index"),
    ]

    operations = [migrations.RunSQL(FUNCTION, PREVIOUS)]
