"""Announced to listeners (notifications tell the lead and the auditors at once)."""

from __future__ import annotations

from django.dispatch import Signal

#: A plan was opened in an emergency. Sent with `grant`.
opened = Signal()
