"""The clinic, its staff and the clinical catalog (DESIGN §1–2).

Global catalog rows (``clinic`` null) are seeded by data migrations and read-only for clinics;
a clinic may add its own stretches and contraindications.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from importlib import resources

from django.conf import settings
from django.contrib.postgres.fields import ArrayField
from django.core.exceptions import ValidationError
from django.core.validators import MaxValueValidator
from django.db import models
from django.db.models import F, Q

REVIEW_NOTE = "Seed content: a licensed physical therapist must review this row before clinical use."

CATALOG_VERSION = "global-v2"
"""The global catalog as the migrations leave it, prefixed to every GateEvaluation's catalog version: v1 is the
frozen seed of migration 0002_seed_catalog; v2 adds the clinical review of issue 12 (migration 0005_catalog_review).
Every catalog migration carries its own data; bump this with every migration that changes global catalog content."""


REFUSED_ZONES = frozenset(
    {"localtime", "Factory", "posixrules", "EST5EDT", "CST6CDT", "MST7MDT", "PST8PDT", "EST", "MST", "HST"}
)
"""Names a host or the zone database may offer that are no place a patient lives: the server's own zone,
tzdata's placeholder, and the legacy POSIX-style names (a fixed offset or US rules, not a place)."""


def _zones() -> frozenset[str]:
    """The IANA zones patients and clinics may be given: the pinned ``tzdata`` package's list (not the host's
    zone files, which vary by machine): region/city names plus ``UTC`` and ``Etc/UTC``; no bare legacy alias
    (``EST5EDT``, ``Japan``), no ``Etc/GMT+5`` (whose sign is inverted), nothing in ``REFUSED_ZONES``."""
    names = resources.files("tzdata").joinpath("zones").read_text(encoding="utf-8").split()
    regions = {name for name in names if "/" in name and not name.startswith("Etc/")}
    return frozenset((regions | {"UTC", "Etc/UTC"}) - REFUSED_ZONES)


ZONES = _zones()


def validate_timezone(value: str) -> None:
    """A new zone must be one of ``ZONES``; rows stored before keep theirs (see ``StoredZoneMixin``)."""
    if value not in ZONES:
        raise ValidationError(
            f"{value!r} is not an IANA region/city time zone (e.g. America/New_York) or UTC.", code="invalid_zone"
        )


_PHONE_CHARACTERS = re.compile(r"\+?[0-9 ().\-]+")
PHONE_DIGITS = (6, 15)
"""A dialable number has 6 to 15 digits (E.164's longest is 15)."""


def validate_phone(value: str) -> None:
    """A number people can dial from what is written: digits, an optional leading ``+``, spaces, dots, dashes and
    brackets (``+1 (312) 555-0142``); 6 to 15 digits."""
    digits = sum(character.isdigit() for character in value)
    if not _PHONE_CHARACTERS.fullmatch(value) or not PHONE_DIGITS[0] <= digits <= PHONE_DIGITS[1]:
        raise ValidationError(
            "Enter a phone number of 6 to 15 digits: digits, a leading +, spaces, dots, dashes and brackets only"
            " (e.g. +1 312 555 0142).",
            code="invalid_phone",
        )


class ZoneFieldMixin:
    """A serializer's ``timezone``: from the pinned list when it changes; the zone a row already has (stored
    before the list was pinned) may be sent back unchanged. The stored zone comes in the serializer's context
    (``stored_timezone``)."""

    def validate_timezone(self, value: str) -> str:
        if value != self.context.get("stored_timezone"):
            validate_timezone(value)
        return value


class StoredZoneMixin:
    """A row keeps the zone it was stored with: ``full_clean`` validates ``timezone`` only when it changes, so a
    zone accepted before the list was narrowed (``EST5EDT``) does not block edits of the row's other fields."""

    @classmethod
    def from_db(cls, db, field_names, values):
        instance = super().from_db(db, field_names, values)
        instance._stored_timezone = instance.__dict__.get("timezone")
        return instance

    def clean_fields(self, exclude=None):
        if self.timezone == getattr(self, "_stored_timezone", None):
            exclude = {*(exclude or ()), "timezone"}
        super().clean_fields(exclude=exclude)


class Profession(models.TextChoices):
    PHYSICIAN = "physician", "Physician"
    PHYSICAL_THERAPIST = "physical_therapist", "Physical therapist"
    ATHLETIC_TRAINER = "athletic_trainer", "Athletic trainer"
    NURSE_MIDWIFE = "nurse_midwife", "Nurse-midwife"


class Phase(models.TextChoices):
    ACUTE = "acute", "Acute"
    SUBACUTE = "subacute", "Subacute"
    CHRONIC = "chronic", "Chronic"


class Qualifier(models.TextChoices):
    POSTERIOR_APPROACH = "posterior_approach", "Posterior approach"
    ANTERIOR_APPROACH = "anterior_approach", "Anterior approach"
    LATERAL_APPROACH = "lateral_approach", "Lateral approach"
    # The procedure behind "after spinal surgery" (Z98.890): its rows follow the operated region.
    LUMBAR_FUSION = "lumbar_fusion", "Lumbar fusion"
    LUMBAR_DISCECTOMY = "lumbar_discectomy", "Lumbar discectomy"
    CERVICAL_FUSION = "cervical_fusion", "Cervical fusion"


class PrecautionWindow(models.TextChoices):
    """A surgical precaution window whose last day a clinic may set for its surgeons (``Clinic``'s
    ``*_precaution_days``); a contraindication row marked with one uses the clinic's last day when it is set."""

    HIP_POSTERIOR = "hip_posterior", "Posterior-approach hip precautions"
    HIP_ANTERIOR = "hip_anterior", "Anterior-approach hip precautions"


PRECAUTION_WINDOW_SETTINGS = {
    PrecautionWindow.HIP_POSTERIOR: "posterior_hip_precaution_days",
    PrecautionWindow.HIP_ANTERIOR: "anterior_hip_precaution_days",
}
"""Precaution window → the ``Clinic`` field that sets its last day (days since onset, inclusive)."""


class Clinic(StoredZoneMixin, models.Model):
    name = models.CharField(max_length=200, unique=True)
    timezone = models.CharField(max_length=64, default="UTC", validators=[validate_timezone])
    # Blank only on clinics stored before issue 15: ``clinic_create`` and the admin's form require a phone.
    phone = models.CharField(
        max_length=32,
        blank=True,
        validators=[validate_phone],
        help_text="The number patients call: the portal's stop message and the printable program show it.",
    )
    address = models.TextField(
        blank=True, max_length=500, help_text="Where patients come: the printable program shows it."
    )
    # Surgeons differ on how long hip precautions last: the clinic may set its own last day for the rows
    # marked with a precaution window (empty: the catalog row's own window).
    posterior_hip_precaution_days = models.PositiveSmallIntegerField(
        null=True,
        blank=True,
        validators=[MaxValueValidator(365)],
        help_text="Last day after a posterior-approach hip replacement on which hip precautions apply at this"
        " clinic (days since the operation, inclusive). Empty: the catalog's window (days 0 to 84).",
    )
    anterior_hip_precaution_days = models.PositiveSmallIntegerField(
        null=True,
        blank=True,
        validators=[MaxValueValidator(365)],
        help_text="Last day after an anterior-approach hip replacement on which hip precautions apply at this"
        " clinic (days since the operation, inclusive). Empty: the catalog's window (days 0 to 42).",
    )
    progression_min_adherence = models.PositiveSmallIntegerField(
        default=60,
        validators=[MaxValueValidator(100)],
        help_text="A plan's dose progression step goes ahead only when the patient did at least this share of their"
        " sessions over the last 14 days (per cent).",
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.CheckConstraint(
                condition=Q(progression_min_adherence__lte=100),
                name="clinic_progression_min_adherence_percent",
                violation_error_message="The minimum adherence is a share: 0 to 100 per cent.",
            )
        ]

    def __str__(self) -> str:
        return self.name

    def precaution_days(self) -> dict[str, int]:
        """Precaution window → the last day this clinic sets for it; windows it leaves to the catalog are absent."""
        return {
            window: getattr(self, name)
            for window, name in PRECAUTION_WINDOW_SETTINGS.items()
            if getattr(self, name) is not None
        }


class StaffMembership(models.Model):
    class Role(models.TextChoices):
        THERAPIST = "therapist", "Therapist"
        FRONT_DESK = "front_desk", "Front desk"
        CLINIC_ADMIN = "clinic_admin", "Clinic admin"

    user = models.OneToOneField(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="membership")
    clinic = models.ForeignKey(Clinic, on_delete=models.PROTECT, related_name="memberships")
    role = models.CharField(max_length=20, choices=Role.choices)
    profession = models.CharField(max_length=30, choices=Profession.choices, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.CheckConstraint(
                condition=Q(role__in=["therapist", "front_desk", "clinic_admin"]), name="staff_role_valid"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.user} — {self.get_role_display()} at {self.clinic}"


class CatalogRow(models.Model):
    source = models.CharField(max_length=300, blank=True)
    review_note = models.CharField(max_length=300, blank=True, default=REVIEW_NOTE)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        abstract = True


class MovementTag(CatalogRow):
    """Controlled vocabulary of movements; contraindications and clearance restrictions name these."""

    slug = models.SlugField(max_length=50, unique=True)
    name = models.CharField(max_length=100)
    description = models.TextField(blank=True)

    class Meta:
        ordering = ["slug"]

    def __str__(self) -> str:
        return self.name


class MobilityLevel(CatalogRow):
    level = models.PositiveSmallIntegerField(unique=True)
    name = models.CharField(max_length=50)
    description = models.TextField()

    class Meta:
        ordering = ["level"]
        constraints = [
            models.CheckConstraint(condition=Q(level__gte=1, level__lte=5), name="mobility_level_1_to_5"),
        ]

    def __str__(self) -> str:
        return f"{self.level} — {self.name}"


class Diagnosis(CatalogRow):
    code = models.CharField(max_length=10, unique=True, help_text="Billable ICD-10-CM code, e.g. M51.26.")
    name = models.CharField(max_length=200)
    body_region = models.CharField(max_length=30, blank=True)
    clearance_by = ArrayField(
        models.CharField(max_length=30, choices=Profession.choices),
        help_text="Professions that may clear a patient with this diagnosis; its authority rules may narrow them.",
    )
    clearance_by_source = models.CharField(
        max_length=300, blank=True, help_text="Where the clearing professions come from."
    )

    class Meta:
        ordering = ["code"]
        verbose_name_plural = "diagnoses"
        constraints = [
            models.CheckConstraint(condition=Q(clearance_by__len__gte=1), name="diagnosis_clearance_by_nonempty"),
        ]

    def __str__(self) -> str:
        return f"{self.code} {self.name}"


class ClearanceAuthorityRule(CatalogRow):
    """Narrows who may clear a diagnosis while a condition holds (issue 12, DESIGN §4).

    On a date D, a patient's diagnosis active on D may be cleared by the professions of its ``clearance_by``
    that every applicable rule also names: the strictest wins. A rule applies while D is within its window of
    days since the diagnosis's onset (inclusive; an unrecorded onset is inside, the risky case) and, if it
    names ``with_diagnosis``, while the patient has a diagnosis of that code on record, active or not (a healed
    fracture is still history that matters). Global rows only, seeded by data migrations.
    """

    diagnosis = models.ForeignKey(Diagnosis, on_delete=models.PROTECT, related_name="authority_rules")
    professions = ArrayField(
        models.CharField(max_length=30, choices=Profession.choices),
        help_text="While the rule applies, only these professions may clear the diagnosis.",
    )
    from_day = models.PositiveIntegerField(null=True, blank=True, help_text="Days since onset, inclusive.")
    until_day = models.PositiveIntegerField(null=True, blank=True, help_text="Days since onset, inclusive.")
    with_diagnosis = models.ForeignKey(
        Diagnosis,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
        help_text="Applies only while the patient has a diagnosis of this code on record (active or not).",
    )
    rationale = models.TextField()

    class Meta:
        ordering = ["diagnosis__code", "id"]
        constraints = [
            models.CheckConstraint(condition=Q(professions__len__gte=1), name="authority_rule_professions_nonempty"),
            models.CheckConstraint(
                condition=Q(from_day__isnull=False) | Q(until_day__isnull=False) | Q(with_diagnosis__isnull=False),
                name="authority_rule_has_condition",
                violation_error_message="A rule without a window or another diagnosis belongs in clearance_by.",
            ),
            models.CheckConstraint(
                condition=Q(from_day__isnull=True) | Q(until_day__isnull=True) | Q(until_day__gte=models.F("from_day")),
                name="authority_rule_window_ordered",
            ),
            models.CheckConstraint(
                condition=~Q(with_diagnosis=models.F("diagnosis")), name="authority_rule_other_diagnosis"
            ),
            models.CheckConstraint(condition=~Q(rationale=""), name="authority_rule_has_rationale"),
        ]

    def __str__(self) -> str:
        return f"{self.diagnosis.code}: only {', '.join(self.professions)}"


@dataclass(frozen=True)
class DoseBounds:
    hold_seconds: int
    reps: int
    sets: int


DOSE_BOUNDS = {
    "static": DoseBounds(hold_seconds=60, reps=4, sets=3),
    "dynamic": DoseBounds(hold_seconds=30, reps=15, sets=3),
}
"""The most of a stretch a plan, template or progression may give when its catalog row sets no bound of its own,
by kind. Static: ACSM holds of 10–30 s (30–60 s for older adults), 2–4 repetitions to reach about 60 s per stretch;
dynamic: 10–15 slow, controlled repetitions, each held at the end of the range for at most the 30 s of a static
hold. Sets: at most 3."""

DOSE_BOUNDS_SOURCE = (
    "ACSM's Guidelines for Exercise Testing and Prescription: static holds of 10–30 s, 30–60 s for older adults,"
    " 2–4 repetitions per stretch"
)


class StretchQuerySet(models.QuerySet):
    def visible_to(self, clinic: Clinic | None) -> StretchQuerySet:
        """Global rows plus the clinic's own."""
        return self.filter(Q(clinic__isnull=True) | Q(clinic=clinic))


class Stretch(CatalogRow):
    class Kind(models.TextChoices):
        STATIC = "static", "Static (hold)"
        DYNAMIC = "dynamic", "Dynamic (repetitions)"

    class Position(models.TextChoices):
        SUPINE = "supine", "Lying on the back"
        PRONE = "prone", "Lying face down"
        SIDE_LYING = "side_lying", "Lying on the side"
        QUADRUPED = "quadruped", "On hands and knees"
        KNEELING = "kneeling", "Kneeling"
        SEATED = "seated", "Seated"
        STANDING = "standing", "Standing"

    class Region(models.TextChoices):
        LUMBAR = "lumbar", "Lower back"
        THORACIC = "thoracic", "Mid back"
        CERVICAL = "cervical", "Neck"
        HIP = "hip", "Hip and leg"

    clinic = models.ForeignKey(Clinic, on_delete=models.PROTECT, null=True, blank=True, related_name="stretches")
    slug = models.SlugField(max_length=60)
    name = models.CharField(max_length=120)
    steps = ArrayField(models.TextField(), help_text="Patient-facing instructions, one step per entry.")
    body_region = models.CharField(max_length=20, choices=Region.choices)
    position = models.CharField(max_length=20, choices=Position.choices)
    kind = models.CharField(max_length=10, choices=Kind.choices)
    tags = models.ManyToManyField(MovementTag, related_name="stretches", blank=True)
    min_mobility = models.ForeignKey(MobilityLevel, on_delete=models.PROTECT, related_name="+")
    default_hold_seconds = models.PositiveSmallIntegerField(null=True, blank=True)
    default_reps = models.PositiveSmallIntegerField()
    default_sets = models.PositiveSmallIntegerField(default=1)
    # The most a plan, a template or a progression may give of this stretch; blank: the kind's default
    # (``DOSE_BOUNDS``).
    max_hold_seconds = models.PositiveSmallIntegerField(
        null=True, blank=True, validators=[MaxValueValidator(300)], help_text="Longest hold; blank: the default."
    )
    max_reps = models.PositiveSmallIntegerField(
        null=True, blank=True, validators=[MaxValueValidator(100)], help_text="Most repetitions; blank: the default."
    )
    max_sets = models.PositiveSmallIntegerField(
        null=True, blank=True, validators=[MaxValueValidator(20)], help_text="Most sets; blank: the default."
    )

    objects = StretchQuerySet.as_manager()

    class Meta:
        ordering = ["name"]
        verbose_name_plural = "stretches"
        constraints = [
            models.UniqueConstraint(fields=["clinic", "slug"], nulls_distinct=False, name="stretch_slug_per_clinic"),
            models.CheckConstraint(condition=Q(steps__len__gte=1), name="stretch_has_steps"),
            models.CheckConstraint(
                condition=Q(kind="dynamic") | Q(default_hold_seconds__isnull=False),
                name="stretch_static_has_hold",
                violation_error_message="A static stretch needs a default hold.",
            ),
            models.CheckConstraint(
                condition=Q(default_hold_seconds__isnull=True) | Q(default_hold_seconds__gte=1),
                name="stretch_hold_positive",
            ),
            models.CheckConstraint(condition=Q(default_reps__gte=1), name="stretch_reps_positive"),
            models.CheckConstraint(condition=Q(default_sets__gte=1), name="stretch_sets_positive"),
            models.CheckConstraint(
                condition=(Q(max_hold_seconds__isnull=True) | Q(max_hold_seconds__gte=1))
                & (Q(max_reps__isnull=True) | Q(max_reps__gte=1))
                & (Q(max_sets__isnull=True) | Q(max_sets__gte=1)),
                name="stretch_dose_bounds_positive",
            ),
        ]

    def __str__(self) -> str:
        return self.name

    @property
    def is_global(self) -> bool:
        return self.clinic_id is None

    @property
    def dose_bounds(self) -> DoseBounds:
        """The most a plan, template or progression may give of this stretch: its own bounds, else its kind's."""
        default = DOSE_BOUNDS[self.kind]
        return DoseBounds(
            hold_seconds=self.max_hold_seconds or default.hold_seconds,
            reps=self.max_reps or default.reps,
            sets=self.max_sets or default.sets,
        )

    def dose_errors(self, *, hold_seconds: int | None, reps: int | None, sets: int | None) -> dict[str, str]:
        """Field → message for each dose above this stretch's bounds (None is not checked)."""
        bounds = self.dose_bounds
        given = {"hold_seconds": hold_seconds, "reps": reps, "sets": sets}
        words = {"hold_seconds": "a hold of {} s", "reps": "{} repetitions", "sets": "{} sets"}
        return {
            name: f"{self.name} takes at most {words[name].format(getattr(bounds, name))}."
            for name, value in given.items()
            if value is not None and value > getattr(bounds, name)
        }


class Side(models.TextChoices):
    """Which side a stretch is done on (a plan's item, a template's item)."""

    BOTH = "both", "Both sides"
    LEFT = "left", "Left"
    RIGHT = "right", "Right"
    NONE = "none", "Not sided"


class DosedItem(models.Model):
    """A stretch in a list, with its dose and, optionally, its progression rule: a plan's item and a template's.

    The rule: every ``progress_every_weeks`` weeks, counted from the start date of the plan's first version, add
    ``progress_hold_seconds`` of hold, ``progress_reps`` repetitions and ``progress_sets`` sets (each 0 or more, at
    least one more than 0), up to ``progress_max_*`` (blank: the stretch's bound, ``Stretch.dose_bounds``).
    """

    order = models.PositiveSmallIntegerField()
    stretch = models.ForeignKey(Stretch, on_delete=models.PROTECT, related_name="+")
    hold_seconds = models.PositiveSmallIntegerField(null=True, blank=True)
    reps = models.PositiveSmallIntegerField()
    sets = models.PositiveSmallIntegerField(default=1)
    side = models.CharField(max_length=5, choices=Side.choices, default=Side.NONE)
    notes = models.TextField(blank=True)
    progress_every_weeks = models.PositiveSmallIntegerField(
        null=True, blank=True, help_text="Progress the dose every this many weeks; blank: the dose stays."
    )
    progress_hold_seconds = models.PositiveSmallIntegerField(default=0, help_text="Seconds of hold added per step.")
    progress_reps = models.PositiveSmallIntegerField(default=0, help_text="Repetitions added per step.")
    progress_sets = models.PositiveSmallIntegerField(default=0, help_text="Sets added per step.")
    progress_max_hold_seconds = models.PositiveSmallIntegerField(
        null=True, blank=True, help_text="Stop adding hold here; blank: the stretch's bound."
    )
    progress_max_reps = models.PositiveSmallIntegerField(
        null=True, blank=True, help_text="Stop adding repetitions here; blank: the stretch's bound."
    )
    progress_max_sets = models.PositiveSmallIntegerField(
        null=True, blank=True, help_text="Stop adding sets here; blank: the stretch's bound."
    )

    class Meta:
        abstract = True

    @property
    def dosage(self) -> str:
        hold = f"hold {self.hold_seconds} s × " if self.hold_seconds else ""
        sets = f", {self.sets} sets" if self.sets > 1 else ""
        return f"{hold}{self.reps} reps{sets}"

    @property
    def progresses(self) -> bool:
        return self.progress_every_weeks is not None

    @property
    def progression_text(self) -> str:
        """The rule as a person says it: "every 2 weeks: +5 s hold, +1 rep (up to 45 s, 4 reps)"; "" without one."""
        if not self.progresses:
            return ""
        parts, caps = [], []
        for name, unit in (("hold_seconds", "s hold"), ("reps", "rep"), ("sets", "set")):
            step = getattr(self, f"progress_{name}")
            if step:
                plural = "s" if step > 1 and unit != "s hold" else ""
                parts.append(f"+{step} {unit}{plural}")
                cap = getattr(self, f"progress_max_{name}")
                if cap is not None:
                    caps.append(f"{cap} s" if name == "hold_seconds" else f"{cap} {name}")
        weeks = "week" if self.progress_every_weeks == 1 else f"{self.progress_every_weeks} weeks"
        upto = f" (up to {', '.join(caps)})" if caps else ""
        return f"every {weeks}: {', '.join(parts)}{upto}"


def dose_constraints(prefix: str) -> list[models.BaseConstraint]:
    """The hard bounds of a dosed item's dose and rule (``prefix`` keeps each model's constraint names); a stretch's
    own, narrower bounds are checked by the services (``Stretch.dose_errors``)."""
    no_rule = Q(progress_every_weeks__isnull=True) & Q(
        progress_hold_seconds=0,
        progress_reps=0,
        progress_sets=0,
        progress_max_hold_seconds__isnull=True,
        progress_max_reps__isnull=True,
        progress_max_sets__isnull=True,
    )
    rule = (  # "isnull=False" first: a NULL period would make the comparisons NULL, and a NULL check passes
        Q(progress_every_weeks__isnull=False, progress_every_weeks__gte=1, progress_every_weeks__lte=52)
        & (Q(progress_hold_seconds__gte=1) | Q(progress_reps__gte=1) | Q(progress_sets__gte=1))
        & (Q(progress_hold_seconds=0) | Q(hold_seconds__isnull=False))
    )
    return [
        models.CheckConstraint(
            condition=Q(hold_seconds__isnull=True) | Q(hold_seconds__gte=1, hold_seconds__lte=300),
            name=f"{prefix}_hold_positive",
            violation_error_message="A hold must be between 1 and 300 seconds.",
        ),
        models.CheckConstraint(
            condition=Q(reps__gte=1, reps__lte=100),
            name=f"{prefix}_reps_positive",
            violation_error_message="Repetitions must be between 1 and 100.",
        ),
        models.CheckConstraint(
            condition=Q(sets__gte=1, sets__lte=20),
            name=f"{prefix}_sets_positive",
            violation_error_message="Sets must be between 1 and 20.",
        ),
        models.CheckConstraint(
            condition=no_rule | rule,
            name=f"{prefix}_progression_valid",
            violation_error_message="A progression rule runs every 1 to 52 weeks and adds to the hold (of an item"
            " with a hold), the repetitions or the sets.",
        ),
        models.CheckConstraint(
            condition=(
                Q(progress_max_hold_seconds__isnull=True)
                | Q(hold_seconds__isnull=False, progress_max_hold_seconds__gte=F("hold_seconds"))
            )
            & (Q(progress_max_reps__isnull=True) | Q(progress_max_reps__gte=F("reps")))
            & (Q(progress_max_sets__isnull=True) | Q(progress_max_sets__gte=F("sets"))),
            name=f"{prefix}_progression_max_above_dose",
            violation_error_message="A progression's maximum cannot be below the dose it starts from.",
        ),
    ]


class ProtocolTemplateQuerySet(models.QuerySet):
    def visible_to(self, clinic: Clinic | int | None) -> ProtocolTemplateQuerySet:
        """The global templates (read-only to clinics) plus the clinic's own."""
        return self.filter(Q(clinic__isnull=True) | Q(clinic=clinic))


class ProtocolTemplate(CatalogRow):
    """A protocol to start a plan from (issue 17): a named, versioned list of items with suggested days and times,
    for one or more diagnoses and a phase. A template never bypasses anything: the plan made from it is a draft the
    gate evaluates like any other. Global rows (``clinic`` null) ship with Limber, each with its ``source`` and the
    review note; a clinic adds its own. ``version`` goes up by one on every change, and a plan records the version
    it was made from."""

    clinic = models.ForeignKey(Clinic, on_delete=models.PROTECT, null=True, blank=True, related_name="templates")
    slug = models.SlugField(max_length=80)
    name = models.CharField(max_length=200)
    description = models.TextField(blank=True)
    diagnoses = models.ManyToManyField(Diagnosis, related_name="templates", help_text="The diagnoses it targets.")
    phase = models.CharField(
        max_length=20, choices=Phase.choices, blank=True, help_text="The phase it is for; blank: any phase."
    )
    days_of_week = ArrayField(
        models.PositiveSmallIntegerField(), help_text="Suggested ISO weekdays: 1 = Monday … 7 = Sunday."
    )
    times = ArrayField(models.TimeField(), help_text="Suggested local times of day.")
    weeks = models.PositiveSmallIntegerField(
        null=True, blank=True, help_text="How many weeks a plan from it runs; blank: open-ended."
    )
    version = models.PositiveIntegerField(default=1)

    objects = ProtocolTemplateQuerySet.as_manager()

    class Meta:
        ordering = ["name", "id"]
        constraints = [
            models.UniqueConstraint(fields=["clinic", "slug"], nulls_distinct=False, name="template_slug_per_clinic"),
            models.CheckConstraint(
                condition=Q(days_of_week__len__gte=1) & Q(days_of_week__contained_by=[1, 2, 3, 4, 5, 6, 7]),
                name="template_days_of_week_valid",
                violation_error_message="Choose at least one weekday (1 = Monday … 7 = Sunday).",
            ),
            models.CheckConstraint(
                condition=Q(times__len__gte=1),
                name="template_has_times",
                violation_error_message="Give at least one time of day.",
            ),
            models.CheckConstraint(condition=Q(weeks__isnull=True) | Q(weeks__gte=1), name="template_weeks_positive"),
            models.CheckConstraint(condition=Q(version__gte=1), name="template_version_positive"),
        ]

    def __str__(self) -> str:
        return f"{self.name} (v{self.version})"

    @property
    def is_global(self) -> bool:
        return self.clinic_id is None


class ProtocolTemplateItem(DosedItem):
    """One stretch of a template, in order, with its dose and progression rule (as a plan's item)."""

    template = models.ForeignKey(ProtocolTemplate, on_delete=models.CASCADE, related_name="items")

    class Meta:
        ordering = ["order", "id"]
        constraints = [
            models.UniqueConstraint(fields=["template", "order"], name="template_item_order_unique"),
            *dose_constraints("template_item"),
        ]

    def __str__(self) -> str:
        return f"{self.order}. {self.stretch}"


class Instrument(CatalogRow):
    """A standard outcome measure (issue 18): its item ids and answer ranges; scored by ``clinic.scoring`` (keyed by
    ``code``). ``wording`` ships only for instruments free to reproduce (NPRS, PSFS); a ``licensed`` one's wording is
    copyrighted, and each clinic loads its licensed text (``InstrumentWording``). Seeded by migration."""

    code = models.SlugField(max_length=10, unique=True, help_text="nprs, psfs, odi or ndi: its scoring.")
    name = models.CharField(max_length=120)
    abbreviation = models.CharField(max_length=10)
    items = models.JSONField(help_text='[{"id": "pain_intensity", "low": 0, "high": 5}, …] in order.')
    licensed = models.BooleanField(
        default=False, help_text="Its wording is copyrighted: a clinic loads its licensed text before using it."
    )
    wording = models.JSONField(
        default=dict,
        blank=True,
        help_text='Free wording only: {"instructions": "…", "items": {"<id>": {"text": "…", "levels": {"0": "…"}}}}.',
    )
    higher_is_worse = models.BooleanField(default=True)
    meaningful_change = models.CharField(max_length=200, help_text="The meaningful change, in words.")

    class Meta:
        ordering = ["code"]

    def __str__(self) -> str:
        return self.abbreviation

    @property
    def item_ids(self) -> list[str]:
        return [item["id"] for item in self.items]


class InstrumentWording(models.Model):
    """A clinic's licensed wording of a licensed instrument (ODI, NDI): loaded by a clinic admin in the admin or with
    ``manage.py load_instrument_wording``; never shipped with Limber."""

    clinic = models.ForeignKey(Clinic, on_delete=models.PROTECT, related_name="instrument_wordings")
    instrument = models.ForeignKey(Instrument, on_delete=models.PROTECT, related_name="wordings")
    wording = models.JSONField(
        help_text='{"instructions": "…", "items": {"<item id>": {"text": "…", "levels": {"0": "…", …}}}}, every item.'
    )
    licence = models.CharField(max_length=300, help_text="The licence under which the clinic uses this wording.")
    loaded_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    loaded_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["clinic", "instrument"], name="instrument_wording_one_per_clinic"),
            models.CheckConstraint(condition=~Q(licence=""), name="instrument_wording_has_licence"),
        ]

    def __str__(self) -> str:
        return f"{self.instrument} wording of {self.clinic}"


class ContraindicationQuerySet(models.QuerySet):
    def visible_to(self, clinic: Clinic | None) -> ContraindicationQuerySet:
        return self.filter(Q(clinic__isnull=True) | Q(clinic=clinic))


class Contraindication(CatalogRow):
    """Diagnosis × (movement tag or stretch) × optional phase/qualifier/onset window → severity."""

    class Severity(models.TextChoices):
        ABSOLUTE = "absolute", "Absolute (block)"
        RELATIVE = "relative", "Relative (caution)"

    clinic = models.ForeignKey(
        Clinic, on_delete=models.PROTECT, null=True, blank=True, related_name="contraindications"
    )
    diagnosis = models.ForeignKey(Diagnosis, on_delete=models.PROTECT, related_name="contraindications")
    tag = models.ForeignKey(MovementTag, on_delete=models.PROTECT, null=True, blank=True, related_name="+")
    stretch = models.ForeignKey(Stretch, on_delete=models.PROTECT, null=True, blank=True, related_name="+")
    phase = models.CharField(max_length=20, choices=Phase.choices, blank=True)
    qualifier = models.CharField(max_length=30, choices=Qualifier.choices, blank=True)
    from_day = models.PositiveIntegerField(null=True, blank=True, help_text="Days since onset, inclusive.")
    until_day = models.PositiveIntegerField(null=True, blank=True, help_text="Days since onset, inclusive.")
    precaution_window = models.CharField(
        max_length=20,
        choices=PrecautionWindow.choices,
        blank=True,
        help_text="A surgical precaution window: where the patient's clinic sets its last day, that day replaces"
        " until_day.",
    )
    severity = models.CharField(max_length=10, choices=Severity.choices)
    rationale = models.TextField()

    objects = ContraindicationQuerySet.as_manager()

    class Meta:
        ordering = ["diagnosis__code", "id"]
        constraints = [
            models.CheckConstraint(
                condition=(Q(tag__isnull=False) & Q(stretch__isnull=True))
                | (Q(tag__isnull=True) & Q(stretch__isnull=False)),
                name="contraindication_tag_xor_stretch",
                violation_error_message="Name either a movement tag or a stretch, not both.",
            ),
            models.CheckConstraint(
                condition=Q(from_day__isnull=True) | Q(until_day__isnull=True) | Q(until_day__gte=models.F("from_day")),
                name="contraindication_window_ordered",
            ),
            models.CheckConstraint(
                condition=Q(severity__in=["absolute", "relative"]), name="contraindication_severity"
            ),
            models.CheckConstraint(condition=~Q(rationale=""), name="contraindication_has_rationale"),
        ]

    def __str__(self) -> str:
        target = self.tag or self.stretch
        return f"{self.diagnosis.code} × {target}: {self.get_severity_display()}"


# --- The transactional outbox of gate re-checks (DESIGN §10) ----------------------------------------------


class RecheckOutboxRow(models.Model):
    """One open-or-done request to re-run the safety gate for a scope; written in the same transaction as the
    fact change that calls for it (``clinic.outbox.request``), so a broker outage can never lose it.

    One row per scope: every write bumps ``version`` and reopens the row; a drainer reads the version, re-checks,
    and closes the row only while the version is still the one it read — a change that lands during the re-check
    leaves it open for the next run. ``claimed_until`` is a drainer's lease: other drainers skip the row until it
    passes, and a drainer that dies simply lets it lapse.
    """

    version = models.BigIntegerField(default=1)
    done = models.BooleanField(default=False)
    requested_at = models.DateTimeField(help_text="When the row last went from done to open (oldest first).")
    reason = models.CharField(max_length=100, blank=True, help_text="What changed last.")
    claimed_until = models.DateTimeField(null=True, blank=True)

    class Meta:
        abstract = True


class CatalogRecheckRequest(RecheckOutboxRow):
    """A catalog change (contraindication, stretch tags or minimum mobility, diagnosis authority…) that calls
    for re-checking every patient with an active plan in its scope: one clinic, or every clinic for a global
    row (``clinic`` null). The drainer expands it into patient requests."""

    clinic = models.ForeignKey(Clinic, on_delete=models.PROTECT, null=True, blank=True, related_name="+")

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["clinic"], nulls_distinct=False, name="catalog_recheck_one_per_scope")
        ]

    def __str__(self) -> str:
        scope = f"clinic {self.clinic_id}" if self.clinic_id else "every clinic"
        return f"Catalog re-check of {scope} (v{self.version}, {'done' if self.done else 'open'})"
