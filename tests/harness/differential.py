"""The differential harness: what a reader sees of world A and of world B = A + changes they may
not see, replaying every GET route of the permission matrix as that reader.

`observe` returns, per request, the status, the ETag and the body, with only two things made
comparable between the worlds: timestamps at or after the replay's start (the reader's own
actions, e.g. their reads in the family's access log) become `<now>`, and, for worlds built by
separate runs of the same visible writes (the Hypothesis test), ids are renamed in order of first
appearance (`rename_ids`). Everything else must be byte for byte the same.

Beyond the matrix row itself, each GET is also replayed in the variants that expose counts,
pagination, filters and every version the reader has (`variants`).
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

from tests.conftest import Api
from tests.harness.permission_matrix import ENDPOINTS, Endpoint
from tests.harness.world import World

#: Every GET row of the permission matrix: the harness replays all of them.
GET_ENDPOINTS: list[Endpoint] = [ep for ep in ENDPOINTS if ep.method == "GET"]

_TIMESTAMP = re.compile(
    r"\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}:\d{2}(?:\.\d{1,6})?(?:Z|[+-]\d{2}:?\d{2})"
)
_UUID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")


@dataclass(frozen=True)
class Seen:
    """One request as the reader saw it."""

    request: str
    status: int
    etag: str
    content_type: str
    body: str


def _parse(stamp: str) -> dt.datetime | None:
    try:
        moment = dt.datetime.fromisoformat(stamp.replace("Z", "+00:00").replace(" ", "T"))
    except ValueError:
        return None
    return moment if moment.tzinfo else None


def normalise(text: str, since: dt.datetime) -> str:
    """Timestamps at or after `since` (the replay's own moments) become `<now>`, and the
    reader's own token references `token-<own>`."""

    def replace(match: re.Match[str]) -> str:
        moment = _parse(match.group(0))
        return "<now>" if moment is not None and moment >= since else match.group(0)

    # The reader's own sign-in (a fresh token per replay) is named by its digest's prefix.
    text = _OWN_TOKEN.sub("token-<own>", _TIMESTAMP.sub(replace, text))
    # Digests over a world's content name its ids, which each world draws afresh: they are
    # compared by the tests that keep one world and add the hidden change to it (issue 20's
    # recipient export test), not here.
    return _DIGEST.sub("<digest>", text)


_OWN_TOKEN = re.compile(r"token-[0-9a-f]{32}")
_DIGEST = re.compile(
    r"\b[0-9a-f]{32}\b|(?<=plan content )[0-9a-f]{12}\b"
    # Name-based (version 5) UUIDs: the FHIR export derives them from such digests and ids.
    r"|\b[0-9a-f]{8}-[0-9a-f]{4}-5[0-9a-f]{3}-[0-9a-f]{4}-[0-9a-f]{12}\b"
)


def rename_ids(seen: list[Seen]) -> list[Seen]:
    """Ids renamed `id1, id2, ...` in order of first appearance over the whole replay."""
    names: dict[str, str] = {}

    def name(match: re.Match[str]) -> str:
        return names.setdefault(match.group(0), f"id{len(names) + 1}")

    return [
        Seen(
            _UUID.sub(name, s.request),
            s.status,
            _UUID.sub(name, s.etag),
            s.content_type,
            _UUID.sub(name, s.body),
        )
        for s in seen
    ]


def _with(url: str, query: str) -> str:
    return f"{url}{'&' if '?' in url else '?'}{query}"


def variants(ep: Endpoint, url: str) -> list[str]:
    """The matrix row's URL plus the variants that show counts, pages and filters."""
    urls = [url]
    if ep.route.endswith("-list") and "?" not in url:
        urls.append(_with(url, "page_size=1"))  # count, next link, the first row only
    if ep.route.startswith("plan-") and ep.route.endswith("-list") and "category" not in url:
        kind = ep.route.removeprefix("plan-").removesuffix("-list")
        if kind in ("needs", "goals", "actions", "reviews", "comments", "dissents"):
            urls += [_with(url, f"category={c}") for c in ("general", "social")]
    return urls


#: The newest versions replayed one by one (every change a test makes comes after the world's
#: own versions, so a leak shows in these), with the first and every tenth of the older ones.
NEWEST_VERSIONS = 8


def history_versions(last: int) -> list[int]:
    """The versions whose history entry is replayed: the newest `NEWEST_VERSIONS`, version 1
    and every tenth before them. History is append-only and a reader's numbering only grows, so
    a later change cannot alter an older entry without also changing the newest ones or the
    list, both of which are replayed in full."""
    newest = set(range(max(last - NEWEST_VERSIONS + 1, 1), last + 1))
    return sorted(newest | {1} | set(range(10, last + 1, 10)))


def _requests(
    world: World, client: Api, side_name: str = "own", *, extra: bool = True
) -> Iterator[tuple[str, str]]:
    side = world.sides[side_name]
    for ep in GET_ENDPOINTS:
        for url in variants(ep, ep.path(world, side)) if extra else [ep.path(world, side)]:
            yield ep.route, url
    if not extra:
        return
    # Every version the reader has, as it stood, and the diffs of the whole span and the last.
    base = f"/api/v1/plans/{side.plan.pk}"
    detail = client.get(f"{base}/")
    if detail.status_code == 200:
        last = detail.json()["version"]
        for number in history_versions(last):
            yield "plan-history-list", f"{base}/history/?version={number}"
        yield "plan-history-diff", f"{base}/history/diff/?from=1&to={last}"
        yield "plan-history-diff", f"{base}/history/diff/?from={max(last - 1, 1)}&to={last}"


def observe(
    world: World, reader: Any, since: dt.datetime, *, extra: bool = True, acting_for: Any = None
) -> list[Seen]:
    """Replay every GET route as `reader` (with its page, filter and version variants unless
    `extra` is false); what they saw, normalised. With `acting_for`, the reader is a guardian
    acting for that child (a page session that chose the child, as the API honours it)."""
    client = Api(reader, acting_for=acting_for)
    seen = []
    for route, url in _requests(world, client, extra=extra):
        response = client.get(url)
        body = b"".join(response.streaming_content) if response.streaming else response.content
        seen.append(
            Seen(
                request=f"{route} {url}",
                status=response.status_code,
                etag=normalise(response.get("ETag", ""), since),
                content_type=response.get("Content-Type", ""),
                body=normalise(body.decode(), since),
            )
        )
    # The reader's own page session (acting callers sign in as the pages do): a fresh one per
    # replay, named like the reader's own token.
    own_session = _own_session(client)
    if own_session is not None:
        seen = [
            Seen(x.request, x.status, x.etag, x.content_type, _named_own(x.body, own_session))
            for x in seen
        ]
    return seen


def _own_session(client: Api) -> str | None:
    """The id under which the reader's own page session is listed (a fresh one per replay)."""
    from plan_service.participants.models import SignInSession

    key = client.client.session.session_key
    row = SignInSession.objects.filter(session_key=key).first() if key else None
    return str(row.pk) if row is not None else None


def _named_own(text: str, own_session: str | None) -> str:
    return text.replace(own_session, "session-<own>") if own_session else text


def first_difference(a: list[Seen], b: list[Seen]) -> str:
    """A readable account of where two replays part (for the assertion message)."""
    if len(a) != len(b):
        extra = [s.request for s in (b[len(a) :] if len(b) > len(a) else a[len(b) :])]
        return f"the worlds gave {len(a)} and {len(b)} requests; extra: {extra[:5]}"
    for left, right in zip(a, b, strict=True):
        if left != right:
            field = next(
                f
                for f in ("request", "status", "etag", "content_type", "body")
                if getattr(left, f) != getattr(right, f)
            )
            lv, rv = str(getattr(left, field)), str(getattr(right, field))
            at = next(
                (i for i, (x, y) in enumerate(zip(lv, rv, strict=False)) if x != y),
                min(len(lv), len(rv)),
            )
            return (
                f"{left.request}: {field} differs at {at}:\n"
                f"  A: ...{lv[max(0, at - 150) : at + 150]}\n"
                f"  B: ...{rv[max(0, at - 150) : at + 150]}"
            )
    return "no difference"


#: A hidden change: given the world, make it (through the services, as its author would).
Change = Callable[[World], None]
