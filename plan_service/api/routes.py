"""Every API route, registered on one router (the endpoint-coverage test walks it)."""

from __future__ import annotations

from rest_framework.routers import SimpleRouter

from plan_service.audit.api import views as audit
from plan_service.consent.api import views as consent
from plan_service.emergency.api import views as emergency
from plan_service.jobs.api import views as jobs
from plan_service.notifications.api import views as notifications
from plan_service.participants.api import views as participants
from plan_service.plans.api import fhir, history
from plan_service.plans.api import views as plans

router = SimpleRouter(trailing_slash=True)
router.include_format_suffixes = False

PLAN = r"plans/(?P<plan_pk>[^/.]+)"

router.register("me", participants.MeViewSet, basename="me")
router.register("me/sessions", participants.MySessionsViewSet, basename="my-sessions")
router.register("organizations", participants.OrganizationViewSet, basename="organizations")
router.register("professionals", participants.ProfessionalViewSet, basename="professionals")
router.register("families", participants.FamilyViewSet, basename="families")
router.register("consents", consent.ConsentViewSet, basename="consents")
router.register("plans", plans.PlanViewSet, basename="plans")
router.register(f"{PLAN}/members", plans.MembershipViewSet, basename="plan-members")
router.register(f"{PLAN}/needs", plans.NeedViewSet, basename="plan-needs")
router.register(f"{PLAN}/goals", plans.GoalViewSet, basename="plan-goals")
router.register(f"{PLAN}/actions", plans.ActionViewSet, basename="plan-actions")
router.register(f"{PLAN}/reviews", plans.ReviewViewSet, basename="plan-reviews")
router.register(f"{PLAN}/comments", plans.CommentViewSet, basename="plan-comments")
router.register(f"{PLAN}/dissents", plans.DissentViewSet, basename="plan-dissents")
router.register(
    f"{PLAN}/acknowledgements", plans.AcknowledgementViewSet, basename="plan-acknowledgements"
)
router.register(f"{PLAN}/fhir", fhir.PlanFhirViewSet, basename="plan-fhir")
router.register(f"{PLAN}/assessments", plans.AssessmentViewSet, basename="plan-assessments")
router.register(f"{PLAN}/history", history.PlanHistoryViewSet, basename="plan-history")
router.register(f"{PLAN}/access-log", audit.FamilyAccessLogViewSet, basename="plan-access-log")
router.register("audit/access-log", audit.AuditAccessLogViewSet, basename="audit-access-log")
router.register("audit/disclosures", audit.AuditDisclosureViewSet, basename="audit-disclosures")
router.register("audit/verify", audit.AuditVerifyViewSet, basename="audit-verify")
router.register("jobs", jobs.JobViewSet, basename="jobs")
router.register("notifications", notifications.NotificationViewSet, basename="notifications")
router.register(
    f"{PLAN}/emergency-access", emergency.EmergencyOpenViewSet, basename="plan-emergency-access"
)
router.register(
    "audit/emergency-access", emergency.EmergencyReviewViewSet, basename="audit-emergency-access"
)
