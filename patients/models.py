"""Patients and the dated clinical facts the safety gate reads (DESIGN §2)."""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

import pghistory
import pgtrigger
from django.conf import settings
from django.contrib.postgres.fields import ArrayField
from django.core.exceptions import ValidationError
from django.db import models
from django.db.models import F, Func, Q, Value
from django.db.models.functions import Cast
from pghistory.models import Events

from clinic.models import (
    Clinic,
    Diagnosis,
    MobilityLevel,
    MovementTag,
    Phase,
    Profession,
    Qualifier,
    RecheckOutboxRow,
    StoredZoneMixin,
    validate_timezone,
)

PROTECT_DELETE = pgtrigger.Protect(name="protect_delete", operation=pgtrigger.Delete)
# Audit trail (DESIGN §7): database triggers snapshot every insert, update and delete, bulk ones included.


def audited(model):
    # Fresh trackers per model: an UpdateEvent binds its change condition to the first model it tracks.
    return pghistory.track(pghistory.InsertEvent(), pghistory.UpdateEvent(), pghistory.DeleteEvent())(model)


class Channel(models.TextChoices):
    EMAIL = "email", "Email"
    SMS = "sms", "SMS"
    NONE = "none", "No reminders"


class PatientQuerySet(models.QuerySet):
    def active(self) -> PatientQuerySet:
        return self.filter(archived_at__isnull=True)

    def of_clinic(self, clinic: Clinic) -> PatientQuerySet:
        return self.filter(clinic=clinic)


@audited
class Patient(StoredZoneMixin, models.Model):
    clinic = models.ForeignKey(Clinic, on_delete=models.PROTECT, related_name="patients")
    mrn = models.CharField("MRN", max_length=32, help_text="Medical record number, unique within the clinic.")
    first_name = models.CharField(max_length=100)
    last_name = models.CharField(max_length=100)
    date_of_birth = models.DateField()
    timezone = models.CharField(max_length=64, validators=[validate_timezone])
    email = models.EmailField(blank=True)
    phone = models.CharField(max_length=32, blank=True)
    email_consent = models.BooleanField(default=False)
    email_consent_at = models.DateTimeField(null=True, blank=True, help_text="When consent was given or withdrawn.")
    sms_consent = models.BooleanField(default=False)
    sms_consent_at = models.DateTimeField(null=True, blank=True, help_text="When consent was given or withdrawn.")
    preferred_channel = models.CharField(max_length=10, choices=Channel.choices, default=Channel.NONE)
    quiet_hours_start = models.TimeField(null=True, blank=True)
    quiet_hours_end = models.TimeField(null=True, blank=True)
    primary_therapist = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="primary_patients",
    )
    archived_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    objects = PatientQuerySet.as_manager()

    class Meta:
        ordering = ["last_name", "first_name", "id"]
        constraints = [
            models.UniqueConstraint(
                fields=["clinic", "mrn"],
                name="patient_mrn_unique_per_clinic",
                violation_error_message="A patient with this MRN already exists in this clinic.",
            ),
            models.CheckConstraint(
                condition=Q(quiet_hours_start__isnull=True, quiet_hours_end__isnull=True)
                | Q(quiet_hours_start__isnull=False, quiet_hours_end__isnull=False),
                name="patient_quiet_hours_both_or_neither",
                violation_error_message="Give both the start and the end of quiet hours, or neither.",
            ),
            models.CheckConstraint(
                condition=Q(email_consent=False) | Q(email_consent_at__isnull=False),
                name="patient_email_consent_timestamped",
            ),
            models.CheckConstraint(
                condition=Q(sms_consent=False) | Q(sms_consent_at__isnull=False),
                name="patient_sms_consent_timestamped",
            ),
        ]
        indexes = [models.Index(fields=["clinic", "last_name"])]
        triggers = [
            PROTECT_DELETE,
            # Every patient has their re-check outbox row from the start, so recording a request is always an
            # UPDATE of an existing row: an INSERT's foreign-key check would take a key-share lock on the patient,
            # which deadlocks with a writer that holds the patient FOR UPDATE and records a request of its own.
            pgtrigger.Trigger(
                name="recheck_row",
                operation=pgtrigger.Insert,
                when=pgtrigger.After,
                func=(
                    "INSERT INTO patients_recheckrequest (patient_id, version, done, requested_at, reason) "
                    "VALUES (NEW.id, 0, true, now(), '') ON CONFLICT DO NOTHING; RETURN NULL;"
                ),
            ),
        ]

    def __str__(self) -> str:
        return f"{self.full_name} ({self.mrn})"

    def clean(self) -> None:
        if (self.quiet_hours_start is None) != (self.quiet_hours_end is None):
            missing = "quiet_hours_end" if self.quiet_hours_end is None else "quiet_hours_start"
            raise ValidationError({missing: "Give both the start and the end of quiet hours, or neither."})

    @property
    def full_name(self) -> str:
        return f"{self.first_name} {self.last_name}"

    @property
    def zone(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)

    @property
    def is_archived(self) -> bool:
        return self.archived_at is not None

    def local_today(self, now: dt.datetime | None = None) -> dt.date:
        from django.utils import timezone

        return (now or timezone.now()).astimezone(self.zone).date()

    def start_of_local_day(self, day: dt.date) -> dt.datetime:
        """The aware instant at which ``day`` begins in the patient's zone."""
        return dt.datetime.combine(day, dt.time.min, tzinfo=self.zone)

    @property
    def current_mobility(self) -> MobilityLevel | None:
        """The level of the latest assessment (by assessed time, then id), or None if never assessed."""
        latest = self.mobility_assessments.select_related("level").order_by("-assessed_at", "-id").first()
        return latest.level if latest else None

    def consented_to(self, channel: str) -> bool:
        if channel == Channel.EMAIL:
            return self.email_consent and bool(self.email)
        if channel == Channel.SMS:
            return self.sms_consent and bool(self.phone)
        return False


@audited
class PortalAccess(models.Model):
    """Grants a portal user access to a patient: themselves, or as guardian/caregiver."""

    class Relationship(models.TextChoices):
        SELF = "self", "Self"
        GUARDIAN = "guardian", "Guardian"
        CAREGIVER = "caregiver", "Caregiver"

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="portal_accesses")
    patient = models.ForeignKey(Patient, on_delete=models.PROTECT, related_name="portal_access")
    relationship = models.CharField(max_length=12, choices=Relationship.choices, default=Relationship.SELF)
    created_at = models.DateTimeField(auto_now_add=True)
    # Revoked, never deleted (a guardian's access when the child turns 18): kept for the record, it grants nothing.
    revoked_at = models.DateTimeField(null=True, blank=True)
    revoked_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    revoke_reason = models.TextField(blank=True)

    class Meta:
        # What the front desk calls them (the admin index said "Portal accesss").
        verbose_name = "portal login"
        verbose_name_plural = "portal logins"
        # Only live grants are unique: a revoked one stays on record beside a later grant to the same login.
        constraints = [
            models.UniqueConstraint(
                fields=["user", "patient"], condition=Q(revoked_at__isnull=True), name="portal_access_unique"
            ),
            models.UniqueConstraint(
                fields=["patient"],
                condition=Q(relationship="self", revoked_at__isnull=True),
                name="portal_access_one_self_per_patient",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.user} → {self.patient} ({self.get_relationship_display()})"

    @property
    def is_revoked(self) -> bool:
        return self.revoked_at is not None


@audited
class Episode(models.Model):
    patient = models.ForeignKey(Patient, on_delete=models.PROTECT, related_name="episodes")
    title = models.CharField(max_length=200)
    opened_on = models.DateField()
    discharged_on = models.DateField(null=True, blank=True)
    primary_therapist = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="episodes"
    )
    instruments = ArrayField(
        models.CharField(max_length=10),
        default=list,
        blank=True,
        help_text="The outcome measures it uses (instrument codes); empty: the default for its diagnoses' regions.",
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-opened_on", "-id"]
        constraints = [
            models.CheckConstraint(
                condition=Q(discharged_on__isnull=True) | Q(discharged_on__gte=models.F("opened_on")),
                name="episode_discharge_after_open",
                violation_error_message="Discharge cannot be before the episode opened.",
            ),
        ]
        triggers = [PROTECT_DELETE]

    def __str__(self) -> str:
        return f"{self.title} ({self.opened_on:%Y-%m-%d})"

    def clean(self) -> None:
        if self.discharged_on and self.opened_on and self.discharged_on < self.opened_on:
            raise ValidationError({"discharged_on": "Discharge cannot be before the episode opened."})

    @property
    def is_open(self) -> bool:
        return self.discharged_on is None


@audited
class PatientDiagnosis(models.Model):
    patient = models.ForeignKey(Patient, on_delete=models.PROTECT, related_name="diagnoses")
    episode = models.ForeignKey(Episode, on_delete=models.PROTECT, null=True, blank=True, related_name="diagnoses")
    diagnosis = models.ForeignKey(Diagnosis, on_delete=models.PROTECT, related_name="+")
    phase = models.CharField(max_length=20, choices=Phase.choices, blank=True)
    qualifier = models.CharField(max_length=30, choices=Qualifier.choices, blank=True)
    onset_date = models.DateField(null=True, blank=True)
    resolved_date = models.DateField(null=True, blank=True)
    recorded_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-onset_date", "-id"]
        verbose_name_plural = "patient diagnoses"
        constraints = [
            models.CheckConstraint(
                condition=Q(resolved_date__isnull=True)
                | Q(onset_date__isnull=True)
                | Q(resolved_date__gte=models.F("onset_date")),
                name="diagnosis_resolved_after_onset",
                violation_error_message="A diagnosis cannot resolve before its onset.",
            ),
        ]
        triggers = [PROTECT_DELETE]

    def __str__(self) -> str:
        return f"{self.diagnosis} — {self.patient.full_name}"

    def clean(self) -> None:
        if self.resolved_date and self.onset_date and self.resolved_date < self.onset_date:
            raise ValidationError({"resolved_date": "A diagnosis cannot resolve before its onset."})

    def is_active_on(self, day: dt.date) -> bool:
        started = self.onset_date is None or self.onset_date <= day
        return started and (self.resolved_date is None or day < self.resolved_date)


@audited
class MobilityAssessment(models.Model):
    patient = models.ForeignKey(Patient, on_delete=models.PROTECT, related_name="mobility_assessments")
    level = models.ForeignKey(MobilityLevel, on_delete=models.PROTECT, related_name="+")
    assessed_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    assessed_at = models.DateTimeField()
    notes = models.TextField(blank=True)

    class Meta:
        ordering = ["-assessed_at", "-id"]
        get_latest_by = ["assessed_at", "id"]
        triggers = [PROTECT_DELETE]

    def __str__(self) -> str:
        return f"Mobility {self.level.level} on {self.assessed_at:%Y-%m-%d}"


def local_date(zone, instant) -> Cast:
    """The date of ``instant`` in the IANA ``zone`` (both expressions), as PostgreSQL's ``timezone(zone, t)``."""
    return Cast(Func(zone, instant, function="timezone", output_field=models.DateTimeField()), models.DateField())


class ClearanceQuerySet(models.QuerySet):
    """The SQL twin of ``patients.clearance.effective_clearance`` (the one rule of which clearance is in force on
    a date; a property test proves them equal): ``on_day`` names the day and the patient's zone, then
    ``covering`` / ``in_force`` read the rule."""

    def on_day(self, *, day, zone) -> ClearanceQuerySet:
        """Alias ``today`` (the date D, an expression) and ``revoked_on`` (the revocation's local date in ``zone``)."""
        return self.alias(today=day, revoked_on=local_date(zone, F("revoked_at")))

    def covering(self) -> ClearanceQuerySet:
        """Validity covers D (both ends inclusive), revoked or not; needs ``on_day``."""
        return self.filter(valid_from__lte=F("today"), valid_until__gte=F("today"))

    def not_revoked_by_day(self) -> ClearanceQuerySet:
        """Not revoked on or before D (a local date); needs ``on_day``."""
        return self.filter(Q(revoked_at__isnull=True) | Q(revoked_on__gt=F("today")))

    def in_force(self) -> ClearanceQuerySet:
        """The clearances in force on D, the one in force first (recorded last: ``-recorded_at, -id``)."""
        return self.covering().not_revoked_by_day().order_by("-recorded_at", "-id")

    def effective_on(self, patient: Patient, day: dt.date) -> Clearance | None:
        """The clearance in force on ``day`` for ``patient`` (its restrictions prefetched), or None."""
        return (
            self.filter(patient=patient)
            .on_day(day=Value(day, output_field=models.DateField()), zone=Value(patient.timezone))
            .in_force()
            .prefetch_related("restricted_tags")
            .first()
        )


@audited
class Clearance(models.Model):
    class Status(models.TextChoices):
        CLEARED = "cleared", "Cleared"
        RESTRICTED = "restricted", "Cleared with restrictions"

    patient = models.ForeignKey(Patient, on_delete=models.PROTECT, related_name="clearances")
    professional_name = models.CharField(max_length=200)
    profession = models.CharField(max_length=30, choices=Profession.choices)
    status = models.CharField(max_length=12, choices=Status.choices)
    restricted_tags = models.ManyToManyField(MovementTag, blank=True, related_name="+", through="ClearanceRestriction")
    valid_from = models.DateField()
    valid_until = models.DateField()
    document_reference = models.CharField(max_length=200, blank=True, help_text="Letter or scan reference.")
    notes = models.TextField(blank=True)
    recorded_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    recorded_at = models.DateTimeField()
    revoked_at = models.DateTimeField(null=True, blank=True)
    revoked_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    revoke_reason = models.TextField(blank=True)

    objects = ClearanceQuerySet.as_manager()

    class Meta:
        ordering = ["-recorded_at", "-id"]
        constraints = [
            models.CheckConstraint(
                condition=Q(valid_until__gte=models.F("valid_from")),
                name="clearance_valid_until_after_from",
                violation_error_message="A clearance cannot end before it starts.",
            ),
            models.CheckConstraint(
                condition=Q(revoked_at__isnull=True) | (Q(revoked_by__isnull=False) & ~Q(revoke_reason="")),
                name="clearance_revocation_complete",
                violation_error_message="A revocation needs who revoked it and why.",
            ),
            models.CheckConstraint(condition=Q(status__in=["cleared", "restricted"]), name="clearance_status_valid"),
        ]
        triggers = [PROTECT_DELETE]

    def __str__(self) -> str:
        return f"{self.get_status_display()} by {self.professional_name} ({self.valid_from} – {self.valid_until})"

    def clean(self) -> None:
        if self.valid_from and self.valid_until and self.valid_until < self.valid_from:
            raise ValidationError({"valid_until": "A clearance cannot end before it starts."})

    @property
    def is_revoked(self) -> bool:
        return self.revoked_at is not None


@audited
class ClearanceRestriction(models.Model):
    """A movement the clearing professional ruled out; part of the clearance record, never deleted."""

    clearance = models.ForeignKey(Clearance, on_delete=models.PROTECT, related_name="restrictions")
    tag = models.ForeignKey(MovementTag, on_delete=models.PROTECT, related_name="+")

    class Meta:
        constraints = [models.UniqueConstraint(fields=["clearance", "tag"], name="clearance_restriction_unique")]
        triggers = [PROTECT_DELETE]

    def __str__(self) -> str:
        return f"{self.tag} restricted by clearance #{self.clearance_id}"


class AccessLog(models.Model):
    """One read of a patient's data (DESIGN §7). Append-only: a trigger refuses UPDATE and DELETE."""

    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )  # null for the system
    patient = models.ForeignKey(Patient, on_delete=models.PROTECT, related_name="access_logs")
    what = models.CharField(max_length=64)
    at = models.DateTimeField(db_default=models.functions.Now())

    class Meta:
        ordering = ["-at", "-id"]
        indexes = [models.Index(fields=["patient", "-at"])]
        triggers = [
            pgtrigger.Protect(name="append_only", operation=pgtrigger.Update | pgtrigger.Delete),
        ]

    def __str__(self) -> str:
        return f"{self.what} of patient {self.patient_id} by {self.actor_id or 'system'} at {self.at:%Y-%m-%d %H:%M}"


class ChangeTrailEntry(Events):
    """The change trail (django-pghistory's events) under the clinic's name in the admin: "Patients › Change trail"
    beside the access log, not "Pghistory › Events" (issue 15, item 4). A proxy: no table, no behaviour of its own;
    its admin permission (``patients.view_changetrailentry``) is what a clinic admin's group holds."""

    class Meta:
        proxy = True
        verbose_name = "change trail entry"
        verbose_name_plural = "change trail"


class RecheckRequest(RecheckOutboxRow):
    """A change of one of the patient's gate facts (clearance, diagnosis, mobility, zone) that calls for
    re-checking their active plans; see ``clinic.models.RecheckOutboxRow``."""

    # CASCADE: the row is bookkeeping, not a clinical record; a patient is never deleted anyway (its trigger says so).
    patient = models.OneToOneField(Patient, on_delete=models.CASCADE, primary_key=True, related_name="+")

    class Meta:
        indexes = [
            models.Index(fields=["requested_at", "patient"], condition=Q(done=False), name="recheck_request_open")
        ]

    def __str__(self) -> str:
        return f"Re-check of patient {self.patient_id} (v{self.version}, {'done' if self.done else 'open'})"
