"""URL configuration: the API under /api/v1/, its schema and docs, probes, session login."""

from __future__ import annotations

from django.conf import settings
from django.contrib import admin
from django.contrib.auth import views as auth_views
from django.urls import include, path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerSplitView

from plan_service.api import schema  # noqa: F401 (registers the bearer scheme)
from plan_service.api.health import healthz, readyz
from plan_service.clients import oauth
from plan_service.participants import signin
from plan_service.participants.api.views import AuthTokenViewSet
from plan_service.routes import router
from plan_service.web.views import SignInView

token = AuthTokenViewSet.as_view({"post": "create", "delete": "destroy_current"})

urlpatterns = [
    path("api/v1/auth/token/", token, name="auth-token"),
    # OAuth 2.0 for machine clients: client credentials (RFC 6749 4.4), revocation (RFC 7009).
    path("api/v1/oauth/token/", oauth.token, name="oauth-token"),
    path("api/v1/oauth/revoke/", oauth.revoke, name="oauth-revoke"),
    path("api/v1/", include(router.urls)),
    path("api/schema/", SpectacularAPIView.as_view(), name="schema"),
    path("api/docs/", SpectacularSwaggerSplitView.as_view(url_name="schema"), name="docs"),
    path("healthz", healthz, name="healthz"),
    path("readyz", readyz, name="readyz"),
    path("accounts/login/", SignInView.as_view(), name="login"),
    path("accounts/logout/", auth_views.LogoutView.as_view(), name="logout"),
    path("auth/oidc/citizen/", signin.citizen_start, name="oidc-citizen"),
    path("auth/oidc/callback/", signin.callback, name="oidc-callback"),
    path("auth/oidc/jwks.json", signin.client_jwks, name="oidc-jwks"),
    path("auth/act-for/", signin.act_for, name="act-for"),
    path("admin/", admin.site.urls),
    path("", include("plan_service.web.urls")),
]

if settings.DEBUG:
    urlpatterns.append(path("api-auth/", include("rest_framework.urls")))

handler404 = "plan_service.api.exceptions.page_not_found"
