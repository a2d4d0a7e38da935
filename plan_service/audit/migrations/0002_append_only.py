"""Make both logs append-only in PostgreSQL itself.

Row triggers reject UPDATE and DELETE, a statement trigger rejects TRUNCATE, and all are
ENABLE ALWAYS so `session_replication_role = replica` cannot switch them off. The one
exception is the retention purge (`audit_purge` command), which sets the transaction-local
`plan_service.audit_purge` to the cutoff and may then delete only rows older than it.
"""

from django.db import migrations

TABLES = ["audit_accessevent", "audit_disclosure"]

FUNCTION = """
CREATE OR REPLACE FUNCTION audit_reject_change() RETURNS trigger
LANGUAGE plpgsql AS $$
DECLARE
    cutoff text := current_setting('plan_service.audit_purge', true);
BEGIN
    IF TG_OP = 'DELETE' AND cutoff IS NOT NULL AND cutoff <> '' THEN
        IF OLD.recorded_at < cutoff::timestamptz THEN
            RETURN OLD;
        END IF;
    END IF;
    RAISE EXCEPTION 'audit log % is append-only: % refused', TG_TABLE_NAME, TG_OP
        USING ERRCODE = 'insufficient_privilege';
END;
$$;
"""


def forwards_sql():
    statements = [FUNCTION]
    for table in TABLES:
        statements += [
            f"CREATE TRIGGER {table}_no_change BEFORE UPDATE OR DELETE ON {table} "
            f"FOR EACH ROW EXECUTE FUNCTION audit_reject_change();",
            f"CREATE TRIGGER {table}_no_truncate BEFORE TRUNCATE ON {table} "
            f"FOR EACH STATEMENT EXECUTE FUNCTION audit_reject_change();",
            f"ALTER TABLE {table} ENABLE ALWAYS TRIGGER {table}_no_change;",
            f"ALTER TABLE {table} ENABLE ALWAYS TRIGGER {table}_no_truncate;",
        ]
    return "\n".join(statements)


def backwards_sql():
    statements = []
    for table in TABLES:
        statements += [
            f"DROP TRIGGER IF EXISTS {table}_no_change ON {table};",
            f"DROP TRIGGER IF EXISTS {table}_no_truncate ON {table};",
        ]
    statements.append("DROP FUNCTION IF EXISTS audit_reject_change();")
    return "\n".join(statements)


class Migration(migrations.Migration):
    dependencies = [("audit", "0001_initial")]
    operations = [migrations.RunSQL(forwards_sql(), backwards_sql())]
