"""FHIR primitive values from the plan's free text: what the R4 `string` type accepts.

A FHIR string is never empty and carries no control characters besides tab, CR and LF; plan
texts may be blank or pasted from anywhere, so every free text goes through `string()` and an
element is left out when nothing remains.
"""

from __future__ import annotations

import unicodedata

_KEEP = {"\t", "\n", "\r"}


def string(value: str | None, limit: int | None = None) -> str | None:
    """`value` without control characters and outer whitespace, or None when nothing is left."""
    if not value:
        return None
    cleaned = "".join(
        ch for ch in value if ch in _KEEP or unicodedata.category(ch) not in ("Cc", "Cs")
    ).strip()
    if limit is not None:
        cleaned = cleaned[:limit].strip()
    return cleaned or None


def string_or(value: str | None, fallback: str) -> str:
    """`string(value)`, or `fallback` where the element is required."""
    return string(value) or fallback
