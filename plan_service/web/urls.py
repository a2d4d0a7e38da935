"""The family's pages. Plan ids are opaque UUIDs; no plan content or identity code is in a URL."""

from __future__ import annotations

from django.urls import path
from django.views.i18n import set_language

from plan_service.web import (
    account,
    assessments,
    auditor,
    consent_record,
    editing,
    history,
    notices,
    sharing,
    start,
    team,
    views,
)

app_name = "web"

urlpatterns = [
    path("", views.SignInView.as_view(), name="signin"),
    path("signout/", views.sign_out, name="signout"),
    path("language/", set_language, name="language"),
    path("start/", start.start, name="start"),
    path("start/search/", start.search, name="start-search"),
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
    path(
        "plans/<uuid:plan_id>/consents/record/",
        consent_record.consent_record,
        name="consent-record",
    ),
    path("plans/<uuid:plan_id>/access-log/", views.access_log, name="access-log"),
    path("plans/<uuid:plan_id>/assessments/", assessments.assessments, name="assessments"),
    path("plans/<uuid:plan_id>/share/", sharing.share, name="share"),
    path("plans/<uuid:plan_id>/share/bundle.json", sharing.bundle, name="share-bundle"),
    path("plans/<uuid:plan_id>/history/", history.history_list, name="history"),
    path("plans/<uuid:plan_id>/history/diff/", history.history_diff, name="history-diff"),
    path("plans/<uuid:plan_id>/history/restore/", history.history_restore, name="history-restore"),
    path(
        "plans/<uuid:plan_id>/history/<str:version>/",
        history.history_version,
        name="history-version",
    ),
    path("plans/<uuid:plan_id>/team/", team.team, name="team"),
    path("plans/<uuid:plan_id>/team/add/", team.member_add, name="team-add"),
    path(
        "plans/<uuid:plan_id>/team/<uuid:member_id>/explain/",
        team.member_explain,
        name="team-explain",
    ),
    path("plans/<uuid:plan_id>/team/<uuid:member_id>/end/", team.member_end, name="team-end"),
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
