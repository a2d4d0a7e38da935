"""Test settings: the base settings with a fast password hasher and plain HTTP."""

from __future__ import annotations

import os

os.environ.setdefault("SECRET_KEY", "test-only-key-not-for-any-deployment-5f0c2a")
# The test runner creates and migrates the test database as the owner; tests/harness/db_roles.py
# then switches every connection to the test database's own service role.
os.environ.setdefault("PLAN_SERVICE_DB_ROLE", "owner")

from plan_service.settings.base import *  # noqa: F403

PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
SECURE_SSL_REDIRECT = False
OAUTH_REQUIRE_HTTPS = False
SESSION_COOKIE_SECURE = False
CSRF_COOKIE_SECURE = False
SECURE_HSTS_SECONDS = 0
LANGUAGE_CODE = "en"
EMAIL_BACKEND = os.environ.get("EMAIL_BACKEND", "django.core.mail.backends.locmem.EmailBackend")
# Most tests sign professionals in with a password; the second-factor tests switch this on.
PROFESSIONAL_SECOND_FACTOR = False
# A test-only app holding a throwaway item kind (tests/kindapp): its declaration alone must give
# it routes, history and export (tests/plans/test_kinds.py).
INSTALLED_APPS = [*INSTALLED_APPS, "tests.kindapp"]  # noqa: F405
# The test client builds the middleware once per client, and the matrix makes a client per
# cell: WhiteNoise would list every static file (finders) each time. With autorefresh it looks a
# file up only when a static URL is asked for, which serves the same files.
WHITENOISE_AUTOREFRESH = True
