"""Pages of strong sign-in: start and finish the OpenID Connect flow, choose a child to act for.

The person is matched to the registry by the identity code the provider vouched for, never by
name; an unknown person gets a page saying so and no account. Every outcome is logged.
"""

from __future__ import annotations

import logging

from django.contrib.auth import login
from django.contrib.auth.views import redirect_to_login
from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseRedirect, JsonResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.translation import get_language
from django.utils.translation import gettext_lazy as _
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET, require_http_methods
from stdnum.exceptions import ValidationError as StdnumValidationError
from stdnum.fi import hetu

from plan_service import policy
from plan_service.audit.models import AccessEvent
from plan_service.audit.services import record_access
from plan_service.participants import oidc, services
from plan_service.participants.acting import SESSION_KEY
from plan_service.participants.models import Person

logger = logging.getLogger(__name__)
Act = AccessEvent.Action
_PENDING = "oidc_pending"

#: What each block means, in words for the guardian.
BLOCK_TEXT = {
    policy.ActForBlock.ADULT: _("The child is 18 or older: custody has ended."),
    policy.ActForBlock.NON_DISCLOSURE: _(
        "A non-disclosure marking for personal safety prevents acting for this child here."
    ),
    policy.ActForBlock.CUSTODY_DECISION: _(
        "A decision on custody does not give you the right to act for this child."
    ),
    policy.ActForBlock.PLACEMENT_RESTRICTION: _(
        "A child-welfare decision restricts your contact with this child for now."
    ),
}


def _relying_party() -> oidc.RelyingParty:
    rp = oidc.citizen_relying_party()
    if rp is None:
        raise Http404
    return rp


@never_cache
@require_GET
def citizen_start(request: HttpRequest) -> HttpResponse:
    """Send the browser to the identity provider with a signed request object."""
    rp = _relying_party()
    try:
        url, pending = oidc.begin(
            rp,
            redirect_uri=request.build_absolute_uri(reverse("oidc-callback")),
            ui_locales=get_language() or "",
        )
    except oidc.SignInFailed as exc:
        return _failed(request, exc.code)
    request.session[_PENDING] = pending
    return HttpResponseRedirect(url)


@never_cache
@require_GET
def callback(request: HttpRequest) -> HttpResponse:
    """The provider's redirect: verify, match the person by identity code, sign in."""
    rp = _relying_party()
    pending = request.session.pop(_PENDING, None)  # single use, whatever happens next
    try:
        claims = oidc.complete(rp, pending=pending, params=request.GET.dict())
    except oidc.SignInFailed as exc:
        logger.info("sign-in refused: %s", exc)
        return _failed(request, exc.code)
    person = _registered_person(oidc.identity_code_of(rp, claims))
    if person is None:
        record_access(
            actor=None,
            action=Act.LOGIN_FAILED,
            subjects=[],
            outcome=AccessEvent.Outcome.DENIED,
            object_type="oidc",
            object_id="unknown_person",
            legal_basis="identification:oidc",
        )
        return render(request, "participants/signin_unknown.html", status=403)
    user = services.citizen_account_for(person=person)
    if not user.is_active:
        return _failed(request, "account_inactive")
    request.session["signin_method"] = "oidc"
    # Logged by plan_service.audit.accounts from Django's user_logged_in, like every sign-in.
    login(request, user, backend="django.contrib.auth.backends.ModelBackend")
    if policy.wards_of(user):
        return redirect("act-for")
    return redirect("/")


def _registered_person(code: str | None) -> Person | None:
    if not code:
        return None
    try:
        compact = hetu.validate(code, allow_temporary=True)
    except StdnumValidationError:
        return None
    return Person.objects.select_related("user").filter(identity_code=compact).first()


def _failed(request: HttpRequest, code: str) -> HttpResponse:
    logger.warning("citizen sign-in failed: %s", code)
    record_access(
        actor=None,
        action=Act.LOGIN_FAILED,
        subjects=[],
        outcome=AccessEvent.Outcome.DENIED,
        object_type="oidc",
        object_id=code[:64],
        legal_basis="identification:oidc",
    )
    return render(request, "participants/signin_failed.html", status=400)


@require_GET
def client_jwks(request: HttpRequest) -> HttpResponse:
    """Our public keys (request-object signature, client assertion, ID-token encryption)."""
    rp = _relying_party()
    return JsonResponse(rp.public_jwks())


@never_cache
@require_http_methods(["GET", "POST"])
def act_for(request: HttpRequest) -> HttpResponse:
    """A signed-in guardian chooses a child to act for, or to act as themselves."""
    if not request.user.is_authenticated:
        return redirect_to_login(request.get_full_path(), "web:signin")
    wards = policy.wards_of(request.user)
    if request.method == "POST":
        choice = request.POST.get("child", "")
        if choice == "self":
            request.session.pop(SESSION_KEY, None)
            return redirect("/")
        try:
            child = policy.require_act_for(request.user, choice)
        except Http404:
            return render(request, "participants/act_for.html", _context(wards), status=404)
        except PermissionDenied:
            return render(request, "participants/act_for.html", _context(wards), status=403)
        request.session[SESSION_KEY] = str(child.pk)
        record_access(
            actor=request.user,
            action=Act.LOGIN,
            subjects=[child.pk],
            object_type="acting_for",
            object_id=child.pk,
            legal_basis="guardianship",
        )
        return redirect("/")
    return render(request, "participants/act_for.html", _context(wards))


def _context(wards: list) -> dict:
    return {
        "wards": [
            {
                "child": g.child,
                "blocks": [BLOCK_TEXT[b] for b in blocks],
            }
            for g, blocks in wards
        ]
    }
