"""Request parsing: JSON with a nesting limit, and OPTIONS answers that never touch a serializer.

Python's JSON decoder recurses once per nesting level, so a small body of a thousand nested
arrays ends in RecursionError. The parser refuses such bodies with 400 instead: it catches the
decoder's RecursionError and, for what parses, counts the depth without recursion.
"""

from __future__ import annotations

import codecs
from typing import Any

from django.conf import settings
from django.utils.translation import gettext as _
from rest_framework import exceptions, metadata, parsers
from rest_framework.request import Request
from rest_framework.utils import json

#: The deepest nesting a request body may have (the deepest valid body nests 3 levels).
MAX_JSON_DEPTH = 32


def json_depth(value: Any, limit: int) -> int:
    """The nesting depth of a decoded JSON value, counted without recursion; stops past `limit`.

    Raises UnicodeEncodeError for a string (or key) holding a lone surrogate, such as
    "\\ud800": valid JSON, but no text PostgreSQL (or anyone) can store.
    """
    deepest = 0
    stack: list[tuple[Any, int]] = [(value, 1)]
    while stack:
        node, depth = stack.pop()
        if isinstance(node, str):
            node.encode("utf-8")
            continue
        if isinstance(node, dict):
            children: Any = [*node.keys(), *node.values()]
        elif isinstance(node, list):
            children = node
        else:
            continue
        deepest = max(deepest, depth)
        if deepest > limit:
            return deepest
        stack.extend((child, depth + 1) for child in children)
    return deepest


class RequestTooLarge(exceptions.APIException):
    status_code = 413
    default_code = "too_large"


class JSONParser(parsers.JSONParser):
    """DRF's JSON parser with limits: a body larger than DATA_UPLOAD_MAX_MEMORY_SIZE is 413, one
    nested deeper than MAX_JSON_DEPTH or holding text that is not Unicode is 400 (never 500)."""

    def parse(self, stream: Any, media_type: str | None = None, parser_context: Any = None) -> Any:
        parser_context = parser_context or {}
        encoding = parser_context.get("encoding", settings.DEFAULT_CHARSET)
        limit = getattr(settings, "API_MAX_JSON_DEPTH", MAX_JSON_DEPTH)
        too_deep = _("The JSON body is nested deeper than %(limit)s levels.") % {"limit": limit}
        most = settings.DATA_UPLOAD_MAX_MEMORY_SIZE
        raw = stream.read() if most is None else stream.read(most + 1)
        if most is not None and len(raw) > most:
            raise RequestTooLarge(
                _("The body is larger than %(most)s bytes.") % {"most": most}, code="too_large"
            )
        try:
            text = codecs.decode(raw, encoding)
            data = json.loads(text, parse_constant=json.strict_constant if self.strict else None)
        except RecursionError as exc:
            raise exceptions.ParseError(too_deep, code="too_deep") from exc
        except (ValueError, LookupError) as exc:  # UnicodeDecodeError is a ValueError
            raise exceptions.ParseError(
                _("The body is not valid JSON: %(reason)s") % {"reason": exc}
            ) from exc
        try:
            if json_depth(data, limit) > limit:
                raise exceptions.ParseError(too_deep, code="too_deep")
        except UnicodeEncodeError as exc:
            raise exceptions.ParseError(
                _("The body holds text that is not valid Unicode (a lone surrogate)."),
                code="invalid_unicode",
            ) from exc
        return data


class Metadata(metadata.SimpleMetadata):
    """OPTIONS: name, description and media types only.

    DRF's default also describes the POST/PUT serializer, which runs permission checks and
    `get_object()` outside the view's own flow and fails (500) on views whose serializer is
    chosen per action; the OpenAPI schema at /api/schema/ documents the bodies instead.
    """

    def determine_metadata(self, request: Request, view: Any) -> dict[str, Any]:
        return {
            "name": view.get_view_name(),
            "description": view.get_view_description(),
            "renders": [renderer.media_type for renderer in view.renderer_classes],
            "parses": [parser.media_type for parser in view.parser_classes],
        }
