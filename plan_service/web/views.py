"""The family's pages. Parse the form, call a selector or service, render; nothing else.

Every page answers like the API: a plan the reader may not see is the same 404 page as one
that does not exist (and the attempt is logged as denied); what a page shows is logged in the
access log before it leaves; plan pages are never cached (`Cache-Control: no-store`).
"""

from __future__ import annotations

import datetime as dt
import functools
import logging
import uuid
from collections.abc import Callable
from typing import Any

from django.conf import settings
from django.contrib import messages
from django.contrib.auth import logout
from django.contrib.auth.views import LoginView, redirect_to_login
from django.core.exceptions import PermissionDenied, ValidationError
from django.core.paginator import Paginator
from django.db import DatabaseError, transaction
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.gzip import gzip_page
from django.views.decorators.http import require_http_methods, require_POST
from django_otp import login as otp_login

from plan_service import policy
from plan_service.audit import selectors as audit_selectors
from plan_service.audit.models import AccessEvent
from plan_service.audit.services import (
    record_access_batch,
    record_denied,
)
from plan_service.categories import Category
from plan_service.consent import selectors as consent_selectors
from plan_service.consent import services as consent_services
from plan_service.consent.models import Consent
from plan_service.errors import DomainError
from plan_service.participants import sessions
from plan_service.participants.models import Role
from plan_service.plans import selectors, services
from plan_service.plans.models import ITEM_MODELS, Comment, Dissent, TargetType
from plan_service.plans.visibility import reader_view
from plan_service.web import forms, reading

logger = logging.getLogger(__name__)
Act = AccessEvent.Action

#
# Plumbing: sessions, no-store, denied attempts, one transaction per page
#


def _no_store(response: HttpResponse) -> HttpResponse:
    response["Cache-Control"] = "no-store"
    response["Pragma"] = "no-cache"
    return response


def _session_alive(request: HttpRequest) -> bool:
    """A session made by a sign-in (every path: the sign-in page, OpenID Connect, the admin).

    Idle timeout and maximum age are `participants.sessions.SessionLifetimeMiddleware`'s, for
    pages and API alike; here the cookie's own expiry slides with the idle timeout.
    """
    if not sessions.signed_in(request.session):
        return False
    request.session.set_expiry(settings.SESSION_IDLE_MINUTES * 60)
    return True


def page_number(request: HttpRequest) -> int:
    """`?page=`: a plain whole number (at most 9 digits), else the 404 page (never a 500 for
    "²" or a 5,000-digit number, which `isdigit` alone lets through)."""
    raw = request.GET.get("page", "1")
    if not (raw.isascii() and raw.isdigit()) or len(raw) > 9:
        raise Http404
    return int(raw)


def _error_page(request: HttpRequest, status: int) -> HttpResponse:
    template = {403: "web/403.html", 404: "web/404.html"}.get(status, "web/503.html")
    return _no_store(render(request, template, status=status))


def csrf_failure(request: HttpRequest, reason: str = "") -> HttpResponse:
    """A form sent without its CSRF token (or from another site): the 403 page, in language."""
    return _error_page(request, 403)


def page(
    *, plan: bool = True
) -> Callable[[Callable[..., HttpResponse]], Callable[..., HttpResponse]]:
    """Wrap a page view: signed in, one transaction, 404/403 pages logged as denied, no-store.

    With `plan`, the view gets the reader's PlanAccess for the `plan_id` in the URL, read through
    `plans.selectors.plan_access_get` (404 when the plan is hidden or missing).
    """

    def decorate(view: Callable[..., HttpResponse]) -> Callable[..., HttpResponse]:
        @functools.wraps(view)
        def wrapped(request: HttpRequest, **kwargs: Any) -> HttpResponse:
            if not request.user.is_authenticated or not _session_alive(request):
                logout(request)
                return _no_store(redirect_to_login(request.get_full_path(), "web:signin"))
            status = 200
            try:
                with transaction.atomic():
                    if plan:
                        access = selectors.plan_access_get(
                            user=request.user, plan_id=kwargs.pop("plan_id")
                        )
                        response = view(request, access, **kwargs)
                    else:
                        response = view(request, **kwargs)
            except Http404:
                status = 404
            except PermissionDenied:
                status = 403
            except DomainError as exc:  # e.g. someone else changed it first: say so, go back
                messages.error(request, str(exc.message))
                back = (
                    reverse(
                        "web:plan", kwargs={"plan_id": request.resolver_match.kwargs["plan_id"]}
                    )
                    if plan
                    else reverse("web:start")
                )
                return _no_store(redirect(back))
            except DatabaseError:
                logger.warning("database error on a page; answering 503")
                return _error_page(request, 503)
            if status != 200:
                _log_denied(request, status, plan=plan)
                return _error_page(request, status)
            return _no_store(response)

        # Pages are compressed for the wire (a typical plan's HTML shrinks about tenfold);
        # Django's GZipMiddleware logic, with its BREACH mitigation, and CSRF tokens that are
        # masked afresh in every response.
        return gzip_page(wrapped)

    return decorate


def _log_denied(request: HttpRequest, status: int, *, plan: bool) -> None:
    """A refused page is a denied attempt in the access log, as a refused API call is."""
    from plan_service.api.viewsets import parse_uuid

    plan_id = parse_uuid(request.resolver_match.kwargs.get("plan_id")) if plan else None
    try:
        record_denied(
            actor=request.user,
            status_code=status,
            object_type="page",
            object_id=request.resolver_match.url_name or "",
            plan_id=plan_id,
        )
    except DatabaseError:
        logger.warning("could not log a denied page")


#
# Sign in, sign out, where each person works
#


def landing_url(user: Any) -> str:
    """Where a person lands: the family on their open plan; everyone else on the start page."""
    if policy.person_of(user) is not None:
        plans = selectors.plan_list(user=user)
        plan = plans.exclude(status="completed").first() or plans.first()
        if plan is not None:
            return reverse("web:plan", kwargs={"plan_id": plan.pk})
    return reverse("web:start")


class SignInView(LoginView):
    """The sign-in form in the reader's language; lands each person where they work."""

    template_name = "web/signin.html"
    authentication_form = forms.SignInForm
    redirect_authenticated_user = True

    def get_success_url(self) -> str:
        target = self.get_redirect_url()
        return target or landing_url(self.request.user)

    def form_valid(self, form: Any) -> HttpResponse:
        response = super().form_valid(form)
        if form.device is not None:
            otp_login(self.request, form.device)
        self.request.session.set_expiry(settings.SESSION_IDLE_MINUTES * 60)
        # The sign-in and a failed attempt are logged by plan_service.audit.accounts (Django's
        # user_logged_in and user_login_failed), like every other door.
        return _no_store(response)

    def form_invalid(self, form: Any) -> HttpResponse:
        return _no_store(super().form_invalid(form))

    def get_context_data(self, **kwargs: Any) -> dict[str, Any]:
        context = super().get_context_data(**kwargs)
        context["citizen_sign_in"] = bool(settings.OIDC_CITIZEN_ISSUER)
        return context

    def get(self, request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        if request.user.is_authenticated and _session_alive(request):
            return redirect(self.get_success_url())
        if request.user.is_authenticated:
            logout(request)
        return _no_store(super().get(request, *args, **kwargs))

    def dispatch(self, request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        # Signed in through the API's session only (no page session yet): ask again.
        self.redirect_authenticated_user = sessions.signed_in(request.session)
        return super().dispatch(request, *args, **kwargs)


@require_POST
def sign_out(request: HttpRequest) -> HttpResponse:
    """End the session (POST with CSRF, so no link can sign anyone out)."""
    logout(request)
    return _no_store(redirect("web:signin"))


#
# The plan
#


@require_http_methods(["GET"])
@page()
def plan_view(request: HttpRequest, access: policy.PlanAccess) -> HttpResponse:
    context = reading.plan_page(access)
    context["sign_form"] = forms.SignForm(initial={"seen": context["fingerprint"]})
    response = render(request, "web/plan.html", context)
    reading.log_shown(request, access, shown=context["shown"])
    return response


def _service_errors(exc: ValidationError) -> list[str]:
    if hasattr(exc, "message_dict"):
        return [m for msgs in exc.message_dict.values() for m in msgs]
    return list(exc.messages)


@require_POST
@page()
def words(request: HttpRequest, access: policy.PlanAccess) -> HttpResponse:
    """Comment on, give a view of, or disagree with the plan or one of its items."""
    form = forms.WordsForm(request.POST)
    dissent = request.POST.get("as") == "dissent"
    plan_url = reverse("web:plan", kwargs={"plan_id": access.plan.pk})
    if not form.is_valid():
        messages.error(request, _("Write something before sending."))
        return redirect(plan_url)
    data: dict[str, Any] = {
        "target_type": form.cleaned_data["target_type"],
        "target_id": form.cleaned_data["target_id"],
        "text": form.cleaned_data["text"],
    }
    if dissent and data["target_type"] == TargetType.PLAN:
        messages.error(request, _("Disagreement is recorded on a need, goal, action or review."))
        return redirect(plan_url)
    if not dissent:
        data["kind"] = form.cleaned_data["kind"] or _own_view_kind(access)
    try:
        with transaction.atomic():
            services.item_create(
                actor=request.user,
                plan_id=access.plan.pk,
                model=Dissent if dissent else Comment,
                data=data,
            )
    except ValidationError as exc:
        for message in _service_errors(exc):
            messages.error(request, message)
        return redirect(plan_url)
    except DomainError as exc:
        messages.error(request, str(exc.message))
        return redirect(plan_url)
    if request.htmx:  # type: ignore[attr-defined]
        return _words_fragment(request, access, data["target_type"], data["target_id"])
    if dissent:
        messages.success(request, _("Your disagreement is recorded in the plan."))
    else:
        messages.success(request, _("Your comment is saved."))
    anchor = f"#{data['target_type']}-{data['target_id']}" if data["target_id"] else "#comments"
    return redirect(plan_url + anchor)


def _own_view_kind(access: policy.PlanAccess) -> str:
    if policy.is_child(access):
        return Comment.Kind.CHILD_VIEW
    if policy.is_guardian(access):
        return Comment.Kind.GUARDIAN_VIEW
    return Comment.Kind.COMMENT


def _words_fragment(
    request: HttpRequest, access: policy.PlanAccess, target_type: str, target_id: object
) -> HttpResponse:
    """The comments and dissents about one target, for htmx to swap in place."""
    about = {"target_type": target_type, "target_id": target_id}
    comments = list(
        selectors.item_list(access=access, model=Comment)
        .filter(**about)
        .select_related(*reading.AUTHOR)
    )
    dissents = list(
        selectors.item_list(access=access, model=Dissent)
        .filter(**about)
        .select_related(*reading.AUTHOR)
    )
    response = render(
        request,
        "web/_said.html",
        {
            "comments": comments,
            "dissents": dissents,
            "flash": True,
            "target_type": target_type,
            "target_id": target_id,
            "plan_id": access.plan.pk,
            "may_contribute": access.may(policy.Action.CONTRIBUTE),
            "is_family": policy.is_family(access),
        },
    )
    reading.log_shown(
        request,
        access,
        action=Act.SEARCH,
        object_type="comment",
        result_count=len(comments) + len(dissents),
    )
    return response


@require_POST
@page()
def sign(request: HttpRequest, access: policy.PlanAccess) -> HttpResponse:
    """Sign the plan as the reader saw it; refused when what they see has changed since."""
    plan_url = reverse("web:plan", kwargs={"plan_id": access.plan.pk})
    form = forms.SignForm(request.POST)
    if not form.is_valid():
        messages.error(request, _("Choose whether you agree or disagree."))
        return redirect(plan_url + "#sign")
    context = reading.plan_page(access)
    if form.cleaned_data["seen"] != context["fingerprint"]:
        messages.error(
            request,
            _("The plan has changed since you opened it. Read it again before signing."),
        )
        return redirect(plan_url + "#sign")
    try:
        with transaction.atomic():
            services.acknowledgement_create(
                actor=request.user,
                plan_id=access.plan.pk,
                version=reader_view(access).version,  # the version as this reader sees it
                decision=form.cleaned_data["decision"],
                comment=form.cleaned_data["comment"],
            )
    except DomainError:
        messages.error(
            request,
            _("The plan has changed since you opened it. Read it again before signing."),
        )
        return redirect(plan_url + "#sign")
    messages.success(request, _("You have signed the plan."))
    return redirect(plan_url + "#sign")


@require_POST
@page()
def hide(request: HttpRequest, access: policy.PlanAccess) -> HttpResponse:
    """The child hides an item about them from the guardians, or shows it again."""
    if not policy.is_child(access):
        raise PermissionDenied  # the child's own page; professionals use their own tools
    plan_url = reverse("web:plan", kwargs={"plan_id": access.plan.pk})
    form = forms.HideForm(request.POST)
    if not form.is_valid():
        raise Http404
    model = ITEM_MODELS[form.cleaned_data["target_type"]]
    item = selectors.item_get(access=access, model=model, item_id=form.cleaned_data["target_id"])
    try:
        with transaction.atomic():
            services.item_restrict(
                actor=request.user,
                plan_id=access.plan.pk,
                model=model,
                item_id=item.pk,
                child_id=access.person_id if form.cleaned_data["hide"] else None,
                # The version as this reader sees it (versions are reader-relative).
                expected_version=reader_view(access).item_version(
                    model._meta.model_name, item.pk, item.version
                ),
            )
    except ValidationError as exc:
        for message in _service_errors(exc):
            messages.error(request, message)
        return redirect(plan_url)
    if form.cleaned_data["hide"]:
        messages.success(request, _("Hidden from your guardians."))
    else:
        messages.success(request, _("Your guardians can see this again."))
    return redirect(f"{plan_url}#{form.cleaned_data['target_type']}-{item.pk}")


#
# Consents
#


def _family_children(access: policy.PlanAccess, user: Any) -> list[tuple[str, str]]:
    """The children a family member may give consent about: a guardian's wards, a child itself."""
    people = policy.consent_subjects_for(user, access.plan.family_id)
    return [(str(p.pk), f"{p.given_name} {p.family_name}") for p in people.order_by("given_name")]


@require_http_methods(["GET", "POST"])
@page()
def consents(request: HttpRequest, access: policy.PlanAccess) -> HttpResponse:
    """What each consent covers, to whom, until when; give, refuse, withdraw."""
    user = request.user
    if not policy.may_handle_consents(access):
        raise PermissionDenied  # as the API: consents are handled by the family and the lead
    children = _family_children(access, user)
    form = forms.ConsentGiveForm(request.POST or None, children=children)
    if request.method == "POST":
        if not policy.may_give_consent(access):
            raise PermissionDenied
        if form.is_valid():
            data = form.cleaned_data
            until = data["valid_until"]
            try:
                with transaction.atomic():
                    consent_services.consent_create(
                        actor=user,
                        family=access.plan.family,
                        grantor_id=None,
                        subject_ids=[_uuid(s) for s in data["subjects"]],
                        categories=data["categories"],
                        purpose=data["purpose"],
                        recipient_sector=data["recipient_sector"],
                        valid_until=_end_of_day(until),
                        status=Consent.Status.REFUSED if data["refuse"] else Consent.Status.ACTIVE,
                    )
            except ValidationError as exc:
                for message in _service_errors(exc):
                    form.add_error(None, message)
            else:
                messages.success(
                    request,
                    _("Your refusal is recorded.")
                    if data["refuse"]
                    else _("Your consent is saved."),
                )
                return redirect(reverse("web:consents", kwargs={"plan_id": access.plan.pk}))
    return render_consents(
        request, access, form=form, status=400 if request.method == "POST" else 200
    )


def render_consents(
    request: HttpRequest,
    access: policy.PlanAccess,
    *,
    form: Any,
    record_form: Any = None,
    status: int = 200,
) -> HttpResponse:
    """The consents page (and its access-log rows); `record_form` is the lead's, with the
    errors of a refused recording (web/consent_record.py)."""
    from plan_service.web import consent_record

    user = request.user
    if record_form is None and policy.may_record_consent(access):
        record_form = consent_record.form_for(access, user)
    rows = list(
        consent_selectors.consent_list(user=user)
        .filter(family_id=access.plan.family_id)
        .select_related("grantor", "recipient_organization")
    )
    for row in rows:
        row.category_labels = [Category(c).label for c in row.categories]  # type: ignore[attr-defined]
    mine = set(
        policy.consents_for(user, policy.Action.CHANGE)
        .filter(family_id=access.plan.family_id)
        .values_list("pk", flat=True)
    )
    response = render(
        request,
        "web/consents.html",
        {
            "plan": access.plan,
            "access": access,
            "rows": rows,
            "may_withdraw": mine,
            "form": form,
            "family_member": not policy.is_professional(access),
            "record_form": record_form,
        },
        status=status,
    )
    record_access_batch(
        actor=user,
        action=Act.SEARCH,
        entries=[
            {
                "subjects": [p.pk for p in c.subjects.all()],
                "family_id": c.family_id,
                "object_type": "consent",
                "object_id": c.pk,
                "legal_basis": "consent management",
                "query": {"page": request.path},
            }
            for c in rows
        ]
        or [
            {
                "subjects": [],
                "family_id": access.plan.family_id,
                "object_type": "consent",
                "legal_basis": "consent management",
                "query": {"page": request.path},
                "result_count": 0,
            }
        ],
    )
    return response


def _uuid(value: str) -> uuid.UUID:
    return uuid.UUID(value)


def _end_of_day(day: dt.date | None) -> dt.datetime | None:
    """A consent "until" a date holds through that whole day, in the service's time zone."""
    if day is None:
        return None
    return timezone.make_aware(dt.datetime.combine(day + dt.timedelta(days=1), dt.time.min))


@require_POST
@page()
def consent_withdraw(
    request: HttpRequest, access: policy.PlanAccess, consent_id: Any
) -> HttpResponse:
    consent = (
        consent_selectors.consent_list(user=request.user)
        .filter(pk=consent_id, family_id=access.plan.family_id)
        .first()
    )
    if consent is None:
        raise Http404
    form = forms.WithdrawForm(request.POST)
    reason = form.cleaned_data["reason"] if form.is_valid() else ""
    with transaction.atomic():
        consent_services.consent_withdraw(actor=request.user, consent=consent, reason=reason)
    messages.success(request, _("The consent is withdrawn. It no longer applies from now on."))
    return redirect(reverse("web:consents", kwargs={"plan_id": access.plan.pk}))


#
# Who has seen our information
#

ACCESS_LOG_PAGE_SIZE = 50


@require_http_methods(["GET"])
@page()
def access_log(request: HttpRequest, access: policy.PlanAccess) -> HttpResponse:
    """The family's access log (703/2023 §11): who, organisation, what, when, on what basis."""
    if not policy.may_read_family_access_log(access):
        raise PermissionDenied
    rows_qs = audit_selectors.access_log_for_family(
        access=access, visible_items=selectors.visible_item_ids(access=access)
    )
    with_own = request.GET.get("own") == "1"
    if not with_own:  # by default the family sees what others did, not their own reading
        rows_qs = rows_qs.exclude(actor_user_id=request.user.pk)
    paginator = Paginator(rows_qs, ACCESS_LOG_PAGE_SIZE)
    page_obj = paginator.get_page(page_number(request))
    raw = list(page_obj.object_list)
    rows = _grouped([_log_row(row) for row in raw])
    response = render(
        request,
        "web/access_log.html",
        {
            "plan": access.plan,
            "access": access,
            "rows": rows,
            "page_obj": page_obj,
            "with_own": with_own,
            "days": settings.FAMILY_ACCESS_LOG_DAYS,
        },
    )
    person = policy.reads_only_about(access)
    own = [person] if person is not None else None
    reading.log_shown(
        request,
        access,
        action=Act.SEARCH,
        object_type="access-log",
        subjects=own,
        result_count=len(raw),
    )
    return response


def _grouped(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """One line per request and action: a page that read many kinds of item reads as one."""
    out: list[dict[str, Any]] = []
    for row in rows:
        last = out[-1] if out else None
        if last is not None and last["key"] == row["key"]:
            if row["what"] not in last["whats"]:
                last["whats"].append(row["what"])
            continue
        out.append({**row, "whats": [row["what"]]})
    for row in out:
        row["what"] = ", ".join(str(w) for w in row["whats"])
    return out


OBJECT_NAMES = {
    "plan": gettext_lazy("the plan"),
    "need": gettext_lazy("a need"),
    "goal": gettext_lazy("a goal"),
    "action": gettext_lazy("an action"),
    "review": gettext_lazy("a review meeting"),
    "comment": gettext_lazy("comments"),
    "dissent": gettext_lazy("a disagreement"),
    "acknowledgement": gettext_lazy("a signature"),
    "membership": gettext_lazy("the team"),
    "consent": gettext_lazy("a consent"),
    "history": gettext_lazy("the plan's history"),
    "access-log": gettext_lazy("this access log"),
    "maturityassessment": gettext_lazy("an assessment"),
    "family": gettext_lazy("the family's details"),
    "person": gettext_lazy("a family member's details"),
}


def _log_row(row: AccessEvent) -> dict[str, Any]:
    if row.actor_kind == "professional" and row.actor_hide_name:
        who = row.actor_unit or row.actor_organization_name
    else:
        who = row.actor_display or row.actor_username
    role = Role(row.actor_role).label if row.actor_role in Role.values else ""
    kind, _sep, detail = (row.legal_basis or "").partition(":")
    basis = {
        "consent": _("your consent"),
        "statute": detail,
        "family": _("member of the family"),
        "care-team membership": _("member of the care team"),
        "consent management": _("handling consents"),
    }.get(kind, kind)
    return {
        "key": (row.request_id or str(row.pk), row.actor_user_id, row.action),
        "at": row.recorded_at,
        "who": who,
        "role": role,
        "organization": row.actor_organization_name,
        "action": AccessEvent.Action(row.action).label
        if row.action in AccessEvent.Action.values
        else row.action,
        "what": OBJECT_NAMES.get(row.object_type, row.object_type),
        "basis": basis,
    }
