"""FHIR primitive values from the plan's free text: what the R4 `string` type accepts.

A FHIR string is never empty and carries no control characters besides tab, CR and LF; plan
texts may be blank or pasted from anywhere, so every free text goes through `string()` and an
element is left out when nothing remains.
"""

from __future__ import annotations

import re
import unicodedata

import orjson

#: orjson as strict as json.dumps, which the export's JSON must equal byte for byte: a date,
#: time or dataclass left in a resource is an error (a builder's slip), not written in orjson's
#: own format (`bundle.to_json_bytes`, `provenance.content_digest`).
ORJSON_STRICT = orjson.OPT_PASSTHROUGH_DATETIME | orjson.OPT_PASSTHROUGH_DATACLASS

#: Unicode's control characters (category Cc: U+0000-001F, U+007F-009F) but tab, LF and CR,
#: and the surrogates (Cs).
_DROP = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\ud800-\udfff]")


def string(value: str | None, limit: int | None = None) -> str | None:
    """`value` without control characters and outer whitespace, or None when nothing is left."""
    if not value:
        return None
    cleaned = _DROP.sub("", value).strip()
    if limit is not None:
        cleaned = cleaned[:limit].strip()
    return cleaned or None


def string_or(value: str | None, fallback: str) -> str:
    """`string(value)`, or `fallback` where the element is required."""
    return string(value) or fallback


#: FHIR R4's regex for `string` (https://hl7.org/fhir/R4/datatypes.html#string).
_FHIR_STRING = re.compile(r"[ \r\n\t\S]+")
#: Characters an identifier carries only encoded: controls, surrogates, format characters (RTL
#: marks and overrides, zero-width joiners) and separators other than the plain space.
_ENCODE_CATEGORIES = {"Cc", "Cs", "Cf", "Zl", "Zp", "Zs"}
#: How `identifier_value` marks an encoded value (an extension on the Identifier).
ENCODED = "percent-encoded"


def _needs_encoding(ch: str) -> bool:
    return ch != " " and (ch.isspace() or unicodedata.category(ch) in _ENCODE_CATEGORIES)


def is_fhir_string(value: str) -> bool:
    """Whether `value` is a valid FHIR string that needs no encoding to be read as it is."""
    return (
        bool(value)
        and _FHIR_STRING.fullmatch(value) is not None
        and not any(_needs_encoding(ch) for ch in value)
    )


def identifier_value(value: str) -> tuple[str, bool]:
    """`value` as an identifier's value: unchanged when it is a plain FHIR string, otherwise
    percent-encoded (RFC 3986 style, UTF-8; lone surrogates as their surrogate-escaped bytes,
    and '%' itself) — never dropped, never invalid. The flag says it was encoded, so the caller
    can mark the identifier and a reader can decode it exactly.
    """
    if is_fhir_string(value):
        return value, False
    out = []
    for ch in value:
        if ch == "%" or _needs_encoding(ch):
            out.append("".join(f"%{b:02X}" for b in ch.encode("utf-8", "surrogatepass")))
        else:
            out.append(ch)
    return "".join(out), True


def decode_identifier_value(value: str) -> str:
    """The inverse of an encoded `identifier_value`."""
    from urllib.parse import unquote_to_bytes

    return unquote_to_bytes(value).decode("utf-8", "surrogatepass")
