"""The product's URLs plus the ceiling endpoint (used only by benchmarks/run.py)."""

from __future__ import annotations

from django.urls import path

from benchmarks.ceiling import (
    ceiling,
    ceiling_document,
    ceiling_document_logged,
    ceiling_logged,
    ceiling_logged_rows,
    ceiling_write,
)
from plan_service.urls import urlpatterns as product_urlpatterns

urlpatterns = [
    path("bench/ceiling/<uuid:doc_id>/", ceiling, name="bench-ceiling"),
    path("bench/ceiling-logged/<uuid:doc_id>/", ceiling_logged, name="bench-ceiling-logged"),
    path(
        "bench/ceiling-logged/<uuid:doc_id>/<int:rows>/",
        ceiling_logged_rows,
        name="bench-ceiling-logged-rows",
    ),
    path(
        "bench/ceiling-write/<uuid:doc_id>/<int:rows>/", ceiling_write, name="bench-ceiling-write"
    ),
    path("bench/ceiling-document/<uuid:doc_id>/", ceiling_document, name="bench-ceiling-doc"),
    path(
        "bench/ceiling-document-logged/<uuid:doc_id>/",
        ceiling_document_logged,
        name="bench-ceiling-doc-logged",
    ),
]
urlpatterns += product_urlpatterns
