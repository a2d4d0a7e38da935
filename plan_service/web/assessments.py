"""The team's page of a minor's maturity assessments (THL codes 1-4), per child of the family.

Only for those the policy lets see them (`policy.may_see_assessments`: the team's
professionals, never the family: an assessment saying "forbids" would tell the guardians that
something is hidden); recording asks `policy.may_record_assessment` and CHANGE on the plan,
through the same service as `POST /api/v1/plans/{id}/assessments/`
(`participants.assessments.assessment_record`), which decides again after locking the plan.
Reading the page is logged like the API's list (a search of `maturityassessment`).
"""

from __future__ import annotations

import uuid
from typing import Any

from django import forms
from django.contrib import messages
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.http import require_http_methods

from plan_service import policy
from plan_service.audit.models import AccessEvent
from plan_service.participants import assessments as assessment_services
from plan_service.participants.models import MaturityAssessment, Person
from plan_service.plans import selectors
from plan_service.web import reading
from plan_service.web.views import page

NOTE_MAX = 2000


class AssessmentForm(forms.Form):
    """A new maturity assessment: which child, the THL code, when, and a note for the team."""

    child = forms.ChoiceField(label=gettext_lazy("Child"), choices=())
    code = forms.TypedChoiceField(
        label=gettext_lazy("Assessment"),
        coerce=int,
        choices=MaturityAssessment.Code.choices,
        widget=forms.RadioSelect,
    )
    assessed_on = forms.DateField(
        label=gettext_lazy("Assessed on (default: today)"),
        required=False,
        widget=forms.DateInput(attrs={"type": "date"}),
    )
    note = forms.CharField(
        label=gettext_lazy("Note for the team (optional)"),
        max_length=NOTE_MAX,
        required=False,
        widget=forms.Textarea(attrs={"rows": 3}),
    )

    def __init__(self, *args: Any, children: list[tuple[str, str]], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["child"].choices = [("", _("Choose a child")), *children]


def _children(access: policy.PlanAccess, user: Any) -> list[Person]:
    return list(
        policy.persons_for(user)
        .filter(family_id=access.plan.family_id, kind=Person.Kind.CHILD)
        .order_by("given_name", "family_name", "id")
    )


def _service_errors(form: forms.Form, exc: ValidationError) -> None:
    """Put the service's errors on the field they name (the API's field names)."""
    if hasattr(exc, "error_dict"):
        for field, errors in exc.error_dict.items():
            for error in errors:
                message = error.message % error.params if error.params else error.message
                form.add_error(field if field in form.fields else None, str(message))
    else:
        for message in exc.messages:
            form.add_error(None, message)


@require_http_methods(["GET", "POST"])
@page()
def assessments(request: HttpRequest, access: policy.PlanAccess) -> HttpResponse:
    """Each child's assessments, newest first; record a new one (the team only)."""
    if not policy.may_see_assessments(access):
        raise PermissionDenied  # never the family (docs/permissions.md)
    may_record = access.may(policy.Action.CHANGE) and policy.may_record_assessment(access)
    children = _children(access, request.user)
    choices = [(str(c.pk), f"{c.given_name} {c.family_name}") for c in children]
    form = AssessmentForm(request.POST or None, children=choices)
    status = 200
    if request.method == "POST":
        if not may_record:
            raise PermissionDenied  # a completed plan is read-only
        if form.is_valid():
            data = form.cleaned_data
            try:
                with transaction.atomic():
                    assessment_services.assessment_record(
                        actor=request.user,
                        plan_id=access.plan.pk,
                        child_id=_as_uuid(data["child"]),
                        code=data["code"],
                        assessed_on=data["assessed_on"],
                        note=data["note"],
                    )
            except ValidationError as exc:
                _service_errors(form, exc)
            else:
                messages.success(request, _("The assessment is recorded."))
                url = reverse("web:assessments", kwargs={"plan_id": access.plan.pk})
                return redirect(f"{url}#child-{data['child']}")
        status = 400
    rows = list(selectors.assessment_list(access=access).select_related("created_by", "child"))
    by_child: dict[object, list[MaturityAssessment]] = {c.pk: [] for c in children}
    for row in rows:
        by_child.setdefault(row.child_id, []).append(row)
    response = render(
        request,
        "web/assessments.html",
        {
            "plan": access.plan,
            "access": access,
            "children": [(c, by_child.get(c.pk, [])) for c in children],
            "form": form,
            "may_record": may_record,
            "system": MaturityAssessment.SYSTEM,
        },
        status=status,
    )
    reading.log_shown(
        request,
        access,
        action=AccessEvent.Action.SEARCH,
        object_type="maturityassessment",
        result_count=len(rows),
    )
    return response


def _as_uuid(value: str) -> uuid.UUID:
    return uuid.UUID(value)
