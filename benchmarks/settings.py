"""Settings for benchmark runs only: the product's settings plus the ceiling endpoint's URLconf.

DEBUG stays off and every other value comes from plan_service.settings.base unchanged, so the
service under load is the production configuration.
"""

from __future__ import annotations

from plan_service.settings.base import *  # noqa: F403

ROOT_URLCONF = "benchmarks.urls"

# The load runs over plain HTTP on loopback (production terminates TLS in front of gunicorn):
# without this the page journeys' session and CSRF cookies would never be sent back.
SESSION_COOKIE_SECURE = False
CSRF_COOKIE_SECURE = False
