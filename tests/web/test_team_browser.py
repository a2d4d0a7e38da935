"""The care team's and the auditor's flows in Debian's Chromium, keyboard only (issue 17):

* the auditor traces a given read back to its request: a professional opens a plan page, the
  auditor searches the access log for that plan, follows the professional's read to its
  request and sees every row of that request (and only those);
* a professional records a maturity assessment with the keyboard, first refused with the
  field named, then recorded;
* the export preview for a recipient shows the recipient's items and not an item the
  recipient may not receive.

The service is the demo region on a live server (tests/web/browser.py).
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

import pytest
from django.conf import settings

from tests.web.browser import Session, chromium, demo_site  # noqa: F401


def _password() -> str:
    return settings.DEMO_PASSWORD


@pytest.fixture
def db_now(django_db_blocker: Any, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Committed reads beside the live server, from the test's thread (Playwright's sync API
    holds an event loop there)."""
    monkeypatch.setenv("DJANGO_ALLOW_ASYNC_UNSAFE", "true")
    from django.db import connection

    with django_db_blocker.unblock():
        try:
            yield
        finally:
            connection.close()  # so the test database can be dropped at the end


def _virtanen_plan(s: Session) -> str:
    """The path of the Virtanen family's plan, from the professional's start page."""
    s.go("/start/")
    link = s.page.locator("main a[href^='/plans/']", has_text="Virtanen").first
    href = link.get_attribute("href")
    assert href is not None
    assert re.fullmatch(r"/plans/[0-9a-f-]{36}/", href)
    return href


def test_the_auditor_traces_a_read_back_to_its_request(demo_site, chromium, db_now):  # noqa: F811
    from plan_service.audit.models import AccessEvent

    nurse = Session(chromium, demo_site)
    auditor = Session(chromium, demo_site)
    try:
        nurse.sign_in("terveydenhoitaja", _password())
        plan = _virtanen_plan(nurse)
        nurse.go(plan)
        assert "Eetun puheen kehityksen tukeminen" in nurse.text()
        read = (
            AccessEvent.objects.filter(
                actor_username="terveydenhoitaja",
                action="read",
                object_type="plan",
                query__page=plan,
            )
            .order_by("-recorded_at")
            .first()
        )
        assert read is not None
        assert read.request_id
        plan_id = plan.strip("/").split("/")[-1]

        auditor.sign_in("tietosuoja", _password())
        auditor.go("/audit/")
        auditor.type_into("#id_plan", plan_id)
        with auditor.page.expect_navigation():
            auditor.page.keyboard.press("Enter")
        assert f"plan={plan_id}" in auditor.page.url
        rows = auditor.page.locator("table.log tbody tr")
        assert rows.count() > 0
        # The newest read of the plan by Maria Koskinen is the one she just made.
        row = rows.filter(has_text="Maria Koskinen").filter(has_text="plan").first
        link = row.locator("a[href^='?request=']")
        assert link.get_attribute("href") == f"?request={read.request_id}"
        with auditor.page.expect_navigation():
            auditor.press_on(f"table.log a[href='?request={read.request_id}']")
        assert f"request={read.request_id}" in auditor.page.url

        # Every row of that request, and nothing else: a read of the plan per family member
        # and a search per kind of item shown, all by her.
        traced = auditor.page.locator("table.log tbody tr")
        expected = AccessEvent.objects.filter(request_id=read.request_id).count()
        assert traced.count() == expected
        assert expected >= 4
        for i in range(traced.count()):
            text = traced.nth(i).inner_text()
            assert "Maria Koskinen" in text
            assert read.request_id[:8] in text
        shown = auditor.page.inner_text("table.log")
        assert "plan" in shown
        assert "need" in shown
        assert auditor.csp_errors() == []
        assert nurse.csp_errors() == []
    finally:
        nurse.close()
        auditor.close()


def test_a_professional_records_an_assessment_with_the_keyboard(demo_site, chromium):  # noqa: F811
    s = Session(chromium, demo_site)
    try:
        s.sign_in("terveydenhoitaja", _password())
        plan = _virtanen_plan(s)
        s.go(plan)
        with s.page.expect_navigation():
            s.press_on("nav.plannav a[href$='/assessments/']")
        assert "Maturity assessments" in s.text()
        assert "Not assessed" in s.page.locator("section.assessments").first.inner_text()

        # Sent without the assessment: refused, and the error names the field.
        s.tab_to("#id_child")
        s.page.keyboard.type("Aino")
        assert s.page.eval_on_selector("#id_child", "e => e.selectedOptions[0].text").startswith(
            "Aino"
        )
        s.type_into("#id_note", "Arvioitu vastaanotolla.")
        with s.page.expect_navigation():
            s.press_on("form button.primary")
        errors = s.page.inner_text("#errors")
        assert "Assessment" in errors
        assert "This field is required." in errors
        # What was typed is kept.
        assert s.page.input_value("#id_note") == "Arvioitu vastaanotolla."

        # Choose "capable and allows" with the arrow keys and send.
        s.press_on("#id_code_0", "ArrowDown")
        assert s.page.is_checked("#id_code_1")
        with s.page.expect_navigation():
            s.press_on("form button.primary")
        assert "The assessment is recorded." in s.text()
        aino = s.page.locator("section.assessments", has_text="Aino").first.inner_text()
        assert "In effect: Capable and allows showing to guardians" in aino
        assert "Arvioitu vastaanotolla." in aino
        assert s.csp_errors() == []
    finally:
        s.close()


def test_the_export_preview_shows_what_the_recipient_may_receive(demo_site, chromium):  # noqa: F811
    s = Session(chromium, demo_site)
    try:
        s.sign_in("terveydenhoitaja", _password())
        plan = _virtanen_plan(s)
        s.go(plan)
        with s.page.expect_navigation():
            s.press_on("nav.plannav a[href$='/share/']")
        # Choose the school with the keyboard and look.
        # The recipients by name: the welfare area's social services first, then the school.
        s.press_on("#id_recipient", "ArrowDown")
        assert s.page.input_value("#id_recipient") == "aurinkolaakson-koulu"
        with s.page.expect_navigation():
            s.press_on("form button.primary")
        preview = s.page.inner_text("section.preview")
        assert "What Aurinkolaakson koulu will get" in preview
        assert "Aino Virtanen" in preview
        assert "Eetu Virtanen" in preview
        assert "Review meeting" in preview  # general: the school receives it by law
        # Health items are not the school's to receive (no consent addresses it).
        assert "Eetun puheen kehityksen tukeminen" not in s.page.content()
        assert "Lähete puheterapeutin arvioon." not in s.page.content()
        # The school also receives early-childhood education's goal, which the nurse may not
        # read: named as a category, never shown.
        assert "Kuvatuki päiväkodin arkeen" not in s.page.content()
        assert "which you may not read" in preview
        download = s.page.locator("a[download]")
        assert download.get_attribute("href").endswith(
            "share/bundle.json?recipient=aurinkolaakson-koulu"
        )
        assert s.csp_errors() == []
    finally:
        s.close()


def test_the_lead_records_a_refusal_told_by_phone_with_the_keyboard(demo_site, chromium):  # noqa: F811
    s = Session(chromium, demo_site)
    try:
        s.sign_in("terveydenhoitaja", _password())
        s.go(_virtanen_plan(s))
        with s.page.expect_navigation():
            s.press_on("nav.plannav a[href$='/consents/']")
        assert "Record a consent or a refusal the family gave you" in s.text()
        s.tab_to("#id_rec-grantor")
        s.page.keyboard.type("Sanna")
        assert s.page.eval_on_selector(
            "#id_rec-grantor", "e => e.selectedOptions[0].text"
        ).startswith("Sanna")
        s.press_on("#id_rec-decision_0", "ArrowDown")  # "Refused"
        assert s.page.is_checked("#id_rec-decision_1")
        s.press_on("#id_rec-subjects_0", "Space")
        s.press_on("#id_rec-categories_0", "Space")
        s.press_on("#id_rec-recipient", "ArrowDown")
        s.page.keyboard.press("ArrowDown")
        assert s.page.input_value("#id_rec-recipient") == "sector:education"
        s.type_into("#id_rec-purpose", "Koulun tukitoimet")
        record = "form[action$='/consents/record/'] button.primary"
        with s.page.expect_navigation():
            s.press_on(record)
        errors = s.page.inner_text("#record-errors")
        assert "How it was obtained" in errors
        # What was chosen is kept; only the missing field is to add.
        assert s.page.is_checked("#id_rec-decision_1")
        assert s.page.is_checked("#id_rec-subjects_0")
        s.type_into("#id_rec-method_detail", "Puhelimessa")
        with s.page.expect_navigation():
            s.press_on(record)
        assert "The refusal is recorded." in s.text()
        refusal = s.page.locator("li.consent", has_text="Koulun tukitoimet").inner_text()
        assert "Refused" in refusal
        assert "Sanna Korhonen" in refusal
        assert s.csp_errors() == []
    finally:
        s.close()
