"""Where the database the tests use is, for another process (a worker, `pg_restore`,
`audit_verify`): read from the live connection, so it is right for the embedded server (a unix
socket the settings do not name) as for a server named by DATABASE_URL."""

from __future__ import annotations

from urllib.parse import quote

from django.db import connection


def server() -> tuple[str, int]:
    """Host (or unix-socket directory) and port of the connected server."""
    connection.ensure_connection()
    info = connection.connection.info
    return info.host or "localhost", info.port


def database_url(database: str | None = None, user: str | None = None) -> str:
    """A postgres:// URL of `database` (default: the connected one) as `user` (default: the
    connected role, or the settings' user)."""
    connection.ensure_connection()
    info = connection.connection.info
    settings = connection.settings_dict
    host, port = server()
    who = user or info.user or settings.get("USER") or "postgres"
    password = f":{settings['PASSWORD']}" if settings.get("PASSWORD") else ""
    return f"postgres://{who}{password}@{quote(host, safe='')}:{port}/{database or info.dbname}"
