"""The plan and its items: needs, goals, actions, reviews and the family's voice."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass

from django.conf import settings
from django.contrib.postgres.fields import ArrayField
from django.core.exceptions import ValidationError
from django.db import models
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext_lazy as _
from guardian.models import GroupObjectPermissionBase, UserObjectPermissionBase

from plan_service import historical
from plan_service.categories import Category
from plan_service.models_base import Stamped
from plan_service.participants.models import Family, Organization, Person, Professional
from plan_service.text_limits import (
    LONG_TEXT,
    MAX_CONCERNS,
    MAX_PARTICIPANTS,
    NOTES_TEXT,
    SHORT_TEXT,
    array_max_length,
)

#
# Why a version was made
#


class ChangeCode(models.TextChoices):
    """Why a plan version was made: a closed list, shown (translated) to every reader of it.

    The service picks the first group from the operation; a client may name one of
    `CLIENT_CHANGE_CODES` in the `X-Change-Reason-Code` header instead. Free text from the
    `X-Change-Reason` header is kept beside it and shown only to readers who can see every
    change of that version (plans/visibility.py).
    """

    PLAN_CREATED = "plan_created", _("plan opened")
    PLAN_CHANGED = "plan_changed", _("plan details changed")
    TEAM_CHANGED = "team_changed", _("care team changed")
    ITEM_ADDED = "item_added", _("item added")
    ITEM_CHANGED = "item_changed", _("item changed")
    ITEM_REMOVED = "item_removed", _("item removed")
    ITEM_RESTORED = "item_restored", _("earlier version restored")
    AUDIENCE_CHANGED = "audience_changed", _("who may see an item changed")
    REVIEW_MEETING = "review_meeting", _("agreed in a review meeting")
    CORRECTION = "correction", _("correction of an error")
    NEW_INFORMATION = "new_information", _("new information")
    FAMILY_REQUEST = "family_request", _("at the family's request")
    OTHER = "other", _("other reason")


#: Codes a client may choose (the rest describe the operation and are set by the service).
CLIENT_CHANGE_CODES = frozenset(
    {
        ChangeCode.REVIEW_MEETING,
        ChangeCode.CORRECTION,
        ChangeCode.NEW_INFORMATION,
        ChangeCode.FAMILY_REQUEST,
        ChangeCode.OTHER,
    }
)


@dataclass(frozen=True)
class Reason:
    """Why a write is made, as the client said: a code of `CLIENT_CHANGE_CODES` (or empty for the
    operation's own) and free text."""

    code: str = ""
    text: str = ""


class PlanVersionNote(models.Model):
    """Added to the plan's historical rows: the free text given with the version's reason code.

    The code itself is the row's `history_change_reason`.
    """

    change_note = models.TextField(_("reason in the writer's words"), blank=True, default="")

    class Meta:
        abstract = True


#
# The plan
#


class Plan(Stamped):
    """The one shared plan of a family. At most one plan per family is open at a time.

    `version` advances in the same transaction as any change to the plan or any of its items, so
    it is the plan's ETag and every history row can say which plan version it produced.
    """

    class Status(models.TextChoices):
        DRAFT = "draft", _("draft")
        ACTIVE = "active", _("active")
        ON_HOLD = "on_hold", _("on hold")
        COMPLETED = "completed", _("completed")

    #: The state machine: status -> statuses it may move to. Completed is final and read-only.
    TRANSITIONS: dict[str, frozenset[str]] = {
        Status.DRAFT: frozenset({Status.ACTIVE}),
        Status.ACTIVE: frozenset({Status.ON_HOLD, Status.COMPLETED}),
        Status.ON_HOLD: frozenset({Status.ACTIVE, Status.COMPLETED}),
        Status.COMPLETED: frozenset(),
    }

    family = models.ForeignKey(Family, on_delete=models.PROTECT, related_name="plans")
    status = models.CharField(
        _("status"), max_length=20, choices=Status.choices, default=Status.DRAFT
    )
    summary = models.TextField(
        _("summary of the family's situation"), blank=True, max_length=LONG_TEXT
    )
    #: The language the plan is written in (its FHIR export's `language` and narrative).
    language = models.CharField(
        _("language"),
        max_length=5,
        choices=[("fi", _("Finnish")), ("sv", _("Swedish")), ("en", _("English"))],
        default="fi",
    )
    period_start = models.DateField(_("period start"), default=timezone.localdate)
    period_end = models.DateField(_("period end"), null=True, blank=True)
    version = models.PositiveIntegerField(_("version"), default=1)
    history = historical.records(bases=[PlanVersionNote])

    class Meta:
        ordering = ["-updated_at"]
        verbose_name = _("plan")
        verbose_name_plural = _("plans")
        permissions = [
            ("export_plan", _("Can export plan as FHIR")),
            ("manage_plan", _("Can manage the plan's team and status (lead)")),
            ("contribute_plan", _("Can comment, dissent and acknowledge")),
        ]
        constraints = [
            # One open plan per family; completed plans are history. Enforced by PostgreSQL, so
            # two simultaneous creates give one plan and one IntegrityError (answered 409).
            models.UniqueConstraint(
                fields=["family"],
                condition=~Q(status="completed"),
                name="one_open_plan_per_family",
            ),
            models.CheckConstraint(
                condition=Q(period_end__isnull=True) | Q(period_end__gte=models.F("period_start")),
                name="plan_period_ordered",
            ),
        ]
        indexes = [models.Index(fields=["status"], name="plan_status")]

    def __str__(self) -> str:
        return f"plan {self.pk}"

    @property
    def is_read_only(self) -> bool:
        return self.status == Plan.Status.COMPLETED


class PlanUserObjectPermission(UserObjectPermissionBase):
    """django-guardian's direct foreign-key table: rows go with their plan (CASCADE)."""

    content_object = models.ForeignKey(Plan, on_delete=models.CASCADE)


class PlanGroupObjectPermission(GroupObjectPermissionBase):
    """Direct foreign-key group permissions on plans (unused today, kept for guardian's lookups)."""

    content_object = models.ForeignKey(Plan, on_delete=models.CASCADE)


class Membership(Stamped):
    """A place in a plan's care team: who, in which plan role, on which legal basis, for when.

    Effective while not ended, now lies in [valid_from, valid_until) and, for a consent basis,
    the consent is in force. Those are checked in SQL on every request (plan_service.policy).
    """

    class PlanRole(models.TextChoices):
        LEAD = "lead", _("lead professional")
        MEMBER = "member", _("team member")
        FAMILY = "family", _("family")

    class Basis(models.TextChoices):
        CONSENT = "consent", _("consent")
        STATUTE = "statute", _("statutory")
        FAMILY = "family", _("member of the family")

    plan = models.ForeignKey(Plan, on_delete=models.CASCADE, related_name="memberships")
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="memberships"
    )
    role = models.CharField(_("plan role"), max_length=10, choices=PlanRole.choices)
    professional = models.ForeignKey(
        Professional, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    person = models.ForeignKey(
        Person, on_delete=models.PROTECT, null=True, blank=True, related_name="memberships"
    )
    basis = models.CharField(_("legal basis"), max_length=10, choices=Basis.choices)
    consent = models.ForeignKey(
        "consent.Consent", on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    statute = models.CharField(_("statute and section"), max_length=200, blank=True)
    valid_from = models.DateTimeField(_("valid from"), default=timezone.now)
    valid_until = models.DateTimeField(_("valid until"), null=True, blank=True)
    ended_at = models.DateTimeField(_("ended at"), null=True, blank=True)
    history = historical.records()

    class Meta:
        ordering = ["valid_from"]
        verbose_name = _("team membership")
        verbose_name_plural = _("team memberships")
        constraints = [
            models.UniqueConstraint(
                fields=["plan", "user"],
                condition=Q(ended_at__isnull=True),
                name="one_current_membership_per_user",
            ),
            models.UniqueConstraint(
                fields=["plan"],
                condition=Q(ended_at__isnull=True, role="lead"),
                name="one_lead_per_plan",
            ),
            models.CheckConstraint(
                condition=(
                    Q(basis="consent", consent__isnull=False)
                    | Q(basis="statute", consent__isnull=True) & ~Q(statute="")
                    | Q(basis="family", person__isnull=False)
                ),
                name="membership_basis_complete",
            ),
        ]
        indexes = [models.Index(fields=["user", "ended_at"], name="membership_user_current")]

    def __str__(self) -> str:
        return f"{self.user} in {self.plan_id} ({self.role})"


#
# Plan items
#


class PlanItem(Stamped):
    """Fields every plan item shares: its plan, information category, version and audience.

    `restricted_by` names a child judged mature (THL code 3) who forbade showing this item to the
    guardians; guardians then neither see it nor learn it exists.
    """

    plan = models.ForeignKey(Plan, on_delete=models.CASCADE, related_name="+")
    category = models.CharField(_("information category"), max_length=20, choices=Category.choices)
    concerns = ArrayField(
        models.UUIDField(),
        default=list,
        blank=True,
        validators=[array_max_length(MAX_CONCERNS)],
        verbose_name=_("children concerned"),
        help_text=_("Empty: the whole family."),
    )
    restricted_by = models.ForeignKey(
        Person,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("hidden from guardians at the wish of"),
    )
    version = models.PositiveIntegerField(_("version"), default=1)
    plan_version = models.PositiveIntegerField(_("plan version produced"), default=1)

    class Meta:
        abstract = True
        ordering = ["created_at"]


class Need(PlanItem):
    """A need of the family or of named children, that goals answer."""

    title = models.CharField(_("title"), max_length=300)
    description = models.TextField(_("description"), blank=True, max_length=LONG_TEXT)
    history = historical.records()

    class Meta(PlanItem.Meta):
        verbose_name = _("need")
        indexes = [models.Index(fields=["plan", "category"], name="need_plan_category")]


class Goal(PlanItem):
    """A goal: desired outcome, how achievement is evidenced, target date and achievement."""

    class Achievement(models.TextChoices):
        # FHIR goal-achievement codes, so the export needs no mapping table.
        IN_PROGRESS = "in-progress", _("in progress")
        IMPROVING = "improving", _("improving")
        WORSENING = "worsening", _("worsening")
        NO_CHANGE = "no-change", _("no change")
        ACHIEVED = "achieved", _("achieved")
        SUSTAINING = "sustaining", _("sustaining")
        NOT_ACHIEVED = "not-achieved", _("not achieved")
        NO_PROGRESS = "no-progress", _("no progress")
        NOT_ATTAINABLE = "not-attainable", _("not attainable")

    need = models.ForeignKey(
        Need, on_delete=models.SET_NULL, null=True, blank=True, related_name="goals"
    )
    title = models.CharField(_("title"), max_length=300)
    desired_outcome = models.TextField(_("desired outcome"), max_length=SHORT_TEXT)
    evidence = models.TextField(
        _("how achievement is evidenced"), blank=True, max_length=SHORT_TEXT
    )
    target_date = models.DateField(_("target date"), null=True, blank=True)
    achievement = models.CharField(
        _("achievement"),
        max_length=20,
        choices=Achievement.choices,
        default=Achievement.IN_PROGRESS,
    )
    history = historical.records()

    class Meta(PlanItem.Meta):
        verbose_name = _("goal")
        indexes = [models.Index(fields=["plan", "category"], name="goal_plan_category")]


class Action(PlanItem):
    """What is done, by whom (a team member, a guardian, the child or an organisation), by when."""

    class Status(models.TextChoices):
        # FHIR CarePlan activity status codes.
        NOT_STARTED = "not-started", _("not started")
        SCHEDULED = "scheduled", _("scheduled")
        IN_PROGRESS = "in-progress", _("in progress")
        ON_HOLD = "on-hold", _("on hold")
        COMPLETED = "completed", _("completed")
        CANCELLED = "cancelled", _("cancelled")

    class Responsible(models.TextChoices):
        MEMBER = "member", _("team member")
        GUARDIAN = "guardian", _("guardian")
        CHILD = "child", _("child")
        ORGANIZATION = "organization", _("organisation")

    goal = models.ForeignKey(
        Goal, on_delete=models.SET_NULL, null=True, blank=True, related_name="actions"
    )
    description = models.TextField(_("what is done"), max_length=SHORT_TEXT)
    responsible_kind = models.CharField(
        _("responsible"), max_length=20, choices=Responsible.choices
    )
    responsible_user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    responsible_person = models.ForeignKey(
        Person, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    responsible_organization = models.ForeignKey(
        Organization, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    due_date = models.DateField(_("due date"), null=True, blank=True)
    status = models.CharField(
        _("status"), max_length=20, choices=Status.choices, default=Status.NOT_STARTED
    )
    history = historical.records()

    class Meta(PlanItem.Meta):
        verbose_name = _("action")
        indexes = [models.Index(fields=["plan", "category"], name="action_plan_category")]
        constraints = [
            models.CheckConstraint(
                condition=(
                    Q(responsible_kind="member", responsible_user__isnull=False)
                    | Q(
                        responsible_kind__in=["guardian", "child"], responsible_person__isnull=False
                    )
                    | Q(responsible_kind="organization", responsible_organization__isnull=False)
                ),
                name="action_responsible_named",
            )
        ]


class Review(PlanItem):
    """A review meeting: when, who took part, progress per goal, and the next review date.

    `progress` holds `[{"goal": <id>, "note": str, "achievement": <code>}]`; entries for goals the
    reader may not see are dropped on the way out.
    """

    held_on = models.DateField(_("held on"))
    participants = ArrayField(
        models.CharField(max_length=200),
        default=list,
        blank=True,
        verbose_name=_("took part"),
        validators=[array_max_length(MAX_PARTICIPANTS)],
    )
    notes = models.TextField(_("notes"), blank=True, max_length=NOTES_TEXT)
    progress = models.JSONField(_("progress per goal"), default=list, blank=True)
    next_review_on = models.DateField(_("next review"), null=True, blank=True)
    history = historical.records()

    class Meta(PlanItem.Meta):
        verbose_name = _("review meeting")
        indexes = [models.Index(fields=["plan", "category"], name="review_plan_category")]


class TargetType(models.TextChoices):
    """What a comment or dissent is about."""

    PLAN = "plan", _("plan")
    NEED = "need", _("need")
    GOAL = "goal", _("goal")
    ACTION = "action", _("action")
    REVIEW = "review", _("review meeting")


class Comment(PlanItem):
    """A comment or a recorded view on the plan or on one of its items."""

    class Kind(models.TextChoices):
        COMMENT = "comment", _("comment")
        CHILD_VIEW = "child_view", _("the child's view")
        GUARDIAN_VIEW = "guardian_view", _("the guardians' view")

    kind = models.CharField(_("kind"), max_length=20, choices=Kind.choices, default=Kind.COMMENT)
    target_type = models.CharField(_("about"), max_length=10, choices=TargetType.choices)
    target_id = models.UUIDField(_("about item"), null=True, blank=True)
    text = models.TextField(_("text"), max_length=LONG_TEXT)
    history = historical.records()

    class Meta(PlanItem.Meta):
        verbose_name = _("comment")
        indexes = [
            models.Index(fields=["plan", "category"], name="comment_plan_category"),
            # Who wrote in a thread (every new comment tells them, notifications.services):
            # read from the index alone, not from every comment of the plan.
            models.Index(
                fields=["plan", "target_type", "target_id", "created_by"],
                name="comment_thread_authors",
            ),
        ]


class Dissent(PlanItem):
    """A dissenting view (Child Welfare Act §30), linked to the item it disputes."""

    target_type = models.CharField(_("disputes"), max_length=10, choices=TargetType.choices)
    target_id = models.UUIDField(_("disputed item"), null=True, blank=True)
    text = models.TextField(_("text"), max_length=LONG_TEXT)
    history = historical.records()

    class Meta(PlanItem.Meta):
        verbose_name = _("dissent")
        indexes = [models.Index(fields=["plan", "category"], name="dissent_plan_category")]


class Acknowledgement(PlanItem):
    """A guardian or child signs one plan version, bound to that version's content hash."""

    class Decision(models.TextChoices):
        AGREE = "agree", _("agree")
        DISAGREE = "disagree", _("disagree")

    person = models.ForeignKey(Person, on_delete=models.PROTECT, related_name="+")
    acknowledged_version = models.PositiveIntegerField(_("acknowledged plan version"))
    content_hash = models.CharField(_("content hash"), max_length=64)
    decision = models.CharField(_("decision"), max_length=10, choices=Decision.choices)
    comment = models.TextField(_("comment"), blank=True, max_length=SHORT_TEXT)
    history = historical.records()

    class Meta(PlanItem.Meta):
        verbose_name = _("acknowledgement")
        indexes = [models.Index(fields=["plan", "person"], name="ack_plan_person")]


class _ItemModels(Mapping[str, type[PlanItem]]):
    """Item models by the `target_type` that names them, in the order the plan shows them.

    A live view of the item-kind declarations (plans/kinds.py): declaring a kind adds it here.
    """

    def _kinds(self) -> dict[str, type[PlanItem]]:
        from plan_service.plans import kinds

        return {kind.name: kind.model for kind in kinds.all_kinds()}

    def __getitem__(self, name: str) -> type[PlanItem]:
        return self._kinds()[name]

    def __iter__(self) -> Iterator[str]:
        return iter(self._kinds())

    def __len__(self) -> int:
        return len(self._kinds())


ITEM_MODELS: Mapping[str, type[PlanItem]] = _ItemModels()


def validate_transition(current: str, new: str) -> None:
    """Raise ValidationError unless the state machine allows moving from `current` to `new`."""
    if new != current and new not in Plan.TRANSITIONS[current]:
        raise ValidationError(
            {
                "status": ValidationError(
                    _("A plan cannot move from %(current)s to %(new)s."),
                    code="invalid_transition",
                    params={"current": current, "new": new},
                )
            }
        )


#
# The read model: each plan's document, rendered once per (version, visibility class)
#


class PlanDocument(models.Model):
    """The whole plan, or the plan detail, as one class of readers sees it, rendered as JSON
    (plans/document.py).

    One row per (plan, visibility, part): a newer rendering replaces the older one. A row is served
    only while its plan version, generation and epoch are all current; triggers (migration
    plans 0002) advance the generation on any change of the plan's rows that a document shows,
    and the epoch on a change of names shared by all plans (users, professionals, organisations).
    """

    class Part(models.TextChoices):
        DOCUMENT = "document", _("whole plan")
        DETAIL = "detail", _("plan and counts")

    plan = models.ForeignKey(Plan, on_delete=models.CASCADE, related_name="+")
    visibility = models.CharField(max_length=300)
    #: The answer the row holds: the whole plan (`/document/`) or the detail (`/plans/{id}/`).
    part = models.CharField(max_length=16, choices=Part.choices, default=Part.DOCUMENT)
    plan_version = models.PositiveIntegerField()
    generation = models.BigIntegerField()
    epoch = models.BigIntegerField()
    body = models.TextField()
    rendered_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["plan", "visibility", "part"], name="plan_document_per_class_and_part"
            )
        ]

    def __str__(self) -> str:
        return f"document of {self.plan_id} for {self.visibility}"


class ReaderVersions(models.Model):
    """Which stored plan versions exist for one class of readers (plans/visibility.py): the
    `ReaderView.versions` of the plan at `plan_version` for every reader whose
    `PlanAccess.visibility` is `visibility`.

    A pure function of the plan's history up to `plan_version` (append-only) and the class, so a
    row never goes stale; it only falls behind. A write of one item continues it from the
    previous version instead of replaying the plan's whole history (`visibility.item_view`).
    One row per (plan, class): a newer one replaces the older.
    """

    plan = models.ForeignKey(Plan, on_delete=models.CASCADE, related_name="+")
    visibility = models.CharField(max_length=300)
    plan_version = models.PositiveIntegerField()
    versions = ArrayField(models.PositiveIntegerField())
    #: When the last of `versions` was made (the detail's `updated_at`); null: none yet.
    updated_at = models.DateTimeField(null=True)
    #: For the signatures' states: per restriction of the rows concerned ("none", or the
    #: restricting child's person id), the last of `versions` holding a change of such rows.
    marks = models.JSONField(default=dict)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["plan", "visibility"], name="reader_versions_per_class")
        ]

    def __str__(self) -> str:
        return f"versions of {self.plan_id} for {self.visibility} at {self.plan_version}"


class DocumentStamp(models.Model):
    """How many times the rows a plan's document shows have changed (kept by triggers)."""

    # No foreign-key constraint: triggers write here while a plan's rows are being deleted.
    plan = models.OneToOneField(
        Plan, on_delete=models.DO_NOTHING, db_constraint=False, primary_key=True, related_name="+"
    )
    generation = models.BigIntegerField(default=0)

    def __str__(self) -> str:
        return f"document stamp {self.plan_id}: {self.generation}"


class DocumentEpoch(models.Model):
    """One row: how many times names every document may show have changed (kept by triggers)."""

    id = models.PositiveSmallIntegerField(primary_key=True, default=1)
    epoch = models.BigIntegerField(default=0)

    def __str__(self) -> str:
        return f"document epoch {self.epoch}"


class PushRecord(models.Model):
    """The last plan version pushed to one FHIR server, and what it holds of this plan there.

    A push of an older version than `version` is refused (409): it would put an outdated plan
    over the current one. `resources` ("Type/id") lets the next push delete the plan's content
    resources that the recipient may no longer receive, so the server holds what it may receive.
    """

    plan = models.ForeignKey(Plan, on_delete=models.PROTECT, related_name="+")
    base_url = models.CharField(_("FHIR server"), max_length=300)
    recipient = models.ForeignKey(
        "participants.Recipient", on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    version = models.PositiveIntegerField(_("plan version pushed"))
    resources = ArrayField(models.CharField(max_length=120), default=list, blank=True)
    pushed_at = models.DateTimeField(_("pushed at"), default=timezone.now)

    class Meta:
        verbose_name = _("FHIR push record")
        constraints = [
            models.UniqueConstraint(fields=["plan", "base_url"], name="push_record_plan_server")
        ]

    def __str__(self) -> str:
        return f"{self.plan_id} v{self.version} -> {self.base_url}"
