"""Test programme row C: what a reader may not see appears nowhere: detail, lists, counts,
filters, nested ids, history, errors.

`everything_seen` walks every GET this service offers for a plan (plus category filters) and
returns the text of all answers; the checks look for the hidden items' ids and words in it.
"""

from __future__ import annotations

import pytest

from tests.harness.fixtures import world  # noqa: F401 (fixture)

pytestmark = pytest.mark.django_db

KINDS = ("needs", "goals", "actions", "reviews", "comments", "dissents", "acknowledgements")


def everything_seen(client, plan_id) -> str:
    base = f"/api/v1/plans/{plan_id}"
    urls = [
        f"{base}/",
        f"{base}/document/",
        f"{base}/members/",
        f"{base}/access-log/",
        f"{base}/fhir/",
        f"{base}/history/",
        "/api/v1/plans/",
        "/api/v1/families/",
        "/api/v1/consents/",
    ]
    for kind in KINDS:
        urls.append(f"{base}/{kind}/")
        for category in ("social", "general", "health"):
            urls.append(f"{base}/{kind}/?category={category}")
    texts = []
    for url in urls:
        response = client.get(url)
        assert response.status_code in (200, 403, 404), (url, response.status_code)
        texts.append(response.content.decode())
        if response.status_code == 200 and url.endswith(f"/{plan_id}/"):
            pass
    detail = client.get(f"{base}/").json()
    for kind in KINDS:
        listing = client.get(f"{base}/{kind}/").json()
        for row in listing.get("results", []):
            texts.append(client.get(f"{base}/{kind}/{row['id']}/").content.decode())
        counted = detail["counts"][
            kind.rstrip("s") if kind != "acknowledgements" else "acknowledgement"
        ]
        assert counted == listing["count"], (kind, counted, listing["count"])
    return "\n".join(texts)


def test_school_curator_never_sees_child_protection_items(api, world):  # noqa: F811
    side = world.sides["own"]
    hidden = [item for (kind, category), item in side.items.items() if category == "social"]
    seen = everything_seen(api.as_user(world.user("curator")), side.plan.pk)
    for item in hidden:
        assert str(item.pk) not in seen
    assert "need social" not in seen
    assert "goal social" not in seen
    assert "action social" not in seen


def test_the_lead_does_see_them(api, world):  # noqa: F811
    """The check above would be empty if the items were not there at all."""
    side = world.sides["own"]
    seen = everything_seen(api.as_user(world.user("lead")), side.plan.pk)
    for (_kind, category), item in side.items.items():
        if category == "social":
            assert str(item.pk) in seen
