"""One's own sessions and tokens on a page (issues 16 and 18): where one is signed in, "end this
one", and "sign out everywhere" — the same service as `/api/v1/me/sessions/`, logged by it."""

from __future__ import annotations

from django import forms
from django.contrib import messages
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils.translation import gettext as _
from django.views.decorators.http import require_http_methods, require_POST

from plan_service.participants import sessions
from plan_service.web.views import page


class EndForm(forms.Form):
    entry = forms.CharField(max_length=80, required=False)  # none: everything, everywhere


@require_http_methods(["GET"])
@page(plan=False)
def my_sessions(request: HttpRequest) -> HttpResponse:
    current = sessions.current_entry(request)
    rows = [{**r, "current": r["id"] == current} for r in sessions.sessions_of(request.user)]
    return render(request, "web/sessions.html", {"rows": rows})


@require_POST
@page(plan=False)
def end(request: HttpRequest) -> HttpResponse:
    form = EndForm(request.POST)
    if not form.is_valid():
        raise Http404
    entry = form.cleaned_data["entry"]
    current = sessions.current_entry(request)
    if not entry:
        sessions.end_all(request.user)
    elif not sessions.end_one(user=request.user, entry_id=entry):
        raise Http404
    if not entry or entry == current:
        # Already ended and logged by the service: only the cookie's session data goes (Django's
        # logout() would log a second sign-out).
        request.session.flush()
        return redirect("web:signin")
    messages.success(request, _("That session has ended."))
    return redirect("web:sessions")
