"""One round trip per log append: a PL/pgSQL function that locks, reads the head, hashes, inserts.

`audit_chain_append(table, log, chain, rows)` takes the chain's transaction-scoped
advisory lock (the same key `chain.lock_chain` uses), reads the chain's head (or its latest purge
point, or genesis), and for each row computes
`sha256(prev_hash || head || seq || tail)` where `head || seq || tail` is the row's canonical JSON
made by Python (`plan_service.audit.chain.canonical`, with the seq cut out because only the
database knows it under the lock), passed with each row's columns as `_head` and `_tail`. So the hash stays byte-identical to `chain.row_hash`, and
`chain.verify` checks these rows like any other. It returns (seq, prev_hash, row_hash) per row.
"""

from django.db import migrations

FUNCTION = """
CREATE OR REPLACE FUNCTION audit_chain_append(
    p_table text, p_log text, p_chain integer, p_rows jsonb
) RETURNS TABLE(seq bigint, prev_hash text, row_hash text)
LANGUAGE plpgsql AS $fn$
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
    PERFORM pg_advisory_xact_lock(hashtext(p_table), p_chain);
    EXECUTE format('SELECT seq, row_hash FROM %I WHERE chain = $1 ORDER BY seq DESC LIMIT 1',
                   p_table)
        INTO v_seq, v_prev USING p_chain;
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
    EXECUTE format(
        'INSERT INTO %1$I SELECT rec.* '
        'FROM jsonb_array_elements($1) WITH ORDINALITY AS r(value, n) '
        'JOIN unnest($3, $4, $5) WITH ORDINALITY AS h(seq, prev, hash, n) USING (n) '
        'CROSS JOIN LATERAL jsonb_populate_record(NULL::%1$I, r.value || jsonb_build_object('
        '''chain'', $2, ''seq'', h.seq, ''prev_hash'', h.prev, ''row_hash'', h.hash)) AS rec '
        'ORDER BY n',
        p_table)
        USING p_rows, p_chain, v_seqs, v_prevs, v_hashes;
    RETURN QUERY SELECT * FROM unnest(v_seqs, v_prevs, v_hashes);
END;
$fn$;
"""

REVERSE = (
    "DROP FUNCTION IF EXISTS audit_chain_append(text, text, integer, jsonb);"
)


class Migration(migrations.Migration):
    dependencies = [
        ("audit", "0004_access_plan_index"),
    ]

    operations = [migrations.RunSQL(FUNCTION, REVERSE)]
