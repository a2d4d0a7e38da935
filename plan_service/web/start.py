"""The start page (issue 17): the reader's plans, searched, filtered and paginated.

A professional's worklist: every plan of their teams (`plans.selectors.plan_list`, decided
by the policy), with the family, the children, the status, the reader's role in the plan,
the next review and what needs attention (a review due, a version the guardians have not
signed, new comments since the reader last read the plan), all read in a fixed number of
statements by `plans.worklist` and about what this reader may see only.

**No names in URLs or server logs.** A search by family or child's name is POSTed to
`/start/search/`, kept in the session (server side) and answered with a redirect to
`/start/?<filters>`: the filters (status, role, flags: no personal data) stay in the address,
so paging and links keep them, while the name never reaches a URL, a referrer, a proxy's
or the server's request log. The access log records that a name search narrowed the list,
never the name.

Auditors get a link to their console and administrators a pointer to the admin pages.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlencode

from django import forms
from django.contrib import messages
from django.core.paginator import Paginator
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.translation import gettext_lazy as _
from django.views.decorators.http import require_http_methods, require_POST

from plan_service import policy
from plan_service.audit.models import AccessEvent
from plan_service.audit.services import family_subjects, record_access_batch
from plan_service.plans.models import Membership, Plan
from plan_service.plans.worklist import REVIEW_DUE_DAYS, WorkRow, worklist
from plan_service.web.views import page, page_number

PAGE_SIZE = 25
#: The session key of the name searched for (never in a URL).
SEARCH_KEY = "start_search"
SEARCH_MAX = 100


class FilterForm(forms.Form):
    """What narrows the list; every field optional. Sent as GET (no personal data)."""

    status = forms.ChoiceField(
        label=_("Status"), required=False, choices=[("", _("Any status")), *Plan.Status.choices]
    )
    role = forms.ChoiceField(
        label=_("My role"),
        required=False,
        choices=[("", _("Any role")), *Membership.PlanRole.choices],
    )
    due = forms.BooleanField(label=_("Review due or overdue"), required=False)
    unsigned = forms.BooleanField(label=_("Version not signed by a guardian"), required=False)
    new = forms.BooleanField(label=_("New comments since my last visit"), required=False)

    FLAGS = ("due", "unsigned", "new")


class SearchForm(FilterForm):
    """The name to search for (kept in the session) with the filters, POSTed together."""

    q = forms.CharField(
        label=_("Family or child's name"),
        required=False,
        max_length=SEARCH_MAX,
        strip=True,
    )
    field_order = ["q", "status", "role", "due", "unsigned", "new"]


def _filters(form: FilterForm) -> dict[str, Any]:
    """The valid filters of a bound form; an invalid field is left out (never a 500)."""
    form.is_valid()
    data = getattr(form, "cleaned_data", {})
    out: dict[str, Any] = {}
    for name in ("status", "role"):
        if name not in form.errors and data.get(name):
            out[name] = data[name]
    for name in FilterForm.FLAGS:
        if name not in form.errors and data.get(name):
            out[name] = True
    return out


def _query_string(filters: dict[str, Any]) -> str:
    return urlencode({k: ("1" if v is True else v) for k, v in filters.items()})


def _matches(row: WorkRow, term: str) -> bool:
    """The family's name or a child's name (given, family or both) contains the term."""
    needle = term.casefold()
    names = [row.plan.family.name, *row.children]
    return any(needle in name.casefold() for name in names)


def _select(rows: list[WorkRow], filters: dict[str, Any], term: str) -> list[WorkRow]:
    if term:
        rows = [r for r in rows if _matches(r, term)]
    if "status" in filters:
        rows = [r for r in rows if r.plan.status == filters["status"]]
    if "role" in filters:
        rows = [r for r in rows if r.role == filters["role"]]
    if filters.get("due"):
        rows = [r for r in rows if r.review_due]
    if filters.get("unsigned"):
        rows = [r for r in rows if r.unsigned]
    if filters.get("new"):
        rows = [r for r in rows if r.new_comments]
    return rows


def _log_shown(request: HttpRequest, rows: list[WorkRow], query: dict[str, Any]) -> None:
    """One search row per plan shown (per person of its family), on the basis each plan's
    access rests on; a search that showed nothing is one row about nobody."""
    if not rows:
        record_access_batch(
            actor=request.user,
            action=AccessEvent.Action.SEARCH,
            entries=[{"subjects": [], "object_type": "plan", "query": query, "result_count": 0}],
        )
        return
    subjects = family_subjects(r.plan.family_id for r in rows)
    record_access_batch(
        actor=request.user,
        action=AccessEvent.Action.SEARCH,
        entries=[
            {
                "subjects": subjects.get(r.plan.family_id, []),
                "family_id": r.plan.family_id,
                "plan_id": r.plan.pk,
                "object_type": "plan",
                "object_id": r.plan.pk,
                "object_version": r.plan.version,
                "query": query,
                "result_count": len(rows),
                "legal_basis": r.access.legal_basis,
                "actor_plan_role": r.role,
                "consent_id": r.access.membership.consent_id,
            }
            for r in rows
        ],
    )


@require_http_methods(["GET"])
@page(plan=False)
def start(request: HttpRequest) -> HttpResponse:
    """The reader's plans: searched (name from the session), filtered (GET), paginated."""
    kind = policy.user_kind(request.user)
    if kind in ("auditor", "admin"):
        return render(request, "web/start.html", {"kind": kind})
    form = FilterForm(request.GET)
    filters = _filters(form)
    kept = request.session.get(SEARCH_KEY, "")
    term = kept[:SEARCH_MAX] if isinstance(kept, str) else ""
    everything = worklist(user=request.user)
    rows = _select(everything, filters, term)
    paginator = Paginator(rows, PAGE_SIZE)
    page_obj = paginator.get_page(page_number(request))
    shown = list(page_obj.object_list)
    search = SearchForm(initial={"q": term, **filters})
    response = render(
        request,
        "web/start.html",
        {
            "kind": kind,
            "rows": shown,
            "page_obj": page_obj,
            "keep": _query_string(filters),
            "filtered": bool(filters or term),
            "term": term,
            "total": len(everything),
            "found": len(rows),
            "form": search,
            "errors": [(form[name].label, e) for name, es in form.errors.items() for e in es],
            "due_days": REVIEW_DUE_DAYS,
            "search_max": SEARCH_MAX,
        },
        status=400 if form.errors else 200,
    )
    query: dict[str, Any] = {"page": request.path, **filters}
    if term:
        query["search"] = "name"  # that a name narrowed the list, never the name
    if page_obj.number > 1:
        query["page_number"] = page_obj.number
    _log_shown(request, shown, query)
    return response


@require_POST
@page(plan=False)
def search(request: HttpRequest) -> HttpResponse:
    """Keep the name searched for in the session; back to the list with the filters."""
    form = SearchForm(request.POST)
    filters = _filters(form)
    if "clear" in request.POST:
        request.session.pop(SEARCH_KEY, None)
        return redirect(reverse("web:start"))
    keep = _query_string(filters)
    back = reverse("web:start") + (f"?{keep}" if keep else "")
    if "q" in form.errors:
        messages.error(
            request,
            _("Search with at most %(n)d characters of a name.") % {"n": SEARCH_MAX},
        )
        return redirect(back)
    term = form.cleaned_data.get("q", "")
    if term:
        request.session[SEARCH_KEY] = term
    else:
        request.session.pop(SEARCH_KEY, None)
    return redirect(back)
