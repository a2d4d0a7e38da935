"""Every API route, registered on one router (the endpoint-coverage test walks it).

The project's, not the shared api/ package's: it is the one place that knows every app.
"""

from __future__ import annotations

from rest_framework.routers import SimpleRouter

from plan_service.audit.api import views as audit
from plan_service.clients.api import views as clients
from plan_service.consent.api import views as consent
from plan_service.emergency.api import views as emergency
from plan_service.jobs.api import views as jobs
from plan_service.notifications.api import views as notifications
from plan_service.participants.api import views as participants
from plan_service.plans import kinds
from plan_service.plans.api import fhir, history
from plan_service.plans.api import views as plans

router = SimpleRouter(trailing_slash=True)
router.include_format_suffixes = False

PLAN = r"plans/(?P<plan_pk>[^/.]+)"


def register_item_routes(router: SimpleRouter, kind: kinds.ItemKind) -> None:
    """The route factory of item kinds: plans/{plan}/<route>/ served by the kind's view set."""
    router.register(f"{PLAN}/{kind.route}", plans.item_viewset(kind), basename=f"plan-{kind.route}")


router.register("me", participants.MeViewSet, basename="me")
router.register("me/sessions", participants.MySessionsViewSet, basename="my-sessions")
router.register("organizations", participants.OrganizationViewSet, basename="organizations")
router.register("professionals", participants.ProfessionalViewSet, basename="professionals")
router.register("families", participants.FamilyViewSet, basename="families")
router.register("consents", consent.ConsentViewSet, basename="consents")
router.register("plans", plans.PlanViewSet, basename="plans")
router.register(f"{PLAN}/members", plans.MembershipViewSet, basename="plan-members")
# One route per declared item kind (plans/kinds.py), in the order the plan shows them.
for kind in kinds.all_kinds():
    register_item_routes(router, kind)
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
# Machine clients (portals): the only routes a client token reaches (docs/clients.md).
router.register("client/plans", clients.ClientPlanViewSet, basename="client-plans")
