"""The family's pages. Plan ids are opaque UUIDs; no plan content or identity code is in a URL."""

from __future__ import annotations

from django.urls import path
from django.views.i18n import set_language

from plan_service.web import account, auditor, editing, notices, views

app_name = "web"

urlpatterns = [
    path("", views.SignInView.as_view(), name="signin"),
    path("signout/", views.sign_out, name="signout"),
    path("language/", set_language, name="language"),
    path("start/", views.start, name="start"),
    path("plans/<uuid:plan_id>/", views.plan_view, name="plan"),
    path("plans/<uuid:plan_id>/words/", views.words, name="words"),
    path("plans/<uuid:plan_id>/sign/", views.sign, name="sign"),
    path("plans/<uuid:plan_id>/hide/", views.hide, name="hide"),
    path("plans/<uuid:plan_id>/consents/", views.consents, name="consents"),
    path(
        "plans/<uuid:plan_id>/consents/<uuid:consent_id>/withdraw/",
        views.consent_withdraw,
        name="consent-withdraw",
    ),
    path("plans/<uuid:plan_id>/access-log/", views.access_log, name="access-log"),
    path("plans/<uuid:plan_id>/items/<str:kind>/new/", editing.item_new, name="item-new"),
    path(
        "plans/<uuid:plan_id>/items/<str:kind>/<uuid:item_id>/edit/",
        editing.item_edit,
        name="item-edit",
    ),
    path("audit/", auditor.console, name="audit"),
    path("audit/verify/", auditor.verify, name="audit-verify"),
    path("audit/disclosures/", auditor.disclosures, name="audit-disclosures"),
    path("sessions/", account.my_sessions, name="sessions"),
    path("sessions/end/", account.end, name="sessions-end"),
    path("notices/", notices.notices, name="notices"),
    path("notices/read/", notices.read, name="notices-read"),
    path("notices/preferences/", notices.preferences, name="notices-preferences"),
]
