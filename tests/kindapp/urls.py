"""The service's URLs plus the throwaway kind's routes, made by the route factory."""

from __future__ import annotations

from django.urls import include, path
from rest_framework.routers import SimpleRouter

from plan_service import urls as service_urls
from plan_service.routes import register_item_routes
from tests.kindapp.kinds import STRENGTH

router = SimpleRouter(trailing_slash=True)
register_item_routes(router, STRENGTH)

urlpatterns = [path("api/v1/", include(router.urls)), *service_urls.urlpatterns]
handler404 = service_urls.handler404
