"""Who is told what, decided through the policy; written in a constant number of queries.

Every event handler is called inside the transaction of the change it reports, so its notices
and its e-mail jobs commit with the change or not at all. Recipients are chosen from
`policy.plan_accesses` (every member's access, one query) and `policy.may_read_item`: a
person is told of a change to an item only if they may read that item, so two worlds that
differ by a change hidden from a reader give that reader the same notices.

An e-mail says only that there is something new, with a link; never what (health and
child-protection data do not travel by e-mail). It is written in the recipient's language.
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.mail import EmailMessage, get_connection
from django.utils import timezone, translation
from django.utils.translation import gettext as _

from plan_service import policy, prepared
from plan_service.notifications.models import Kind, Notification, Preference
from plan_service.participants.models import Person, Professional, Role

if TYPE_CHECKING:
    from django.contrib.auth.models import AbstractBaseUser

    from plan_service.emergency.models import EmergencyAccess
    from plan_service.plans.models import Membership, Plan, PlanItem

FAMILY_KINDS = frozenset({Person.Kind.GUARDIAN, Person.Kind.CHILD})


@dataclass(frozen=True)
class Notice:
    user_id: int
    kind: str
    plan_id: uuid.UUID | None = None
    object_type: str = ""
    object_id: uuid.UUID | None = None
    dedup_key: str = ""
    #: Scan notices are given once per key, read or not (the daily scan must not repeat them).
    once: bool = False


def deliver(notices: Sequence[Notice]) -> list[Notification]:
    """Write the in-service notices and queue the e-mails each recipient chose: three queries.

    A notice whose key is already pending for its recipient (unread, or ever for `once`
    notices) is dropped, e-mail included: ten edits make one "new version" notice.
    """
    notices = list({(n.user_id, n.kind, n.dedup_key or uuid.uuid4()): n for n in notices}.values())
    if not notices:
        return []
    recipients = _recipients({n.user_id for n in notices}, {n.dedup_key for n in notices})
    rows, mails = [], []
    for n in notices:
        recipient = recipients.get(n.user_id, _NOBODY)
        if n.dedup_key in recipient.pending and (n.once or n.dedup_key in recipient.unread):
            continue
        if recipient.in_app is None or n.kind in recipient.in_app:
            rows.append(
                Notification(
                    recipient_id=n.user_id,
                    kind=n.kind,
                    plan_id=n.plan_id,
                    object_type=n.object_type,
                    object_id=n.object_id,
                    dedup_key=n.dedup_key,
                )
            )
        if recipient.email is None or n.kind in recipient.email:
            mails.append({"user_id": n.user_id, "kind": n.kind})
    Notification.objects.bulk_create(rows, ignore_conflicts=True)
    if mails:
        from plan_service.notifications import tasks

        tasks.send_notification_email.batch_defer(*mails)
    return rows


@dataclass(frozen=True)
class _Recipient:
    """What `deliver` needs of a recipient: the notices they chose in the service and by
    e-mail (None without a `Preference`: all of them), and their pending keys."""

    in_app: Sequence[str] | None
    email: Sequence[str] | None
    #: Keys of notices the recipient has (read or not), and of those still unread.
    pending: frozenset[str]
    unread: frozenset[str]


_NOBODY = _Recipient(None, None, frozenset(), frozenset())


# One shape for every call (the users and keys travel as arrays), bound and prepared on the
# server like the access statements: every write that tells anyone runs it, and building it with
# the ORM cost more than running it (~1.9 ms of Python against ~0.4 ms in PostgreSQL).
# Without keys the subqueries are not run at all (a one-time filter): a recipient may have
# thousands of notices. With keys each is found through a partial index on (recipient, key),
# which a prepared (generic) plan can use only if the statement says `dedup_key <> ''` itself
# (the keys sent never include ''); before that index, the first walked every notice of each
# recipient (1,442 per recipient in the 1,000-family benchmark, ~2 ms per comment).
_RECIPIENTS = """
SELECT u.id, p.in_app, p.email,
       ARRAY(SELECT n.dedup_key FROM {notification} n
              WHERE cardinality(%(keys)s::text[]) > 0 AND n.dedup_key <> ''
                AND n.recipient_id = u.id AND n.dedup_key = ANY(%(keys)s::text[])),
       ARRAY(SELECT n.dedup_key FROM {notification} n
              WHERE cardinality(%(keys)s::text[]) > 0 AND n.dedup_key <> ''
                AND n.recipient_id = u.id AND n.dedup_key = ANY(%(keys)s::text[])
                AND n.read_at IS NULL)
  FROM {user} u LEFT JOIN {preference} p ON p.user_id = u.id
 WHERE u.id = ANY(%(users)s::bigint[])
"""


def _recipients(users: set[int], keys: set[str]) -> dict[int, _Recipient]:
    """The recipients' choices and which of `keys` they have notices of, in one statement."""
    sql = _RECIPIENTS.format(
        notification=Notification._meta.db_table,
        user=get_user_model()._meta.db_table,
        preference=Preference._meta.db_table,
    )
    with prepared.server_cursor() as cursor:
        cursor.execute(sql, {"users": sorted(users), "keys": sorted(k for k in keys if k)})
        return {
            pk: _Recipient(in_app, email, frozenset(have), frozenset(unread))
            for pk, in_app, email, have, unread in cursor.fetchall()
        }


#
# Events of a plan
#


def _others(accesses: Iterable[policy.PlanAccess], actor: Any) -> list[policy.PlanAccess]:
    actor_id = getattr(actor, "pk", None)
    return [a for a in accesses if a.membership.user_id != actor_id]


def item_changed(*, actor: AbstractBaseUser, plan: Plan, item: PlanItem, created: bool) -> None:
    """An item was added, changed or removed: tell those who may read it.

    * guardians and the child: a new plan version to sign (one unread notice per plan);
    * on a new comment or dissent: the author of the item it is about and the person
      responsible for it; earlier commenters on the same item (an answer to their comment).
      One unread notice per thread and recipient, as for a version to sign: the
      twentieth comment in a thread nobody has opened since tells (and e-mails) no one again.
    """
    from plan_service.plans.models import ITEM_MODELS, Comment, Dissent

    readers = [
        a for a in _others(policy.plan_accesses(plan), actor) if policy.may_read_item(a, item)
    ]
    if not readers:
        return
    notices: list[Notice] = []
    name = item._meta.model_name
    if name != "acknowledgement" and not plan.is_read_only:
        notices += [
            Notice(a.membership.user_id, Kind.VERSION_TO_SIGN, plan.pk, dedup_key=f"sign:{plan.pk}")
            for a in readers
            if a.kind in FAMILY_KINDS
        ]
    if created and isinstance(item, Comment | Dissent):
        owners: set[object] = set()
        target_model = ITEM_MODELS.get(item.target_type)
        if item.target_id is not None and target_model is not None:
            fields = ["created_by_id"]
            if hasattr(target_model, "responsible_user_id"):
                fields.append("responsible_user_id")
            row = target_model.objects.filter(pk=item.target_id).values(*fields).first() or {}
            owners = {v for v in row.values() if v is not None}
        earlier = _earlier_authors(plan.pk, item.target_type, item.target_id)
        thread = f"{name}:{plan.pk}:{item.target_type}:{item.target_id or ''}"
        for a in readers:
            uid = a.membership.user_id
            if uid in owners:
                kind = Kind.COMMENT_ON_MY_ITEM
            elif uid in earlier:
                kind = Kind.ANSWER_TO_MY_COMMENT
            else:
                continue
            notices.append(Notice(uid, kind, plan.pk, name, item.pk, dedup_key=thread))
    deliver(notices)


def _earlier_authors(plan_id: object, target_type: str, target_id: object) -> set[int]:
    """Who wrote the comments on what a new comment is about, each once however long the
    thread (the new comment's own author is among them: the actor, whom no notice tells).

    Compiled once per process (`prepared`): every comment asks it. It names only the columns of
    the thread's index (plans migration 0009), so it is read from the index alone.
    """
    from plan_service.plans.models import Comment

    on_plan = target_id is None  # IS NULL: another shape of the statement

    def build(plan: object, target_type: str, target: object = None) -> Any:
        return (
            Comment.objects.filter(plan_id=plan, target_type=target_type, target_id=target)
            .order_by()
            .values("created_by_id")
            .distinct()
        )

    placeholders: dict[str, object] = {
        "plan": prepared.Slot.uuid(1),
        "target_type": prepared.Slot.text(1),
    }
    values: dict[str, object] = {"plan": plan_id, "target_type": target_type}
    if not on_plan:
        placeholders["target"], values["target"] = prepared.Slot.uuid(3), target_id
    rows = prepared.rows(("earlier_authors", on_plan), build, placeholders, values)
    return {row["created_by_id"] for row in rows}


def plan_changed(*, actor: AbstractBaseUser, plan: Plan) -> None:
    """The plan's own fields changed (everyone in the plan reads them): a version to sign."""
    if plan.is_read_only:
        return
    deliver(
        [
            Notice(a.membership.user_id, Kind.VERSION_TO_SIGN, plan.pk, dedup_key=f"sign:{plan.pk}")
            for a in _others(policy.plan_accesses(plan), actor)
            if a.kind in FAMILY_KINDS
        ]
    )


def membership_added(*, membership: Membership) -> None:
    deliver(
        [
            Notice(
                membership.user_id,
                Kind.MEMBERSHIP_ADDED,
                membership.plan_id,
                "membership",
                membership.pk,
            )
        ]
    )


def membership_ended(*, membership: Membership) -> None:
    deliver(
        [
            Notice(
                membership.user_id,
                Kind.MEMBERSHIP_ENDING,
                membership.plan_id,
                "membership",
                membership.pk,
            )
        ]
    )


def emergency_opened(*, grant: EmergencyAccess) -> None:
    """Tell the plan's lead and every auditor of the opener's organisation, at once."""
    from plan_service.plans.models import Membership

    leads = (
        Membership.objects.filter(plan_id=grant.plan_id, role=Membership.PlanRole.LEAD)
        .filter(policy.current_membership_q())
        .values_list("user_id", flat=True)
    )
    auditors = Professional.objects.filter(
        organization_id=grant.organization_id, role=Role.AUDITOR, user__is_active=True
    ).values_list("user_id", flat=True)
    notices = [
        Notice(uid, Kind.EMERGENCY_ACCESS, grant.plan_id, "emergencyaccess", grant.pk)
        for uid in leads
    ]
    notices += [
        Notice(uid, Kind.EMERGENCY_ACCESS, None, "emergencyaccess", grant.pk) for uid in auditors
    ]
    deliver(notices)


#
# The daily scan
#


def daily_scan(*, now: dt.datetime | None = None) -> int:
    """Consents ending within NOTIFY_CONSENT_DAYS (to the lead and the guardians), places in a
    team ending as soon (to the member), review meetings due within NOTIFY_REVIEW_DAYS (to those
    who may read the review). Each is told once. Returns the number of notices written."""
    from plan_service.consent.models import Consent
    from plan_service.plans.models import Membership, Plan, Review

    now = now or timezone.now()
    soon = now + dt.timedelta(days=settings.NOTIFY_CONSENT_DAYS)
    notices: list[Notice] = []
    consents = list(
        Consent.objects.filter(
            Consent.effective_q(now=now), valid_until__gt=now, valid_until__lte=soon
        ).values_list("pk", "family_id", "valid_until")
    )
    families = {family_id for _, family_id, _ in consents}
    leads: dict[object, list[tuple[object, object]]] = {}
    for family_id, plan_id, user_id in (
        Membership.objects.filter(
            plan__family_id__in=families,
            role=Membership.PlanRole.LEAD,
        )
        .exclude(plan__status=Plan.Status.COMPLETED)
        .filter(policy.current_membership_q(now))
        .values_list("plan__family_id", "plan_id", "user_id")
    ):
        leads.setdefault(family_id, []).append((plan_id, user_id))
    guardians: dict[object, list[object]] = {}
    for family_id, user_id in Person.objects.filter(
        family_id__in=families, kind=Person.Kind.GUARDIAN, user__isnull=False
    ).values_list("family_id", "user_id"):
        guardians.setdefault(family_id, []).append(user_id)
    for consent_id, family_id, until in consents:
        key = f"consent:{consent_id}:{until.date().isoformat()}"
        plan_id = leads.get(family_id, [(None, None)])[0][0]
        for _plan, user_id in leads.get(family_id, []):
            notices.append(
                Notice(user_id, Kind.CONSENT_ENDING, plan_id, "consent", consent_id, key, True)
            )
        for user_id in guardians.get(family_id, []):
            notices.append(
                Notice(user_id, Kind.CONSENT_ENDING, plan_id, "consent", consent_id, key, True)
            )
    for pk, plan_id, user_id, until in (
        Membership.objects.filter(ended_at__isnull=True, valid_until__gt=now, valid_until__lte=soon)
        .exclude(role=Membership.PlanRole.FAMILY)
        .values_list("pk", "plan_id", "user_id", "valid_until")
    ):
        key = f"membership:{pk}:{until.date().isoformat()}"
        notices.append(
            Notice(user_id, Kind.MEMBERSHIP_ENDING, plan_id, "membership", pk, key, True)
        )
    today = timezone.localdate(now)
    due = (
        Review.objects.filter(
            next_review_on__gte=today,
            next_review_on__lte=today + dt.timedelta(days=settings.NOTIFY_REVIEW_DAYS),
        )
        .exclude(plan__status=Plan.Status.COMPLETED)
        .select_related("plan")
    )
    by_plan: dict[object, list[Review]] = {}
    for review in due:
        by_plan.setdefault(review.plan_id, []).append(review)
    for reviews in by_plan.values():
        accesses = policy.plan_accesses(reviews[0].plan)  # per plan with a review due
        for review in reviews:
            key = f"review:{review.pk}:{review.next_review_on.isoformat()}"
            notices += [
                Notice(
                    a.membership.user_id,
                    Kind.REVIEW_DUE,
                    review.plan_id,
                    "review",
                    review.pk,
                    key,
                    True,
                )
                for a in accesses
                if policy.may_read_item(a, review)
            ]
    return len(deliver(notices))


#
# E-mail
#


def email_text(kind: str) -> tuple[str, str]:
    """Subject and body in the active language: that there is something new, and a link."""
    link = settings.SITE_URL.rstrip("/") + "/notices/"
    subject = _("Something new in the family plan service")
    body = _(
        "Hello,\n\nThere is something new for you in the family plan service.\n"
        "Sign in to see it: %(link)s\n\n"
        "For your privacy this message does not say more. You can choose which notices you "
        "receive by e-mail in the service.\n"
    ) % {"link": link}
    return subject, body


def send_email(*, user_id: int, kind: str) -> bool:
    """Send one notice e-mail to the user in their language; False when they have no address."""
    user = get_user_model().objects.filter(pk=user_id, is_active=True).first()
    if user is None or not user.email:
        return False
    pref = Preference.objects.filter(user_id=user_id).first()
    language = pref.language if pref else settings.LANGUAGE_CODE
    with translation.override(language):
        subject, body = email_text(kind)
    with get_connection() as connection:
        EmailMessage(
            subject, body, settings.DEFAULT_FROM_EMAIL, [user.email], connection=connection
        ).send()
    return True


#
# A person's own list and choices (the API and the pages)
#


def mark_read(*, user: AbstractBaseUser, notice_id: object) -> Notification | None:
    """Mark one of the user's own notices read; None when it is not theirs or does not exist."""
    row = policy.notifications_for(user).filter(pk=notice_id).first() if notice_id else None
    if row is not None and row.read_at is None:
        row.read_at = timezone.now()
        row.save(update_fields=["read_at"])
    return row


def mark_all_read(*, user: AbstractBaseUser) -> int:
    """Mark every unread notice of the user read; the number marked."""
    return (
        policy.notifications_for(user).filter(read_at__isnull=True).update(read_at=timezone.now())
    )


def preferences_of(user: AbstractBaseUser) -> dict[str, Any]:
    """Which notices the user gets in the service and by e-mail, and in which language."""
    pref = Preference.objects.filter(user=user).first()
    if pref is None:
        return {"language": settings.LANGUAGE_CODE, "in_app": Kind.values, "email": Kind.values}
    return {"language": pref.language, "in_app": pref.in_app, "email": pref.email}


def preferences_set(
    *, user: AbstractBaseUser, language: str, in_app: Iterable[str], email: Iterable[str]
) -> dict[str, Any]:
    pref = Preference.objects.filter(user=user).first() or Preference(user=user)
    pref.language = language
    pref.in_app = sorted(set(in_app))
    pref.email = sorted(set(email))
    pref.save()
    return preferences_of(user)
