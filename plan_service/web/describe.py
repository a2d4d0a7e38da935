"""Readable words for what the history pages show: field names and values of past versions.

The history functions (`plans/history.py`) answer in plain JSON values, as the API gives them:
ids, ISO dates, codes. A page shows the same values in words: a category's name, the people an
item concerns, the title of the goal an action serves, a date in the reader's locale. Nothing
here reads what the reader may not see: titles come from the reader's own view of the plan's
past (`ReaderView`, today's rules), people from `policy.persons_for`, and a reference the
history already hid (null) stays "—".
"""

from __future__ import annotations

import datetime as dt
import json
from typing import Any

from django.core.exceptions import FieldDoesNotExist
from django.utils import formats
from django.utils.text import capfirst
from django.utils.translation import gettext as _

from plan_service import policy
from plan_service.categories import Category
from plan_service.participants.models import Organization
from plan_service.plans import kinds
from plan_service.plans.models import Goal, Plan, TargetType
from plan_service.plans.visibility import ReaderView, project, user_names

#: Fields a page does not show (machine values: a signature's hash and stored version).
NOT_SHOWN = frozenset({"content_hash", "acknowledged_version"})
#: Fields that name another item, by the kind they name.
ITEM_REFERENCES = {"need": "need", "goal": "goal"}
DASH = "—"


def label_of(data: dict[str, Any]) -> str:
    """A short label of one item's projected data: its title, or the start of its text."""
    for name in ("title", "description", "text", "notes", "held_on", "decision"):
        value = data.get(name)
        if value:
            if name == "held_on":
                return _("review meeting on %(day)s") % {"day": _date(value)}
            text = str(value)
            return text if len(text) <= 80 else text[:79] + "…"
    return ""


def kind_label(kind: str) -> str:
    """The name of a kind of item in the reader's language ("Goal")."""
    try:
        return str(capfirst(kinds.get(kind).model._meta.verbose_name))
    except KeyError:
        return kind


def _date(value: Any) -> str:
    try:
        day = dt.date.fromisoformat(str(value)[:10])
    except ValueError:
        return str(value)
    return formats.date_format(day, "SHORT_DATE_FORMAT")


class Describer:
    """Says the values of one reader's view of a plan's past in words (one per page).

    Two queries at most, made on first use: the family's people the reader may know, and the
    organisations named as responsible.
    """

    def __init__(self, view: ReaderView) -> None:
        self.view = view
        access = view.access
        self._people: dict[str, str] | None = None
        self._orgs: dict[str, str] | None = None
        self._users: dict[Any, str] | None = None
        # The title of every item as the reader last saw it (visible changes only).
        self.titles: dict[tuple[str, str], str] = {}
        for (kind, item_id), changes in view.items.items():
            for change in reversed(changes):
                if change.present:
                    self.titles[(kind, str(item_id))] = label_of(
                        project(kind, change.row, view.vis)
                    )
                    break
        self.access = access

    #
    # Names, loaded once
    #

    def people(self) -> dict[str, str]:
        if self._people is None:
            plan = self.access.plan
            rows = policy.persons_for(self.access.membership.user).filter(family_id=plan.family_id)
            self._people = {str(p.pk): f"{p.given_name} {p.family_name}" for p in rows}
        return self._people

    def _responsible(self) -> tuple[set[Any], set[Any]]:
        """Every user and organisation named as responsible in the view's action rows."""
        users, orgs = set(), set()
        for (kind, _item), changes in self.view.items.items():
            if kind != "action":
                continue
            for change in changes:
                users.add(change.row.responsible_user_id)
                orgs.add(change.row.responsible_organization_id)
        return users - {None}, orgs - {None}

    def organizations(self) -> dict[str, str]:
        """Names of the organisations the view's actions name (one query, on first use)."""
        if self._orgs is None:
            ids = self._responsible()[1]
            rows = Organization.objects.filter(pk__in=ids) if ids else []
            self._orgs = {str(o.pk): o.name for o in rows}
        return self._orgs

    def users(self) -> dict[Any, str]:
        """Names of the users the view's actions name (one query, on first use)."""
        if self._users is None:
            self._users = user_names(
                self._responsible()[0], for_family=policy.is_family(self.view.access)
            )
        return self._users

    #
    # Field names and values
    #

    def field_label(self, kind: str, name: str) -> str:
        if name == "hidden_from_guardians":
            return str(capfirst(_("hidden from the guardians")))
        try:
            model = kinds.get(kind).model
            return str(capfirst(model._meta.get_field(name).verbose_name))
        except (KeyError, FieldDoesNotExist):
            return name

    def field_label_plan(self, name: str) -> str:
        """The name of one of the plan's own fields (status, summary, period)."""
        return str(capfirst(Plan._meta.get_field(name).verbose_name))

    def plan_value(self, name: str, value: Any) -> str:
        if value is None or value == "":
            return DASH
        if name == "status":
            return str(dict(Plan._meta.get_field("status").flatchoices).get(value, value))
        if _looks_like_date(value):
            return _date(value)
        return str(value)

    def value(self, kind: str, name: str, value: Any, data: dict[str, Any] | None = None) -> str:
        """One field's value in words."""
        if name == "concerns":
            if not value:
                return _("the whole family")
            people = self.people()
            return ", ".join(people.get(str(p), _("a family member")) for p in value)
        if name == "hidden_from_guardians":
            return _("yes") if value else _("no")
        if value is None or value == "" or value == []:
            return DASH
        if name == "category":
            return str(Category(value).label) if value in Category.values else str(value)
        if name in ITEM_REFERENCES:
            return self.titles.get((ITEM_REFERENCES[name], str(value))) or _("an item")
        if name == "target_type":
            return str(TargetType(value).label) if value in TargetType.values else str(value)
        if name == "target_id":
            target = (data or {}).get("target_type", "")
            return self.titles.get((target, str(value))) or _("an item")
        if name == "responsible_user":
            return self.users().get(_int(value)) or DASH
        if name in ("responsible_person", "person"):
            return self.people().get(str(value), _("a family member"))
        if name == "responsible_organization":
            return self.organizations().get(str(value), DASH)
        if name == "progress":
            return "; ".join(self._progress(entry) for entry in value)
        if name == "participants":
            return ", ".join(str(v) for v in value)
        if isinstance(value, bool):
            return _("yes") if value else _("no")
        choices = self._choices(kind, name)
        if choices:
            return str(choices.get(value, value))
        if _looks_like_date(value):
            return _date(value)
        if isinstance(value, list):
            return ", ".join(str(v) for v in value)
        return str(value)

    def _progress(self, entry: dict[str, Any]) -> str:
        goal = self.titles.get(("goal", str(entry.get("goal")))) or _("a goal")
        parts = [goal]
        code = entry.get("achievement")
        if code in Goal.Achievement.values:
            parts.append(str(Goal.Achievement(code).label))
        if entry.get("note"):
            parts.append(str(entry["note"]))
        return ": ".join(parts[:1]) + (" — " + ", ".join(parts[1:]) if parts[1:] else "")

    def _choices(self, kind: str, name: str) -> dict[Any, Any]:
        try:
            field = kinds.get(kind).model._meta.get_field(name)
        except (KeyError, FieldDoesNotExist):
            return {}
        return dict(field.flatchoices) if field.choices else {}

    def fields(self, kind: str, data: dict[str, Any]) -> list[dict[str, Any]]:
        """The fields of one projected item as (name, label, words, raw), in declared order."""
        out = []
        for name, raw in data.items():
            if name in NOT_SHOWN or name in (
                "id",
                "version",
                "plan_version",
                "type",
                "written_by",
                "written_at",
            ):
                continue
            out.append(
                {
                    "name": name,
                    "label": self.field_label(kind, name),
                    "words": self.value(kind, name, raw, data),
                    "raw": as_json(raw),
                }
            )
        return out


def as_json(value: Any) -> str:
    """A value as the API's JSON spells it (for a page's `data-` attribute, to compare)."""
    return json.dumps(value, sort_keys=True, ensure_ascii=False, default=str)


def _int(value: Any) -> int | None:
    try:
        return int(value)
    except (TypeError, ValueError):
        return None


def _looks_like_date(value: Any) -> bool:
    if not isinstance(value, str) or len(value) < 10:
        return False
    try:
        dt.date.fromisoformat(value[:10])
    except ValueError:
        return False
    return value[4] == "-"
