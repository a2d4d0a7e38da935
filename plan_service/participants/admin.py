"""The Django admin, for the registry only (issue 17): organisations, professionals, families,
their members and guardianships, and the recipients of disclosures.

Plan data (plans, items, teams), consents, assessments and the logs are not here: they are
reached through the API and the pages, which apply the policy and the access log. Who may enter
is the policy's answer (`policy.may_use_admin`: an administrator, never a professional of a
team). Every change keeps its history row (django-simple-history, "History" on each object)
and its access-log row (`audit.accounts`, from Django's `LogEntry`); a family member's record
shown to the administrator is logged as a read about that person, like any other. Nothing is
deleted here: the registry's rows are referred to by plans and history (deactivate instead).
Identity codes are neither listed nor searched (a search would put them in the URL).
"""

from __future__ import annotations

from typing import Any

from django.contrib import admin
from django.http import HttpRequest, HttpResponse
from django.utils.translation import gettext_lazy as _
from simple_history.admin import SimpleHistoryAdmin

from plan_service import policy
from plan_service.audit.models import AccessEvent
from plan_service.audit.services import record_access
from plan_service.participants.models import (
    Family,
    Guardianship,
    Organization,
    Person,
    Professional,
    Recipient,
)


def _admin_has_permission(request: HttpRequest) -> bool:
    return bool(request.user.is_active and request.user.is_staff) and policy.may_use_admin(
        request.user
    )


admin.site.has_permission = _admin_has_permission  # type: ignore[method-assign]

#: What the admin may hold: the registry, and the accounts with their second factor and
#: sign-in lockouts (to reset a lost authenticator, to unlock an account).
ADMIN_APPS = frozenset({"participants", "auth", "otp_totp", "axes"})


def keep_only_the_registry() -> None:
    """Unregister what other apps registered (the job queue's tables, say): not registry."""
    for model in list(admin.site._registry):
        if model._meta.app_label not in ADMIN_APPS:
            admin.site.unregister(model)


admin.site.site_header = admin.site.site_title = _("Family plan registry")


class RegistryAdmin(SimpleHistoryAdmin):
    """View, add and change for whoever may use the admin (the policy decided at the door);
    never delete."""

    def has_module_permission(self, request: HttpRequest) -> bool:
        return admin.site.has_permission(request)

    def has_view_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return admin.site.has_permission(request)

    def has_add_permission(self, request: HttpRequest) -> bool:
        return admin.site.has_permission(request)

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return admin.site.has_permission(request)

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


class FamilyDataAdmin(RegistryAdmin):
    """A family's own records: what the administrator is shown is logged about its people."""

    def _people(self, obj: Any) -> list[Any]:
        raise NotImplementedError

    def _log_shown(self, request: HttpRequest, obj: Any, object_type: str) -> None:
        record_access(
            actor=request.user,
            action=AccessEvent.Action.READ,
            subjects=self._people(obj),
            family_id=self._family_id(obj),
            object_type=object_type,
            object_id=obj.pk,
            purpose="administration",
        )

    def _family_id(self, obj: Any) -> Any:
        return obj.pk if isinstance(obj, Family) else obj.family_id

    def changelist_view(
        self, request: HttpRequest, extra_context: dict[str, Any] | None = None
    ) -> HttpResponse:
        response = super().changelist_view(request, extra_context)
        changelist = getattr(response, "context_data", {}).get("cl")
        if changelist is not None:
            shown = list(changelist.result_list)
            record_access(
                actor=request.user,
                action=AccessEvent.Action.SEARCH,
                subjects=[p for obj in shown for p in self._people(obj)],
                object_type=self.model._meta.model_name,
                result_count=len(shown),
                purpose="administration",
            )
        return response

    def change_view(
        self,
        request: HttpRequest,
        object_id: str,
        form_url: str = "",
        extra_context: dict[str, Any] | None = None,
    ) -> HttpResponse:
        response = super().change_view(request, object_id, form_url, extra_context)
        obj = self.get_object(request, object_id)
        if request.method == "GET" and response.status_code == 200 and obj is not None:
            self._log_shown(request, obj, self.model._meta.model_name)
        return response

    def history_view(
        self, request: HttpRequest, object_id: str, extra_context: dict[str, Any] | None = None
    ) -> HttpResponse:
        response = super().history_view(request, object_id, extra_context)
        obj = self.get_object(request, object_id)
        if response.status_code == 200 and obj is not None:
            self._log_shown(request, obj, f"{self.model._meta.model_name}-history")
        return response


@admin.register(Organization)
class OrganizationAdmin(RegistryAdmin):
    list_display = ("name", "oid", "sector", "public", "emergency_access_allowed")
    list_filter = ("sector", "public", "emergency_access_allowed")
    search_fields = ("name", "oid")


@admin.register(Professional)
class ProfessionalAdmin(RegistryAdmin):
    list_display = ("__str__", "role", "organization", "unit")
    list_filter = ("role", "organization")
    list_select_related = ("user", "organization")
    search_fields = ("user__last_name", "user__first_name", "user__username")
    autocomplete_fields = ("organization",)
    raw_id_fields = ("user",)


@admin.register(Recipient)
class RecipientAdmin(RegistryAdmin):
    list_display = ("name", "code", "kind", "sector", "organization", "active")
    list_filter = ("kind", "sector", "active")
    search_fields = ("name", "code")
    autocomplete_fields = ("organization",)


class PersonInline(admin.TabularInline):
    model = Person
    fields = ("kind", "given_name", "family_name", "non_disclosure")
    readonly_fields = fields
    extra = 0
    show_change_link = True
    can_delete = False

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


@admin.register(Family)
class FamilyAdmin(FamilyDataAdmin):
    list_display = ("__str__",)
    search_fields = ("name",)
    inlines = (PersonInline,)

    def get_queryset(self, request: HttpRequest) -> Any:
        return super().get_queryset(request).prefetch_related("members")

    def _people(self, obj: Any) -> list[Any]:
        return [member.pk for member in obj.members.all()]


class GuardianshipInline(admin.TabularInline):
    model = Guardianship
    fk_name = "child"
    fields = ("guardian", "excluded_by_custody_decision", "restricted_until")
    raw_id_fields = ("guardian",)
    extra = 0
    can_delete = False


@admin.register(Person)
class PersonAdmin(FamilyDataAdmin):
    list_display = ("family_name", "given_name", "kind", "family", "non_disclosure")
    list_filter = ("kind", "non_disclosure")
    list_select_related = ("family",)
    search_fields = (
        "family_name",
        "given_name",
    )  # never the identity code (it would be in the URL)
    raw_id_fields = ("family", "user")
    inlines = (GuardianshipInline,)

    def _people(self, obj: Any) -> list[Any]:
        return [obj.pk]
