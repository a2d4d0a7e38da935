"""WSGI entry point (gunicorn plan_service.wsgi)."""

from __future__ import annotations

import os

from django.core.wsgi import get_wsgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "plan_service.settings.base")
application = get_wsgi_application()
