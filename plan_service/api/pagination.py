"""Page-number pagination with a bounded, client-chosen page size.

A bad `page` or `page_size` is the client's mistake and answers 400 naming the parameter:
not a whole number, below 1, a page past the last one, or a page size above the maximum
(never silently capped, so a client never believes it received everything when it did not).
"""

from __future__ import annotations

from typing import Any

from django.core.paginator import EmptyPage, InvalidPage, Page, Paginator
from django.db.models import Count, Window
from django.utils.translation import gettext as _
from rest_framework import exceptions, pagination

#: Longer numbers than this are refused before being read as integers.
_MAX_DIGITS = 9


def _whole_number(raw: str, parameter: str) -> int:
    if not (raw.isascii() and raw.isdigit()) or len(raw) > _MAX_DIGITS or int(raw) < 1:
        raise exceptions.ValidationError(
            {parameter: [_("Give a whole number from 1 upwards.")]}, code="invalid"
        )
    return int(raw)


class PageNumberPagination(pagination.PageNumberPagination):
    page_size = 50
    page_size_query_param = "page_size"
    max_page_size = 200

    def get_page_size(self, request: Any) -> int:
        raw = request.query_params.get(self.page_size_query_param)
        if raw is None:
            return self.page_size
        size = _whole_number(raw, self.page_size_query_param)
        if size > self.max_page_size:
            raise exceptions.ValidationError(
                {
                    self.page_size_query_param: [
                        _("At most %(max)s rows per page.") % {"max": self.max_page_size}
                    ]
                },
                code="max_value",
            )
        return size

    def paginate_queryset(self, queryset: Any, request: Any, view: Any = None) -> list[Any]:
        self.request = request
        page_size = self.get_page_size(request)
        paginator = self.django_paginator_class(queryset, page_size)
        raw = request.query_params.get(self.page_query_param)
        number = 1 if raw is None or raw == "last" else _whole_number(raw, self.page_query_param)
        if raw == "last":
            number = paginator.num_pages
        try:
            self.page = paginator.page(number)
        except InvalidPage as exc:
            raise exceptions.ValidationError(
                {
                    self.page_query_param: [
                        _("There is no page %(page)s; the last is %(last)s.")
                        % {"page": number, "last": paginator.num_pages}
                    ]
                },
                code="out_of_range",
            ) from exc
        return list(self.page)

    def get_schema_operation_parameters(self, view: Any) -> list[dict[str, Any]]:
        parameters = super().get_schema_operation_parameters(view)
        for parameter in parameters:
            bound = {"type": "integer", "minimum": 1}
            if parameter["name"] == self.page_size_query_param:
                bound["maximum"] = self.max_page_size
            parameter["schema"] = bound
        return parameters


#: The annotation that carries the list's length on each row of a page (`CountedPaginator`).
_TOTAL = "page_list_length"


class CountedPaginator(Paginator):
    """A paginator that reads the list's length with the page, in one statement.

    `COUNT(*) OVER ()` on the page's own query, instead of Django's separate `COUNT`. The window
    makes PostgreSQL read every matching row, so this is for lists bounded by their reader (a
    professional's plans, about 200), not for a log of millions, where a separate `COUNT` can
    stop early. An empty page past the first has no row to carry the length: then the length
    is counted as Django counts it, for the 400 that names the last page.

    A list may read its pages itself: an object list with `counted_page(bottom, size, name)`
    answers the page's rows, each carrying the list's length under `name`
    (`plans.selectors.PlanListFirstPage`).
    """

    def page(self, number: Any) -> Page:
        number = int(number)
        if number < 1:
            raise EmptyPage(_("That page number is less than 1"))
        bottom = (number - 1) * self.per_page
        counted_page = getattr(self.object_list, "counted_page", None)
        if counted_page is not None:  # a list that reads its pages itself
            rows = counted_page(bottom, self.per_page, _TOTAL)
        else:
            window = self.object_list.annotate(**{_TOTAL: Window(Count("*"))})
            rows = list(window[bottom : bottom + self.per_page])
        if rows:
            self.__dict__["count"] = getattr(rows[0], _TOTAL)
        elif number == 1:
            self.__dict__["count"] = 0
        if not rows and number > 1:
            raise EmptyPage(_("That page contains no results"))
        return self._get_page(rows, number, self)


class CountedPageNumberPagination(PageNumberPagination):
    """`PageNumberPagination` with the length read with the page (`CountedPaginator`)."""

    django_paginator_class = CountedPaginator
