"""Citizen sign-in over OpenID Connect against a real provider on loopback, and acting for a
child. Every ID token the provider issues here is encrypted (JWE) and signed; our requests carry
a signed request object, PKCE and a private_key_jwt client assertion, all required by the
provider's configuration (tests/identity/node/provider.mjs), so a sign-in that succeeds proves
each of them works."""

from __future__ import annotations

import datetime as dt
import json
import time
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
from django.contrib.auth import get_user_model
from django.test import Client
from django.utils import timezone
from joserfc import jwe, jwt
from joserfc.jwk import KeySet

from plan_service.audit.models import AccessEvent
from plan_service.participants import oidc
from plan_service.plans import services
from plan_service.plans.models import Need
from tests import factories
from tests.identity.conftest import (
    CLIENT_ID,
    REDIRECT_URI,
    Provider,
    authenticate_at_provider,
    callback_path,
    rsa_key,
)

pytestmark = pytest.mark.django_db


def _claims_for(person: Any) -> dict[str, Any]:
    return {
        "urn:oid:1.2.246.21": person.identity_code,
        "given_name": person.given_name,
        "family_name": person.family_name,
    }


def _start(provider: Provider, login: str, claims: dict[str, Any]) -> tuple[Client, str]:
    """Register `login` at the provider, start sign-in from the service, pass the provider."""
    provider.add_account(login, claims)
    browser = Client()
    start = browser.get("/auth/oidc/citizen/")
    assert start.status_code == 302
    return browser, authenticate_at_provider(start["Location"], login)


def _sign_in(provider: Provider, person: Any) -> tuple[Client, Any]:
    browser, location = _start(provider, f"p-{person.pk.hex[:8]}", _claims_for(person))
    return browser, browser.get(callback_path(location))


def _rows(**filters: Any) -> list[AccessEvent]:
    return list(AccessEvent.objects.filter(**filters).order_by("recorded_at", "seq"))


#
# Signing in
#


def test_a_registered_citizen_signs_in_and_is_matched_by_identity_code(provider):
    fam = factories.family(children=1, guardians=1, child_age=13)
    child = fam.members.get(kind="child")
    before = AccessEvent.objects.count()
    browser, done = _sign_in(provider, child)
    assert done.status_code == 302
    assert done["Location"] == "/"
    child.refresh_from_db()
    assert child.user is not None
    assert not child.user.has_usable_password()
    assert browser.session["_auth_user_id"] == str(child.user.pk)
    login = _rows(action="login", actor_user_id=child.user.pk)
    assert [r.query for r in login] == [{"path": "oidc"}]  # one row, through this door
    # The identity code appears in no log row.
    for row in AccessEvent.objects.all()[before:]:
        assert child.identity_code not in json.dumps(
            {f: str(getattr(row, f)) for f in AccessEvent.HASHED_FIELDS}
        )


def test_a_second_sign_in_reuses_the_account(provider):
    fam = factories.family(children=1, guardians=1, child_age=13)
    child = fam.members.get(kind="child")
    _sign_in(provider, child)
    users = get_user_model().objects.count()
    _, done = _sign_in(provider, child)
    assert done.status_code == 302
    assert get_user_model().objects.count() == users


def test_an_unknown_person_gets_a_clear_page_and_no_account(provider):
    stranger = factories.identity_code(40)
    users = get_user_model().objects.count()
    browser, location = _start(
        provider, "stranger", {"urn:oid:1.2.246.21": stranger, "given_name": "Sam"}
    )
    page = browser.get(callback_path(location))
    assert page.status_code == 403
    assert b"no family plan here" in page.content
    assert get_user_model().objects.count() == users
    assert "_auth_user_id" not in browser.session
    row = _rows(action="login_failed", object_type="oidc")[-1]
    assert row.object_id == "unknown_person"
    assert row.outcome == "denied"
    assert stranger not in row.object_id


def test_a_person_is_never_matched_by_name(provider):
    fam = factories.family(children=1, guardians=1)
    guardian = fam.members.get(kind="guardian")
    claims = {
        "urn:oid:1.2.246.21": factories.identity_code(41),  # someone else's code, same name
        "given_name": guardian.given_name,
        "family_name": guardian.family_name,
    }
    browser, location = _start(provider, "namesake", claims)
    assert browser.get(callback_path(location)).status_code == 403
    guardian.refresh_from_db()
    assert guardian.user is None


#
# What the flow carries
#


def test_the_authorization_request_is_a_signed_request_object_with_pkce(provider, settings):
    response = Client().get("/auth/oidc/citizen/")
    query = parse_qs(urlsplit(response["Location"]).query)
    assert query["client_id"] == [CLIENT_ID]
    ours = KeySet.import_key_set(json.loads(settings.OIDC_CLIENT_KEYS))
    token = jwt.decode(query["request"][0], ours, algorithms=["PS256"])
    assert token.header["alg"] == "PS256"
    claims = token.claims
    assert claims["code_challenge_method"] == "S256"
    assert len(claims["code_challenge"]) == 43
    assert claims["state"]
    assert claims["nonce"]
    assert claims["redirect_uri"] == REDIRECT_URI
    # Nothing that could be altered travels outside the signed object.
    assert "state" not in query
    assert "redirect_uri" not in query


def test_the_provider_refuses_an_unsigned_request(provider):
    metadata = httpx.get(f"{provider.issuer}/.well-known/openid-configuration").json()
    response = httpx.get(
        metadata["authorization_endpoint"],
        params={
            "client_id": CLIENT_ID,
            "response_type": "code",
            "scope": "openid",
            "redirect_uri": REDIRECT_URI,
            "state": "s",
            "nonce": "n",
            "code_challenge": "x" * 43,
            "code_challenge_method": "S256",
        },
        follow_redirects=False,
    )
    assert "error=invalid_request" in response.headers.get("location", "")


def test_public_client_keys_hold_no_private_part(provider):
    keys = Client().get("/auth/oidc/jwks.json").json()["keys"]
    assert {k["use"] for k in keys} == {"sig", "enc"}
    for key in keys:
        assert not {"d", "p", "q", "dp", "dq", "qi"} & set(key)


#
# Refusals
#


def test_a_wrong_state_is_refused(provider):
    fam = factories.family(children=1, guardians=1)
    guardian = fam.members.get(kind="guardian")
    browser, location = _start(provider, "g-state", _claims_for(guardian))
    forged = location.replace("state=", "state=x")
    page = browser.get(callback_path(forged))
    assert page.status_code == 400
    assert "_auth_user_id" not in browser.session
    assert _rows(action="login_failed")[-1].object_id == "state_mismatch"


def test_a_replayed_callback_is_refused(provider):
    fam = factories.family(children=1, guardians=1)
    guardian = fam.members.get(kind="guardian")
    browser, location = _start(provider, "g-replay", _claims_for(guardian))
    assert browser.get(callback_path(location)).status_code == 302
    # The same redirect again: the pending sign-in was used up.
    again = Client().get(callback_path(location))
    assert again.status_code == 400
    assert _rows(action="login_failed")[-1].object_id == "no_pending_sign_in"


def test_a_replayed_code_is_refused_by_the_provider(provider):
    fam = factories.family(children=1, guardians=1)
    guardian = fam.members.get(kind="guardian")
    browser, location = _start(provider, "g-code", _claims_for(guardian))
    pending = dict(browser.session["oidc_pending"])
    assert browser.get(callback_path(location)).status_code == 302
    rp = oidc.citizen_relying_party()
    params = {k: v[0] for k, v in parse_qs(urlsplit(location).query).items()}
    with pytest.raises(oidc.SignInFailed) as refused:
        oidc.complete(rp, pending=pending, params=params)
    assert refused.value.code == "token_refused"


def test_a_wrong_nonce_is_refused(provider):
    fam = factories.family(children=1, guardians=1)
    guardian = fam.members.get(kind="guardian")
    browser, location = _start(provider, "g-nonce", _claims_for(guardian))
    session = browser.session
    session["oidc_pending"] = {**session["oidc_pending"], "nonce": "not-the-one-sent"}
    session.save()
    assert browser.get(callback_path(location)).status_code == 400
    assert _rows(action="login_failed")[-1].object_id == "nonce_mismatch"


def _forge(provider: Provider, signer: Any, **claims: Any) -> str:
    """An ID token as the provider would make it, signed by `signer`, encrypted to us."""
    now = int(time.time())
    body = {
        "iss": provider.issuer,
        "sub": "someone",
        "aud": CLIENT_ID,
        "iat": now,
        "exp": now + 300,
        "nonce": "n-1",
        **claims,
    }
    signed = jwt.encode({"alg": "PS256", "kid": signer.kid}, body, signer, algorithms=["PS256"])
    enc = next(k for k in provider.client_keys.keys if k.get("use") == "enc")
    return jwe.encrypt_compact(
        {"alg": "RSA-OAEP-256", "enc": "A256GCM", "cty": "JWT"},
        signed,
        enc,
        algorithms=["RSA-OAEP-256", "A256GCM"],
    )


def test_a_genuine_forged_shape_token_verifies(provider):
    """The forging helper makes tokens our verifier accepts when nothing is wrong with them,
    so the refusals below are refusals of the one thing each changes."""
    rp = oidc.citizen_relying_party()
    claims = oidc.verify_id_token(rp, _forge(provider, provider.keys[0]), nonce="n-1")
    assert claims["sub"] == "someone"


@pytest.mark.parametrize(
    ("change", "code"),
    [
        ({"exp": int(time.time()) - 3600, "iat": int(time.time()) - 7200}, "id_token_claims"),
        ({"aud": "another-client"}, "id_token_claims"),
        ({"iss": "http://127.0.0.1:1"}, "id_token_claims"),
        ({"iat": int(time.time()) + 3600}, "id_token_claims"),
        ({"nonce": "n-2"}, "nonce_mismatch"),
    ],
    ids=["expired", "audience", "issuer", "future", "nonce"],
)
def test_a_token_with_a_wrong_claim_is_refused(provider, change, code):
    rp = oidc.citizen_relying_party()
    with pytest.raises(oidc.SignInFailed) as refused:
        oidc.verify_id_token(rp, _forge(provider, provider.keys[0], **change), nonce="n-1")
    assert refused.value.code == code


def test_a_token_signed_by_another_key_is_refused(provider):
    rp = oidc.citizen_relying_party()
    impostor = rsa_key("op-1", "sig", "PS256")  # same key id, different key
    with pytest.raises(oidc.SignInFailed) as refused:
        oidc.verify_id_token(rp, _forge(provider, impostor), nonce="n-1")
    assert refused.value.code == "id_token_signature"


def test_a_tampered_encrypted_token_is_refused(provider):
    rp = oidc.citizen_relying_party()
    token = _forge(provider, provider.keys[0])
    head, key, iv, ciphertext, tag = token.split(".")
    flipped = ("A" if ciphertext[5] != "A" else "B").join((ciphertext[:5], ciphertext[6:]))
    with pytest.raises(oidc.SignInFailed) as refused:
        oidc.verify_id_token(rp, ".".join((head, key, iv, flipped, tag)), nonce="n-1")
    assert refused.value.code == "id_token_undecryptable"


def test_an_unencrypted_token_is_refused(provider):
    rp = oidc.citizen_relying_party()
    signer = provider.keys[0]
    now = int(time.time())
    signed = jwt.encode(
        {"alg": "PS256", "kid": signer.kid},
        {"iss": provider.issuer, "sub": "x", "aud": CLIENT_ID, "iat": now, "exp": now + 60},
        signer,
        algorithms=["PS256"],
    )
    with pytest.raises(oidc.SignInFailed) as refused:
        oidc.verify_id_token(rp, signed, nonce="n-1")
    assert refused.value.code == "id_token_not_encrypted"


def test_key_rotation_at_the_provider_is_followed(provider, tmp_path):
    fam = factories.family(children=1, guardians=2)
    first, second = fam.members.filter(kind="guardian").order_by("given_name")
    _, done = _sign_in(provider, first)
    assert done.status_code == 302  # the provider's keys (op-1) are now cached
    provider.restart_with([rsa_key("op-2", "sig", "PS256")], tmp_path)
    _, done = _sign_in(provider, second)
    assert done.status_code == 302
    second.refresh_from_db()
    assert second.user is not None


#
# Acting for one's child
#


def _family_plan(children_ages: tuple[int, ...] = (8, 10)):
    lead = factories.professional()
    fam = factories.family(children=len(children_ages), guardians=1, child_age=children_ages[0])
    plan = factories.plan(lead, fam)
    kids = list(fam.members.filter(kind="child").order_by("given_name"))
    for kid in kids:
        services.item_create(
            actor=lead.user,
            plan_id=plan.pk,
            model=Need,
            data={
                "category": "general",
                "title": f"need of {kid.given_name}",
                "concerns": [kid.pk],
            },
        )
    services.item_create(
        actor=lead.user,
        plan_id=plan.pk,
        model=Need,
        data={"category": "general", "title": "whole family"},
    )
    return lead, fam, plan, kids


def _needs_seen(browser: Client, plan) -> set[str]:
    response = browser.get(f"/api/v1/plans/{plan.pk}/needs/")
    assert response.status_code == 200, response.content
    return {n["title"] for n in response.json()["results"]}


def test_a_guardian_chooses_a_child_and_sees_that_childs_part(provider):
    _, fam, plan, (first, second) = _family_plan()
    guardian = fam.members.get(kind="guardian")
    browser, done = _sign_in(provider, guardian)
    assert done["Location"] == "/auth/act-for/"
    page = browser.get("/auth/act-for/")
    assert first.given_name.encode() in page.content
    assert second.given_name.encode() in page.content
    everything = _needs_seen(browser, plan)
    assert everything == {"need of Child0", "need of Child1", "whole family"}
    chosen = browser.post("/auth/act-for/", {"child": str(first.pk)})
    assert chosen.status_code == 302
    assert _needs_seen(browser, plan) == {"need of Child0", "whole family"}
    guardian.refresh_from_db()
    reads = _rows(object_type="need", plan_id=plan.pk, actor_user_id=guardian.user_id)
    assert reads[-1].on_behalf_of_id == first.pk
    assert reads[0].on_behalf_of_id is None
    browser.post("/auth/act-for/", {"child": "self"})
    assert _needs_seen(browser, plan) == everything


def test_rows_acted_for_a_child_still_verify(provider):
    from plan_service.audit import chain

    _, fam, plan, (first, _) = _family_plan()
    guardian = fam.members.get(kind="guardian")
    browser, _ = _sign_in(provider, guardian)
    browser.post("/auth/act-for/", {"child": str(first.pk)})
    _needs_seen(browser, plan)
    row = _rows(on_behalf_of_id=first.pk)[-1]
    assert chain.row_hash(row.prev_hash, row) == row.row_hash
    assert chain.verify(AccessEvent).ok  # the whole log, read back from the database
    row.on_behalf_of_id = None
    assert chain.row_hash(row.prev_hash, row) != row.row_hash


@pytest.mark.parametrize("block", ["custody", "placement", "non_disclosure", "adult"])
def test_a_blocked_guardian_cannot_act_for_the_child(provider, block):
    _, fam, _plan, (first, second) = _family_plan(children_ages=(8, 10))
    guardian = fam.members.get(kind="guardian")
    guardianship = first.guardianships.get(guardian=guardian)
    if block == "custody":
        guardianship.excluded_by_custody_decision = True
        guardianship.save()
    elif block == "placement":
        guardianship.restricted_until = timezone.localdate() + dt.timedelta(days=30)
        guardianship.save()
    elif block == "non_disclosure":
        first.non_disclosure = True
        first.save()
    else:
        first.identity_code = factories.identity_code(19)
        first.save()
    browser, _ = _sign_in(provider, guardian)
    page = browser.get("/auth/act-for/")
    assert b"disabled" in page.content
    refused = browser.post("/auth/act-for/", {"child": str(first.pk)})
    assert refused.status_code == 403
    assert "acting_for" not in browser.session
    assert browser.post("/auth/act-for/", {"child": str(second.pk)}).status_code == 302


def test_a_block_recorded_while_acting_takes_effect_on_the_next_request(provider):
    _, fam, plan, (first, _) = _family_plan()
    guardian = fam.members.get(kind="guardian")
    browser, _ = _sign_in(provider, guardian)
    browser.post("/auth/act-for/", {"child": str(first.pk)})
    assert _needs_seen(browser, plan) == {"need of Child0", "whole family"}
    guardianship = first.guardianships.get(guardian=guardian)
    guardianship.restricted_until = timezone.localdate()
    guardianship.save()
    # The choice is dropped, and a restriction also hides that child's items from the guardian.
    assert _needs_seen(browser, plan) == {"need of Child1", "whole family"}
    assert "acting_for" not in browser.session


def test_a_guardian_cannot_act_for_someone_elses_child(provider):
    _, fam, _plan, _ = _family_plan()
    other = factories.family(children=1, guardians=1)
    stranger_child = other.members.get(kind="child")
    guardian = fam.members.get(kind="guardian")
    browser, _ = _sign_in(provider, guardian)
    assert browser.post("/auth/act-for/", {"child": str(stranger_child.pk)}).status_code == 404
    assert browser.post("/auth/act-for/", {"child": "not-a-uuid"}).status_code == 404


def test_a_citizen_signed_in_through_the_provider_lands_on_the_family_pages(provider):
    """The OpenID sign-in makes a page session like the sign-in form does: "/" leads on to the
    family's plan instead of asking for a password."""
    _, fam, plan, _kids = _family_plan()
    guardian = fam.members.get(kind="guardian")
    browser, _done = _sign_in(provider, guardian)
    landing = browser.get("/")
    assert landing.status_code == 302, landing.content
    assert landing["Location"] == f"/plans/{plan.pk}/"
    page = browser.get(landing["Location"])
    assert page.status_code == 200
    assert b"whole family" in page.content
