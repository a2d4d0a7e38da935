"""Shapes of plans, team memberships and items on the wire. No queries, no permission checks."""

from __future__ import annotations

from typing import Any

from django.utils.module_loading import import_string
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from plan_service import policy
from plan_service.api.serializers import (
    MAX_INT,
    ModelSerializer,
    StrictModelSerializer,
    StrictSerializer,
)
from plan_service.categories import Category
from plan_service.plans import kinds
from plan_service.plans.models import (
    Acknowledgement,
    Action,
    Comment,
    Dissent,
    Goal,
    Membership,
    Need,
    Plan,
    Review,
    TargetType,
)
from plan_service.text_limits import MAX_PROGRESS

#
# Plans
#


class FamilyBriefSerializer(serializers.Serializer):
    id = serializers.UUIDField()
    name = serializers.CharField()


_DATETIME = serializers.DateTimeField()


class PlanOutputSerializer(ModelSerializer):
    """A plan in a list: only what is the same for every reader of it (the version and
    `updated_at`, which depend on what the reader can see, are on the plan's detail)."""

    family = FamilyBriefSerializer()

    class Meta:
        model = Plan
        fields = [
            "id",
            "family",
            "status",
            "summary",
            "period_start",
            "period_end",
            "created_at",
        ]


class PermissionsSerializer(serializers.Serializer):
    plan_role = serializers.CharField()
    actions = serializers.ListField(child=serializers.CharField())
    read_categories = serializers.ListField(child=serializers.CharField())
    write_categories = serializers.ListField(child=serializers.CharField())


class AcknowledgementStateSerializer(serializers.Serializer):
    person = serializers.UUIDField()
    acknowledgement = serializers.UUIDField()
    version = serializers.IntegerField()
    decision = serializers.CharField()
    outdated = serializers.BooleanField()


class PlanDetailSerializer(PlanOutputSerializer):
    """The plan with what the caller may do, item counts and acknowledgement states."""

    version = serializers.SerializerMethodField()
    updated_at = serializers.SerializerMethodField()
    permissions = serializers.SerializerMethodField()
    counts = serializers.SerializerMethodField()
    acknowledgements = serializers.SerializerMethodField()

    class Meta(PlanOutputSerializer.Meta):
        fields = [
            *PlanOutputSerializer.Meta.fields,
            "version",
            "updated_at",
            "permissions",
            "counts",
            "acknowledgements",
        ]

    def get_version(self, plan: Plan) -> int:
        """The plan's version as the caller sees it (plans/visibility.py); also its ETag."""
        return self.context["view"].version

    @extend_schema_field(serializers.DateTimeField())
    def get_updated_at(self, plan: Plan) -> str | None:
        at, _by = self.context["view"].updated
        return _DATETIME.to_representation(at or plan.created_at)

    @extend_schema_field(PermissionsSerializer)
    def get_permissions(self, plan: Plan) -> dict[str, Any]:
        return self.context["access"].as_flags()

    @extend_schema_field(serializers.DictField(child=serializers.IntegerField()))
    def get_counts(self, plan: Plan) -> dict[str, int]:
        return self.context["counts"]

    @extend_schema_field(AcknowledgementStateSerializer(many=True))
    def get_acknowledgements(self, plan: Plan) -> list[dict[str, Any]]:
        return self.context["acknowledgements"]


class PlanCreateSerializer(StrictModelSerializer):
    family = serializers.UUIDField()
    statute = serializers.CharField(
        max_length=200,
        help_text="The statute and section on which the lead (the caller) works with the family.",
    )

    class Meta:
        model = Plan
        fields = ["family", "summary", "period_start", "period_end", "statute"]


class PlanUpdateSerializer(StrictModelSerializer):
    class Meta:
        model = Plan
        fields = ["summary", "period_start", "period_end", "status"]


#
# Team
#


class MembershipOutputSerializer(ModelSerializer):
    user = serializers.IntegerField(source="user_id")
    name = serializers.SerializerMethodField()
    professional = serializers.UUIDField(source="professional_id", allow_null=True)
    # Family members of the team are no professionals: these are null for them.
    professional_role = serializers.CharField(
        source="professional.role", default=None, allow_null=True
    )
    organization = serializers.UUIDField(
        source="professional.organization_id", default=None, allow_null=True
    )
    person = serializers.UUIDField(source="person_id", allow_null=True)
    consent = serializers.UUIDField(source="consent_id", allow_null=True)

    class Meta:
        model = Membership
        fields = [
            "id",
            "user",
            "name",
            "role",
            "professional",
            "professional_role",
            "organization",
            "person",
            "basis",
            "consent",
            "statute",
            "valid_from",
            "valid_until",
            "ended_at",
        ]

    def get_name(self, membership: Membership) -> str:
        """The member's name; to a family reader (`context["access"]`), a professional who must
        not be named to families is their unit (or organisation), as everywhere else."""
        professional = membership.professional
        if (
            professional is not None
            and professional.hide_name_from_family
            and policy.is_family(self.context.get("access"))
        ):
            return professional.name_for_family
        user = membership.user
        return user.get_full_name() or user.get_username()


class MembershipCreateSerializer(StrictSerializer):
    professional = serializers.UUIDField()
    role = serializers.ChoiceField(
        choices=[Membership.PlanRole.LEAD, Membership.PlanRole.MEMBER],
        default=Membership.PlanRole.MEMBER,
    )
    basis = serializers.ChoiceField(choices=[Membership.Basis.CONSENT, Membership.Basis.STATUTE])
    consent = serializers.UUIDField(required=False, allow_null=True)
    statute = serializers.CharField(required=False, allow_blank=True, max_length=200)
    valid_from = serializers.DateTimeField(required=False)
    valid_until = serializers.DateTimeField(required=False, allow_null=True)


#
# Items
#

ITEM_COMMON = [
    "id",
    "category",
    "concerns",
    "hidden_from_guardians",
    "version",
    "plan_version",
    "created_at",
    "created_by",
    "updated_at",
    "updated_by",
]
ITEM_INPUT = ["category", "concerns"]


class ItemOutputSerializer(ModelSerializer):
    """Common read fields; ids of related items the reader cannot see are given as null.

    Versions, plan versions and who and when created and last changed the item are as the
    reader sees them (`context["view"]`, plans/visibility.py): a change the reader cannot see
    (a link to a hidden item dropped) moves none of them.
    """

    hidden_from_guardians = serializers.SerializerMethodField()
    version = serializers.SerializerMethodField()
    plan_version = serializers.SerializerMethodField()
    created_at = serializers.SerializerMethodField()
    created_by = serializers.SerializerMethodField()
    updated_at = serializers.SerializerMethodField()
    updated_by = serializers.SerializerMethodField()

    def get_hidden_from_guardians(self, item: Any) -> bool:
        return item.restricted_by_id is not None

    def _meta_of(self, item: Any) -> dict[str, Any]:
        cache = self.context.setdefault("_meta", {})
        if item.pk not in cache:
            cache[item.pk] = self.context["view"].item_meta(item)
        return cache[item.pk]

    def get_version(self, item: Any) -> int:
        return self._meta_of(item)["version"]

    def get_plan_version(self, item: Any) -> int:
        return self._meta_of(item)["plan_version"]

    @extend_schema_field(serializers.DateTimeField())
    def get_created_at(self, item: Any) -> str:
        return _DATETIME.to_representation(self._meta_of(item)["created_at"])

    @extend_schema_field(serializers.DateTimeField())
    def get_updated_at(self, item: Any) -> str:
        return _DATETIME.to_representation(self._meta_of(item)["updated_at"])

    def get_created_by(self, item: Any) -> str | None:
        return self._meta_of(item)["created_by"]

    def get_updated_by(self, item: Any) -> str | None:
        return self._meta_of(item)["updated_by"]

    def visible_ref(self, kind: str, value: Any) -> str | None:
        """A related item's id, or None when the reader may not see it (`kinds.visible_id`)."""
        shown = kinds.visible_id(value, self.context.get("visible", {}).get(kind, ()))
        return None if shown is None else str(shown)


class NeedOutputSerializer(ItemOutputSerializer):
    class Meta:
        model = Need
        fields = [*ITEM_COMMON, "title", "description"]


class NeedInputSerializer(StrictModelSerializer):
    class Meta:
        model = Need
        fields = [*ITEM_INPUT, "title", "description"]


class GoalOutputSerializer(ItemOutputSerializer):
    need = serializers.SerializerMethodField()

    class Meta:
        model = Goal
        fields = [
            *ITEM_COMMON,
            "need",
            "title",
            "desired_outcome",
            "evidence",
            "target_date",
            "achievement",
        ]

    def get_need(self, goal: Goal) -> str | None:
        return self.visible_ref("need", goal.need_id)


class GoalInputSerializer(StrictModelSerializer):
    need = serializers.UUIDField(required=False, allow_null=True)

    class Meta:
        model = Goal
        fields = [
            *ITEM_INPUT,
            "need",
            "title",
            "desired_outcome",
            "evidence",
            "target_date",
            "achievement",
        ]


class ActionOutputSerializer(ItemOutputSerializer):
    goal = serializers.SerializerMethodField()
    responsible_user = serializers.IntegerField(source="responsible_user_id", allow_null=True)
    responsible_person = serializers.UUIDField(source="responsible_person_id", allow_null=True)
    responsible_organization = serializers.UUIDField(
        source="responsible_organization_id", allow_null=True
    )

    class Meta:
        model = Action
        fields = [
            *ITEM_COMMON,
            "goal",
            "description",
            "responsible_kind",
            "responsible_user",
            "responsible_person",
            "responsible_organization",
            "due_date",
            "status",
        ]

    def get_goal(self, action: Action) -> str | None:
        return self.visible_ref("goal", action.goal_id)


class ActionInputSerializer(StrictModelSerializer):
    goal = serializers.UUIDField(required=False, allow_null=True)
    responsible_user = serializers.IntegerField(
        required=False, allow_null=True, min_value=1, max_value=MAX_INT
    )
    responsible_person = serializers.UUIDField(required=False, allow_null=True)
    responsible_organization = serializers.UUIDField(required=False, allow_null=True)

    class Meta:
        model = Action
        fields = [
            *ITEM_INPUT,
            "goal",
            "description",
            "responsible_kind",
            "responsible_user",
            "responsible_person",
            "responsible_organization",
            "due_date",
            "status",
        ]


class ProgressSerializer(serializers.Serializer):
    goal = serializers.UUIDField()
    note = serializers.CharField(allow_blank=True, max_length=2000)
    achievement = serializers.ChoiceField(choices=Goal.Achievement.choices, required=False)


class ReviewOutputSerializer(ItemOutputSerializer):
    progress = serializers.SerializerMethodField()

    class Meta:
        model = Review
        fields = [*ITEM_COMMON, "held_on", "participants", "notes", "progress", "next_review_on"]

    @extend_schema_field(ProgressSerializer(many=True))
    def get_progress(self, review: Review) -> list[dict[str, Any]]:
        goals = self.context.get("visible", {}).get("goal", ())
        return kinds.visible_entries(review.progress, "goal", goals)


class ReviewInputSerializer(StrictModelSerializer):
    progress = ProgressSerializer(many=True, required=False, max_length=MAX_PROGRESS)

    class Meta:
        model = Review
        fields = [*ITEM_INPUT, "held_on", "participants", "notes", "progress", "next_review_on"]

    def validate_progress(self, value: list[dict[str, Any]]) -> list[dict[str, Any]]:
        return [{**p, "goal": str(p["goal"])} for p in value]


class CommentOutputSerializer(ItemOutputSerializer):
    class Meta:
        model = Comment
        fields = [*ITEM_COMMON, "kind", "target_type", "target_id", "text"]


class CommentInputSerializer(StrictModelSerializer):
    category = serializers.ChoiceField(choices=Category.choices, required=False)

    class Meta:
        model = Comment
        fields = ["category", "kind", "target_type", "target_id", "text"]


class DissentOutputSerializer(ItemOutputSerializer):
    class Meta:
        model = Dissent
        fields = [*ITEM_COMMON, "target_type", "target_id", "text"]


class DissentInputSerializer(StrictModelSerializer):
    class Meta:
        model = Dissent
        fields = ["target_type", "target_id", "text"]

    def validate_target_type(self, value: str) -> str:
        if value not in TargetType.values:
            raise serializers.ValidationError("invalid")
        return value


class AcknowledgementOutputSerializer(ItemOutputSerializer):
    version = serializers.SerializerMethodField()
    person = serializers.UUIDField(source="person_id")
    content_hash = serializers.SerializerMethodField()
    outdated = serializers.SerializerMethodField()

    class Meta:
        model = Acknowledgement
        fields = [
            "id",
            "person",
            "version",
            "content_hash",
            "decision",
            "comment",
            "outdated",
            "created_at",
            "created_by",
        ]

    def get_version(self, ack: Acknowledgement) -> int:
        """The plan version signed, in the reader's numbering."""
        return self.context["view"].reader_version(ack.acknowledged_version)

    def get_content_hash(self, ack: Acknowledgement) -> str | None:
        """The hash of the content the signer saw: only the signer is shown it (it depends on
        items others may not see)."""
        return ack.content_hash if ack.person_id == self.context["view"].access.person_id else None

    def get_outdated(self, ack: Acknowledgement) -> bool:
        """Content the signer saw has changed since, as far as the reader can see."""
        kind = self.context.get("signers", {}).get(ack.person_id, "guardian")
        return self.context["view"].outdated(ack, kind)


class AcknowledgementInputSerializer(StrictSerializer):
    version = serializers.IntegerField(min_value=1, max_value=MAX_INT)
    decision = serializers.ChoiceField(choices=Acknowledgement.Decision.choices)
    comment = serializers.CharField(required=False, allow_blank=True, max_length=4000)


#
# Serializers of a declared kind (plans/kinds.py): hand-written when named, else generated
#


def _reference_getter(target: str, name: str) -> Any:
    def get(self: ItemOutputSerializer, item: Any) -> Any:
        return self.visible_ref(target, getattr(item, name))

    return get


def _generated_output(kind: kinds.ItemKind) -> type[serializers.Serializer]:
    """An output serializer from the declaration: the common read fields, then `fields`; an id
    reference is a method field showing the id only when visible."""
    attrs: dict[str, Any] = {}
    names = []
    for name in kind.fields:
        plain_name = name.removesuffix("_id")
        names.append(plain_name)
        target = kind.references.get(name)
        if target is not None and name.endswith("_id"):
            attrs[plain_name] = serializers.SerializerMethodField()
            attrs[f"get_{plain_name}"] = _reference_getter(target, name)
        elif name.endswith("_id"):
            attrs[plain_name] = serializers.CharField(source=name, allow_null=True)
    attrs.update(kind.serializer_extras)
    attrs["Meta"] = type("Meta", (), {"model": kind.model, "fields": [*ITEM_COMMON, *names]})
    cls_name = f"{kind.model.__name__}OutputSerializer"
    return type(cls_name, (ItemOutputSerializer,), attrs)


def _generated_input(kind: kinds.ItemKind) -> type[serializers.Serializer]:
    """An input serializer from the declaration: category, concerns and the kind's fields."""
    attrs: dict[str, Any] = {}
    names = []
    for name in kind.fields:
        plain_name = name.removesuffix("_id")
        names.append(plain_name)
        if name.endswith("_id"):
            attrs[plain_name] = serializers.UUIDField(required=False, allow_null=True)
    fields = ["category", *names] if kind.authored else [*ITEM_INPUT, *names]
    attrs["Meta"] = type("Meta", (), {"model": kind.model, "fields": fields})
    cls_name = f"{kind.model.__name__}InputSerializer"
    return type(cls_name, (StrictModelSerializer,), attrs)


_GENERATED: dict[tuple[str, str], type[serializers.Serializer]] = {}


def _resolve(kind: kinds.ItemKind, which: str, path: str, build: Any) -> Any:
    if path:
        return import_string(path)
    key = (kind.name, which)
    cached = _GENERATED.get(key)
    if cached is None or cached.Meta.model is not kind.model:
        cached = _GENERATED[key] = build(kind)
    return cached


def output_serializer_for(kind: kinds.ItemKind) -> type[serializers.Serializer]:
    """The output serializer of a declared kind."""
    return _resolve(kind, "output", kind.output_serializer, _generated_output)


def input_serializer_for(kind: kinds.ItemKind) -> type[serializers.Serializer]:
    """The input serializer of a declared kind."""
    return _resolve(kind, "input", kind.input_serializer, _generated_input)


#
# The whole plan (GET /plans/{id}/document/): shapes for the schema; plans/document.py builds it
#


class ProgressEntrySerializer(serializers.Serializer):
    review = serializers.UUIDField()
    held_on = serializers.DateField()
    note = serializers.CharField(allow_blank=True)
    achievement = serializers.CharField(allow_null=True)


class GoalTreeSerializer(GoalOutputSerializer):
    actions = ActionOutputSerializer(many=True)
    progress = ProgressEntrySerializer(many=True)

    class Meta(GoalOutputSerializer.Meta):
        fields = [*GoalOutputSerializer.Meta.fields, "actions", "progress"]


class NeedTreeSerializer(NeedOutputSerializer):
    goals = GoalTreeSerializer(many=True)

    class Meta(NeedOutputSerializer.Meta):
        fields = [*NeedOutputSerializer.Meta.fields, "goals"]


class ChildBriefSerializer(serializers.Serializer):
    id = serializers.UUIDField()
    given_name = serializers.CharField()
    family_name = serializers.CharField()


class DocumentSectionSerializer(serializers.Serializer):
    child = ChildBriefSerializer(allow_null=True, help_text="null: the whole family.")
    needs = NeedTreeSerializer(many=True)
    goals = GoalTreeSerializer(many=True, help_text="Goals not under a need the reader sees.")
    actions = ActionOutputSerializer(many=True, help_text="Actions not under a visible goal.")


class PlanDocumentSerializer(serializers.Serializer):
    """The whole plan as the caller may see it, in one answer."""

    permissions = PermissionsSerializer()
    plan = PlanOutputSerializer()
    children = ChildBriefSerializer(many=True)
    sections = DocumentSectionSerializer(
        many=True,
        help_text=(
            "One section per child, then one for the whole family. An item is placed by the "
            "children it concerns (in each of their sections); goals sit under their need and "
            "actions under their goal."
        ),
    )
    reviews = ReviewOutputSerializer(many=True)
    comments = CommentOutputSerializer(many=True)
    views = CommentOutputSerializer(many=True, help_text="The child's and the guardians' views.")
    dissents = DissentOutputSerializer(many=True)
    acknowledgements = AcknowledgementOutputSerializer(many=True)
    acknowledgement_states = AcknowledgementStateSerializer(many=True)
    team = MembershipOutputSerializer(many=True)
    counts = serializers.DictField(child=serializers.IntegerField())
