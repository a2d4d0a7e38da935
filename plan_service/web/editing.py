"""The team's editing pages: add and change needs, goals, actions and review meetings.

Same services as the API (`services.item_create`, `services.item_update` with the version the
writer started from, as *they* see it: plans/visibility.py), same policy (`policy.may_add_item`,
`policy.require_item`), same access-log rows. Joint editing never overwrites silently: the edit
form carries the item's version as the reader saw it; when someone else changed the item first
(the service's `StaleVersionError`, 412 in the API) the person gets the conflict page, with
their own text kept, "their version now" beside it, and two ways on: apply theirs again over
the new version, or merge field by field. Both submit against the new version, so a third
change meanwhile gives the conflict page again.

An update sends only the fields the person changed, compared with the item as they see it:
links to items they may not see, and review progress on goals they may not see, are left as
they are (a form that does not show them cannot clear them).
"""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

from django import forms
from django.contrib import messages
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import formats
from django.utils.text import capfirst
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.http import require_http_methods

from plan_service import policy
from plan_service.audit.models import AccessEvent
from plan_service.audit.services import family_subjects, record_access_batch
from plan_service.categories import Category
from plan_service.errors import StaleVersionError
from plan_service.participants.models import Organization, Person
from plan_service.plans import history, kinds, selectors, services
from plan_service.plans.models import Goal, Need, PlanItem
from plan_service.plans.visibility import reader_view
from plan_service.text_limits import MAX_CONCERNS, MAX_PARTICIPANTS, MAX_PROGRESS
from plan_service.web import reading
from plan_service.web.views import page

Act = AccessEvent.Action

#: The kinds these pages edit. Words (comments, dissent) and signatures have their own pages
#: (views.words, sign).
EDITED_KINDS = ("need", "goal", "action", "review")
#: Their own fields in form order (besides category and concerns), as each kind declares them
#: (plans/kinds.py; a reference `need_id` is the form's `need`). A review's progress per goal
#: has its own part of the form.
FORM_FIELDS: dict[str, tuple[str, ...]] = {
    name: tuple(f.removesuffix("_id") for f in kinds.get(name).fields if f != "progress")
    for name in EDITED_KINDS
}
DATE_FIELDS = frozenset({"target_date", "due_date", "held_on", "next_review_on"})
REFERENCES = {"need": Need, "goal": Goal}  # form field -> the kind it names
REFERENCE_LABELS = {"need": gettext_lazy("Need"), "goal": gettext_lazy("Goal")}
PROGRESS_NOTE_MAX = 2000

KIND_TITLES = {
    "need": (gettext_lazy("Add a need"), gettext_lazy("Change a need")),
    "goal": (gettext_lazy("Add a goal"), gettext_lazy("Change a goal")),
    "action": (gettext_lazy("Add an action"), gettext_lazy("Change an action")),
    "review": (gettext_lazy("Record a review meeting"), gettext_lazy("Change a review meeting")),
}


def _kind_model(kind: str) -> type[PlanItem]:
    """The model of an editable kind; any other name is the 404 page."""
    if kind not in FORM_FIELDS:
        raise Http404
    return kinds.get(kind).model


#
# What the form may offer: read through the selectors, once per page
#


class Choices:
    """The choices one reader's form offers (visible needs and goals, the family's children
    and people, the current team and its organisations)."""

    def __init__(self, access: policy.PlanAccess, kind: str) -> None:
        self.access = access
        self.kind = kind
        self.needs: list[Need] = []
        self.goals: list[Goal] = []
        if kind == "goal":
            self.needs = list(selectors.item_list(access=access, model=Need))
        if kind in ("action", "review"):
            self.goals = list(selectors.item_list(access=access, model=Goal))
        people = list(
            policy.persons_for(access.membership.user)
            .filter(family_id=access.plan.family_id)
            .order_by("kind", "given_name", "id")
        )
        self.names = {p.pk: f"{p.given_name} {p.family_name}" for p in people}
        if access.family_children is not None:
            children = set(access.family_children)
        else:
            children = set(
                Person.objects.filter(
                    family_id=access.plan.family_id, kind=Person.Kind.CHILD
                ).values_list("pk", flat=True)
            )
        nameable = policy.nameable_children(access, children)
        self.children = [(str(p.pk), self.names[p.pk]) for p in people if p.pk in nameable]
        self.people = [(str(p.pk), self.names[p.pk]) for p in people]
        # Team members are offered by their place in the team (an opaque id), never by
        # their account's number; a member who has left stays selectable while responsible.
        self.members: list[tuple[str, str]] = []
        self.member_names: dict[str, str] = {}
        self.member_user: dict[str, Any] = {}  # place in the team -> user id
        self.user_member: dict[Any, str] = {}  # user id -> their (latest) place
        self.organizations: list[tuple[str, str]] = []
        if kind == "action":
            team = selectors.membership_list(access=access).exclude(professional__isnull=True)
            current = set(
                selectors.membership_list(access=access)
                .filter(policy.current_membership_q())
                .values_list("pk", flat=True)
            )
            orgs: dict[str, str] = {}
            for m in team:
                name = m.user.get_full_name() or m.user.get_username()
                self.member_names[str(m.pk)] = name
                self.member_user[str(m.pk)] = m.user_id
                if m.pk in current or m.user_id not in self.user_member:
                    self.user_member[m.user_id] = str(m.pk)
                if m.pk in current:
                    self.members.append((str(m.pk), name))
                    org = m.professional.organization
                    if org is not None:
                        orgs[str(org.pk)] = org.name
            self.organizations = sorted(orgs.items(), key=lambda o: o[1])

    def shown(self) -> dict[str, list[Any]]:
        """What the form shows, by kind, for the access log."""
        out: dict[str, list[Any]] = {}
        if self.needs:
            out["need"] = self.needs
        if self.goals:
            out["goal"] = self.goals
        return out


#
# The form
#


def _date_field(model: type[PlanItem], name: str) -> forms.DateField:
    field = model._meta.get_field(name)
    return forms.DateField(
        label=capfirst(field.verbose_name),
        required=not field.blank,
        widget=forms.DateInput(attrs={"type": "date"}, format="%Y-%m-%d"),
    )


def _with_current(choices: list[tuple[str, str]], value: str, label: str) -> list[tuple[str, str]]:
    """Keep the item's present value selectable even when it is no longer among the choices
    (a member who has left the team still reads as responsible until someone changes it)."""
    if value and value not in {c[0] for c in choices}:
        return [*choices, (value, label)]
    return choices


class ItemForm(forms.Form):
    """The fields of one kind, labelled from the model (translated), choices as the reader may
    see them. Values are strings, lists of strings and dates; `service_data` makes the
    service's payload (the API's input serializer's shape)."""

    version = forms.IntegerField(
        label=gettext_lazy("The version you started from"),
        widget=forms.HiddenInput,
        required=False,
        min_value=1,
        max_value=2_147_483_647,
    )

    def __init__(
        self,
        *args: Any,
        kind: str,
        choices: Choices,
        current: dict[str, Any] | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(*args, **kwargs)
        self.kind = kind
        self.choices = choices
        model = _kind_model(kind)
        current = current or {}
        writes = [(v, label) for v, label in Category.choices if v in choices.access.writes]
        self.fields["category"] = forms.ChoiceField(
            label=capfirst(model._meta.get_field("category").verbose_name), choices=writes
        )
        concerns = model._meta.get_field("concerns")
        self.fields["concerns"] = forms.MultipleChoiceField(
            label=capfirst(concerns.verbose_name),
            help_text=concerns.help_text,
            choices=choices.children,
            required=False,
            widget=forms.CheckboxSelectMultiple,
        )
        for name in FORM_FIELDS[kind]:
            self.fields[name] = self._field(model, name, current)
        if kind == "review":
            self._progress_fields()

    def _field(self, model: type[PlanItem], name: str, current: dict[str, Any]) -> forms.Field:
        c = self.choices
        none = [("", _("none"))]
        if name in REFERENCES:
            items = c.needs if name == "need" else c.goals
            return forms.ChoiceField(
                label=REFERENCE_LABELS[name],
                choices=none + [(str(i.pk), i.title) for i in items],
                required=False,
            )
        if name in DATE_FIELDS:
            return _date_field(model, name)
        if name == "responsible_user":
            value = current.get(name, "")
            return forms.ChoiceField(
                label=_("Team member responsible"),
                choices=none + _with_current(c.members, value, c.member_names.get(value, "")),
                required=False,
            )
        if name == "responsible_person":
            return forms.ChoiceField(
                label=_("Family member responsible"), choices=none + c.people, required=False
            )
        if name == "responsible_organization":
            value = current.get(name, "")
            org = Organization.objects.filter(pk=value).first() if value else None
            return forms.ChoiceField(
                label=_("Organisation responsible"),
                choices=none + _with_current(c.organizations, value, org.name if org else ""),
                required=False,
            )
        if name == "participants":
            return forms.CharField(
                label=capfirst(model._meta.get_field(name).verbose_name),
                help_text=_("One name per line."),
                required=False,
                max_length=MAX_PARTICIPANTS * 201,
                widget=forms.Textarea(attrs={"rows": 3}),
            )
        field = model._meta.get_field(name).formfield()
        if isinstance(field.widget, forms.Textarea):
            field.widget.attrs["rows"] = 3
        return field

    def _progress_fields(self) -> None:
        achievements = [("", _("not assessed")), *Goal.Achievement.choices]
        for goal in self.choices.goals[:MAX_PROGRESS]:
            self.fields[f"progress_{goal.pk}_achievement"] = forms.ChoiceField(
                label=_("Achievement: %(goal)s") % {"goal": goal.title},
                choices=achievements,
                required=False,
            )
            self.fields[f"progress_{goal.pk}_note"] = forms.CharField(
                label=_("Progress: %(goal)s") % {"goal": goal.title},
                required=False,
                max_length=PROGRESS_NOTE_MAX,
                widget=forms.Textarea(attrs={"rows": 2}),
            )

    def clean_participants(self) -> str:
        value = self.cleaned_data.get("participants", "")
        lines = [line.strip() for line in value.splitlines() if line.strip()]
        if len(lines) > MAX_PARTICIPANTS:
            raise ValidationError(_("At most %(n)s names.") % {"n": MAX_PARTICIPANTS})
        if any(len(line) > 200 for line in lines):
            raise ValidationError(_("A name has at most 200 characters."))
        return "\n".join(lines)

    def clean_concerns(self) -> list[str]:
        value = self.cleaned_data.get("concerns") or []
        if len(value) > MAX_CONCERNS:
            raise ValidationError(_("Too many children."))
        return value

    #
    # Values
    #

    def values(self) -> dict[str, Any]:
        """The cleaned values of the item's fields (not the version), texts with \\n lines."""
        out = {}
        for name in self.fields:
            if name == "version":
                continue
            value = self.cleaned_data.get(name)
            if isinstance(value, str):
                value = value.replace("\r\n", "\n")
            out[name] = value
        return out

    def sections(self) -> list[dict[str, Any]]:
        """The fields in groups for the template: the item's own, then progress per goal."""
        own = [self[n] for n in self.fields if n != "version" and not n.startswith("progress_")]
        progress = [
            {
                "goal": goal,
                "achievement": self[f"progress_{goal.pk}_achievement"],
                "note": self[f"progress_{goal.pk}_note"],
            }
            for goal in self.choices.goals[:MAX_PROGRESS]
            if f"progress_{goal.pk}_note" in self.fields
        ]
        return [{"fields": own, "progress": progress}]

    def display(self, name: str, value: Any) -> str:
        """A value as the reader reads it: choice labels, dates in the locale's format."""
        if value in (None, "", []):
            return ""
        field = self.fields.get(name)
        if isinstance(value, dt.date):
            return formats.date_format(value, "SHORT_DATE_FORMAT")
        if isinstance(field, forms.ChoiceField):
            labels = {str(k): str(v) for k, v in field.choices}
            if isinstance(value, list):
                return ", ".join(labels.get(str(v), "") for v in value)
            return labels.get(str(value), "")
        return str(value)


def _norm(value: Any) -> Any:
    if value is None:
        return ""
    if isinstance(value, list):
        return sorted(str(v) for v in value)
    if isinstance(value, dt.date):
        return value.isoformat()
    if isinstance(value, str):
        return value.replace("\r\n", "\n").strip()
    return str(value)


def item_values(kind: str, item: PlanItem, choices: Choices) -> dict[str, Any]:
    """The item's fields as the reader sees them, in the form's value shapes."""
    visible_goals = {str(g.pk) for g in choices.goals}
    visible = {"need": {n.pk for n in choices.needs}, "goal": {g.pk for g in choices.goals}}
    out: dict[str, Any] = {
        "category": item.category,
        "concerns": [str(c) for c in item.concerns or ()],
    }
    for name in FORM_FIELDS[kind]:
        if name in REFERENCES:
            shown = kinds.visible_id(getattr(item, f"{name}_id"), visible[name])
            out[name] = "" if shown is None else str(shown)
        elif name == "responsible_user":
            out[name] = choices.user_member.get(item.responsible_user_id, "")
        elif name.startswith("responsible_") and name != "responsible_kind":
            raw = getattr(item, f"{name}_id")
            out[name] = "" if raw is None else str(raw)
        elif name == "participants":
            out[name] = "\n".join(item.participants or ())
        else:
            value = getattr(item, name)
            out[name] = "" if value is None else value
    if kind == "review":
        for entry in kinds.visible_entries(item.progress, "goal", visible_goals):
            out[f"progress_{entry['goal']}_achievement"] = entry.get("achievement", "") or ""
            out[f"progress_{entry['goal']}_note"] = entry.get("note", "") or ""
        for goal in choices.goals[:MAX_PROGRESS]:
            out.setdefault(f"progress_{goal.pk}_achievement", "")
            out.setdefault(f"progress_{goal.pk}_note", "")
    return out


def changed_fields(mine: dict[str, Any], now: dict[str, Any]) -> list[str]:
    return [name for name in mine if _norm(mine[name]) != _norm(now.get(name))]


def _uuid_or_none(value: str) -> uuid.UUID | None:
    return uuid.UUID(value) if value else None


def service_data(
    kind: str,
    values: dict[str, Any],
    names: list[str],
    item: PlanItem | None,
    choices: Choices,
) -> dict[str, Any]:
    """The service's payload for `names` of `values` (the API's input serializer's shape).

    Review progress is one field for the service: the entries on goals the reader sees are
    the form's; the service keeps those on goals they may not see as they are.
    """
    data: dict[str, Any] = {}
    for name in names:
        if name.startswith("progress_"):
            continue
        value = values[name]
        if name == "concerns":
            data[name] = [uuid.UUID(v) for v in value]
        elif name in REFERENCES or name in ("responsible_person", "responsible_organization"):
            data[name] = _uuid_or_none(value)
        elif name == "responsible_user":
            data[name] = choices.member_user[value] if value else None
        elif name == "participants":
            data[name] = [line for line in value.split("\n") if line]
        elif name in DATE_FIELDS:
            data[name] = value
        else:
            data[name] = value
    if kind == "review" and (item is None or any(n.startswith("progress_") for n in names)):
        # Entries on goals the reader may not see are kept by the service (item_update).
        entries = []
        for goal in choices.goals[:MAX_PROGRESS]:
            achievement = values.get(f"progress_{goal.pk}_achievement") or ""
            note = values.get(f"progress_{goal.pk}_note") or ""
            if achievement or note:
                entry = {"goal": str(goal.pk), "note": note}
                if achievement:
                    entry["achievement"] = achievement
                entries.append(entry)
        data["progress"] = entries
    return data


#
# Logging what the forms show
#


def _log_item(request: HttpRequest, access: policy.PlanAccess, item: PlanItem) -> None:
    """A read of the one item shown (as the API's retrieve logs it)."""
    plan = access.plan
    subjects = list(item.concerns) or family_subjects([plan.family_id]).get(plan.family_id, [])
    record_access_batch(
        actor=request.user,
        action=Act.READ,
        access=access,
        entries=[
            {
                "subjects": subjects,
                "family_id": plan.family_id,
                "plan_id": plan.pk,
                "object_type": item._meta.model_name,
                "object_id": item.pk,
                "object_version": item.version,
                "query": {"page": request.path},
            }
        ],
    )


def _log_form(
    request: HttpRequest, access: policy.PlanAccess, choices: Choices, item: PlanItem | None
) -> None:
    reading.log_shown(request, access, shown=choices.shown())
    if item is not None:
        _log_item(request, access, item)


#
# Pages
#


def _guard_category(request: HttpRequest, access: policy.PlanAccess) -> None:
    """A category the reader may not write is refused like the API refuses it (403), not
    offered as a form error: the form never offers it, so someone sent it by hand."""
    category = request.POST.get("category", "")
    if category in Category.values and category not in access.writes:
        raise PermissionDenied


def _errors(form: ItemForm) -> list[dict[str, str]]:
    """Each problem with the field it is about, for the summary at the top of the form."""
    out = []
    for name, errors in form.errors.items():
        label = str(form.fields[name].label) if name in form.fields else ""
        shown = name in form.fields and not form[name].is_hidden
        target = form[name].id_for_label if shown else ""
        for message in errors:
            out.append({"label": label, "message": str(message), "target": target})
    return out


def _service_problems(form: ItemForm, exc: ValidationError) -> None:
    """The service's field errors onto the form (its names are the form's, or the form's
    without `_id`); what names no field goes on top."""
    if not hasattr(exc, "error_dict"):
        for message in exc.messages:
            form.add_error(None, message)
        return
    for name, errors in exc.message_dict.items():
        field = name if name in form.fields else None
        if name.startswith("progress."):
            field = None
        for message in errors:
            form.add_error(field, message)


def _plan_anchor(access: policy.PlanAccess, item: PlanItem) -> str:
    url = reverse("web:plan", kwargs={"plan_id": access.plan.pk})
    return f"{url}#{item._meta.model_name}-{item.pk}"


def _context(access: policy.PlanAccess, kind: str, form: ItemForm, **extra: Any) -> dict[str, Any]:
    return {
        "plan": access.plan,
        "access": access,
        "kind": kind,
        "form": form,
        "errors": _errors(form) if form.is_bound else [],
        **extra,
    }


@require_http_methods(["GET", "POST"])
@page()
def item_new(request: HttpRequest, access: policy.PlanAccess, kind: str) -> HttpResponse:
    """Add a need, goal, action or review meeting (GET the form, POST to save)."""
    model = _kind_model(kind)
    if not policy.may_add_item(access, model):
        raise PermissionDenied
    choices = Choices(access, kind)
    title = KIND_TITLES[kind][0]
    if request.method == "POST":
        _guard_category(request, access)
        form = ItemForm(request.POST, kind=kind, choices=choices)
        if form.is_valid():
            values = form.values()
            names = [n for n in values if _norm(values[n]) != ""]
            data = service_data(kind, values, names, None, choices)
            data.setdefault("category", values["category"])
            try:
                with transaction.atomic():
                    item = services.item_create(
                        actor=request.user,
                        plan_id=access.plan.pk,
                        model=model,
                        data=data,
                        access=access,
                    )
            except ValidationError as exc:
                _service_problems(form, exc)
            else:
                messages.success(request, _("Saved in the plan."))
                return redirect(_plan_anchor(access, item))
        response = render(
            request, "web/edit_item.html", _context(access, kind, form, title=title), status=400
        )
        _log_form(request, access, choices, None)
        return response
    initial: dict[str, Any] = {}
    for name in ("need", "goal"):  # "add an action to this goal": ?goal=<id> of a visible one
        wanted = request.GET.get(name, "")
        if name in FORM_FIELDS[kind] and wanted in {
            str(i.pk) for i in (choices.needs if name == "need" else choices.goals)
        }:
            initial[name] = wanted
    if "general" in access.writes:
        initial["category"] = "general"
    form = ItemForm(initial=initial, kind=kind, choices=choices)
    response = render(request, "web/edit_item.html", _context(access, kind, form, title=title))
    _log_form(request, access, choices, None)
    return response


@require_http_methods(["GET", "POST"])
@page()
def item_edit(
    request: HttpRequest, access: policy.PlanAccess, kind: str, item_id: uuid.UUID
) -> HttpResponse:
    """Change an item, based on the version the person read; a conflict page when someone
    else changed it first (never a silent overwrite)."""
    model = _kind_model(kind)
    if request.method == "POST":
        # Lock the plan, then the item, as the API's writes do (all writes to a plan queue
        # on its row), and decide the access under the lock.
        access = selectors.plan_access_get(user=request.user, plan_id=access.plan.pk, lock=True)
    item = selectors.item_get(
        access=access, model=model, item_id=item_id, lock=request.method == "POST"
    )
    policy.require_item(access, policy.item_write_action(model), item)  # 404 hidden, 403 not
    choices = Choices(access, kind)
    view = reader_view(access)
    version = view.item_version(kind, item.pk, item.version)
    now = item_values(kind, item, choices)
    title = KIND_TITLES[kind][1]
    if request.method == "GET":
        form = ItemForm(
            initial={**now, "version": version}, kind=kind, choices=choices, current=now
        )
        response = render(
            request,
            "web/edit_item.html",
            _context(access, kind, form, title=title, item=item, meta=view.item_meta(item)),
        )
        _log_form(request, access, choices, item)
        return response

    _guard_category(request, access)
    form = ItemForm(request.POST, kind=kind, choices=choices, current=now)
    if form.is_valid() and form.cleaned_data.get("version") is None:
        form.add_error(None, _("The form is missing the version it was based on. Open it again."))
    if form.is_valid():
        mine = form.values()
        based_on = form.cleaned_data["version"]
        if based_on != version and not changed_fields(mine, now):
            messages.info(request, _("Someone else had already saved the same."))
            return redirect(_plan_anchor(access, item))
        if based_on != version:
            return _conflict(request, access, kind, item, form, mine, now, version, view)
        names = changed_fields(mine, now)
        if not names:
            messages.info(request, _("Nothing was changed."))
            return redirect(_plan_anchor(access, item))
        try:
            with transaction.atomic():
                item = services.item_update(
                    actor=request.user,
                    plan_id=access.plan.pk,
                    model=model,
                    item_id=item.pk,
                    expected_version=based_on,
                    data=service_data(kind, mine, names, item, choices),
                    access=access,
                    item=item,
                )
        except StaleVersionError:  # decided under the locks: the same answer as above
            return _conflict(request, access, kind, item, form, mine, now, version, view)
        except ValidationError as exc:
            _service_problems(form, exc)
        else:
            messages.success(request, _("Saved in the plan."))
            return redirect(_plan_anchor(access, item))
    response = render(
        request,
        "web/edit_item.html",
        _context(access, kind, form, title=title, item=item, meta=view.item_meta(item)),
        status=400,
    )
    _log_form(request, access, choices, item)
    return response


def _base_values(
    access: policy.PlanAccess, kind: str, item: PlanItem, based_on: int, choices: Choices
) -> dict[str, Any] | None:
    """The item as the person saw it when they opened the form (their version `based_on`, from
    the history as they may see it today); None when that version cannot be found."""
    try:
        row = history.item_version(
            model=type(item), access=access, item_id=item.pk, version=based_on
        )
    except ValidationError:
        return None
    return item_values(kind, row, choices)


def _conflict(
    request: HttpRequest,
    access: policy.PlanAccess,
    kind: str,
    item: PlanItem,
    form: ItemForm,
    mine: dict[str, Any],
    now: dict[str, Any],
    version: int,
    view: Any,
) -> HttpResponse:
    """Someone else changed the item first: their version now beside the person's own, and
    two ways on, both based on the version now (a third change meanwhile conflicts again):

    * apply mine again: the fields the person changed (from the version they opened) over
      their version, the rest as it is now;
    * merge: the same values in an edit form, with their value shown at each field where the
      two differ, to be edited into what should stand.

    Without the version they opened (a forged number), every field counts as changed by them.
    Nothing is saved here.
    """
    choices = form.choices
    base = _base_values(access, kind, item, form.cleaned_data["version"], choices)
    mine_changed = set(changed_fields(mine, base)) if base is not None else set(mine)
    theirs_changed = set(changed_fields(now, base)) if base is not None else set(mine)
    differs = set(changed_fields(mine, now))
    merged = {name: mine[name] if name in mine_changed else now.get(name) for name in mine}
    rows = []
    for name in mine:
        if name.startswith("progress_") and not (_norm(mine[name]) or _norm(now.get(name))):
            continue
        rows.append(
            {
                "label": form.fields[name].label,
                "theirs": form.display(name, now.get(name)),
                "mine": form.display(name, mine[name]),
                "differs": name in differs,
                "both": name in differs and name in mine_changed and name in theirs_changed,
                "by_me": name in differs and name in mine_changed,
                "by_them": name in differs and name in theirs_changed,
            }
        )
    again = {**merged, "version": version}
    reapply = ItemForm(initial=again, kind=kind, choices=choices, current=now, auto_id=False)
    merge = ItemForm(initial=again, kind=kind, choices=choices, current=now)
    merge_rows = [
        {
            "field": merge[name],
            "differs": name in differs and name in mine_changed,
            "theirs": form.display(name, now.get(name)),
        }
        for name in mine
    ]
    response = render(
        request,
        "web/edit_conflict.html",
        {
            "plan": access.plan,
            "access": access,
            "kind": kind,
            "item": item,
            "meta": view.item_meta(item),
            "rows": rows,
            "reapply": reapply,
            "merge": merge,
            "merge_rows": merge_rows,
            "title": _("Someone else changed this first"),
        },
        status=409,
    )
    _log_form(request, access, choices, item)
    return response
