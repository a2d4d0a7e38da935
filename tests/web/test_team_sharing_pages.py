"""The team's pages for consents recorded by the lead, maturity assessments, and export/push
(plan_service/web/consent_record.py, assessments.py, sharing.py), over Django's test client:
each page's effect, each refusal, the logs, and attacks (forged ids, another family's ids,
missing and oversized fields)."""

from __future__ import annotations

import json
import re
import uuid

import pytest
from django.test import override_settings

from plan_service.audit.models import AccessEvent, Disclosure
from plan_service.consent.models import Consent
from plan_service.jobs.models import BackgroundJob
from plan_service.participants.models import MaturityAssessment, Person, Recipient
from plan_service.plans import services
from plan_service.plans.models import Goal, Need
from tests import factories
from tests.web.helpers import page_client, text_of

pytestmark = pytest.mark.django_db


@pytest.fixture
def team():
    """A plan led by a social worker, with a health nurse (statutory) of the same organisation
    and a school curator of the school; items in general, social and health; two recipients."""
    org = factories.organization("social")
    school = factories.organization("education", name="Koulu")
    lead = factories.professional("child_protection_social_worker", org)
    nurse = factories.professional("public_health_nurse", org)
    curator = factories.professional("school_curator", school)
    family = factories.family(children=2, guardians=1, child_age=13)
    plan = factories.plan(lead, family)
    factories.add_member(plan, lead, nurse)
    factories.add_member(plan, lead, curator)
    guardian_p = Person.objects.get(family=family, kind="guardian")
    guardian = factories.link(guardian_p)
    services.family_sync(plan=plan, actor=lead.user)
    kids = list(Person.objects.filter(family=family, kind="child").order_by("given_name"))
    made = {}
    for category, writer in (("general", lead), ("social", lead), ("health", nurse)):
        made[category] = services.item_create(
            actor=writer.user,
            plan_id=plan.pk,
            model=Need,
            data={"category": category, "title": f"Need in {category}", "description": "d"},
        )
    services.item_create(
        actor=lead.user,
        plan_id=plan.pk,
        model=Goal,
        data={"category": "general", "title": "Goal for everyone", "desired_outcome": "o"},
    )
    to_school = Recipient.objects.create(
        code="school",
        name="The school",
        kind="organization",
        sector="education",
        organization=school,
    )
    to_health = Recipient.objects.create(
        code="health-sector", name="Health care", kind="sector", sector="health"
    )
    other_family = factories.family(children=1, guardians=1)
    other_plan = factories.plan(
        factories.professional("child_protection_social_worker"), other_family
    )
    return {
        "org": org,
        "school": school,
        "lead": lead,
        "nurse": nurse,
        "curator": curator,
        "plan": plan,
        "family": family,
        "guardian": guardian,
        "guardian_p": guardian_p,
        "kids": kids,
        "items": made,
        "to_school": to_school,
        "to_health": to_health,
        "other_plan": other_plan,
        "other_child": Person.objects.get(family=other_family, kind="child"),
    }


def url(t, tail: str = "") -> str:
    return f"/plans/{t['plan'].pk}/{tail}"


#
# Maturity assessments
#


def test_team_members_read_each_childs_assessments_and_the_read_is_logged(team):
    kid = team["kids"][0]
    client = page_client(team["nurse"].user)
    response = client.post(
        url(team, "assessments/"), {"child": str(kid.pk), "code": "3", "note": "Mature enough"}
    )
    assert response.status_code == 302
    assert response["Location"].endswith(f"#child-{kid.pk}")
    row = MaturityAssessment.objects.get(child=kid)
    assert (row.code, row.note, row.created_by_id) == (3, "Mature enough", team["nurse"].user.pk)
    assert row.history.count() == 1
    assert AccessEvent.objects.filter(
        action="create", object_type="maturityassessment", object_id=str(row.pk)
    ).exists()

    page = page_client(team["curator"].user).get(url(team, "assessments/"))
    assert page.status_code == 200
    assert page["Cache-Control"].startswith("no-store") or "no-store" in page["Cache-Control"]
    text = text_of(page.content)
    assert "In effect: Capable and forbids showing to guardians" in text
    assert "Mature enough" in text
    assert "Not assessed" in text  # the second child
    assert AccessEvent.objects.filter(
        actor_user_id=team["curator"].user.pk, action="search", object_type="maturityassessment"
    ).exists()


def test_the_family_never_sees_assessments_and_may_not_record_them(team):
    for user in (team["guardian"],):
        client = page_client(user)
        assert client.get(url(team, "assessments/")).status_code == 403
        kid = team["kids"][0]
        assert (
            client.post(url(team, "assessments/"), {"child": str(kid.pk), "code": "2"}).status_code
            == 403
        )
    assert not MaturityAssessment.objects.exists()
    plan_page = page_client(team["guardian"]).get(url(team))
    assert b"/assessments/" not in plan_page.content
    assert b"/share/" not in plan_page.content


@pytest.mark.parametrize(
    ("payload", "field", "message"),
    [
        ({"code": "2"}, "Child", "This field is required."),
        ({"child": "__other__", "code": "2"}, "Child", "Select a valid choice."),
        ({"child": "__kid__", "code": "9"}, "Assessment", "Select a valid choice."),
        ({"child": "__kid__"}, "Assessment", "This field is required."),
        (
            {"child": "__kid__", "code": "1", "assessed_on": "yesterday"},
            "Assessed on",
            "Enter a valid date.",
        ),
        (
            {"child": "__kid__", "code": "1", "note": "x" * 2001},
            "Note for the team",
            "at most 2000",
        ),
        ({"child": "not-a-uuid", "code": "1"}, "Child", "Select a valid choice."),
    ],
)
def test_a_refused_assessment_names_the_field(team, payload, field, message):
    payload = {
        k: str(team["kids"][0].pk)
        if v == "__kid__"
        else str(team["other_child"].pk)
        if v == "__other__"
        else v
        for k, v in payload.items()
    }
    response = page_client(team["lead"].user).post(url(team, "assessments/"), payload)
    assert response.status_code == 400
    errors = text_of(response.content.split(b'id="errors"')[1].split(b"</div>")[0])
    assert field in errors
    assert message in errors
    assert not MaturityAssessment.objects.exists()


def test_assessments_of_another_familys_plan_are_the_404_page(team):
    other = f"/plans/{team['other_plan'].pk}/assessments/"
    client = page_client(team["lead"].user)
    assert client.get(other).status_code == 404
    assert (
        client.post(other, {"child": str(team["other_child"].pk), "code": "3"}).status_code == 404
    )
    assert client.get(f"/plans/{uuid.uuid4()}/assessments/").status_code == 404
    assert not MaturityAssessment.objects.exists()


def test_a_completed_plan_shows_assessments_but_records_none(team):
    lead = team["lead"]
    services.plan_update(
        actor=lead.user,
        plan_id=team["plan"].pk,
        expected_version=None,
        data={"status": "completed"},
    )
    client = page_client(lead.user)
    page = client.get(url(team, "assessments/"))
    assert page.status_code == 200
    assert b"Record the assessment" not in page.content
    refused = client.post(
        url(team, "assessments/"), {"child": str(team["kids"][0].pk), "code": "2"}
    )
    assert refused.status_code == 403


#
# Consents recorded by the lead
#


def _record(t, **over):
    data = {
        "rec-grantor": str(t["guardian_p"].pk),
        "rec-decision": "gave",
        "rec-subjects": [str(t["kids"][0].pk)],
        "rec-categories": ["general", "health"],
        "rec-recipient": f"org:{t['school'].pk}",
        "rec-purpose": "School support",
        "rec-valid_until": "",
        "rec-method_detail": "Signed form, kept in the client file",
    }
    data.update(over)
    return {k: v for k, v in data.items() if v is not None}


def test_the_lead_records_a_consent_given_on_paper(team):
    client = page_client(team["lead"].user)
    page = client.get(url(team, "consents/"))
    assert b"Record a consent or a refusal" in page.content
    response = client.post(url(team, "consents/record/"), _record(team))
    assert response.status_code == 302, text_of(response.content)[:2000]
    consent = Consent.objects.get(family=team["family"])
    assert consent.grantor_id == team["guardian_p"].pk
    assert consent.method == Consent.Method.RECORDED
    assert consent.recipient_organization_id == team["school"].pk
    assert consent.status == "active"
    assert consent.history.first().history_user_id == team["lead"].user.pk
    assert AccessEvent.objects.filter(action="create", object_type="consent").exists()
    listed = text_of(client.get(url(team, "consents/")).content)
    assert "School support" in listed
    assert "Koulu" in listed
    # The family sees it on their page, with what, to whom and until when.
    family_view = text_of(page_client(team["guardian"]).get(url(team, "consents/")).content)
    assert "School support" in family_view
    assert "until further notice" in family_view


def test_the_lead_records_a_refusal_to_a_sector(team):
    response = page_client(team["lead"].user).post(
        url(team, "consents/record/"),
        _record(team, **{"rec-decision": "refused", "rec-recipient": "sector:health"}),
    )
    assert response.status_code == 302
    consent = Consent.objects.get(family=team["family"])
    assert (consent.status, consent.recipient_sector) == ("refused", "health")


@pytest.mark.parametrize(
    ("over", "field"),
    [
        ({"rec-method_detail": ""}, "How it was obtained"),
        ({"rec-grantor": None}, "Given by"),
        ({"rec-grantor": "__other__"}, "Given by"),
        ({"rec-subjects": None}, "Whose information"),
        ({"rec-subjects": ["__other__"]}, "Whose information"),
        ({"rec-recipient": "org:00000000-0000-0000-0000-000000000000"}, "To whom"),
        ({"rec-valid_until": "2001-01-01"}, "Until"),
        ({"rec-purpose": "x" * 501}, "For what purpose"),
        ({"rec-categories": ["secret"]}, "Which information"),
        ({"rec-grantor": "__kid1__", "rec-subjects": ["__kid0__"]}, "Whose information"),
    ],
)
def test_a_refused_recording_names_the_field_and_records_nothing(team, over, field):
    ids = {
        "__other__": str(team["other_child"].pk),
        "__kid0__": str(team["kids"][0].pk),
        "__kid1__": str(team["kids"][1].pk),
    }
    fixed = {
        k: ([ids.get(x, x) for x in v] if isinstance(v, list) else ids.get(v, v) if v else v)
        for k, v in over.items()
    }
    data = _record(team, **fixed)
    response = page_client(team["lead"].user).post(url(team, "consents/record/"), data)
    assert response.status_code == 400
    errors = text_of(response.content.split(b'id="record-errors"')[1].split(b"</div>")[0])
    assert field in errors, errors
    assert not Consent.objects.exists()


def test_only_the_lead_records_consents(team):
    for who in ("nurse", "curator"):
        response = page_client(team[who].user).post(url(team, "consents/record/"), _record(team))
        assert response.status_code == 403
    assert (
        page_client(team["guardian"]).post(url(team, "consents/record/"), _record(team)).status_code
        == 403
    )
    other = f"/plans/{team['other_plan'].pk}/consents/record/"
    assert page_client(team["lead"].user).post(other, _record(team)).status_code == 404
    assert not Consent.objects.exists()


#
# Export and push
#


def test_the_preview_shows_what_the_recipient_gets_cut_to_what_the_reader_reads(team):
    client = page_client(team["lead"].user)
    page = client.get(url(team, "share/"))
    assert page.status_code == 200
    assert b"The school" in page.content
    assert b"Health care" in page.content

    preview = client.get(url(team, "share/?recipient=health-sector"))
    assert preview.status_code == 200
    text = text_of(preview.content)
    assert "What Health care will get" in text
    assert "Need in general" in text
    assert "Goal for everyone" in text
    assert "Need in social" not in text  # the health sector may not receive it
    # Health items: the health sector receives them, the (social) lead may not read them.
    assert "Need in health" not in text
    assert "which you may not read" in text
    assert "health" in text.split("which you may not read")[1]
    assert "CarePlan" in text
    read = AccessEvent.objects.filter(
        actor_user_id=team["lead"].user.pk,
        action="read",
        object_type="plan",
        query__recipient="health-sector",
    )
    assert read.exists()
    assert not Disclosure.objects.exists()  # a preview discloses nothing


def test_the_download_is_an_attachment_logged_as_a_disclosure(team):
    client = page_client(team["lead"].user)
    response = client.get(url(team, "share/bundle.json?recipient=health-sector"))
    assert response.status_code == 200
    assert response["Content-Disposition"].startswith("attachment;")
    assert "no-store" in response["Cache-Control"]
    assert response["Content-Type"].startswith("application/fhir+json")
    body = response.content
    if response.get("Content-Encoding") == "gzip":
        import gzip

        body = gzip.decompress(body)
    bundle = json.loads(body)
    assert bundle["resourceType"] == "Bundle"
    assert "Need in social" not in body.decode()
    assert "Need in health" not in body.decode()  # cut to what the lead reads
    assert Disclosure.objects.filter(plan_id=team["plan"].pk).exists()
    assert AccessEvent.objects.filter(action="export", plan_id=team["plan"].pk).exists()


def test_a_member_exports_for_their_own_organisation_only(team):
    curator = page_client(team["curator"].user)
    page = curator.get(url(team, "share/"))
    assert page.status_code == 200
    assert b"The school" in page.content
    assert b"Health care" not in page.content
    assert curator.get(url(team, "share/?recipient=school")).status_code == 200
    assert curator.get(url(team, "share/?recipient=health-sector")).status_code == 403
    assert curator.get(url(team, "share/bundle.json?recipient=health-sector")).status_code == 403
    assert curator.post(url(team, "share/"), {"recipient": "health-sector"}).status_code == 403
    nurse = page_client(team["nurse"].user).get(url(team, "share/"))
    assert nurse.status_code == 200
    assert b"There is no recipient you may send this plan to" in nurse.content


def test_sharing_is_refused_to_the_family_and_hidden_for_another_plan(team):
    guardian = page_client(team["guardian"])
    assert guardian.get(url(team, "share/")).status_code == 403
    assert guardian.get(url(team, "share/bundle.json?recipient=school")).status_code == 403
    assert guardian.post(url(team, "share/"), {"recipient": "school"}).status_code == 403
    lead = page_client(team["lead"].user)
    other = f"/plans/{team['other_plan'].pk}/share/"
    assert lead.get(other).status_code == 404
    assert lead.get(other + "bundle.json?recipient=school").status_code == 404
    assert lead.post(other, {"recipient": "school"}).status_code == 404
    assert not Disclosure.objects.exists()
    assert not BackgroundJob.objects.exists()


@pytest.mark.parametrize("code", ["no-such", "x" * 61, "", "../school"])
def test_an_unknown_recipient_is_a_field_error_or_no_file(team, code):
    client = page_client(team["lead"].user)
    page = client.get(url(team, "share/"), {"recipient": code})
    assert page.status_code == 400
    assert b'id="err-recipient"' in page.content
    assert client.get(url(team, "share/bundle.json"), {"recipient": code}).status_code == 404
    assert client.post(url(team, "share/"), {"recipient": code}).status_code == 400
    assert not BackgroundJob.objects.exists()


def test_an_inactive_recipient_is_not_offered(team):
    team["to_health"].active = False
    team["to_health"].save()
    client = page_client(team["lead"].user)
    assert b"Health care" not in client.get(url(team, "share/")).content
    assert client.get(url(team, "share/?recipient=health-sector")).status_code == 400


def test_without_a_fhir_server_nothing_is_queued(team):
    response = page_client(team["lead"].user).post(url(team, "share/"), {"recipient": "school"})
    assert response.status_code == 503
    assert b"No FHIR server is configured" in response.content
    assert not BackgroundJob.objects.exists()


@override_settings(FHIR_PUSH_BASE_URL="http://fhir.invalid/fhir")
def test_the_push_is_queued_as_the_apis_job_and_its_state_shown(team):
    client = page_client(team["lead"].user)
    response = client.post(url(team, "share/"), {"recipient": "school"})
    assert response.status_code == 302
    assert response["Location"].endswith("?recipient=school#jobs")
    job = BackgroundJob.objects.get()
    assert (job.kind, job.status, job.requested_by_id) == (
        "fhir_push",
        "queued",
        team["lead"].user.pk,
    )
    assert job.params["recipient"] == "school"
    page = text_of(client.get(response["Location"]).content)
    assert "The push to The school is queued" in page
    assert "Queued" in page
    # Nobody else sees the lead's job.
    assert (
        b"school"
        not in page_client(team["curator"].user)
        .get(url(team, "share/"))
        .content.split(b'id="jobs"')[1]
    )


#
# Headers, forms and query counts
#


def test_the_team_pages_are_not_cached_carry_the_strict_policy_and_no_inline_code(team):
    client = page_client(team["lead"].user, enforce_csrf_checks=True)
    for path in ("consents/", "assessments/", "share/", "share/?recipient=school"):
        answer = client.get(url(team, path))
        assert answer.status_code == 200, path
        assert "no-store" in answer["Cache-Control"]
        assert "unsafe-inline" not in answer["Content-Security-Policy"]
        html = answer.content.decode()
        assert "<style" not in html
        assert not re.search(r"\sstyle=", html)
        assert not re.search(r"<script(?![^>]*\bsrc=)", html)
        assert not re.search(r"\son[a-z]+=", html)
        for person in Person.objects.filter(family=team["family"]):
            assert person.identity_code not in html  # names, never identity codes
        forms = re.findall(r"<form\b[^>]*>.*?</form>", html, flags=re.S)
        assert all("csrfmiddlewaretoken" in f for f in forms if 'method="post"' in f)
    kid = str(team["kids"][0].pk)
    assert client.post(url(team, "assessments/"), {"child": kid, "code": "2"}).status_code == 403
    assert client.post(url(team, "share/"), {"recipient": "school"}).status_code == 403
    assert client.post(url(team, "consents/record/"), _record(team)).status_code == 403
    assert not MaturityAssessment.objects.exists()
    assert not Consent.objects.exists()


def _count(client, path: str) -> int:
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    with CaptureQueriesContext(connection) as queries:
        assert client.get(path).status_code == 200
    return len(queries)


def test_the_team_pages_queries_do_not_grow_with_the_plan(team):
    """Counted at two sizes: one more goal, assessment or consent costs no query."""
    lead, plan = team["lead"].user, team["plan"]
    client = page_client(lead)
    paths = ["assessments/", "share/?recipient=school", "consents/"]

    def grow(n: int) -> None:
        for i in range(n):
            services.item_create(
                actor=lead,
                plan_id=plan.pk,
                model=Goal,
                data={"category": "general", "title": f"More {i}", "desired_outcome": "o"},
            )
            for kid in team["kids"]:
                from plan_service.participants import assessments

                assessments.assessment_record(
                    actor=lead, plan_id=plan.pk, child_id=kid.pk, code=1 + i % 4
                )
            client.post(
                url(team, "consents/record/"), _record(team, **{"rec-purpose": f"purpose {i}"})
            )

    grow(2)
    small = {p: _count(client, url(team, p)) for p in paths}
    grow(10)
    large = {p: _count(client, url(team, p)) for p in paths}
    assert small == large


def test_the_preview_for_a_national_repository_holds_its_register_only(team):
    Recipient.objects.create(
        code="kanta",
        name="Kanta",
        kind="repository",
        sector="health",
        profile="kanta_patient_records",
    )
    client = page_client(team["nurse"].user)
    # The nurse is a member, not the lead: her own organisation only, so not Kanta.
    assert client.get(url(team, "share/?recipient=kanta")).status_code == 403
    lead = page_client(team["lead"].user)
    page = lead.get(url(team, "share/?recipient=kanta"))
    assert page.status_code == 200
    text = text_of(page.content)
    assert "What Kanta will get" in text
    assert "Need in general" in text
    assert "Need in social" not in text  # not the patient register's
    assert "Need in health" not in text  # the register's, but not the (social) lead's to read


@pytest.mark.parametrize(
    ("day", "consent"),
    [("9999-12-31", 400), ("2999-01-01", 302), ("2026-02-30", 400), ("99999-01-01", 400)],
)
def test_extreme_dates_are_field_errors_never_a_500(team, day, consent):
    """A consent may run far ahead (not past the last day there is); an assessment is never
    dated ahead (the latest decides, so one dated ahead would outrank every later one)."""
    lead = page_client(team["lead"].user)
    recorded = lead.post(url(team, "consents/record/"), _record(team, **{"rec-valid_until": day}))
    assert recorded.status_code == consent
    given = page_client(team["guardian"]).post(
        url(team, "consents/"),
        {
            "subjects": [str(team["kids"][0].pk)],
            "categories": ["general"],
            "recipient_sector": "health",
            "purpose": "p",
            "valid_until": day,
        },
    )
    assert given.status_code == consent
    assessed = lead.post(
        url(team, "assessments/"),
        {"child": str(team["kids"][0].pk), "code": "2", "assessed_on": day},
    )
    assert assessed.status_code == 400  # the future, the impossible and the unparseable
    assert Consent.objects.exists() == (consent == 302)
    assert not MaturityAssessment.objects.exists()


def test_the_api_refuses_an_assessment_dated_in_the_future_like_the_page(team, api):
    """One rule in the service: the API's answer names the same field."""
    import datetime as dt

    from django.utils import timezone

    ahead = (timezone.localdate() + dt.timedelta(days=1)).isoformat()
    answer = api.as_user(team["lead"].user).post(
        f"/api/v1/plans/{team['plan'].pk}/assessments/",
        {"child": str(team["kids"][0].pk), "code": 3, "assessed_on": ahead},
    )
    assert answer.status_code == 400
    assert answer.json()["errors"][0]["field"] == "assessed_on"
    today = timezone.localdate().isoformat()
    ok = api.as_user(team["lead"].user).post(
        f"/api/v1/plans/{team['plan'].pk}/assessments/",
        {"child": str(team["kids"][0].pk), "code": 3, "assessed_on": today},
    )
    assert ok.status_code == 201
