"""The auditor's console (issue 17): search the access log and the disclosure log, see access
over time, trace a read to its request, check the chains and the last anchor, download what was
found.

Only auditors (`policy.is_auditor`); every other signed-in person gets the 403 page. The rows
are `audit.selectors.access_log_for_auditor` (the auditor's organisation's scope) filtered by the
same FilterSet as `GET /api/v1/audit/access-log/`, and reading them is logged like the API's
read (`audit.services.record_log_read`): one row per person the shown rows are about.
"""

from __future__ import annotations

import datetime as dt
import statistics
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode

from django.core.exceptions import PermissionDenied
from django.core.paginator import Paginator
from django.db.models import Count, QuerySet
from django.db.models.functions import TruncDate
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.utils import timezone
from django.views.decorators.http import require_http_methods, require_POST

from plan_service import policy
from plan_service.audit import anchors, chain, selectors
from plan_service.audit.filters import AccessLogFilter, DisclosureFilter
from plan_service.audit.models import AccessEvent
from plan_service.audit.services import record_log_read
from plan_service.web.views import page, page_number

PAGE_SIZE = 50
#: Days in the chart of access over time (the newest days of the search).
CHART_DAYS = 60


def _require_auditor(request: HttpRequest) -> None:
    if not policy.is_auditor(request.user):
        raise PermissionDenied


def _peaks(days: list[dict[str, Any]]) -> None:
    """Mark unusual days: more than the median plus three median absolute deviations (and more
    than twice the median), so one busy day among quiet ones stands out."""
    counts = [d["n"] for d in days]
    if len(counts) < 3:
        return
    median = statistics.median(counts)
    mad = statistics.median(abs(c - median) for c in counts) or 1
    for d in days:
        d["peak"] = d["n"] > median + 3 * mad and d["n"] > 2 * median


def _chart(qs: Any) -> list[dict[str, Any]]:
    """Rows per day over the last CHART_DAYS of the search (indexed by time; the aggregate
    never reads further back)."""
    since = timezone.now() - dt.timedelta(days=CHART_DAYS)
    rows = list(
        qs.filter(recorded_at__gte=since)
        .order_by()
        .annotate(day=TruncDate("recorded_at"))
        .values("day")
        .annotate(n=Count("id"))
        .order_by("-day")[:CHART_DAYS]
    )
    rows.reverse()
    top = max((r["n"] for r in rows), default=0) or 1
    days = [
        {"day": r["day"], "n": r["n"], "height": round(100 * r["n"] / top), "peak": False}
        for r in rows
    ]
    for i, d in enumerate(days):
        d["x"] = i * 10
        d["y"] = 100 - d["height"]
    _peaks(days)
    return days


@dataclass
class _Found:
    """One page of a log search: the FilterSet, the filtered rows, the page and its links."""

    search: Any
    qs: Any
    page_obj: Any
    rows: list[Any]
    filters: str
    searched: bool


def _search(
    request: HttpRequest, base: QuerySet[Any], filter_class: type[Any], object_type: str
) -> _Found:
    """Filter `base` by the query, take the asked page, log the read (one row per person the
    shown rows are about). An invalid query reads nothing (`page_obj` is None)."""
    search = filter_class(request.GET or None, queryset=base)
    searched = bool(request.GET.keys() - {"page"})
    if searched and not search.is_valid():
        return _Found(search, None, None, [], "", searched)
    qs = search.qs if searched else base
    page_obj = Paginator(qs, PAGE_SIZE).get_page(page_number(request))
    rows = list(page_obj.object_list)
    query = {k: request.GET.getlist(k) for k in request.GET if k != "page"}
    record_log_read(
        actor=request.user,
        object_type=object_type,
        people=[(r.family_id, r.subject_id) for r in rows],
        result_count=len(rows),
        query={"page": request.path, **query} if query else {"page": request.path},
    )
    filters = urlencode([(k, v) for k, vs in query.items() for v in vs])
    return _Found(search, qs, page_obj, rows, filters, searched)


def _invalid(request: HttpRequest, template: str, found: _Found) -> HttpResponse:
    """The search form with what is wrong with each field, and no rows (400)."""
    return render(request, template, {"search": found.search, "rows": []}, status=400)


@require_http_methods(["GET"])
@page(plan=False)
def console(request: HttpRequest) -> HttpResponse:
    _require_auditor(request)
    found = _search(
        request, selectors.access_log_for_auditor(user=request.user), AccessLogFilter, "accessevent"
    )
    if found.page_obj is None:
        return _invalid(request, "web/audit.html", found)
    days = _chart(found.qs) if found.searched and found.page_obj.number == 1 else []
    latest = anchors.latest_anchor()
    return render(
        request,
        "web/audit.html",
        {
            "search": found.search,
            "rows": found.rows,
            "page_obj": found.page_obj,
            "days": days,
            "chart_width": 10 * max(len(days), 14),  # a few days are not a wall of colour
            "filters": found.filters,
            "anchor": latest.name if latest else None,
        },
    )


@require_http_methods(["GET"])
@page(plan=False)
def disclosures(request: HttpRequest) -> HttpResponse:
    """The disclosure log: what left the service, to whom, about whom, on what basis."""
    _require_auditor(request)
    found = _search(
        request,
        selectors.disclosures_for_auditor(user=request.user),
        DisclosureFilter,
        "disclosure",
    )
    if found.page_obj is None:
        return _invalid(request, "web/audit_disclosures.html", found)
    return render(
        request,
        "web/audit_disclosures.html",
        {
            "search": found.search,
            "rows": found.rows,
            "page_obj": found.page_obj,
            "filters": found.filters,
        },
    )


@require_POST
@page(plan=False)
def verify(request: HttpRequest) -> HttpResponse:
    """Verify both chains now (it reads every row: a button, not part of every search)."""
    _require_auditor(request)
    results = [
        {"log": str(name), **chain.verify(model).as_dict()} for name, model in chain.LOGS.items()
    ]
    record_log_read(
        actor=request.user,
        object_type="verify",
        people=[],
        result_count=len(results),
        query={"page": request.path},
    )
    return render(
        request,
        "web/audit.html",
        {"search": AccessLogFilter(None, queryset=AccessEvent.objects.none()), "verified": results},
    )
