"""Signing in to the pages from tests: a real session, as the sign-in view makes it."""

from __future__ import annotations

import re
from typing import Any

from django.test import Client


def page_client(user: Any | None, *, acting_for: Any = None, **kwargs: Any) -> Client:
    """A test client with a page session for `user` (anonymous when None); with `acting_for`,
    the session has chosen that child on /auth/act-for/."""
    client = Client(**kwargs)
    if user is not None:
        client.force_login(user)  # Django's login(): the session is marked signed in
    if acting_for is not None:
        from plan_service.participants.acting import SESSION_KEY

        session = client.session
        session[SESSION_KEY] = str(acting_for)
        session.save()
    return client


def text_of(html: bytes | str) -> str:
    """The visible text of a page, tags dropped, whitespace collapsed."""
    raw = html.decode() if isinstance(html, bytes) else html
    raw = re.sub(r"<(script|style)\b.*?</\1>", " ", raw, flags=re.S)
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", raw)).strip()
