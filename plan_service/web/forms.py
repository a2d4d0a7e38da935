"""The pages' forms. They check shapes only; who may do what is decided by the services."""

from __future__ import annotations

import datetime as dt

from django import forms
from django.contrib.auth.forms import AuthenticationForm
from django.utils.translation import gettext_lazy as _

from plan_service import policy
from plan_service.categories import Category
from plan_service.participants import second_factor
from plan_service.participants.models import Sector
from plan_service.plans.models import Acknowledgement, Comment, TargetType
from plan_service.text_limits import REASON_CHARS

TEXT_MAX = 4000


class SignInForm(AuthenticationForm):
    """Username and password, labelled in the reader's language."""

    username = forms.CharField(
        label=_("Username"),
        max_length=150,
        widget=forms.TextInput(attrs={"autocomplete": "username", "autocapitalize": "none"}),
    )
    password = forms.CharField(
        label=_("Password"),
        strip=False,
        widget=forms.PasswordInput(attrs={"autocomplete": "current-password"}),
    )
    otp_token = forms.CharField(
        label=_("One-time code"),
        required=False,
        max_length=10,
        widget=forms.TextInput(attrs={"autocomplete": "one-time-code", "inputmode": "numeric"}),
        help_text=_("Professionals: the six digits of your authenticator app."),
    )
    error_messages = {
        "invalid_login": _("Check the username and password."),
        "inactive": _("This account is not in use."),
        "second_factor": _("Professionals need a valid one-time code to sign in."),
    }

    def clean(self) -> dict:
        cleaned = super().clean()
        user = self.get_user()
        self.device = None
        if user is not None and policy.requires_second_factor(user):
            self.device = second_factor.verify(user, cleaned.get("otp_token"))
            if self.device is None:
                second_factor.refused(self.request, cleaned.get("username", ""))
                raise forms.ValidationError(
                    self.error_messages["second_factor"], code="second_factor"
                )
        return cleaned


class WordsForm(forms.Form):
    """A comment, a view or a dissent on the plan or one of its items."""

    target_type = forms.ChoiceField(choices=TargetType.choices)
    target_id = forms.UUIDField(required=False)
    kind = forms.ChoiceField(choices=Comment.Kind.choices, required=False)
    text = forms.CharField(label=_("Your words"), max_length=TEXT_MAX, strip=True)


class SignForm(forms.Form):
    """Sign the plan as the reader saw it (the fingerprint of that view)."""

    decision = forms.ChoiceField(
        label=_("Your decision"),
        choices=Acknowledgement.Decision.choices,
        widget=forms.RadioSelect,
    )
    comment = forms.CharField(
        label=_("Comment (optional)"), max_length=TEXT_MAX, required=False, widget=forms.Textarea
    )
    seen = forms.CharField(max_length=64, widget=forms.HiddenInput)


class HideForm(forms.Form):
    """The child hides an item about them from the guardians, or shows it again."""

    target_type = forms.ChoiceField(
        choices=[(k, k) for k in (TargetType.NEED, TargetType.GOAL, TargetType.ACTION)]
        + [(TargetType.REVIEW, TargetType.REVIEW)]
    )
    target_id = forms.UUIDField()
    hide = forms.BooleanField(required=False)


def before_the_last_day(day: dt.date) -> None:
    """A consent "until" a day holds through that day: the day after must exist (never a 500
    for 31.12.9999)."""
    if day >= dt.date.max:
        raise forms.ValidationError(_("Give an earlier date."), code="max_value")


class ConsentGiveForm(forms.Form):
    """A guardian (or a mature child for themself) gives or refuses a consent."""

    subjects = forms.MultipleChoiceField(label=_("Whose information"), choices=())
    categories = forms.MultipleChoiceField(
        label=_("Which information"),
        choices=Category.choices,
        widget=forms.CheckboxSelectMultiple,
    )
    recipient_sector = forms.ChoiceField(label=_("To whom"), choices=Sector.choices)
    purpose = forms.CharField(label=_("For what purpose"), max_length=500)
    valid_until = forms.DateField(
        label=_("Until (optional)"),
        required=False,
        widget=forms.DateInput(attrs={"type": "date"}),
        validators=[before_the_last_day],
    )
    refuse = forms.BooleanField(required=False)

    def __init__(self, *args: object, children: list[tuple[str, str]], **kwargs: object) -> None:
        super().__init__(*args, **kwargs)  # type: ignore[arg-type]
        self.fields["subjects"].choices = children
        self.fields["subjects"].widget = forms.CheckboxSelectMultiple(choices=children)


class WithdrawForm(forms.Form):
    reason = forms.CharField(label=_("Reason (optional)"), max_length=500, required=False)


def reason_field(rows: int) -> forms.CharField:
    """The writer's own words on a change, optional, as long as the API's `X-Change-Reason`."""
    return forms.CharField(
        label=_("In your own words (optional)"),
        required=False,
        max_length=REASON_CHARS,
        widget=forms.Textarea(attrs={"rows": rows}),
    )
