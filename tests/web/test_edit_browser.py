"""The team's editing pages in a real browser (Debian's Chromium): joint editing with a real
conflict between two people's browsers resolved without loss, adding a goal with the keyboard
only, and the marker test: child-protection text never reaches the school curator's pages."""

from __future__ import annotations

import re
import uuid

import pytest
from django.conf import settings

from tests.web.browser import Session, chromium, demo_plan_path, demo_site  # noqa: F401


def _password() -> str:
    return settings.DEMO_PASSWORD


@pytest.fixture(scope="module")
def makinen(demo_site, django_db_blocker):  # noqa: F811
    """The Mäkinen family's plan: led by the child-protection social worker, with the school
    curator and the teacher on the team (seed_demo)."""
    return demo_plan_path(django_db_blocker, "Mäkinen")


def _item_id(s: Session, kind: str, text: str) -> str:
    return s.page.locator(f"article.{kind}", has_text=text).first.get_attribute("id")


def test_two_people_edit_the_same_goal_and_the_second_merges_without_loss(
    demo_site,  # noqa: F811
    makinen,  # before the browser: its event loop forbids database calls
    chromium,  # noqa: F811
):
    curator = Session(chromium, demo_site)
    teacher = Session(chromium, demo_site)
    try:
        curator.sign_in("kuraattori", _password())
        teacher.sign_in("opettaja", _password())
        for s in (curator, teacher):
            s.go(makinen)
        goal = _item_id(curator, "goal", "Läksyt tehdään iltapäiväkerhossa")
        for s in (curator, teacher):  # both open the same version of the goal
            with s.page.expect_navigation():
                s.press_on(f"#{goal} .editlinks a[href$='/edit/']")
            assert s.page.input_value("#id_title") == "Läksyt tehdään iltapäiväkerhossa"

        first = "Läksyt tehdään kerhossa neljänä päivänä viikossa; kuraattori seuraa."
        curator.page.fill("#id_desired_outcome", first)
        with curator.page.expect_navigation():
            curator.page.click("form.editform button.primary")
        assert "Saved in the plan." in curator.text()

        second = "Läksyt ovat tehtyinä viitenä päivänä viikossa."
        evidence = "Opettajan viikkoseuranta Wilmassa."
        teacher.page.fill("#id_desired_outcome", second)
        teacher.page.fill("#id_evidence", evidence)
        with teacher.page.expect_navigation():
            teacher.page.click("form.editform button.primary")
        text = teacher.text()
        assert "Someone else changed this first" in text
        compare = teacher.page.inner_text("table.compare")
        assert first in compare  # their version now
        assert second in compare
        assert evidence in compare
        assert "Antti Järvinen" in text  # who changed it first
        # Merge: her evidence is already in; the outcome both changed is written anew.
        assert teacher.page.input_value("form.merge #id_evidence") == evidence
        assert first in teacher.page.inner_text("form.merge")
        merged = f"{first} Tavoite keväällä: viisi päivää."
        teacher.page.fill("form.merge #id_desired_outcome", merged)
        with teacher.page.expect_navigation():
            teacher.page.click("form.merge button.primary")
        assert "Saved in the plan." in teacher.text()

        curator.page.reload()
        shown = curator.page.inner_text(f"#{goal}")
        assert merged in shown
        assert evidence in shown
        assert "Läksyt tehdään iltapäiväkerhossa" in shown
        assert curator.csp_errors() == []
        assert teacher.csp_errors() == []
    finally:
        curator.close()
        teacher.close()


def test_the_lead_adds_a_goal_with_the_keyboard_only(demo_site, makinen, chromium):  # noqa: F811
    s = Session(chromium, demo_site)
    try:
        s.sign_in("sosiaalityontekija", _password())
        s.go(makinen)
        with s.page.expect_navigation():
            s.press_on("nav.addbar a[href$='/items/goal/new/']")
        assert s.page.locator("h1").inner_text() == "Add a goal"
        s.type_into("#id_title", "Onni harrastaa viikoittain")
        # Saved without the desired outcome: the form comes back naming the field.
        with s.page.expect_navigation():
            s.press_on("form.editform button.primary")
        assert "Desired outcome: This field is required." in s.text()
        assert s.page.input_value("#id_title") == "Onni harrastaa viikoittain"
        s.type_into("#id_desired_outcome", "Onni käy jalkapallokerhossa kerran viikossa.")
        s.press_on("#id_achievement", "ArrowDown")  # a select changes with the arrow keys
        with s.page.expect_navigation():
            s.press_on("form.editform button.primary")
        assert "Saved in the plan." in s.text()
        article = s.page.locator("article.goal", has_text="Onni harrastaa viikoittain")
        assert "Onni käy jalkapallokerhossa kerran viikossa." in article.inner_text()
        assert s.csp_errors() == []
    finally:
        s.close()


def test_a_curators_pages_contain_no_child_protection_text(demo_site, makinen, chromium):  # noqa: F811
    """The marker test: the lead writes a child-protection need with a unique marker; no page
    the school curator can reach from the plan shows it."""
    marker = f"MARKER-{uuid.uuid4().hex}"
    lead = Session(chromium, demo_site)
    curator = Session(chromium, demo_site)
    try:
        lead.sign_in("sosiaalityontekija", _password())
        lead.go(makinen)
        with lead.page.expect_navigation():
            lead.press_on("nav.addbar a[href$='/items/need/new/']")
        lead.page.select_option("#id_category", "social")
        lead.page.fill("#id_title", f"Lastensuojeluilmoitus {marker}")
        lead.page.fill("#id_description", f"Kuvaus {marker}")
        with lead.page.expect_navigation():
            lead.page.click("form.editform button.primary")
        assert marker in lead.text()
        need = _item_id(lead, "need", marker)
        with lead.page.expect_navigation():  # the lead can also change it: a page with it
            lead.page.click(f"#{need} .editlinks a[href$='/edit/']")
        assert marker in lead.page.content()
        need_path = lead.page.url.removeprefix(demo_site)

        curator.sign_in("kuraattori", _password())
        curator.go(makinen)
        assert "Läksyt tehdään" in curator.text()
        assert marker not in curator.page.content()
        links = curator.page.eval_on_selector_all("a[href]", "els => els.map(e => e.href)")
        paths = sorted(
            {
                re.sub(r"#.*$", "", href).removeprefix(demo_site)
                for href in links
                if href.startswith(demo_site)
            }
        )
        assert any("/edit/" in p for p in paths)
        assert any("/new/" in p for p in paths)
        for path in [*paths, need_path]:  # and the lead's edit page of the need, by its id
            curator.go(path)
            assert marker not in curator.page.content(), path
        assert "Not found" in curator.text()  # the need's edit page: as if it did not exist
    finally:
        lead.close()
        curator.close()
