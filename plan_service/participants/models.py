"""The registry: organisations, professionals, families and their members."""

from __future__ import annotations

import datetime as dt
import uuid

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import models
from django.utils.translation import gettext_lazy as _
from stdnum.exceptions import ValidationError as StdnumValidationError
from stdnum.fi import hetu

from plan_service import historical
from plan_service.models_base import Stamped


class Sector(models.TextChoices):
    """The three sectors whose professionals share a plan."""

    SOCIAL = "social", _("social welfare")
    HEALTH = "health", _("health care")
    EDUCATION = "education", _("education")


class Role(models.TextChoices):
    """The role catalogue, Finnish title first. Auditor and administrator see no plan content."""

    CHILD_PROTECTION_SOCIAL_WORKER = (
        "child_protection_social_worker",
        _("lastensuojelun sosiaalityöntekijä (child-protection social worker)"),
    )
    SOCIAL_COUNSELLOR = "social_counsellor", _("sosiaaliohjaaja (social counsellor)")
    FAMILY_COUNSELLING_SOCIAL_WORKER = (
        "family_counselling_social_worker",
        _("perheneuvolan sosiaalityöntekijä (family-counselling social worker)"),
    )
    FAMILY_COUNSELLING_PSYCHOLOGIST = (
        "family_counselling_psychologist",
        _("perheneuvolan psykologi (family-counselling psychologist)"),
    )
    ADULT_SOCIAL_WORKER = "adult_social_worker", _("aikuissosiaalityön sosiaalityöntekijä")
    DISABILITY_SOCIAL_WORKER = (
        "disability_social_worker",
        _("vammaistyön sosiaalityöntekijä (disability social worker)"),
    )
    PSYCHIATRIC_NURSE = "psychiatric_nurse", _("psykiatrinen sairaanhoitaja (psychiatric nurse)")
    PUBLIC_HEALTH_NURSE = "public_health_nurse", _("terveydenhoitaja (public health nurse)")
    SCHOOL_DOCTOR = "school_doctor", _("koululääkäri (school doctor)")
    ORAL_HEALTH = "oral_health", _("suun terveydenhuolto (oral health care)")
    SCHOOL_CURATOR = "school_curator", _("koulukuraattori (school curator)")
    SCHOOL_PSYCHOLOGIST = "school_psychologist", _("koulupsykologi (school psychologist)")
    ECE_TEACHER = "ece_teacher", _("varhaiskasvatuksen opettaja (early-childhood teacher)")
    TEACHER = "teacher", _("opettaja (teacher)")
    AUDITOR = "auditor", _("tietosuojavastaava (auditor / data protection officer)")
    ADMINISTRATOR = "administrator", _("pääkäyttäjä (organisation administrator)")


#: Which sector each professional role belongs to. Roles absent here (auditor, administrator)
#: belong to no sector and can never be members of a plan's team.
ROLE_SECTOR: dict[str, str] = {
    Role.CHILD_PROTECTION_SOCIAL_WORKER: Sector.SOCIAL,
    Role.SOCIAL_COUNSELLOR: Sector.SOCIAL,
    Role.FAMILY_COUNSELLING_SOCIAL_WORKER: Sector.SOCIAL,
    Role.ADULT_SOCIAL_WORKER: Sector.SOCIAL,
    Role.DISABILITY_SOCIAL_WORKER: Sector.SOCIAL,
    Role.FAMILY_COUNSELLING_PSYCHOLOGIST: Sector.HEALTH,
    Role.PSYCHIATRIC_NURSE: Sector.HEALTH,
    Role.PUBLIC_HEALTH_NURSE: Sector.HEALTH,
    Role.SCHOOL_DOCTOR: Sector.HEALTH,
    Role.ORAL_HEALTH: Sector.HEALTH,
    Role.SCHOOL_CURATOR: Sector.EDUCATION,
    Role.SCHOOL_PSYCHOLOGIST: Sector.EDUCATION,
    Role.ECE_TEACHER: Sector.EDUCATION,
    Role.TEACHER: Sector.EDUCATION,
}


class Organization(Stamped):
    """An organisation in the SOTE organisation register, identified by its OID."""

    name = models.CharField(_("name"), max_length=200)
    oid = models.CharField(_("OID"), max_length=120, unique=True)
    sector = models.CharField(_("sector"), max_length=20, choices=Sector.choices)
    history = historical.records()
    #: fi-base information custodian: a public (1) or private (2) custodian (eArkisto -
    #: Rekisterinpitäjän laji, urn:oid:1.2.246.537.5.40172).
    public = models.BooleanField(_("public organisation"), default=True)
    #: The custodian's id in eArkisto - Rekisterinpitäjärekisteri (urn:oid:1.2.246.537.6.40174),
    #: which fi-base's public-custodian profile asks for; blank when not registered there.
    custodian_register_id = models.CharField(
        _("id in the register of information custodians"), max_length=120, blank=True
    )
    emergency_access_allowed = models.BooleanField(
        _("may use emergency access"),
        default=False,
        help_text=_("Its professionals may open a plan outside their team in an emergency."),
    )

    class Meta:
        ordering = ["name"]
        verbose_name = _("organisation")
        verbose_name_plural = _("organisations")

    def __str__(self) -> str:
        return self.name


def validate_terhikki(value: str) -> None:
    """A Terhikki registration number (Valvira): 11 digits. No published checksum exists."""
    if not (len(value) == 11 and value.isascii() and value.isdigit()):
        raise ValidationError(
            _("A Terhikki registration number has 11 digits."), code="invalid_terhikki"
        )


def validate_sv_number(value: str) -> None:
    """An SV number (yksilöintitunnus, Kela/Valvira): 1 to 9 digits. No published checksum."""
    if not (1 <= len(value) <= 9 and value.isascii() and value.isdigit()):
        raise ValidationError(_("An SV number has 1 to 9 digits."), code="invalid_sv_number")


class Professional(Stamped):
    """A user working for an organisation in one role of the catalogue."""

    user = models.OneToOneField(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="professional"
    )
    organization = models.ForeignKey(
        Organization, on_delete=models.PROTECT, related_name="professionals"
    )
    role = models.CharField(_("role"), max_length=40, choices=Role.choices)
    unit = models.CharField(_("unit"), max_length=200, blank=True)
    hide_name_from_family = models.BooleanField(
        _("show unit instead of name to families"),
        default=False,
        help_text=_("For a professional whose safety requires it (family access log)."),
    )
    #: Valvira's register of health-care professionals (urn:oid:1.2.246.537.26).
    terhikki_number = models.CharField(
        _("Terhikki registration number"),
        max_length=11,
        blank=True,
        validators=[validate_terhikki],
    )
    #: The SV number (yksilöintitunnus, urn:oid:1.2.246.537.25), e.g. of a physician.
    sv_number = models.CharField(
        _("SV number"), max_length=9, blank=True, validators=[validate_sv_number]
    )
    history = historical.records()

    class Meta:
        ordering = ["user__last_name", "user__first_name"]
        verbose_name = _("professional")
        verbose_name_plural = _("professionals")

    def __str__(self) -> str:
        return f"{self.user.get_full_name() or self.user.username} ({self.get_role_display()})"

    @property
    def name_for_family(self) -> str:
        """What a family is shown instead of the name of a professional who hides it
        (`hide_name_from_family`): the unit, else the organisation (load it with the row)."""
        return self.unit or self.organization.name

    @property
    def sector(self) -> str | None:
        """The sector of the role, or None for auditors and administrators."""
        return ROLE_SECTOR.get(self.role)


class Family(Stamped):
    """A family: its children and guardians share one plan."""

    name = models.CharField(_("name"), max_length=200)
    history = historical.records()

    class Meta:
        ordering = ["name"]
        verbose_name = _("family")
        verbose_name_plural = _("families")

    def __str__(self) -> str:
        return self.name


def validate_identity_code(value: str) -> None:
    """Reject a Finnish personal identity code whose format, date or checksum is wrong."""
    try:
        hetu.validate(value, allow_temporary=True)
    except StdnumValidationError as exc:
        raise ValidationError(
            _("Not a valid Finnish personal identity code: %(reason)s"),
            code="invalid_identity_code",
            params={"reason": exc.message},
        ) from exc


class Person(Stamped):
    """A child or guardian of a family. The identity code is stored here only, once."""

    class Kind(models.TextChoices):
        CHILD = "child", _("child")
        GUARDIAN = "guardian", _("guardian")

    family = models.ForeignKey(Family, on_delete=models.PROTECT, related_name="members")
    kind = models.CharField(_("kind"), max_length=10, choices=Kind.choices)
    given_name = models.CharField(_("given name"), max_length=100)
    family_name = models.CharField(_("family name"), max_length=100)
    identity_code = models.CharField(
        _("personal identity code"),
        max_length=11,
        unique=True,
        validators=[validate_identity_code],
    )
    user = models.OneToOneField(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="person",
    )
    non_disclosure = models.BooleanField(
        _("non-disclosure for personal safety (turvakielto)"),
        default=False,
        help_text=_(
            "Population Information Act 661/2009 section 36. Nobody may act for this person "
            "through the service, and their address is never disclosed."
        ),
    )
    guardians = models.ManyToManyField(
        "self",
        symmetrical=False,
        blank=True,
        related_name="wards",
        through="Guardianship",
        through_fields=("child", "guardian"),
    )
    history = historical.records(excluded_fields=["identity_code"])

    class Meta:
        ordering = ["family_name", "given_name"]
        verbose_name = _("family member")
        verbose_name_plural = _("family members")

    def __str__(self) -> str:
        return f"{self.given_name} {self.family_name}"

    def save(self, *args: object, **kwargs: object) -> None:
        self.identity_code = hetu.compact(self.identity_code)
        super().save(*args, **kwargs)

    @property
    def birth_date(self) -> dt.date | None:
        """The birth date carried by the identity code."""
        try:
            code = hetu.validate(self.identity_code, allow_temporary=True)
        except StdnumValidationError:
            return None
        return _birth_date(code)

    @property
    def masked_identity_code(self) -> str:
        """The code with its individual part hidden, for screens that only need to tell apart."""
        return f"{self.identity_code[:7]}****"


def _birth_date(code: str) -> dt.date:
    century = {"+": 1800, "-": 1900, "Y": 1900, "X": 1900, "W": 1900, "V": 1900, "U": 1900}
    base = century.get(code[6].upper(), 2000)
    return dt.date(base + int(code[4:6]), int(code[2:4]), int(code[0:2]))


class Guardianship(models.Model):
    """Who is guardian of whom: a guardian Person of a child Person in the same family."""

    child = models.ForeignKey(Person, on_delete=models.CASCADE, related_name="guardianships")
    guardian = models.ForeignKey(Person, on_delete=models.CASCADE, related_name="+")
    # Custody matters in law: who became or stopped being guardian of whom, and who said so.
    history = historical.records()
    excluded_by_custody_decision = models.BooleanField(
        _("custody decision excludes this guardian"),
        default=False,
        help_text=_(
            "A court decision on custody (Child Custody Act 361/1983 sections 9 and 4) leaves "
            "this guardian without the right to decide or to receive information on the child."
        ),
    )
    restricted_until = models.DateField(
        _("contact restricted until"),
        null=True,
        blank=True,
        help_text=_(
            "A child placed outside the home: a decision restricting this guardian's contact "
            "and information on the child (Child Welfare Act 417/2007 sections 62 and 63) is in "
            "force until this day, inclusive."
        ),
    )

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["child", "guardian"], name="unique_guardianship")
        ]
        verbose_name = _("guardianship")
        verbose_name_plural = _("guardianships")

    def __str__(self) -> str:
        return f"{self.guardian} → {self.child}"


class ApiToken(models.Model):
    """A bearer token for API clients. Only its SHA-256 is stored; it expires and can be revoked."""

    key_hash = models.CharField(max_length=64, unique=True)
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="api_tokens"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    expires_at = models.DateTimeField()

    class Meta:
        verbose_name = _("API token")
        verbose_name_plural = _("API tokens")

    def __str__(self) -> str:
        return f"token of {self.user_id}"


class MaturityAssessment(Stamped):
    """A professional's assessment of whether a minor can decide on their own data (THL codes).

    The latest assessment of a child decides: only code 3 ("capable and forbids") lets items be
    hidden from the guardians at the child's wish. Families never see assessments, since one
    saying "forbids" would tell the guardians that something is hidden.
    """

    class Code(models.IntegerChoices):
        NOT_CAPABLE = 1, _("not capable")
        CAPABLE_ALLOWS = 2, _("capable and allows showing to guardians")
        CAPABLE_FORBIDS = 3, _("capable and forbids showing to guardians")
        UNKNOWN = 4, _("unknown")

    #: THL code system for a minor's data toward guardians.
    SYSTEM = "urn:oid:1.2.246.537.5.40202.201901"

    child = models.ForeignKey(Person, on_delete=models.PROTECT, related_name="assessments")
    code = models.PositiveSmallIntegerField(_("assessment"), choices=Code.choices)
    assessed_on = models.DateField(_("assessed on"))
    note = models.TextField(_("note"), blank=True, max_length=2000)
    history = historical.records()

    class Meta:
        ordering = ["-assessed_on", "-created_at"]
        verbose_name = _("maturity assessment")
        verbose_name_plural = _("maturity assessments")

    def __str__(self) -> str:
        return f"{self.child_id}: {self.code}"


class Recipient(Stamped):
    """Someone a plan may be disclosed to: an organisation, a sector, or a national repository.

    What a recipient may receive is decided by `plan_service.policy.recipient_categories`: the
    categories its sector may see by law, plus (for organisations and sectors) those a consent
    in force addressed to it gives. `code` is how export and push name it (`?recipient=`).
    """

    class Kind(models.TextChoices):
        ORGANIZATION = "organization", _("organisation")
        SECTOR = "sector", _("sector")
        REPOSITORY = "repository", _("national repository")

    class Profile(models.TextChoices):
        """The national repository a `repository` recipient stands for (its source register)."""

        NONE = "", _("none")
        KANTA_PATIENT_RECORDS = "kanta_patient_records", _("Kanta patient data repository")
        KANTA_SOCIAL_WELFARE = "kanta_social_welfare", _("Kanta client data archive (social)")

    code = models.SlugField(_("code"), max_length=60, unique=True)
    name = models.CharField(_("name"), max_length=200)
    kind = models.CharField(_("kind"), max_length=20, choices=Kind.choices)
    sector = models.CharField(_("sector"), max_length=20, choices=Sector.choices)
    organization = models.ForeignKey(
        Organization,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="recipients",
        verbose_name=_("organisation"),
    )
    profile = models.CharField(
        _("repository profile"), max_length=40, choices=Profile.choices, blank=True
    )
    fhir_base_url = models.URLField(_("FHIR base URL for pushes"), max_length=300, blank=True)
    active = models.BooleanField(_("active"), default=True)
    history = historical.records()

    class Meta:
        ordering = ["name"]
        verbose_name = _("recipient")
        verbose_name_plural = _("recipients")
        constraints = [
            models.CheckConstraint(
                condition=~models.Q(kind="organization") | models.Q(organization__isnull=False),
                name="recipient_organization_named",
            ),
            models.CheckConstraint(
                condition=~models.Q(kind="repository") | ~models.Q(profile=""),
                name="recipient_repository_profiled",
            ),
        ]

    def __str__(self) -> str:
        return self.name


class SignInSession(models.Model):
    """One browser session of a signed-in user, so a person can see and end their sessions.

    Made when anyone signs in (any path: password, second factor, OpenID), touched at most once
    a minute while used, and removed when the session ends. Holds no plan data.
    """

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="sign_in_sessions"
    )
    session_key = models.CharField(max_length=40, unique=True)
    method = models.CharField(_("sign-in method"), max_length=20, blank=True)
    signed_in_at = models.DateTimeField(_("signed in at"), auto_now_add=True)
    last_seen_at = models.DateTimeField(_("last seen at"), auto_now_add=True)
    user_agent = models.CharField(_("user agent"), max_length=300, blank=True)

    class Meta:
        ordering = ["-signed_in_at"]
        verbose_name = _("sign-in session")
        verbose_name_plural = _("sign-in sessions")

    def __str__(self) -> str:
        return f"session of {self.user_id}"
