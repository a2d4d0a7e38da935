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


def test_professional_finds_a_plan_on_the_start_page_with_the_keyboard(
    demo_site,  # noqa: F811
    chromium,  # noqa: F811
):
    """Search by a child's name, filter by status and new comments, open the plan, clear:
    keyboard only, and the name never in the address."""
    s = Session(chromium, demo_site)
    try:
        s.sign_in("kuraattori", _password())
        assert s.page.url.endswith("/start/"), s.page.url
        assert "My plans" in s.text()
        s.type_into("#id_q", "lauri")
        s.tab_to("#id_status")
        s.page.keyboard.type("Active")  # a closed select takes the typed option's name
        assert s.page.eval_on_selector("#id_status", "e => e.value") == "active"
        s.press_on("#id_new", "Space")
        assert s.page.is_checked("#id_new")
        with s.page.expect_navigation():
            s.press_on("form.search button.primary")
        assert "lauri" not in s.page.url.lower()
        assert "status=active" in s.page.url
        assert "new=1" in s.page.url
        text = s.text()
        assert "Name searched for: “lauri”" in text
        assert "The Nieminen family's plan" in text
        assert "The Virtanen family's plan" not in text
        assert s.page.is_checked("#id_new")  # the form shows what is applied
        with s.page.expect_navigation():
            s.press_on("ul.worklist a[href^='/plans/']")
        assert "Lauri" in s.text()
        s.go("/start/")
        with s.page.expect_navigation():
            s.press_on("form.search button[name=clear]")
        assert s.page.url.endswith("/start/")
        assert "Name searched for" not in s.text()
        assert s.csp_errors() == []
    finally:
        s.close()


#: (who signs in, page path or a name of the landing page, screenshot name)
PAGES = [
    (None, "/", "signin"),
    ("mikko.virtanen", "plan", "plan-guardian"),
    ("mikko.virtanen", "consents/", "consents"),
    ("mikko.virtanen", "access-log/", "access-log"),
    ("lauri.nieminen", "plan", "plan-child"),
    ("kuraattori", "/start/", "start"),
    ("terveydenhoitaja", "/start/?status=active&role=lead&new=1", "start-filtered"),
    ("terveydenhoitaja", "/start/?status=completed", "start-none-match"),
    ("mikko.virtanen", "/notices/", "notices"),
    ("mikko.virtanen", "/sessions/", "sessions"),
    ("mikko.virtanen", "/auth/act-for/", "act-for"),
    # Sign-ins: rows about nobody, so the console's own logged read stays out of the families'
    # logs that the other browser tests read.
    ("tietosuoja", "/audit/?action=login", "audit"),
    ("tietosuoja", "/audit/disclosures/?recipient=no-such-recipient", "audit-disclosures"),
    ("mikko.virtanen", "/plans/00000000-0000-0000-0000-000000000000/", "not-found"),
    # The care team's pages (issue 17), on the Virtanen family's plan (Mikko's landing page)
    # as its lead, the public health nurse.
    ("terveydenhoitaja", "virtanen:consents/", "consents-lead"),
    ("terveydenhoitaja", "virtanen:assessments/", "assessments"),
    ("terveydenhoitaja", "virtanen:share/", "share"),
    ("terveydenhoitaja", "virtanen:share/?recipient=aurinkolaakson-koulu", "share-preview"),
    # The auditor's trace of one request (the rows of a request id that has none are the
    # empty result: the page itself is what is checked).
    ("tietosuoja", "/audit/?request=no-such-request", "audit-request"),
    # The history and the team (issue 17): as the family, and as the lead with the controls
    # ("@Family:tail" is a path under the plan of that family linked from the start page).
    ("mikko.virtanen", "history/", "history"),
    ("mikko.virtanen", "history/1/", "history-version"),
    ("mikko.virtanen", "history/diff/?from=4&to=9", "history-diff"),
    ("mikko.virtanen", "team/", "team-family"),
    ("terveydenhoitaja", "@Virtanen:team/", "team-lead"),
    ("terveydenhoitaja", "@Virtanen:team/add/", "team-add"),
    ("terveydenhoitaja", "@Virtanen:explain", "team-explain"),
    ("terveydenhoitaja", "@Virtanen:end", "team-end"),
    ("terveydenhoitaja", "@Virtanen:restore", "history-restore"),
    # The team's editing pages (web/editing.py), on the Mäkinen family's plan: the plan as the
    # lead sees it (add and change links), the add and change forms, and the conflict page.
    ("sosiaalityontekija", "makinen:plan", "plan-professional"),
    ("kuraattori", "makinen:new-review", "edit-new"),
    ("kuraattori", "makinen:edit-goal", "edit-item"),
    ("kuraattori", "makinen:conflict", "edit-conflict"),
]


def _plan_of(s: Session, family: str) -> str:
    """The path of a family's plan as the start page links it."""
    s.go("/start/")
    link = s.page.locator("main a[href^='/plans/']", has_text=family).first
    return str(link.get_attribute("href"))


def _go_under_plan(s: Session, path: str) -> None:
    """`@Family:tail`: a page under that family's plan; `explain` and `end` follow the first
    such link of the team page, `restore` opens the confirmation for the newest version's
    first goal."""
    family, _, tail = path[1:].partition(":")
    plan = _plan_of(s, family)
    if tail in ("explain", "end"):  # the first such link of the team page
        s.go(f"{plan}team/")
        s.go(str(s.page.locator(f"a[href$='/{tail}/']").first.get_attribute("href")))
    elif tail == "restore":
        # The confirmation page of the newest version's first goal (the demo's lead changed
        # nothing of their own, so its version is the current one: nothing would change back).
        s.go(f"{plan}history/")
        latest = s.page.locator("li.version").first.get_attribute("data-version")
        s.go(f"{plan}history/{latest}/")
        goal = s.page.locator("article[data-type=goal]").first
        item, version = goal.get_attribute("data-id"), goal.get_attribute("data-version")
        s.go(f"{plan}history/restore/?type=goal&item={item}&version={version}")
    else:
        s.go(f"{plan}{tail}")


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
            elif path.startswith("virtanen:"):  # a page of the Virtanen plan, by its path
                s.page.goto(f"{sessions['mikko.virtanen:plan']}{path.partition(':')[2]}")
            elif path.startswith("@"):
                _go_under_plan(s, path)
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


#
# The history (issue 17): keyboard only, and the same answers as the API
#


def _api(s: Session, path: str) -> dict:
    """The API's answer for the signed-in user (the page session authenticates the API)."""
    answer = s.context.request.get(s.base + path)
    assert answer.ok, (path, answer.status)
    return answer.json()


def _timeline(s: Session) -> list[dict]:
    return s.page.evaluate(
        """() => [...document.querySelectorAll('li.version')].map(li => ({
            version: Number(li.dataset.version),
            by: li.querySelector('.by') ? li.querySelector('.by').textContent : null,
            reason_code: li.querySelector('.reason-label').dataset.code,
            changes: [...li.querySelectorAll('li[data-type]')].map(c => ({
                type: c.dataset.type, id: c.dataset.id, change: c.dataset.change})),
        }))"""
    )


def _diff(s: Session) -> dict:
    return s.page.evaluate(
        """() => {
            const box = document.querySelector('div.diff');
            const items = (change) => [...box.querySelectorAll(`[data-change="${change}"]`)]
                .map(a => [a.dataset.type, a.dataset.id]);
            const changed = [...box.querySelectorAll('article[data-change="changed"]')].map(a => ({
                type: a.dataset.type, id: a.dataset.id,
                fields: Object.fromEntries([...a.querySelectorAll('tr[data-field]')].map(tr =>
                    [tr.dataset.field, {from: JSON.parse(tr.dataset.from),
                                        to: JSON.parse(tr.dataset.to)}]))}));
            return {from: Number(box.dataset.from), to: Number(box.dataset.to),
                    added: items('added'), removed: items('removed'), changed};
        }"""
    )


@pytest.mark.parametrize("username", ["mikko.virtanen", "terveydenhoitaja"])
def test_open_the_history_and_compare_two_versions_with_the_keyboard(
    demo_site,  # noqa: F811
    chromium,  # noqa: F811
    username,
):
    """Keyboard only: the plan's navigation → History → two versions → Compare; the timeline
    and the diff show exactly what the API answers this user."""
    s = Session(chromium, demo_site)
    try:
        s.sign_in(username, _password())
        if "/plans/" not in s.page.url:  # a professional lands on the start page
            with s.page.expect_navigation():
                s.press_on("main a[href^='/plans/']")
        plan_path = "/" + s.page.url.split("/", 3)[3].split("#")[0]
        plan_id = plan_path.strip("/").split("/")[1]
        with s.page.expect_navigation():
            s.press_on("nav.plannav a[href$='/history/']")
        assert s.page.url.endswith("/history/")

        entries = _api(s, f"/api/v1/plans/{plan_id}/history/?page_size=20")["results"]
        shown = _timeline(s)
        assert [e["version"] for e in shown] == [e["version"] for e in entries]
        for page_entry, api_entry in zip(shown, entries, strict=True):
            assert page_entry["by"] == api_entry["by"]
            assert page_entry["reason_code"] == api_entry["reason_code"]
            assert page_entry["changes"] == api_entry["changes"]

        latest = entries[0]["version"]
        first = max(latest - 4, 1)
        s.tab_to("#cmp-from")
        s.page.keyboard.press("Control+A")
        s.page.keyboard.type(str(first))
        s.tab_to("#cmp-to")
        s.page.keyboard.press("Control+A")
        s.page.keyboard.type(str(latest))
        with s.page.expect_navigation():
            s.press_on("form.compare-form button[type=submit]")
        assert f"from={first}" in s.page.url
        assert f"to={latest}" in s.page.url

        diff = _api(s, f"/api/v1/plans/{plan_id}/history/diff/?from={first}&to={latest}")
        shown_diff = _diff(s)
        assert (shown_diff["from"], shown_diff["to"]) == (first, latest)
        assert shown_diff["added"] == [[e["type"], e["id"]] for e in diff["added"]]
        assert shown_diff["removed"] == [[e["type"], e["id"]] for e in diff["removed"]]
        assert shown_diff["changed"] == [
            {"type": e["type"], "id": e["id"], "fields": e["fields"]} for e in diff["changed"]
        ]
        assert shown_diff["added"] or shown_diff["changed"] or shown_diff["removed"]

        # The plan as it stood at the earlier version, from the timeline, by keyboard.
        with s.page.expect_navigation():
            s.press_on("main a[href$='/history/']")
        with s.page.expect_navigation():
            s.press_on(f"a[href$='/history/{first}/']")
        assert f"version {first}" in s.text()
        assert s.csp_errors() == []
    finally:
        s.close()
