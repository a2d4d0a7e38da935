"""The plan's team page: who is in the team, on what basis, for when; the lead adds and ends
places and asks why a member can see what they see.

Reads go through `plans.selectors.membership_list` and `consent.selectors.consent_list`; the
writes are the API's services (`membership_add`, `membership_end`: MANAGE, the history row and
the access-log row in the same transaction); the explanation is `policy.explain`, the answer of
the API's `GET /api/v1/plans/{id}/explain/?member=`, said in sentences. Who may do what is
asked of the policy: `access.may(MANAGE)` for the lead's controls (the services ask again),
`policy.may_explain` for the explanation, `policy.is_professional` for whether names hidden
from families are shown.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from django import forms
from django.contrib import messages
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone
from django.utils.text import capfirst
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.http import require_http_methods

from plan_service import policy
from plan_service.audit.models import AccessEvent
from plan_service.audit.services import family_subjects, record_access_batch
from plan_service.categories import Category
from plan_service.consent import selectors as consent_selectors
from plan_service.errors import DomainError
from plan_service.participants import selectors as participant_selectors
from plan_service.participants.models import Sector
from plan_service.plans import selectors, services
from plan_service.plans.models import CLIENT_CHANGE_CODES, ChangeCode, Membership, Reason
from plan_service.web import reading
from plan_service.web.forms import reason_field
from plan_service.web.views import page

Act = AccessEvent.Action

#: The statutes a member may be added on, as the lead names them: statute and section.
#: (The API takes the text as given, up to 200 characters; the page offers this closed list.)
STATUTES = [
    (
        "Lastensuojelulaki 417/2007 §30",
        gettext_lazy("Child Welfare Act 417/2007, section 30 (client plan)"),
    ),
    (
        "Sosiaalihuoltolaki 1301/2014 §39",
        gettext_lazy("Social Welfare Act 1301/2014, section 39 (client plan)"),
    ),
    (
        "Terveydenhuoltolaki 1326/2010 §15",
        gettext_lazy("Health Care Act 1326/2010, section 15 (maternity and child health clinics)"),
    ),
    (
        "Terveydenhuoltolaki 1326/2010 §16",
        gettext_lazy("Health Care Act 1326/2010, section 16 (school health care)"),
    ),
    (
        "Oppilas- ja opiskelijahuoltolaki 1287/2013 §14",
        gettext_lazy("Pupil and Student Welfare Act 1287/2013, section 14"),
    ),
    (
        "Perusopetuslaki 628/1998 §40",
        gettext_lazy("Basic Education Act 628/1998, section 40"),
    ),
    (
        "Varhaiskasvatuslaki 540/2018 §40",
        gettext_lazy("Early Childhood Education and Care Act 540/2018, section 40"),
    ),
]
#: The dates a membership's period may name (a year 9999 or 1 would overflow time zones).
EARLIEST, LATEST = dt.date(2000, 1, 1), dt.date(2999, 12, 31)


def _reason_choices() -> list[tuple[str, Any]]:
    return [("", gettext_lazy("care team changed"))] + [
        (c.value, c.label) for c in ChangeCode if c.value in CLIENT_CHANGE_CODES
    ]


def _team_url(access: policy.PlanAccess) -> str:
    return reverse("web:team", kwargs={"plan_id": access.plan.pk})


def _member_or_404(access: policy.PlanAccess, member_id: Any) -> Membership:
    member = selectors.membership_list(access=access).filter(pk=member_id).first()
    if member is None:
        raise Http404
    return member


def _consent_words(consent: Any) -> str:
    """One consent in words: to whom, what, until when (what the family's consents page says)."""
    if consent.recipient_organization_id:
        to = consent.recipient_organization.name
    else:
        to = _("professionals of %(sector)s") % {"sector": consent.get_recipient_sector_display()}
    what = ", ".join(str(Category(c).label) for c in consent.categories if c in Category.values)
    until = (
        _("until %(day)s") % {"day": _short(consent.valid_until)}
        if consent.valid_until
        else _("until further notice")
    )
    return _("“%(purpose)s”: %(what)s, to %(to)s, %(until)s") % {
        "purpose": consent.purpose,
        "what": what,
        "to": to,
        "until": until,
    }


def _short(moment: Any) -> str:
    from django.utils import formats

    return formats.date_format(timezone.localtime(moment), "SHORT_DATE_FORMAT")


def _visible_consents(request: HttpRequest, access: policy.PlanAccess, ids: set[Any]) -> dict:
    if not ids:
        return {}
    rows = (
        consent_selectors.consent_list(user=request.user)
        .filter(pk__in=ids, family_id=access.plan.family_id)
        .select_related("recipient_organization")
    )
    return {c.pk: c for c in rows}


#
# The team
#


@require_http_methods(["GET"])
@page()
def team(request: HttpRequest, access: policy.PlanAccess) -> HttpResponse:
    """The team, past and present: names, roles, organisations, basis and period; for the
    lead what each member in force reads, and the controls to add, end and explain."""
    members = list(selectors.membership_list(access=access))
    in_force = set(
        selectors.membership_list(access=access)
        .filter(policy.current_membership_q())
        .values_list("pk", flat=True)
    )
    may_manage = access.may(policy.Action.MANAGE)
    may_explain = policy.may_explain(access)
    reads: dict[Any, list[str]] = {}
    if may_explain:  # what each member in force reads now (one query for the whole team)
        for member_access in policy.plan_accesses(access.plan):
            reads[member_access.membership.pk] = [
                str(Category(c).label) for c in Category.values if c in member_access.reads
            ]
    consents = _visible_consents(request, access, {m.consent_id for m in members if m.consent_id})
    rows = []
    for m in members:
        rows.append(
            {
                "m": m,
                "in_force": m.pk in in_force,
                "reads": reads.get(m.pk),
                "consent": _consent_words(consents[m.consent_id])
                if m.consent_id in consents
                else "",
                "may_end": may_manage and m.ended_at is None and policy.is_team_role(m.role),
            }
        )
    response = render(
        request,
        "web/team.html",
        {
            "plan": access.plan,
            "access": access,
            "team": [r for r in rows if policy.is_team_role(r["m"].role)],
            "family": [r for r in rows if not policy.is_team_role(r["m"].role)],
            "may_manage": may_manage,
            "may_explain": may_explain,
            "names_shown": policy.is_professional(access),
        },
    )
    reading.log_shown(
        request, access, action=Act.SEARCH, object_type="membership", result_count=len(members)
    )
    return response


#
# Adding a member
#


class MemberAddForm(forms.Form):
    """A professional from the registry, the legal basis, the period and why."""

    professional = forms.ChoiceField(label=gettext_lazy("Professional"))
    basis = forms.ChoiceField(
        label=gettext_lazy("Legal basis"),
        choices=[
            (Membership.Basis.STATUTE, gettext_lazy("By law (statute and section)")),
            (Membership.Basis.CONSENT, gettext_lazy("On a consent of the family in force")),
        ],
        widget=forms.RadioSelect,
    )
    statute = forms.ChoiceField(
        label=gettext_lazy("Statute and section"), choices=[("", "—"), *STATUTES], required=False
    )
    consent = forms.ChoiceField(label=gettext_lazy("Consent"), required=False)
    valid_from = forms.DateField(label=gettext_lazy("From (optional)"), required=False)
    valid_until = forms.DateField(label=gettext_lazy("Until (optional)"), required=False)
    code = forms.ChoiceField(label=gettext_lazy("Why"), required=False)
    reason = reason_field(rows=2)

    def __init__(
        self,
        *args: Any,
        professionals: list[tuple[str, str]],
        consents: list[tuple[str, str]],
        **kwargs: Any,
    ) -> None:
        super().__init__(*args, **kwargs)
        self.fields["professional"].choices = [("", "—"), *professionals]
        self.fields["consent"].choices = [("", "—"), *consents]
        self.fields["code"].choices = _reason_choices()

    def clean(self) -> dict[str, Any]:
        data = super().clean()
        basis = data.get("basis")
        if basis == Membership.Basis.STATUTE and not data.get("statute"):
            self.add_error("statute", _("Name the statute and section."))
        if basis == Membership.Basis.CONSENT and not data.get("consent"):
            self.add_error("consent", _("Choose the consent."))
        start, end = data.get("valid_from"), data.get("valid_until")
        for name, day in (("valid_from", start), ("valid_until", end)):
            if day is not None and not EARLIEST <= day <= LATEST:
                self.add_error(
                    name,
                    _("Give a date between %(first)s and %(last)s.")
                    % {"first": EARLIEST.isoformat(), "last": LATEST.isoformat()},
                )
                data[name] = None
        start, end = data.get("valid_from"), data.get("valid_until")
        if start and end and end < start:
            self.add_error("valid_until", _("The membership must end after it starts."))
        return data


def _professional_choices(request: HttpRequest, access: policy.PlanAccess) -> dict[str, Any]:
    """Professionals of the registry who may join a team and have no current place in it."""
    present = set(
        Membership.objects.filter(plan=access.plan, ended_at__isnull=True).values_list(
            "user_id", flat=True
        )
    )
    out = {}
    for p in participant_selectors.professional_list(user=request.user):
        if p.user_id in present or not policy.may_join_team(p):
            continue
        out[str(p.pk)] = p
    return out


def _consent_choices(request: HttpRequest, access: policy.PlanAccess) -> list[tuple[str, str]]:
    rows = (
        consent_selectors.consent_list(user=request.user)
        .filter(family_id=access.plan.family_id, in_force=True, status="active")
        .select_related("recipient_organization")
    )
    return [(str(c.pk), _consent_words(c)) for c in rows]


def _start(day: dt.date | None) -> dt.datetime | None:
    """A membership "from" a day starts then (today: now)."""
    if day is None or day <= timezone.localdate():
        return None
    return timezone.make_aware(dt.datetime.combine(day, dt.time.min))


def _end(day: dt.date | None) -> dt.datetime | None:
    """A membership "until" a day holds through that whole day, as a consent does."""
    if day is None:
        return None
    return timezone.make_aware(dt.datetime.combine(day + dt.timedelta(days=1), dt.time.min))


@require_http_methods(["GET", "POST"])
@page()
def member_add(request: HttpRequest, access: policy.PlanAccess) -> HttpResponse:
    """The lead adds a professional on a statute or a consent in force, for a period."""
    if not access.may(policy.Action.MANAGE):
        raise PermissionDenied  # the lead of an open plan (the service asks the same)
    professionals = _professional_choices(request, access)
    labels = [
        (
            pk,
            f"{p.user.get_full_name() or p.user.username} — {p.get_role_display()}, "
            f"{p.organization.name}",
        )
        for pk, p in professionals.items()
    ]
    consents = _consent_choices(request, access)
    form = MemberAddForm(
        request.POST if request.method == "POST" else None,
        professionals=labels,
        consents=consents,
    )
    status = 200
    if request.method == "POST":
        status = 400
        if form.is_valid():
            data = form.cleaned_data
            basis = data["basis"]
            try:
                with _atomic():
                    services.membership_add(
                        actor=request.user,
                        plan_id=access.plan.pk,
                        professional=professionals[data["professional"]],
                        role=Membership.PlanRole.MEMBER,
                        basis=basis,
                        consent_id=data["consent"] if basis == Membership.Basis.CONSENT else None,
                        statute=data["statute"] if basis == Membership.Basis.STATUTE else "",
                        valid_from=_start(data["valid_from"]),
                        valid_until=_end(data["valid_until"]),
                        reason=Reason(code=data["code"], text=data["reason"].strip()),
                    )
            except ValidationError as exc:
                for message in _messages_of(exc):
                    form.add_error(None, message)
            except DomainError as exc:
                form.add_error(None, str(exc.message))
                status = 409
            else:
                messages.success(request, _("The professional is added to the team."))
                return redirect(_team_url(access))
    response = render(
        request,
        "web/team_add.html",
        {"plan": access.plan, "access": access, "form": form},
        status=status,
    )
    if consents:  # the family's consents in force are shown: a search, as the consents page
        reading.log_shown(
            request, access, action=Act.SEARCH, object_type="consent", result_count=len(consents)
        )
    return response


def _atomic() -> Any:
    from django.db import transaction

    return transaction.atomic()


def _messages_of(exc: ValidationError) -> list[str]:
    if hasattr(exc, "message_dict"):
        return [m for msgs in exc.message_dict.values() for m in msgs]
    return list(exc.messages)


#
# Ending a membership
#


class EndForm(forms.Form):
    code = forms.ChoiceField(label=gettext_lazy("Why"), required=False)
    reason = reason_field(rows=2)

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["code"].choices = _reason_choices()


@require_http_methods(["GET", "POST"])
@page()
def member_end(request: HttpRequest, access: policy.PlanAccess, member_id: Any) -> HttpResponse:
    """Confirm, then end a place in the team (the lead); access stops on the next request."""
    if not access.may(policy.Action.MANAGE):
        raise PermissionDenied
    member = _member_or_404(access, member_id)
    if member.ended_at is not None or not policy.is_team_role(member.role):
        raise Http404  # nothing to end here (family places follow the family's accounts)
    form = EndForm(request.POST if request.method == "POST" else None)
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        try:
            with _atomic():
                services.membership_end(
                    actor=request.user,
                    plan_id=access.plan.pk,
                    membership_id=member.pk,
                    reason=Reason(code=data["code"], text=data["reason"].strip()),
                )
        except DomainError as exc:
            messages.error(request, str(exc.message))
        else:
            messages.success(request, _("The membership has ended."))
        return redirect(_team_url(access))
    return render(
        request,
        "web/team_end.html",
        {"plan": access.plan, "access": access, "member": member, "form": form},
        status=400 if request.method == "POST" else 200,
    )


#
# Why can this member see this?
#

GROUND_WORDS = {
    policy.Ground.SECTOR_DEFAULT: gettext_lazy("the law lets their sector read it"),
    policy.Ground.LEAD: gettext_lazy("they lead the plan"),
    policy.Ground.CONSENT: gettext_lazy("a consent of the family in force covers it"),
    policy.Ground.FAMILY_MEMBER: gettext_lazy("they are a member of the family"),
    policy.Ground.NOT_COVERED: gettext_lazy(
        "neither the law for their sector nor a consent in force covers it"
    ),
    policy.Ground.MEMBERSHIP_NOT_IN_FORCE: gettext_lazy("their place in the team is not in force"),
}


def explain_sentences(
    answer: dict[str, Any], consents: dict[str, Any], name: str
) -> dict[str, Any]:
    """`policy.explain`'s answer in sentences: the member's place, then one per category."""
    if not answer["in_force"]:
        summary = _(
            "%(name)s's place in the team is not in force now (it has ended, has not begun, or "
            "the consent it rests on is no longer in force), so they see nothing of this plan."
        ) % {"name": name}
    elif answer["basis"] == Membership.Basis.STATUTE:
        sector = dict(Sector.choices).get(answer["sector"], answer["sector"] or "")
        summary = _("%(name)s is in the team by law, as a professional of %(sector)s.") % {
            "name": name,
            "sector": sector,
        }
    elif answer["basis"] == Membership.Basis.CONSENT:
        summary = _("%(name)s is in the team on a consent of the family.") % {"name": name}
    else:
        summary = _("%(name)s is a member of the family.") % {"name": name}
    rows = []
    for row in answer["categories"]:
        category = str(capfirst(Category(row["category"]).label))
        why = GROUND_WORDS.get(row["reason"], row["reason"])
        if row["read"]:
            sentence = _("%(category)s: %(name)s reads it, because %(why)s.") % {
                "category": category,
                "name": name,
                "why": why,
            }
            sentence += " " + (
                _("They may also write it.") if row["write"] else _("They may not write it.")
            )
        else:
            sentence = _("%(category)s: %(name)s does not read it, because %(why)s.") % {
                "category": category,
                "name": name,
                "why": why,
            }
        named = [consents[c] for c in row["consents"] if c in consents]
        rows.append({**row, "label": category, "sentence": sentence, "consents": named})
    return {"summary": summary, "rows": rows}


@require_http_methods(["GET"])
@page()
def member_explain(request: HttpRequest, access: policy.PlanAccess, member_id: Any) -> HttpResponse:
    """Why this member can (or cannot) see each kind of information: the lead asks."""
    if not policy.may_explain(access):
        raise PermissionDenied  # as the API's explain (`policy.EXPLAIN`)
    member = _member_or_404(access, member_id)
    answer = policy.explain(access.plan, member)
    ids = {c for row in answer["categories"] for c in row["consents"]}
    consents = {
        str(pk): _consent_words(c) for pk, c in _visible_consents(request, access, ids).items()
    }
    name = member.user.get_full_name() or member.user.get_username()
    response = render(
        request,
        "web/team_explain.html",
        {
            "plan": access.plan,
            "access": access,
            "member": member,
            "name": name,
            "answer": answer,
            "words": explain_sentences(answer, consents, name),
        },
    )
    plan = access.plan
    record_access_batch(  # the row the API's explain writes, with the page's path
        actor=request.user,
        action=Act.READ,
        access=access,
        entries=[
            {
                "subjects": family_subjects([plan.family_id]).get(plan.family_id, []),
                "family_id": plan.family_id,
                "plan_id": plan.pk,
                "object_type": "membership",
                "object_id": member.pk,
                "object_version": plan.version,
                "query": {"page": request.path},
            }
        ],
    )
    return response
