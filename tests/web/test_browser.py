"""The family's pages in a real browser (Debian's Chromium), as each demo family member.

Every flow is driven with the keyboard only (Tab, Enter, Space, typing), so a control that
cannot be reached or used without a mouse fails the test. Pages are checked by axe-core for
WCAG 2.1 AA in Finnish, Swedish and English, and photographed at 375 px and 1280 px.
"""

from __future__ import annotations

import pytest
from django.conf import settings

from tests.web.browser import (  # noqa: F401
    Session,
    axe_install,
    chromium,
    demo_plan_path,
    demo_site,
)


def _password() -> str:
    return settings.DEMO_PASSWORD


def _item_id(s: Session, kind: str, text: str) -> str:
    return s.page.locator(f"article.{kind}", has_text=text).first.get_attribute("id")


def _open_words(s: Session, anchor: str) -> None:
    """Open the comment form of an item (a <details>) with the keyboard."""
    s.press_on(f"#{anchor} > section.said > details > summary")


def test_guardian_reads_comments_signs_withdraws_consent_and_reads_the_log(
    demo_site,  # noqa: F811
    chromium,  # noqa: F811
):
    s = Session(chromium, demo_site)
    try:
        s.sign_in("mikko.virtanen", _password())
        assert "/plans/" in s.page.url, s.text()
        text = s.text()
        for shown in ("Aino Virtanen", "Eetu Virtanen", "Eetun puheen kehityksen tukeminen"):
            assert shown in text
        assert "Lähete puheterapeutin arvioon." in text  # an action: who does what by when
        assert "Maria Koskinen" in text  # the team

        # Comment on a goal: htmx puts it in place, no page load.
        goal = _item_id(s, "goal", "Eetu tulee ymmärretyksi päiväkodissa")
        _open_words(s, goal)
        s.type_into(f"#{goal} textarea", "Isän viikoilla sopii tiistai.")
        s.press_on(f"#{goal} button[value=comment]")
        s.page.locator(f"#{goal} .words", has_text="Isän viikoilla sopii tiistai.").wait_for()
        assert s.page.url.endswith("/")  # still the same page

        # Sign the version he read.
        s.press_on("#decision-agree", "Space")
        with s.page.expect_navigation():
            s.press_on("#sign button[type=submit]")
        assert "You have signed the plan." in s.text()
        assert "You last signed the plan on" in s.text()

        # Withdraw the consent the social counsellor works on; the team shows it at once.
        with s.page.expect_navigation():
            s.press_on("nav.plannav a[href$='/consents/']")
        assert "Yhteinen perhesuunnitelma: sosiaaliohjaus" in s.text()
        with s.page.expect_navigation():
            s.press_on("li.consent button.warn")
        assert "The consent is withdrawn." in s.text()
        assert "Withdrawn" in s.page.inner_text("li.consent")
        with s.page.expect_navigation():
            s.press_on("nav.plannav a[href$='/']:not([href$='/consents/'])")
        team = s.page.inner_text("ul.team")
        assert "Juha Heikkinen" in team
        assert "no longer has access" in team

        # Who has seen our information.
        with s.page.expect_navigation():
            s.press_on("nav.plannav a[href$='/access-log/']")
        log = s.page.inner_text("table.log")
        assert "Maria Koskinen" in log
        assert "Mikko Virtanen" not in log

        with s.page.expect_navigation():
            s.press_on(".signout button")
        assert s.page.locator("#id_username").count() == 1
        assert s.csp_errors() == []
    finally:
        s.close()


def test_second_guardian_comments_on_the_plan_and_disagrees_when_signing(
    demo_site,  # noqa: F811
    chromium,  # noqa: F811
):
    s = Session(chromium, demo_site)
    try:
        s.sign_in("sanna.korhonen", _password())
        assert "Eetu Virtanen" in s.text()
        s.press_on("#comments > section.said > details > summary")
        s.type_into("#text-plan-plan", "Äidin viikoilla kuljetus onnistuu.")
        s.press_on("#comments button[value=comment]")
        s.page.locator("#comments .words", has_text="Äidin viikoilla").wait_for()
        s.press_on("#decision-agree", "ArrowDown")  # arrows move within a radio group
        assert s.page.is_checked("#decision-disagree")
        s.type_into("#sign-comment", "Toivon tiheämpiä tapaamisia.")
        with s.page.expect_navigation():
            s.press_on("#sign button[type=submit]")
        assert "You have signed the plan." in s.text()
        assert "(disagree)" in s.text()
        assert s.csp_errors() == []
    finally:
        s.close()


def test_guardian_records_a_dissent_on_a_goal(demo_site, chromium):  # noqa: F811
    s = Session(chromium, demo_site)
    try:
        s.sign_in("jenni.makinen", _password())
        goal = _item_id(s, "goal", "Perhetyö tukee arjen rutiineja")
        _open_words(s, goal)
        s.type_into(f"#{goal} textarea", "Kaksi käyntiä viikossa on liikaa.")
        s.press_on(f"#{goal} button[value=dissent]")
        dissent = s.page.locator(f"#{goal} li.dissent", has_text="Kaksi käyntiä viikossa")
        dissent.wait_for()
        assert "Disagrees:" in dissent.inner_text()
        assert s.csp_errors() == []
    finally:
        s.close()


def test_child_hides_an_item_and_the_guardian_no_longer_sees_it(demo_site, chromium):  # noqa: F811
    guardian = Session(chromium, demo_site)
    child = Session(chromium, demo_site)
    try:
        guardian.sign_in("paivi.nieminen", _password())
        assert "Säännöllinen koulunkäynti" in guardian.text()
        assert "Unettomuus" not in guardian.text()  # hidden at Lauri's wish in the demo
        before = guardian.page.content()

        child.sign_in("lauri.nieminen", _password())
        text = child.text()
        assert "Your own view" in text
        assert "they will not be told that something is hidden" in text
        assert "Unettomuus ja mieliala" in text  # the child sees what he hid
        goal = _item_id(child, "goal", "Säännöllinen koulunkäynti")
        with child.page.expect_navigation():
            child.press_on(f"#{goal} form.hideform button")
        assert "Hidden from your guardians." in child.text()
        assert "Hidden from your guardians at your wish." in child.page.inner_text(f"#{goal}")

        guardian.page.reload()
        after = guardian.text()
        assert "Säännöllinen koulunkäynti" not in after
        assert "hidden" not in after.lower()
        assert "Säännöllinen" not in guardian.page.content()
        assert len(guardian.page.content()) < len(before)

        # Shown again at the child's wish.
        with child.page.expect_navigation():
            child.press_on(f"#{goal} form.hideform button")
        guardian.page.reload()
        assert "Säännöllinen koulunkäynti" in guardian.text()
        assert child.csp_errors() == []
        assert guardian.csp_errors() == []
    finally:
        guardian.close()
        child.close()


#: (who signs in, page path or a name of the landing page, screenshot name)
PAGES = [
    (None, "/", "signin"),
    ("mikko.virtanen", "plan", "plan-guardian"),
    ("mikko.virtanen", "consents/", "consents"),
    ("mikko.virtanen", "access-log/", "access-log"),
    ("lauri.nieminen", "plan", "plan-child"),
    ("kuraattori", "/start/", "start"),
    ("mikko.virtanen", "/notices/", "notices"),
    ("mikko.virtanen", "/sessions/", "sessions"),
    ("mikko.virtanen", "/auth/act-for/", "act-for"),
    # Sign-ins: rows about nobody, so the console's own logged read stays out of the families'
    # logs that the other browser tests read.
    ("tietosuoja", "/audit/?action=login", "audit"),
    ("tietosuoja", "/audit/disclosures/?recipient=no-such-recipient", "audit-disclosures"),
    ("mikko.virtanen", "/plans/00000000-0000-0000-0000-000000000000/", "not-found"),
    # The team's editing pages (web/editing.py), on the Mäkinen family's plan: the plan as the
    # lead sees it (add and change links), the add and change forms, and the conflict page.
    ("sosiaalityontekija", "makinen:plan", "plan-professional"),
    ("kuraattori", "makinen:new-review", "edit-new"),
    ("kuraattori", "makinen:edit-goal", "edit-item"),
    ("kuraattori", "makinen:conflict", "edit-conflict"),
]


def _editing_page(s: Session, plan_path: str, which: str) -> None:
    """Open one of the editing pages; the conflict page is the answer to a save based on a
    version that is not the current one (nothing is saved)."""
    if which == "plan":
        s.go(plan_path)
        return
    if which == "new-review":
        s.go(f"{plan_path}items/review/new/")
        return
    s.go(plan_path)
    s.page.click(
        "article.goal:has-text('Läksyt tehdään') .editlinks a[href$='/edit/']", timeout=5000
    )
    s.page.wait_for_selector("form.editform")
    if which == "conflict":
        s.page.eval_on_selector("input[name=version]", "e => { e.value = '999'; }")
        s.page.fill("#id_evidence", "Toinen versio")
        with s.page.expect_navigation():
            s.page.click("form.editform button.primary")
        assert s.page.locator("form.merge").count() == 1


@pytest.mark.parametrize("language", ["fi", "sv", "en"])
def test_every_page_passes_axe_in_each_language(
    demo_site,  # noqa: F811
    django_db_blocker,
    chromium,  # noqa: F811
    language,
):
    axe_install()
    makinen = demo_plan_path(django_db_blocker, "Mäkinen")
    sessions: dict[str | None, Session] = {}
    problems = {}
    try:
        for user, path, name in PAGES:
            s = sessions.get(user)
            if s is None:
                s = sessions[user] = Session(chromium, demo_site, bypass_csp=True)
                if user is not None:
                    s.sign_in(user, _password())
                    sessions[f"{user}:plan"] = s.page.url  # type: ignore[assignment]
                else:
                    s.go("/")
                s.context.add_cookies(
                    [{"name": "django_language", "value": language, "url": demo_site}]
                )
            plan_url = sessions.get(f"{user}:plan") if user else None
            if path == "plan":
                s.page.goto(str(plan_url))
            elif path.startswith("makinen:"):
                _editing_page(s, makinen, path.removeprefix("makinen:"))
            elif path.startswith("/"):
                s.go(path)
            else:
                s.page.goto(f"{plan_url}{path}")
            assert s.page.get_attribute("html", "lang") == language, name
            violations = s.axe_violations()
            if violations:
                problems[name] = violations
            if language == "fi":
                s.screenshots(name)
        assert problems == {}
    finally:
        for key, s in sessions.items():
            if isinstance(s, Session) and not str(key).endswith(":plan"):
                s.close()


def test_language_switch_changes_the_page_language(demo_site, chromium):  # noqa: F811
    s = Session(chromium, demo_site)
    try:
        s.go("/")
        with s.page.expect_navigation():
            s.press_on("button[name=language][value=sv]")
        assert s.page.get_attribute("html", "lang") == "sv"
        assert "Logga in" in s.text()
        with s.page.expect_navigation():
            s.press_on("button[name=language][value=fi]")
        assert s.page.get_attribute("html", "lang") == "fi"
        assert "Kirjaudu sisään" in s.text()
        s.sign_in("mikko.virtanen", _password())
        assert "Perheen suunnitelma" in s.text()
    finally:
        s.close()
