"""Typed readers for settings taken from the environment; each fails loudly on a bad value."""

from __future__ import annotations

import os

from django.core.exceptions import ImproperlyConfigured

_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off", ""}


def envstr(name: str, default: str) -> str:
    """Return the variable `name`, or `default` when it is unset."""
    return os.environ.get(name, default)


def envbool(name: str, default: bool) -> bool:
    """Return the variable `name` read as a boolean; raise on anything but a clear yes or no."""
    raw = os.environ.get(name)
    if raw is None:
        return default
    value = raw.strip().lower()
    if value in _TRUE:
        return True
    if value in _FALSE:
        return False
    raise ImproperlyConfigured(f"{name} must be one of {sorted(_TRUE | _FALSE)}, not {raw!r}")


def envint(name: str, default: int) -> int:
    """Return the variable `name` read as an integer; raise when it is not one."""
    raw = os.environ.get(name)
    if raw is None or raw == "":
        return default
    try:
        return int(raw)
    except ValueError as exc:
        raise ImproperlyConfigured(f"{name} must be an integer, not {raw!r}") from exc


def envthreshold(name: str, default: int | None) -> int | None:
    """Return the variable `name` as a non-negative integer, or None for "off"."""
    raw = os.environ.get(name)
    if raw is None or raw.strip() == "":
        return default
    if raw.strip().lower() in {"off", "none"}:
        return None
    value = envint(name, 0)
    if value < 0:
        raise ImproperlyConfigured(f"{name} must be a count of at least 0 or 'off', not {raw!r}")
    return value


def envlist(name: str, default: list[str]) -> list[str]:
    """Return the comma-separated variable `name` as a list of non-empty items."""
    raw = os.environ.get(name)
    if raw is None:
        return default
    return [item.strip() for item in raw.split(",") if item.strip()]


def envsecret(name: str, *, debug: bool, dev_default: str) -> str:
    """Return a secret; outside debug mode it must be set and differ from the development one."""
    value = os.environ.get(name)
    if value:
        if not debug and value == dev_default:
            raise ImproperlyConfigured(f"{name} still has its development value")
        return value
    if debug:
        return dev_default
    raise ImproperlyConfigured(
        f"{name} must be set when DEBUG is off and DATABASE_URL names a server "
        f"(for local work, set DEBUG=1 or leave DATABASE_URL unset)"
    )
