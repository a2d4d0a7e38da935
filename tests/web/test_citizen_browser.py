"""The citizen's sign-in end to end in Debian's Chromium (issue 18): strong identification at a
real OpenID provider (oidc-provider on loopback, PKCE, signed request object, private_key_jwt,
encrypted ID tokens), the choice of a child, the plan narrowed to that child, a block recorded
while acting, and signing out. The service is the demo region on a live server."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest
from django.core.cache import cache
from joserfc.jwk import KeySet

from plan_service.audit.models import AccessEvent
from plan_service.participants.models import Guardianship, Person
from tests.identity.conftest import CLIENT_ID, Provider, free_port, node_install, rsa_key
from tests.web.browser import Session, chromium, demo_site  # noqa: F401


@pytest.fixture
def db_now(django_db_blocker: Any, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Committed reads and writes beside the live server (which has its own connection), from
    the test's thread while Playwright's sync API holds an event loop there."""
    monkeypatch.setenv("DJANGO_ALLOW_ASYNC_UNSAFE", "true")
    with django_db_blocker.unblock():
        yield


@pytest.fixture(scope="module")
def citizens(demo_site, django_db_blocker, tmp_path_factory) -> Iterator[Provider]:  # noqa: F811
    """A provider that knows every demo family member with an account by their username."""
    node_install()
    with django_db_blocker.unblock():
        accounts = {
            p.user.username: {
                "urn:oid:1.2.246.21": p.identity_code,
                "given_name": p.given_name,
                "family_name": p.family_name,
            }
            for p in Person.objects.filter(user__isnull=False).select_related("user")
        }
    p = Provider(
        port=free_port(),
        keys=[rsa_key("op-browser", "sig", "PS256")],
        client_keys=KeySet(
            [rsa_key("rp-sig", "sig", "PS256"), rsa_key("rp-enc", "enc", "RSA-OAEP-256")]
        ),
        accounts=accounts,
        redirect_uris=[f"{demo_site}/auth/oidc/callback/"],
    )
    p.start(tmp_path_factory.mktemp("oidc-browser"))
    yield p
    p.stop()


@pytest.fixture
def relying_party(citizens: Provider, settings: Any) -> Provider:
    settings.OIDC_CITIZEN_ISSUER = citizens.issuer
    settings.OIDC_CITIZEN_CLIENT_ID = CLIENT_ID
    settings.OIDC_CLIENT_KEYS = json.dumps(
        {"keys": [k.as_dict(private=True) for k in citizens.client_keys.keys]}
    )
    cache.clear()
    return citizens


def _identify(s: Session, login: str) -> None:
    """From the front page through the provider's own login and consent pages, back to us."""
    s.go("/")
    s.press_on("a[href='/auth/oidc/citizen/']")
    s.page.wait_for_selector("input[name=login]")
    s.page.fill("input[name=login]", login)
    s.page.fill("input[name=password]", "any")
    with s.page.expect_navigation():
        s.page.keyboard.press("Enter")
    for _ in range(3):  # the provider's consent page, if it asks
        if s.page.url.startswith(s.base):
            return
        button = s.page.locator("button[type=submit]")
        if button.count() == 0:
            s.page.wait_for_url(f"{s.base}/**")
            return
        with s.page.expect_navigation():
            button.first.click()
    assert s.page.url.startswith(s.base), s.page.url


def _choose(s: Session, label: str) -> None:
    s.page.get_by_label(label).check()
    with s.page.expect_navigation():
        s.page.locator("main button[type=submit]").click()


def test_a_guardian_identifies_and_acts_for_each_child_in_turn(
    demo_site,  # noqa: F811
    relying_party,
    chromium,  # noqa: F811
    db_now,
):
    mikko = Person.objects.get(user__username="mikko.virtanen")
    kids = {
        g.child.given_name: g.child
        for g in Guardianship.objects.filter(guardian=mikko).select_related("child")
    }
    eetu = kids.pop("Eetu")
    (other,) = kids.values()
    s = Session(chromium, demo_site)
    try:
        _identify(s, "mikko.virtanen")
        assert s.page.url == f"{demo_site}/auth/act-for/"
        _choose(s, f"{other.given_name} {other.family_name}")
        text = s.text()  # the family's plan, as far as it concerns this child
        assert "Eetun puheen kehityksen tukeminen" not in text
        acted = AccessEvent.objects.filter(on_behalf_of_id=other.pk, actor_kind="guardian")
        assert acted.filter(action="read").exists()
        s.go("/auth/act-for/")
        _choose(s, f"{eetu.given_name} {eetu.family_name}")
        assert "Eetun puheen kehityksen tukeminen" in s.text()
        assert AccessEvent.objects.filter(on_behalf_of_id=eetu.pk, action="read").exists()
        assert s.csp_errors() == []
    finally:
        s.close()


def test_a_block_recorded_while_acting_ends_it_and_the_choice_says_why(
    demo_site,  # noqa: F811
    relying_party,
    chromium,  # noqa: F811
    db_now,
):
    mikko = Person.objects.get(user__username="mikko.virtanen")
    eetu = Guardianship.objects.get(guardian=mikko, child__given_name="Eetu").child
    s = Session(chromium, demo_site)
    try:
        _identify(s, "mikko.virtanen")
        _choose(s, f"{eetu.given_name} {eetu.family_name}")
        assert "Eetun puheen kehityksen tukeminen" in s.text()
        Person.objects.filter(pk=eetu.pk).update(non_disclosure=True)  # recorded meanwhile
        try:
            s.go("/auth/act-for/")
            radio = s.page.get_by_label(f"{eetu.given_name} {eetu.family_name}")
            assert radio.is_disabled()
            described = radio.get_attribute("aria-describedby")
            assert s.page.locator(f"#{described}").inner_text().strip()
            acting = AccessEvent.objects.filter(on_behalf_of_id=eetu.pk).count()
            s.go("/start/")  # whatever page: nobody is acted for any more
            assert AccessEvent.objects.filter(on_behalf_of_id=eetu.pk).count() == acting
        finally:
            Person.objects.filter(pk=eetu.pk).update(non_disclosure=False)
    finally:
        s.close()


def test_signing_out_ends_the_session(demo_site, relying_party, chromium):  # noqa: F811
    s = Session(chromium, demo_site)
    try:
        _identify(s, "paivi.nieminen")
        s.go("/")
        plan = s.page.url
        assert "/plans/" in plan, plan
        with s.page.expect_navigation():
            s.press_on(".signout button")
        s.page.goto(plan)
        assert s.page.url.startswith(f"{demo_site}/?next=")
    finally:
        s.close()
