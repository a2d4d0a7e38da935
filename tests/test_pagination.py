"""The plan list reads its length with its page (`CountedPaginator`): one statement, the same
answer as Django's paginator for every page, and the same 400 past the last page."""

from __future__ import annotations

import pytest
from django.contrib.auth import get_user_model
from django.core.paginator import EmptyPage, Paginator
from django.db import connection
from django.test.utils import CaptureQueriesContext

from plan_service import prepared
from plan_service.api.pagination import CountedPaginator
from tests import factories

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize("rows", [0, 1, 3, 4, 7])
def test_every_page_is_the_one_django_gives(rows):
    prefix = factories.unique("paged")
    for n in range(rows):
        factories.user(f"{prefix}-{n}")
    users = get_user_model().objects.filter(username__startswith=prefix).order_by("pk")
    for number in range(1, 5):
        counted, plain = CountedPaginator(users, 3), Paginator(users, 3)
        try:
            expected = plain.page(number)
        except EmptyPage:
            with pytest.raises(EmptyPage):
                counted.page(number)
            assert counted.count == plain.count == rows
            continue
        with CaptureQueriesContext(connection) as ctx:
            page = counted.page(number)
            assert (page.paginator.count, page.paginator.num_pages) == (rows, plain.num_pages)
        assert len(ctx.captured_queries) == 1  # the page and its length together
        assert [u.pk for u in page] == [u.pk for u in expected]
        assert (page.has_next(), page.has_previous()) == (
            expected.has_next(),
            expected.has_previous(),
        )


def test_a_page_number_below_one_is_empty():
    with pytest.raises(EmptyPage):
        CountedPaginator(get_user_model().objects.order_by("pk"), 3).page(0)


def test_the_plan_list_pages_name_their_length_and_the_last_page(api):
    lead = factories.professional()
    for _ in range(3):
        factories.plan(lead)
    client = api.as_user(lead.user)
    first = client.get("/api/v1/plans/?page_size=2").json()
    second = client.get("/api/v1/plans/?page_size=2&page=2").json()
    assert (first["count"], second["count"]) == (3, 3)
    assert first["next"]
    assert not second["next"]
    assert len(first["results"]) + len(second["results"]) == 3
    assert {p["id"] for p in first["results"]}.isdisjoint(p["id"] for p in second["results"])
    last = client.get("/api/v1/plans/?page_size=2&page=last").json()
    assert last["results"] == second["results"]
    past = client.get("/api/v1/plans/?page_size=2&page=3")
    assert past.status_code == 400
    assert "the last is 2" in past.json()["errors"][0]["message"]
    assert "page_list_length" not in first["results"][0]


def test_the_compiled_first_page_answers_what_the_filtered_list_answers(api):
    """Unfiltered and in pages of the default size, the first page is one compiled statement
    (`PlanListFirstPage`); with a filter that keeps every plan, or another page size, the
    ORM's statement: the answers are the same (but for the links, which keep the query)."""
    lead = factories.professional()
    for _ in range(3):
        factories.plan(lead)
    client = api.as_user(lead.user)
    prepared._templates.clear()
    compiled = client.get("/api/v1/plans/?page=1")
    assert [k[0] for k in prepared._templates].count("plan_list_first_page") == 1
    prepared._templates.clear()
    for other in ("?page=1&status=active", "?page_size=50", "?page=1&page_size=2"):
        answer = client.get(f"/api/v1/plans/{other}")
        assert answer.status_code == 200
        assert "plan_list_first_page" not in [k[0] for k in prepared._templates]
        body = answer.json()
        assert body["count"] == 3
        assert body["results"] == compiled.json()["results"][: len(body["results"])]
    assert compiled.status_code == 200
    assert compiled.json()["count"] == 3
    assert compiled.json()["next"] is None
    nobody = api.as_user(factories.professional().user)
    assert nobody.get("/api/v1/plans/").json()["results"] == []
    past = nobody.get("/api/v1/plans/?page=2")
    assert past.status_code == 400
