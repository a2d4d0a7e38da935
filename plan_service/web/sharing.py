"""Export and push from the page: what a recipient will get, the FHIR download, the push job.

* `/plans/<id>/share/` (GET): the recipients the reader may export this plan for
  (`policy.may_export_for`: the lead any active recipient, another professional member their
  own organisation), and with `?recipient=<code>` a readable preview of the Bundle that
  recipient gets: the people, the care team, each need, goal, action, review, remark and
  consent, by category, and the count of each FHIR resource. The preview is the download's
  content (`export.plan_export_prepare(..., to_recipient=False)`: what the recipient may
  receive, cut to what the reader reads), so nothing the reader may not see is on the page;
  categories the recipient receives that the reader does not read are named (a policy fact,
  not content). Showing it is logged as a read of the plan (access log), before it leaves.
* `/plans/<id>/share/` (POST): queue a push to the recipient's FHIR server through the same
  service as `POST /api/v1/plans/{id}/fhir/push-job/` (`jobs.services.enqueue_push`); the
  worker logs the disclosure when the server accepted it. The reader's own push jobs of this
  plan are listed with their state (`policy.jobs_for`).
* `/plans/<id>/share/bundle.json?recipient=<code>` (GET): the Bundle as an attachment, through
  the API's export service (`export.plan_export`, which logs the disclosure and the access).

The family, the auditor and the administrator get the 403 page; a plan the reader may not see
is the 404 page, as everywhere.
"""

from __future__ import annotations

import json
from collections import Counter
from typing import Any

from django import forms
from django.contrib import messages
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.http import urlencode
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.http import require_http_methods

from fhir_export import FHIR_JSON
from fhir_export import snapshot as snap
from plan_service import policy
from plan_service.audit.models import AccessEvent
from plan_service.audit.services import record_access_batch
from plan_service.categories import Category
from plan_service.jobs.models import BackgroundJob
from plan_service.participants.models import Recipient
from plan_service.plans import export, push
from plan_service.plans.models import Comment
from plan_service.web.views import page

#: How many of the reader's push jobs of the plan are listed.
JOBS_SHOWN = 10


class RecipientForm(forms.Form):
    """The recipient, by its registry code (the API's `recipient`)."""

    recipient = forms.CharField(label=gettext_lazy("Recipient"), max_length=60)


def _recipients(access: policy.PlanAccess) -> list[Recipient]:
    """The active recipients the reader may export this plan for (the policy's answer)."""
    return [
        r
        for r in Recipient.objects.filter(active=True).select_related("organization")
        if policy.may_export_for(access, r)
    ]


def _require_sharer(access: policy.PlanAccess) -> None:
    """Exports are the team's professionals' (the family, auditors and administrators are never
    members with an export right; docs/permissions.md "Export recipients")."""
    if not policy.is_professional(access):
        raise PermissionDenied


def _chosen(
    request: HttpRequest, access: policy.PlanAccess, data: Any
) -> tuple[RecipientForm, Recipient | None]:
    """The recipient the form names: None with a field error when it is not in the registry;
    the 403 page when it is but the reader may not export for it (as the API answers)."""
    form = RecipientForm(data)
    if not form.is_valid():
        return form, None
    try:
        recipient = export.resolve_recipient(form.cleaned_data["recipient"])
    except ValidationError as exc:
        form.add_error("recipient", exc.error_dict["recipient"][0].message)
        return form, None
    if recipient is None or not policy.may_export_for(access, recipient):
        raise PermissionDenied
    return form, recipient


def _labels(categories: Any) -> list[str]:
    return [str(Category(c).label) for c in Category.values if c in categories]


def _item_rows(snapshot: snap.PlanSnapshot) -> list[dict[str, Any]]:
    """The items in the Bundle, by kind, each with its category and a readable line."""
    people = {p.id: f"{p.given_name} {p.family_name}" for p in snapshot.persons}
    kinds: list[tuple[str, str, Any]] = [
        ("needs", _("Needs"), lambda i: i.title),
        ("goals", _("Goals"), lambda i: i.title),
        ("actions", _("Actions"), lambda i: i.description),
        (
            "reviews",
            _("Review meetings"),
            lambda i: _("Review meeting %(day)s") % {"day": i.held_on or ""},
        ),
        ("remarks", _("Comments, views and disagreements"), lambda i: i.text),
        ("acknowledgements", _("Signatures"), lambda i: people.get(i.person_id, "")),
        ("other_items", _("Other items"), lambda i: i.text),
    ]
    out = []
    for name, label, line in kinds:
        items = getattr(snapshot, name)
        if not items:
            continue
        out.append(
            {
                "kind": name,
                "label": label,
                "items": [
                    {
                        "text": str(line(i))[:300],
                        "category": Category(i.category).label
                        if i.category in Category.values
                        else i.category,
                        "about": [people[c] for c in i.concerns if c in people],
                        "remark": _remark_kind(i),
                    }
                    for i in items
                ],
            }
        )
    return out


def _remark_kind(item: Any) -> str:
    kind = getattr(item, "kind", None)
    if kind is None:
        return ""
    if kind == "dissent":
        return _("disagreement")
    return str(Comment.Kind(kind).label) if kind in Comment.Kind.values else ""


def _preview(
    request: HttpRequest, access: policy.PlanAccess, recipient: Recipient
) -> dict[str, Any]:
    """What `recipient` gets, as the reader may see it, and the access-log rows for showing it."""
    user = request.user
    shown_access, result = export.plan_export_prepare(
        actor=user, plan_id=access.plan.pk, recipient=recipient, to_recipient=False
    )
    delivered = policy.export_access(user, access.plan, recipient).reads  # what a push sends
    snapshot = result.snapshot
    resources = Counter(e["resource"]["resourceType"] for e in result.bundle.get("entry", []))
    record_access_batch(
        actor=user,
        action=AccessEvent.Action.READ,
        access=access,
        entries=[
            {
                **export.access_entry(snapshot),
                "query": {"page": request.path, "recipient": recipient.code},
                "result_count": sum(resources.values()),
            }
        ],
    )
    orgs = {o.id: o.name for o in snapshot.organizations}
    return {
        "categories": _labels(shown_access.reads),
        "not_shown": _labels(delivered - shown_access.reads),
        "children": [f"{p.given_name} {p.family_name}" for p in snapshot.children],
        "guardians": [f"{p.given_name} {p.family_name}" for p in snapshot.guardians],
        "team": [
            {
                "name": m.display or f"{m.given_name} {m.family_name}".strip(),
                "role": m.professional_role_display,
                "organization": orgs.get(m.organization_id, ""),
            }
            for m in snapshot.members
            if m.professional_id is not None  # the family appear above, as people
        ],
        "items": _item_rows(snapshot),
        "consents": [
            {
                "purpose": c.purpose,
                "categories": _labels(c.categories),
                "status": c.status,
                "until": c.valid_until,
            }
            for c in snapshot.consents
        ],
        "resources": sorted(resources.items()),
        "summary": snapshot.summary,
    }


def _jobs(request: HttpRequest, access: policy.PlanAccess) -> list[BackgroundJob]:
    return list(
        policy.jobs_for(request.user)
        .filter(plan_id=access.plan.pk, kind=BackgroundJob.Kind.FHIR_PUSH)
        .order_by("-created_at", "id")[:JOBS_SHOWN]
    )


@require_http_methods(["GET", "POST"])
@page()
def share(request: HttpRequest, access: policy.PlanAccess) -> HttpResponse:
    """Choose a recipient, see what it will get, download it or queue a push to its server."""
    _require_sharer(access)
    share_url = reverse("web:share", kwargs={"plan_id": access.plan.pk})
    recipients = _recipients(access)
    status = 200
    problem = ""
    if request.method == "POST":
        form, recipient = _chosen(request, access, request.POST)
        if recipient is not None:
            try:
                with transaction.atomic():
                    from plan_service.jobs.services import enqueue_push

                    enqueue_push(
                        actor=request.user,
                        plan_id=access.plan.pk,
                        recipient=recipient,
                        version=None,
                    )
            except push.PushNotConfigured:
                status = 503
                problem = _("No FHIR server is configured for this recipient. Nothing was sent.")
            else:
                messages.success(
                    request,
                    _("The push to %(name)s is queued. Its state is shown below.")
                    % {"name": recipient.name},
                )
                return redirect(f"{share_url}?{urlencode({'recipient': recipient.code})}#jobs")
        else:
            status = 400
    else:
        form, recipient = (
            _chosen(request, access, request.GET)
            if "recipient" in request.GET
            else (RecipientForm(), None)
        )
        if form.is_bound and recipient is None:
            status = 400
    preview = _preview(request, access, recipient) if recipient is not None else None
    return render(
        request,
        "web/share.html",
        {
            "plan": access.plan,
            "access": access,
            "recipients": recipients,
            "form": form,
            "recipient": recipient,
            "preview": preview,
            "problem": problem,
            "jobs": _jobs(request, access),
        },
        status=status,
    )


@require_http_methods(["GET"])
@page()
def bundle(request: HttpRequest, access: policy.PlanAccess) -> HttpResponse:
    """The Bundle the preview shows, as a file (the API's download, logged as it logs it)."""
    _require_sharer(access)
    _form, recipient = _chosen(request, access, request.GET)
    if recipient is None:
        raise Http404  # no such recipient: no such file (a refused one is the 403 page)
    result = export.plan_export(
        actor=request.user, plan_id=access.plan.pk, recipient=recipient, to_recipient=False
    )
    response = HttpResponse(
        json.dumps(result.bundle, ensure_ascii=False, separators=(",", ":")),
        content_type=f"{FHIR_JSON}; charset=utf-8",
    )
    response["Content-Disposition"] = f'attachment; filename="careplan-{recipient.code}.json"'
    response["X-Content-Type-Options"] = "nosniff"
    return response
