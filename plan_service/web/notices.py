"""Each person's notices on a page: the list (newest first, unread marked), marking read, and
which notices come in the service and by e-mail (issue 19), over the same services as the API.

A notice names its kind and links to its plan while the reader may open that plan; it shows no
plan content (nor the family's name), like the e-mail.
"""

from __future__ import annotations

from django import forms
from django.contrib import messages
from django.core.paginator import Paginator
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.http import require_http_methods, require_POST

from plan_service import policy
from plan_service.notifications import services
from plan_service.notifications.models import Kind
from plan_service.web.views import page, page_number

PAGE_SIZE = 30
LANGUAGES = [("fi", "suomi"), ("sv", "svenska"), ("en", "English")]


class PreferencesForm(forms.Form):
    in_app = forms.MultipleChoiceField(
        label=gettext_lazy("In the service"),
        choices=Kind.choices,
        required=False,
        widget=forms.CheckboxSelectMultiple,
    )
    email = forms.MultipleChoiceField(
        label=gettext_lazy("By e-mail"),
        choices=Kind.choices,
        required=False,
        widget=forms.CheckboxSelectMultiple,
    )
    language = forms.ChoiceField(label=gettext_lazy("Language of e-mails"), choices=LANGUAGES)


class ReadForm(forms.Form):
    notice = forms.UUIDField(required=False)  # none: every notice


@require_http_methods(["GET"])
@page(plan=False)
def notices(request: HttpRequest) -> HttpResponse:
    rows_qs = policy.notifications_for(request.user).order_by("-created_at", "id")
    page_obj = Paginator(rows_qs, PAGE_SIZE).get_page(page_number(request))
    rows = list(page_obj.object_list)
    plan_ids = {r.plan_id for r in rows if r.plan_id}
    openable = (
        set(policy.plans_for(request.user).filter(pk__in=plan_ids).values_list("pk", flat=True))
        if plan_ids
        else set()
    )
    return render(
        request,
        "web/notices.html",
        {
            "rows": [{"notice": r, "openable": r.plan_id in openable} for r in rows],
            "page_obj": page_obj,
            "unread": any(r.read_at is None for r in rows),
            "form": PreferencesForm(initial=services.preferences_of(request.user)),
        },
    )


@require_POST
@page(plan=False)
def read(request: HttpRequest) -> HttpResponse:
    form = ReadForm(request.POST)
    if not form.is_valid():
        raise Http404
    notice = form.cleaned_data["notice"]
    if notice is None:
        services.mark_all_read(user=request.user)
    elif services.mark_read(user=request.user, notice_id=notice) is None:
        raise Http404
    return redirect("web:notices")


@require_POST
@page(plan=False)
def preferences(request: HttpRequest) -> HttpResponse:
    form = PreferencesForm(request.POST)
    if not form.is_valid():
        messages.error(request, _("Check your choices."))
        return redirect("web:notices")
    services.preferences_set(user=request.user, **form.cleaned_data)
    messages.success(request, _("Your choices are saved."))
    return redirect("web:notices")
