"""The lead records a consent or a refusal the family gave outside the service.

A guardian (or a mature child, for themself) who signs a paper form or says so by phone has
given their consent as surely as one who clicks; the plan's lead records it, naming the
grantor and how it was obtained (`policy.may_record_consent`; the service,
`consent.services.consent_create`, admits the lead and the family only, checks that the
grantor may consent for the children named, and writes the history and access-log rows).
This is the API's `POST /api/v1/consents/` for a professional, from the consents page.
Other professionals of the team do not handle consents at all (the consents page is the 403
page for them, as the API's consent list is empty for them).
"""

from __future__ import annotations

import uuid
from typing import Any

from django import forms
from django.contrib import messages
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect
from django.urls import reverse
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.http import require_POST

from plan_service import policy
from plan_service.categories import Category
from plan_service.consent import services as consent_services
from plan_service.consent.models import Consent
from plan_service.participants.models import Organization, Person, Sector
from plan_service.web import forms as web_forms
from plan_service.web.views import _end_of_day, page, render_consents

GAVE = "gave"
REFUSED = "refused"


class ConsentRecordForm(forms.Form):
    """A consent (or refusal) given outside the service: who gave it, about whom, to whom."""

    grantor = forms.ChoiceField(label=gettext_lazy("Given by"), choices=())
    decision = forms.ChoiceField(
        label=gettext_lazy("What they said"),
        choices=[(GAVE, gettext_lazy("Gave consent")), (REFUSED, gettext_lazy("Refused"))],
        widget=forms.RadioSelect,
    )
    subjects = forms.MultipleChoiceField(
        label=gettext_lazy("Whose information"), choices=(), widget=forms.CheckboxSelectMultiple
    )
    categories = forms.MultipleChoiceField(
        label=gettext_lazy("Which information"),
        choices=Category.choices,
        widget=forms.CheckboxSelectMultiple,
    )
    recipient = forms.ChoiceField(label=gettext_lazy("To whom"), choices=())
    purpose = forms.CharField(label=gettext_lazy("For what purpose"), max_length=500)
    valid_until = forms.DateField(
        label=gettext_lazy("Until (optional)"),
        required=False,
        validators=[web_forms.before_the_last_day],
    )
    method_detail = forms.CharField(
        label=gettext_lazy("How it was obtained"),
        max_length=500,
        help_text=gettext_lazy("For example: signed form, 3 November, kept in the client file."),
    )

    def __init__(
        self,
        *args: Any,
        people: list[Person],
        children: list[Person],
        organizations: list[Organization],
        **kwargs: Any,
    ) -> None:
        super().__init__(*args, **kwargs)
        name = "{0.given_name} {0.family_name}".format
        self.fields["grantor"].choices = [("", _("Choose who gave it"))] + [
            (str(p.pk), name(p)) for p in people
        ]
        self.fields["subjects"].choices = [(str(p.pk), name(p)) for p in children]
        self.fields["recipient"].choices = [
            (
                _("Sectors"),
                [
                    (f"sector:{v}", _("professionals of %(sector)s") % {"sector": label})
                    for v, label in Sector.choices
                ],
            ),
            (_("Organisations"), [(f"org:{o.pk}", o.name) for o in organizations]),
        ]


def form_for(access: policy.PlanAccess, user: Any, data: Any = None) -> ConsentRecordForm:
    """The lead's form, with the family's people and the registry's organisations."""
    family = policy.persons_for(user).filter(family_id=access.plan.family_id)
    people = list(family.order_by("kind", "given_name", "family_name", "id"))
    child_ids = set(family.filter(kind=Person.Kind.CHILD).values_list("pk", flat=True))
    children = [p for p in people if p.pk in child_ids]
    organizations = list(Organization.objects.order_by("name", "id"))
    return ConsentRecordForm(
        data, people=people, children=children, organizations=organizations, prefix="rec"
    )


#: The service's field names, as the form names them.
SERVICE_FIELDS = {
    "recipient_sector": "recipient",
    "recipient_organization": "recipient",
    "grantor": "grantor",
    "subjects": "subjects",
    "method_detail": "method_detail",
    "valid_until": "valid_until",
    "categories": "categories",
    "purpose": "purpose",
}


@require_POST
@page()
def consent_record(request: HttpRequest, access: policy.PlanAccess) -> HttpResponse:
    """Record a consent or refusal told to the lead; errors are shown at their fields."""
    if not policy.may_handle_consents(access):
        raise PermissionDenied
    if not policy.may_record_consent(access):
        raise PermissionDenied  # the family gives their own on the same page
    form = form_for(access, request.user, request.POST)
    if form.is_valid():
        data = form.cleaned_data
        kind, _sep, target = data["recipient"].partition(":")
        organization = Organization.objects.filter(pk=target).first() if kind == "org" else None
        try:
            with transaction.atomic():
                consent_services.consent_create(
                    actor=request.user,
                    family=access.plan.family,
                    grantor_id=uuid.UUID(data["grantor"]),
                    subject_ids=[uuid.UUID(s) for s in data["subjects"]],
                    categories=data["categories"],
                    purpose=data["purpose"],
                    recipient_organization=organization,
                    recipient_sector=target if kind == "sector" else "",
                    valid_until=_end_of_day(data["valid_until"]),
                    status=Consent.Status.REFUSED
                    if data["decision"] == REFUSED
                    else Consent.Status.ACTIVE,
                    method_detail=data["method_detail"],
                )
        except ValidationError as exc:
            for field, errors in exc.error_dict.items() if hasattr(exc, "error_dict") else ():
                for error in errors:
                    form.add_error(SERVICE_FIELDS.get(field), error.message)
            if not hasattr(exc, "error_dict"):
                for message in exc.messages:
                    form.add_error(None, message)
        else:
            messages.success(
                request,
                _("The refusal is recorded.")
                if data["decision"] == REFUSED
                else _("The consent is recorded."),
            )
            url = reverse("web:consents", kwargs={"plan_id": access.plan.pk})
            return redirect(url)
    return render_consents(
        request,
        access,
        form=web_forms.ConsentGiveForm(None, children=[]),
        record_form=form,
        status=400,
    )
