"""ASGI entry point (the production server runs it: deploy/gunicorn.conf.py)."""

from __future__ import annotations

import os

from django.core.asgi import get_asgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "plan_service.settings.base")
# Each request runs its view in a thread of its own, and Django's connections belong to a
# thread: without a pool every request would open a connection (docs/operations.md
# "Connections"). Only this entry point turns it on: commands, job workers and the forked bulk
# export keep their own connections.
os.environ.setdefault("DATABASE_POOL", "1")
application = get_asgi_application()


def _warm_up() -> None:
    """Import every view now, so a worker's first request is as fast as the others."""
    from django.urls import get_resolver

    get_resolver().url_patterns  # noqa: B018 (the lookup loads the URLconf)


_warm_up()
