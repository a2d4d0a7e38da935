"""The access log (käyttöloki) and the disclosure log (luovutusloki).

Both are append-only in PostgreSQL (triggers reject UPDATE, DELETE and TRUNCATE) and hash-chained:
`row_hash = sha256(prev_hash || canonical(row))`. Rows are spread over `AUDIT_CHAINS` chains so
concurrent writers do not queue on one lock; within a chain `seq` is gap-free. Rows hold
identifiers only, never plan content, and no foreign keys (a deleted user must not rewrite them).
"""

from __future__ import annotations

import uuid

from django.contrib.postgres.indexes import GinIndex, OpClass
from django.db import models
from django.db.models.functions import Upper
from django.utils import timezone
from django.utils.translation import gettext_lazy as _


class Chained(models.Model):
    """The tamper-evidence columns every log row carries."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    chain = models.PositiveSmallIntegerField(_("chain"))
    seq = models.BigIntegerField(_("sequence in chain"))
    recorded_at = models.DateTimeField(_("recorded at"), default=timezone.now)
    prev_hash = models.CharField(max_length=64)
    row_hash = models.CharField(max_length=64)

    #: Columns that take part in the hash, in order. Every subclass lists its own.
    HASHED_FIELDS: tuple[str, ...] = ()
    #: Hashed columns added after rows were first written: hashed only when set, so the rows
    #: written before the column existed keep verifying.
    HASHED_WHEN_SET: tuple[str, ...] = ()

    class Meta:
        abstract = True


class AccessEvent(Chained):
    """One row per person whose data a request touched (or tried to touch)."""

    class Action(models.TextChoices):
        READ = "read", _("read")
        SEARCH = "search", _("search")
        CREATE = "create", _("create")
        UPDATE = "update", _("update")
        DELETE = "delete", _("delete")
        EXPORT = "export", _("export")
        DISCLOSE = "disclose", _("disclose")
        LOGIN = "login", _("login")
        LOGIN_FAILED = "login_failed", _("failed login")
        DENIED = "denied", _("denied")
        PURGE = "purge", _("retention purge")
        LOGOUT = "logout", _("sign-out")
        LOCKOUT = "lockout", _("sign-in locked out")
        PASSWORD_CHANGE = "password_change", _("password change")
        ACTIVATION_CHANGE = "activation_change", _("activation change")
        TOKEN_REVOKE = "token_revoke", _("token revoked")
        ADMIN_CHANGE = "admin_change", _("administration change")

    class Outcome(models.TextChoices):
        SUCCESS = "success", _("success")
        DENIED = "denied", _("denied")
        ERROR = "error", _("error")

    action = models.CharField(_("action"), max_length=20, choices=Action.choices)
    outcome = models.CharField(_("outcome"), max_length=10, choices=Outcome.choices)
    outcome_code = models.PositiveSmallIntegerField(_("outcome code"), null=True, blank=True)
    actor_user_id = models.BigIntegerField(_("actor user id"), null=True, blank=True)
    actor_username = models.CharField(_("actor username"), max_length=150, blank=True)
    actor_display = models.CharField(_("actor name"), max_length=300, blank=True)
    actor_unit = models.CharField(_("actor unit"), max_length=200, blank=True)
    actor_hide_name = models.BooleanField(_("show unit instead of name"), default=False)
    actor_kind = models.CharField(_("actor kind"), max_length=20, blank=True)
    actor_role = models.CharField(_("actor role"), max_length=40, blank=True)
    actor_plan_role = models.CharField(_("actor plan role"), max_length=10, blank=True)
    actor_organization_id = models.UUIDField(_("actor organisation"), null=True, blank=True)
    actor_organization_name = models.CharField(max_length=200, blank=True)
    subject_id = models.UUIDField(_("subject person"), null=True, blank=True)
    family_id = models.UUIDField(_("family"), null=True, blank=True)
    plan_id = models.UUIDField(_("plan"), null=True, blank=True)
    object_type = models.CharField(_("object type"), max_length=40, blank=True)
    object_id = models.CharField(_("object id"), max_length=64, blank=True)
    object_version = models.PositiveIntegerField(_("object version"), null=True, blank=True)
    purpose = models.CharField(_("purpose of use"), max_length=100, blank=True)
    legal_basis = models.CharField(_("legal basis"), max_length=300, blank=True)
    consent_id = models.UUIDField(_("consent used"), null=True, blank=True)
    query = models.JSONField(_("query"), null=True, blank=True)
    result_count = models.PositiveIntegerField(_("result count"), null=True, blank=True)
    request_id = models.CharField(_("request id"), max_length=64, blank=True)
    client_ip = models.GenericIPAddressField(_("client ip"), null=True, blank=True)
    user_agent = models.CharField(_("user agent"), max_length=300, blank=True)
    on_behalf_of_id = models.UUIDField(
        _("on behalf of"),
        null=True,
        blank=True,
        help_text=_("The child a guardian acted for, when they chose one."),
    )

    HASHED_FIELDS = (
        "id",
        "chain",
        "seq",
        "recorded_at",
        "action",
        "outcome",
        "outcome_code",
        "actor_user_id",
        "actor_username",
        "actor_display",
        "actor_unit",
        "actor_hide_name",
        "actor_kind",
        "actor_role",
        "actor_plan_role",
        "actor_organization_id",
        "actor_organization_name",
        "subject_id",
        "family_id",
        "plan_id",
        "object_type",
        "object_id",
        "object_version",
        "purpose",
        "legal_basis",
        "consent_id",
        "query",
        "result_count",
        "request_id",
        "client_ip",
        "user_agent",
        "on_behalf_of_id",
    )
    HASHED_WHEN_SET = ("on_behalf_of_id",)

    class Meta:
        ordering = ["recorded_at", "chain", "seq"]
        verbose_name = _("access log row")
        verbose_name_plural = _("access log")
        constraints = [
            models.UniqueConstraint(fields=["chain", "seq"], name="access_chain_seq"),
        ]
        indexes = [
            models.Index(fields=["subject_id", "recorded_at"], name="access_subject_time"),
            models.Index(fields=["family_id", "recorded_at"], name="access_family_time"),
            models.Index(fields=["actor_user_id", "recorded_at"], name="access_actor_time"),
            models.Index(fields=["actor_organization_id", "recorded_at"], name="access_org_time"),
            models.Index(fields=["recorded_at"], name="access_time"),
            models.Index(fields=["plan_id", "recorded_at"], name="access_plan_time"),
            models.Index(fields=["action", "recorded_at"], name="access_action_time"),
            models.Index(fields=["outcome", "recorded_at"], name="access_outcome_time"),
            models.Index(fields=["request_id"], name="access_request"),
            # A reader's latest read of each plan (the start page's "new since my last visit"):
            # without it the search walks every row the actor ever caused, per plan.
            models.Index(
                fields=["actor_user_id", "plan_id", "-recorded_at"],
                name="access_actor_plan_read",
                condition=models.Q(action="read", object_type="plan"),
            ),
        ]

    def __str__(self) -> str:
        return f"access {self.chain}:{self.seq}"


class Disclosure(Chained):
    """One row per person whose data left the service (an export or a push), and to whom."""

    actor_user_id = models.BigIntegerField(_("actor user id"), null=True, blank=True)
    actor_username = models.CharField(_("actor username"), max_length=150, blank=True)
    actor_organization_id = models.UUIDField(_("actor organisation"), null=True, blank=True)
    recipient = models.CharField(_("recipient"), max_length=300)
    recipient_organization_id = models.UUIDField(null=True, blank=True)
    subject_id = models.UUIDField(_("subject person"), null=True, blank=True)
    family_id = models.UUIDField(_("family"), null=True, blank=True)
    plan_id = models.UUIDField(_("plan"), null=True, blank=True)
    plan_version = models.PositiveIntegerField(_("plan version"), null=True, blank=True)
    content = models.CharField(_("what was disclosed"), max_length=300)
    basis = models.CharField(_("disclosure basis"), max_length=300)
    request_id = models.CharField(_("request id"), max_length=64, blank=True)

    HASHED_FIELDS = (
        "id",
        "chain",
        "seq",
        "recorded_at",
        "actor_user_id",
        "actor_username",
        "actor_organization_id",
        "recipient",
        "recipient_organization_id",
        "subject_id",
        "family_id",
        "plan_id",
        "plan_version",
        "content",
        "basis",
        "request_id",
    )

    class Meta:
        ordering = ["recorded_at", "chain", "seq"]
        verbose_name = _("disclosure log row")
        verbose_name_plural = _("disclosure log")
        constraints = [
            models.UniqueConstraint(fields=["chain", "seq"], name="disclosure_chain_seq"),
        ]
        indexes = [
            models.Index(fields=["subject_id", "recorded_at"], name="disclosure_subject_time"),
            models.Index(fields=["family_id", "recorded_at"], name="disclosure_family_time"),
            models.Index(fields=["recorded_at"], name="disclosure_time"),
            models.Index(fields=["plan_id", "recorded_at"], name="disclosure_plan_time"),
            models.Index(fields=["actor_user_id", "recorded_at"], name="disclosure_actor_time"),
            models.Index(
                fields=["actor_organization_id", "recorded_at"], name="disclosure_org_time"
            ),
            # The recipient search is a substring search (`icontains`): a trigram index.
            GinIndex(
                OpClass(Upper("recipient"), name="gin_trgm_ops"), name="disclosure_recipient_trgm"
            ),
        ]

    def __str__(self) -> str:
        return f"disclosure {self.chain}:{self.seq}"


class PurgePoint(models.Model):
    """Where a retention purge cut a chain: the first retained seq and the hash before it.

    `chain.verify` accepts a chain that does not start at seq 1 from the genesis hash only when
    its first row is the latest purge point of that chain, with the same `prev_hash`. Without
    this record, deleting the oldest rows of a chain would go unnoticed. The table is append-only
    in PostgreSQL with no exception (not even for a purge), so a purge point can only be added.
    """

    class Log(models.TextChoices):
        ACCESS = "access", _("access log")
        DISCLOSURE = "disclosure", _("disclosure log")

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    recorded_at = models.DateTimeField(_("recorded at"), default=timezone.now)
    log = models.CharField(_("log"), max_length=20, choices=Log.choices)
    chain = models.PositiveSmallIntegerField(_("chain"))
    first_seq = models.BigIntegerField(_("first retained sequence"))
    prev_hash = models.CharField(_("row hash of the last purged row"), max_length=64)
    rows_removed = models.BigIntegerField(_("rows removed"))
    cutoff = models.DateTimeField(_("purge cutoff"))
    event_id = models.UUIDField(_("access-log row recording the purge"), null=True, blank=True)

    class Meta:
        ordering = ["log", "chain", "first_seq"]
        verbose_name = _("purge point")
        verbose_name_plural = _("purge points")
        constraints = [
            models.UniqueConstraint(
                fields=["log", "chain", "first_seq"], name="purgepoint_log_chain_seq"
            ),
        ]

    def __str__(self) -> str:
        return f"purge {self.log} {self.chain}:{self.first_seq}"


class RetentionPolicy(models.Model):
    """The one row the delete trigger reads: how long logs are kept and who may purge them.

    Written by the owner (`db_roles`, after every migration, from `AUDIT_RETENTION_DAYS` and
    `DATABASE_PURGE_ROLE`); the service and the purge role may only read it. The trigger lets a
    row go only when the purge role deletes it, inside the purge window, and the window's
    cutoff lies at least `days` before the database's own clock.
    """

    id = models.PositiveSmallIntegerField(primary_key=True, default=1)
    days = models.PositiveIntegerField(_("retention in days"))
    purge_role = models.CharField(_("database role that may purge"), max_length=63, blank=True)

    class Meta:
        verbose_name = _("retention policy")
        verbose_name_plural = _("retention policy")
        constraints = [
            models.CheckConstraint(condition=models.Q(id=1), name="retentionpolicy_single_row"),
            models.CheckConstraint(condition=models.Q(days__gte=1), name="retentionpolicy_days"),
        ]

    def __str__(self) -> str:
        return f"retention {self.days} days"


class ThrottledSignIn(models.Model):
    """A counter of sign-in attempts refused by the throttle, per address and hour.

    Attempts past the throttle are not chained one by one (anyone without an account could grow
    the chained log without limit): each adds one to this row, and the periodic `audit_anchor`
    run appends one chained row per closed window (`summarised_at` then set). Not evidence in
    itself, so the service may update it; the chained summaries are.
    """

    window_start = models.DateTimeField(_("hour"))
    client_ip = models.CharField(_("client ip"), max_length=45, blank=True)
    last_username = models.CharField(_("last attempted username"), max_length=150, blank=True)
    attempts = models.PositiveIntegerField(_("attempts"), default=0)
    first_at = models.DateTimeField(_("first attempt"))
    last_at = models.DateTimeField(_("last attempt"))
    summarised_at = models.DateTimeField(_("chained at"), null=True, blank=True)

    class Meta:
        verbose_name = _("throttled sign-in counter")
        verbose_name_plural = _("throttled sign-in counters")
        constraints = [
            models.UniqueConstraint(
                fields=["window_start", "client_ip"], name="throttled_window_ip"
            ),
        ]
        indexes = [
            models.Index(
                fields=["window_start"],
                name="throttled_open",
                condition=models.Q(summarised_at__isnull=True),
            ),
        ]

    def __str__(self) -> str:
        return f"throttled {self.client_ip} {self.window_start:%Y-%m-%d %H}h: {self.attempts}"
