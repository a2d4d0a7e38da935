"""The plan's history pages: the timeline of versions, the plan as it stood, a diff, restore.

Each page reads the same functions as the API's `GET /api/v1/plans/{id}/history/` (and its
`?version=` and `diff/`): `plans.history.version_entries`, `plan_as_of` and `plan_diff`, so
every version number, author, time, reason and value is the reader's own (plans/visibility.py:
a change the reader cannot see moves none of them), and the pages show what the API answers.
Restoring an earlier version of an item is the API's `item_restore` (the lead; MANAGE), with
its reason code and the writer's own words, after a confirmation page.

Version numbers are in the URLs (they are the reader's own counts, no plan data); item ids in
the restore page's query are the same opaque UUIDs the API's paths carry.
"""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

from django import forms
from django.contrib import messages
from django.core.exceptions import PermissionDenied, ValidationError
from django.core.paginator import Paginator
from django.db import transaction
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.http import require_http_methods

from plan_service import policy
from plan_service.audit.models import AccessEvent
from plan_service.audit.services import family_subjects, record_access_batch
from plan_service.errors import StaleVersionError
from plan_service.plans import history, kinds, selectors, services
from plan_service.plans.models import CLIENT_CHANGE_CODES, ChangeCode, Reason
from plan_service.plans.visibility import ReaderView, project, reader_view
from plan_service.web.describe import Describer, as_json, kind_label, label_of
from plan_service.web.forms import reason_field
from plan_service.web.views import page, page_number

Act = AccessEvent.Action

#: Versions per page of the timeline (the API's page size is its own setting).
HISTORY_PAGE_SIZE = 20


#
# Parsing what a client sends
#


def _whole(raw: str | None) -> int | None:
    """A plain whole number of at most 9 ASCII digits, else None (never a 500 for "²")."""
    if raw is None or not (raw.isascii() and raw.isdigit()) or len(raw) > 9:
        return None
    return int(raw)


def _log_history(
    request: HttpRequest, access: policy.PlanAccess, *, action: str, version: int
) -> None:
    """The row the API writes for the same read (`log_plan_read(..., object_type="history")`),
    with the page's path as the query."""
    plan = access.plan
    record_access_batch(
        actor=request.user,
        action=action,
        access=access,
        entries=[
            {
                "subjects": family_subjects([plan.family_id]).get(plan.family_id, []),
                "family_id": plan.family_id,
                "plan_id": plan.pk,
                "object_type": "history",
                "object_id": plan.pk,
                "object_version": version,
                "query": {"page": request.path},
            }
        ],
    )


def _context(access: policy.PlanAccess, **extra: Any) -> dict[str, Any]:
    return {"plan": access.plan, "access": access, **extra}


#
# Review meetings: the quick "since the last review meeting" choice
#


def review_versions(view: ReaderView) -> list[int]:
    """The reader's versions that recorded a review meeting (a review added, or the reason
    "agreed in a review meeting"), oldest first: what the reader can see, nothing else."""
    out = []
    for number, stored in enumerate(view.versions, start=1):
        changes = view.by_version.get(stored, [])
        added = any(c.kind == "review" and c.word == "added" for c in changes)
        row = view.plan_rows.get(stored)
        agreed = row is not None and row.history_change_reason == ChangeCode.REVIEW_MEETING
        if added or (agreed and changes):
            out.append(number)
    return out


def quick_choices(view: ReaderView) -> list[dict[str, Any]]:
    """Ready-made comparisons: since the last review meeting, between the last two."""
    meetings = review_versions(view)
    choices = []
    if meetings and meetings[-1] < view.version:
        choices.append(
            {
                "label": _("Since the last review meeting"),
                "from": meetings[-1],
                "to": view.version,
            }
        )
    if len(meetings) >= 2:
        choices.append(
            {
                "label": _("Between the last two review meetings"),
                "from": meetings[-2],
                "to": meetings[-1],
            }
        )
    return choices


#
# The timeline
#


def _entry_labels(view: ReaderView, describer: Describer, number: int) -> list[str]:
    """For one version's changes (in `version_entries`' order), the item each one is about,
    as the reader saw it: after the change, or before it for a removal."""
    stored = view.versions[number - 1] if view.versions else view.current
    labels = []
    for change in view.by_version.get(stored, []):
        row = change.row
        if not change.present:  # removed for the reader: its last state they saw
            earlier = [
                c
                for c in view.item_changes(change.kind, row.id)
                if c.present and c.number < change.number
            ]
            row = earlier[-1].row if earlier else None
        label = label_of(project(change.kind, row, view.vis)) if row is not None else ""
        labels.append(label or describer.titles.get((change.kind, str(change.row.id)), ""))
    return labels


CHANGE_WORDS = {
    "added": gettext_lazy("added"),
    "changed": gettext_lazy("changed"),
    "removed": gettext_lazy("removed"),
}


@require_http_methods(["GET"])
@page()
def history_list(request: HttpRequest, access: policy.PlanAccess) -> HttpResponse:
    """Who changed the plan, when, why and what, newest first, as the API's history list."""
    view = reader_view(access)
    paginator = Paginator(history.version_numbers(view), HISTORY_PAGE_SIZE)
    page_obj = paginator.get_page(page_number(request))
    numbers = list(page_obj.object_list)
    describer = Describer(view)
    entries = history.version_entries(view=view, numbers=numbers)
    for entry in entries:
        labels = _entry_labels(view, describer, entry["version"])
        for change, label in zip(entry["changes"], labels, strict=True):
            change["label"] = label
            change["kind_label"] = kind_label(change["type"])
            change["word"] = CHANGE_WORDS.get(change["change"], change["change"])
        entry["at_time"] = dt.datetime.fromisoformat(entry["at"]) if entry["at"] else None
    response = render(
        request,
        "web/history.html",
        _context(
            access,
            entries=entries,
            page_obj=page_obj,
            latest=view.version,
            compare_from=max(view.version - 1, 1),
            quick=quick_choices(view),
        ),
    )
    _log_history(request, access, action=Act.SEARCH, version=access.plan.version)
    return response


#
# The plan as it stood
#


def _as_of_items(
    access: policy.PlanAccess, view: ReaderView, describer: Describer, state: dict[str, Any]
) -> list[dict[str, Any]]:
    """The items of a past state by kind, each with its fields in words and, for the lead,
    whether this version of it can be brought back."""
    groups = []
    for kind in kinds.all_kinds():
        rows = state["items"].get(kind.name, [])
        if not rows:
            continue
        items = []
        for data in rows:
            changes = view.item_changes(kind.name, data["id"])
            live = bool(changes) and changes[-1].present
            current = changes[-1].number if changes else data["version"]
            items.append(
                {
                    "id": data["id"],
                    "version": data["version"],
                    "label": label_of(data),
                    "written_by": data["written_by"],
                    "written_at": dt.datetime.fromisoformat(data["written_at"]),
                    "fields": describer.fields(kind.name, data),
                    "restorable": bool(kind.versioned_actions)
                    and live
                    and data["version"] != current
                    and policy.may_restore_item(
                        access, {data.get("category"), changes[-1].row.category}
                    ),
                }
            )
        groups.append({"kind": kind.name, "label": kind_label(kind.name), "items": items})
    return groups


@require_http_methods(["GET"])
@page()
def history_version(request: HttpRequest, access: policy.PlanAccess, version: str) -> HttpResponse:
    """The plan as it stood at one of the reader's versions (the API's `?version=`)."""
    view = reader_view(access)
    number = _whole(version)
    if number is None or not 1 <= number <= view.version:
        raise Http404
    state = history.plan_as_of(access=access, version=str(number))
    stored = state.pop("_stored_version")
    describer = Describer(view)
    plan_fields = [
        {
            "name": name,
            "label": describer.field_label_plan(name),
            "words": describer.plan_value(name, state[name]),
            "raw": as_json(state[name]),
        }
        for name in ("status", "summary", "period_start", "period_end")
    ]
    response = render(
        request,
        "web/history_version.html",
        _context(
            access,
            state=state,
            number=number,
            latest=view.version,
            as_of=dt.datetime.fromisoformat(state["as_of"]),
            plan_fields=plan_fields,
            groups=_as_of_items(access, view, describer, state),
        ),
    )
    _log_history(request, access, action=Act.READ, version=stored)
    return response


#
# What changed between two versions
#


def _diff_rows(describer: Describer, diff: dict[str, Any]) -> dict[str, list[dict[str, Any]]]:
    out: dict[str, list[dict[str, Any]]] = {"added": [], "removed": [], "changed": []}
    for change in ("added", "removed"):
        for entry in diff[change]:
            kind = entry["type"]
            out[change].append(
                {
                    "type": kind,
                    "id": entry["id"],
                    "kind_label": kind_label(kind),
                    "label": label_of(entry),
                    "fields": describer.fields(kind, entry),
                }
            )
    for entry in diff["changed"]:
        kind = entry["type"]
        new = {name: values["to"] for name, values in entry["fields"].items()}
        label = label_of(new) or describer.titles.get((kind, entry["id"]), "")
        old_data = {name: values["from"] for name, values in entry["fields"].items()}
        out["changed"].append(
            {
                "type": kind,
                "id": entry["id"],
                "kind_label": kind_label(kind),
                "label": label,
                "fields": [
                    {
                        "name": name,
                        "label": describer.field_label(kind, name),
                        "old": describer.value(kind, name, values["from"], old_data),
                        "new": describer.value(kind, name, values["to"], new),
                        "raw_old": as_json(values["from"]),
                        "raw_new": as_json(values["to"]),
                    }
                    for name, values in entry["fields"].items()
                    if name not in ("content_hash", "acknowledged_version")
                ],
            }
        )
    return out


@require_http_methods(["GET"])
@page()
def history_diff(request: HttpRequest, access: policy.PlanAccess) -> HttpResponse:
    """What changed between two of the reader's versions, item by item and field by field."""
    view = reader_view(access)
    raw_from, raw_to = request.GET.get("from"), request.GET.get("to")
    context = _context(access, latest=view.version, quick=quick_choices(view), diff=None)
    context.update(value_from=raw_from or "", value_to=raw_to or "")
    if raw_from is None and raw_to is None:  # the form alone: the last change preselected
        context.update(value_from=max(view.version - 1, 1), value_to=view.version)
        return render(request, "web/history_diff.html", context)
    numbers = [_whole(raw_from), _whole(raw_to)]
    if None not in numbers and numbers[0] > numbers[1]:  # type: ignore[operator]
        # Read from the earlier to the later version: the same comparison, in order.
        url = reverse("web:history-diff", kwargs={"plan_id": access.plan.pk})
        return redirect(f"{url}?from={numbers[1]}&to={numbers[0]}")
    try:
        diff = history.plan_diff(
            access=access, from_version=raw_from or "", to_version=raw_to or ""
        )
    except ValidationError as exc:
        errors = [m for msgs in exc.message_dict.values() for m in msgs]
        context["errors"] = list(dict.fromkeys(errors))
        return render(request, "web/history_diff.html", context, status=400)
    stored = diff.pop("_stored_version")
    describer = Describer(view)
    context.update(diff=diff, rows=_diff_rows(describer, diff))
    response = render(request, "web/history_diff.html", context)
    _log_history(request, access, action=Act.READ, version=stored)
    return response


#
# Restoring an earlier version of an item (the lead)
#


class RestoreForm(forms.Form):
    """Which version of which item, the version the lead saw it at, and why."""

    type = forms.CharField(max_length=40)
    item = forms.UUIDField()
    version = forms.IntegerField(min_value=1, max_value=999_999_999)
    expected = forms.IntegerField(min_value=1, max_value=999_999_999, required=False)
    code = forms.ChoiceField(
        label=gettext_lazy("Why"),
        required=False,
        choices=[("", gettext_lazy("earlier version restored"))]
        + [(c.value, c.label) for c in ChangeCode if c.value in CLIENT_CHANGE_CODES],
    )
    reason = reason_field(rows=3)


def _restore_target(
    access: policy.PlanAccess, kind_name: str, item_id: Any, version: int
) -> tuple[kinds.ItemKind, Any, ReaderView]:
    """The kind, the live item (visible to the reader) and the view; 404 for anything else, as
    the API's restore answers for an item it does not route or the reader does not see."""
    try:
        kind = kinds.get(kind_name)
    except KeyError as exc:
        raise Http404 from exc
    if not kind.versioned_actions:
        raise Http404
    item = selectors.item_get(access=access, model=kind.model, item_id=item_id)
    if not access.may(policy.Action.MANAGE):
        raise PermissionDenied  # the lead restores (the service asks the same)
    view = reader_view(access)
    try:
        history.item_version(model=kind.model, access=access, item_id=item.pk, version=version)
    except ValidationError as exc:
        raise Http404 from exc
    return kind, item, view


def _restore_page(
    request: HttpRequest,
    access: policy.PlanAccess,
    kind: kinds.ItemKind,
    item: Any,
    view: ReaderView,
    version: int,
    form: RestoreForm,
    status: int = 200,
) -> HttpResponse:
    changes = view.item_changes(kind.name, item.pk)
    now = project(kind.name, changes[-1].row, view.vis) if changes else {}
    then_rows = [c for c in changes if c.number == version and c.present]
    then = project(kind.name, then_rows[0].row, view.vis) if then_rows else {}
    describer = Describer(view)
    fields = []
    for name, new in then.items():
        if name in ("id", "hidden_from_guardians"):
            continue
        old = now.get(name)
        fields.append(
            {
                "label": describer.field_label(kind.name, name),
                "now": describer.value(kind.name, name, old, now),
                "then": describer.value(kind.name, name, new, then),
                "differs": old != new,
            }
        )
    current = view.item_version(kind.name, item.pk, item.version)
    return render(
        request,
        "web/history_restore.html",
        _context(
            access,
            kind=kind.name,
            kind_label=kind_label(kind.name),
            item_id=item.pk,
            label=label_of(now),
            version=version,
            current=current,
            fields=fields,
            form=form,
        ),
        status=status,
    )


@require_http_methods(["GET", "POST"])
@page()
def history_restore(request: HttpRequest, access: policy.PlanAccess) -> HttpResponse:
    """Confirm, then bring back an earlier version of an item as a new version (the lead).

    GET `?type=&item=&version=` shows what would change back; POST does it through the API's
    service (`item_restore`: MANAGE, the reader's item version as If-Match, history and
    access-log rows in this transaction) with a reason code and the lead's own words.
    """
    source = request.POST if request.method == "POST" else request.GET
    kind_name = source.get("type", "")
    version = _whole(source.get("version"))
    try:
        item_id = uuid.UUID(source.get("item", ""))
    except ValueError as exc:
        raise Http404 from exc
    if version is None:
        raise Http404
    kind, item, view = _restore_target(access, kind_name, item_id, version)
    current = view.item_version(kind.name, item.pk, item.version)
    if request.method == "GET":
        form = RestoreForm(
            initial={"type": kind.name, "item": item.pk, "version": version, "expected": current}
        )
        response = _restore_page(request, access, kind, item, view, version, form)
        # It shows the item now and at an earlier version: a read of the plan's history.
        _log_history(request, access, action=Act.READ, version=access.plan.version)
        return response
    form = RestoreForm(request.POST)
    if not form.is_valid() or form.cleaned_data["expected"] is None:
        hidden = ("type", "item", "version", "expected")
        if form.is_valid() or any(name in form.errors for name in hidden):
            form.add_error(None, _("Open this page again before restoring."))
        return _restore_page(request, access, kind, item, view, version, form, status=400)
    data = form.cleaned_data
    try:
        with transaction.atomic():
            services.item_restore(
                actor=request.user,
                plan_id=access.plan.pk,
                model=kind.model,
                item_id=item.pk,
                version=version,
                expected_version=data["expected"],
                reason=Reason(code=data["code"], text=data["reason"].strip()),
            )
    except StaleVersionError:
        # A new request sees the item as it now is (this one's view ends where it began).
        messages.error(
            request,
            _(
                "Someone else changed this item after you opened this page. Check what would "
                "change back now, then restore again."
            ),
        )
        url = reverse("web:history-restore", kwargs={"plan_id": access.plan.pk})
        return redirect(f"{url}?type={kind.name}&item={item.pk}&version={version}")
    except ValidationError as exc:
        for message in _messages_of(exc):
            form.add_error(None, message)
        return _restore_page(request, access, kind, item, view, version, form, status=400)
    messages.success(request, _("The earlier version is restored as a new version."))
    return redirect(reverse("web:history", kwargs={"plan_id": access.plan.pk}))


def _messages_of(exc: ValidationError) -> list[str]:
    if hasattr(exc, "message_dict"):
        return [m for msgs in exc.message_dict.values() for m in msgs]
    return list(exc.messages)
