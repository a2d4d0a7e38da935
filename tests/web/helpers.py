"""Signing in to the pages from tests: a real session, as the sign-in view makes it."""

from __future__ import annotations

import re
import time
from typing import Any

from django.test import Client

from plan_service.web.views import SESSION_STARTED


def page_client(user: Any | None, **kwargs: Any) -> Client:
    """A test client with a page session for `user` (anonymous when None)."""
    client = Client(**kwargs)
    if user is not None:
        client.force_login(user)
        session = client.session
        session[SESSION_STARTED] = time.time()
        session.save()
    return client


def text_of(html: bytes | str) -> str:
    """The visible text of a page, tags dropped, whitespace collapsed."""
    raw = html.decode() if isinstance(html, bytes) else html
    raw = re.sub(r"<(script|style)\b.*?</\1>", " ", raw, flags=re.S)
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", raw)).strip()
