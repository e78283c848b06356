"""Prescriptions, the gate's records, sessions, logs, reminders and safety flags (DESIGN §2–3)."""

from __future__ import annotations

import calendar
import datetime as dt

import pghistory
import pgtrigger
from django.conf import settings
from django.contrib.postgres.fields import ArrayField
from django.core.exceptions import ValidationError
from django.db import models
from django.db.models import Q

from clinic.models import CatalogRow, DosedItem, Instrument, ProtocolTemplate, Side, Stretch, dose_constraints
from patients.models import Channel, Episode, Patient

PROTECT_DELETE = pgtrigger.Protect(name="protect_delete", operation=pgtrigger.Delete)
# Audit trail (DESIGN §7): database triggers snapshot every insert, update and delete, bulk ones included.


def audited(model):
    # Fresh trackers per model: an UpdateEvent binds its change condition to the first model it tracks.
    return pghistory.track(pghistory.InsertEvent(), pghistory.UpdateEvent(), pghistory.DeleteEvent())(model)


class PrescriptionQuerySet(models.QuerySet):
    def active(self) -> PrescriptionQuerySet:
        return self.filter(status=Prescription.Status.ACTIVE)

    def live(self) -> PrescriptionQuerySet:
        """Plans that still schedule or may again: active or paused."""
        return self.filter(status__in=[Prescription.Status.ACTIVE, Prescription.Status.PAUSED])


@audited
class Prescription(models.Model):
    class Status(models.TextChoices):
        DRAFT = "draft", "Draft"
        ACTIVE = "active", "Active"
        PAUSED = "paused", "Paused"
        COMPLETED = "completed", "Completed"
        CANCELLED = "cancelled", "Cancelled"

    episode = models.ForeignKey(Episode, on_delete=models.PROTECT, related_name="prescriptions")
    patient = models.ForeignKey(Patient, on_delete=models.PROTECT, related_name="prescriptions")
    therapist = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="prescriptions")
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.DRAFT)
    start_date = models.DateField()
    end_date = models.DateField(null=True, blank=True)
    days_of_week = ArrayField(models.PositiveSmallIntegerField(), help_text="ISO weekdays: 1 = Monday … 7 = Sunday.")
    times = ArrayField(models.TimeField(), help_text="Local times of day in the patient's zone.")
    notes = models.TextField(blank=True)
    supersedes = models.ForeignKey("self", on_delete=models.PROTECT, null=True, blank=True, related_name="amendments")
    template = models.ForeignKey(
        ProtocolTemplate, on_delete=models.PROTECT, null=True, blank=True, related_name="+", help_text="Made from it."
    )
    template_version = models.PositiveIntegerField(null=True, blank=True, help_text="The template's version then.")
    # A plan's versions: the first has version 1 and no ``first_version``; each amendment (a therapist's or a
    # progression step's) has the version after the one it supersedes and names the first.
    version = models.PositiveIntegerField(default=1)
    first_version = models.ForeignKey(
        "self", on_delete=models.PROTECT, null=True, blank=True, related_name="later_versions"
    )
    materialized_through = models.DateField(null=True, blank=True)
    activated_at = models.DateTimeField(null=True, blank=True)
    ended_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    objects = PrescriptionQuerySet.as_manager()

    class Meta:
        ordering = ["-created_at", "-id"]
        constraints = [
            models.UniqueConstraint(
                fields=["supersedes"],
                condition=~Q(status="cancelled"),
                name="prescription_one_live_amendment",
                violation_error_message="This plan already has an amendment in progress.",
            ),
            models.CheckConstraint(
                condition=Q(end_date__isnull=True) | Q(end_date__gte=models.F("start_date")),
                name="prescription_end_after_start",
                violation_error_message="The end date cannot be before the start date.",
            ),
            models.CheckConstraint(
                condition=Q(days_of_week__len__gte=1) & Q(days_of_week__contained_by=[1, 2, 3, 4, 5, 6, 7]),
                name="prescription_days_of_week_valid",
                violation_error_message="Choose at least one weekday (1 = Monday … 7 = Sunday).",
            ),
            models.CheckConstraint(
                condition=Q(times__len__gte=1),
                name="prescription_has_times",
                violation_error_message="Give at least one time of day.",
            ),
            models.CheckConstraint(
                condition=Q(status__in=["draft", "active", "paused", "completed", "cancelled"]),
                name="prescription_status_valid",
            ),
            models.CheckConstraint(
                condition=(Q(version=1) & Q(first_version__isnull=True) & Q(supersedes__isnull=True))
                | (Q(version__gte=2) & Q(first_version__isnull=False) & Q(supersedes__isnull=False)),
                name="prescription_version_lineage",
                violation_error_message="A first version supersedes nothing; a later one names its first version.",
            ),
        ]
        indexes = [models.Index(fields=["patient", "status"])]
        triggers = [PROTECT_DELETE]

    def __str__(self) -> str:
        return f"Plan #{self.pk} for {self.patient.full_name} ({self.get_status_display()})"

    def clean(self) -> None:
        # Field-named errors for what the constraints also hold (full_clean then skips those constraints).
        errors = {}
        if not self.days_of_week or any(day not in range(1, 8) for day in self.days_of_week):
            errors["days_of_week"] = "Choose at least one weekday (1 = Monday … 7 = Sunday)."
        if not self.times:
            errors["times"] = "Give at least one time of day."
        if self.end_date and self.start_date and self.end_date < self.start_date:
            errors["end_date"] = "The end date cannot be before the start date."
        if errors:
            raise ValidationError(errors)

    @property
    def is_draft(self) -> bool:
        return self.status == self.Status.DRAFT

    @property
    def schedule_text(self) -> str:
        """The days and times as a person says them: "Mon, Wed, Fri at 08:00 and 18:00" (local times)."""
        weekdays = sorted(set(self.days_of_week))
        days = "Every day" if len(weekdays) == 7 else ", ".join(calendar.day_abbr[day - 1] for day in weekdays)
        times = [f"{at:%H:%M}" for at in sorted(self.times)]
        at = times[0] if len(times) == 1 else f"{', '.join(times[:-1])} and {times[-1]}"
        return f"{days} at {at}"

    @property
    def lineage_id(self) -> int:
        """The plan's first version's id: the same for every version of one plan."""
        return self.first_version_id or self.pk

    def runs_on(self, day: dt.date) -> bool:
        within = self.start_date <= day and (self.end_date is None or day <= self.end_date)
        return within and day.isoweekday() in self.days_of_week


@audited
class PrescriptionItem(DosedItem):
    Side = Side  # one list of sides for plans and templates (clinic.models.Side)

    prescription = models.ForeignKey(Prescription, on_delete=models.CASCADE, related_name="items")

    class Meta:
        ordering = ["order", "id"]
        constraints = [
            models.UniqueConstraint(fields=["prescription", "order"], name="item_order_unique"),
            *dose_constraints("item"),
        ]

    def __str__(self) -> str:
        return f"{self.stretch.name}: {self.dosage}"


class GateEvaluation(models.Model):
    class Purpose(models.TextChoices):
        ACTIVATION = "activation", "Activation"
        RESUME = "resume", "Resume"
        RECHECK = "recheck", "Re-check after a change"
        SWEEP = "sweep", "Nightly sweep"
        PROGRESSION = "progression", "Dose progression step"

    prescription = models.ForeignKey(Prescription, on_delete=models.PROTECT, related_name="evaluations")
    purpose = models.CharField(max_length=12, choices=Purpose.choices)
    evaluated_at = models.DateTimeField()
    evaluated_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    on_date = models.DateField()
    through_date = models.DateField()
    passed = models.BooleanField()
    facts = models.JSONField()
    findings = models.JSONField(help_text="Every finding, each marked covered or not by an override.")
    catalog_version = models.CharField(max_length=64)

    class Meta:
        ordering = ["-evaluated_at", "-id"]
        triggers = [PROTECT_DELETE]

    def __str__(self) -> str:
        outcome = "passed" if self.passed else "refused"
        when = f"{self.evaluated_at:%Y-%m-%d %H:%M}"
        return f"{self.get_purpose_display()} of plan #{self.prescription_id} {outcome} at {when}"


@audited
class GateOverride(models.Model):
    """A therapist's override of a blocking finding, or acknowledgement of a warning, for one exact cause."""

    class Kind(models.TextChoices):
        OVERRIDE = "override", "Override"
        ACKNOWLEDGEMENT = "acknowledgement", "Acknowledgement"

    prescription = models.ForeignKey(Prescription, on_delete=models.PROTECT, related_name="overrides")
    item = models.ForeignKey(PrescriptionItem, on_delete=models.PROTECT, related_name="overrides")
    kind = models.CharField(max_length=16, choices=Kind.choices)
    code = models.CharField(max_length=40)
    cause = models.CharField(max_length=120)
    reason = models.TextField()
    by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    at = models.DateTimeField()
    carried_from = models.ForeignKey(
        "self",
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
        help_text="Carried over by a progression step from this override of the version before (its author and"
        " reason are kept).",
    )

    class Meta:
        ordering = ["prescription_id", "item_id", "code"]
        constraints = [
            models.UniqueConstraint(fields=["item", "code", "cause"], name="override_unique_per_cause"),
            models.CheckConstraint(condition=~Q(reason=""), name="override_has_reason"),
        ]
        triggers = [PROTECT_DELETE]

    def __str__(self) -> str:
        return f"{self.get_kind_display()} of {self.code} ({self.cause}) on item #{self.item_id}"

    @property
    def key(self) -> tuple[int, str, str]:
        return (self.item_id, self.code, self.cause)


@audited
class Session(models.Model):
    class Status(models.TextChoices):
        SCHEDULED = "scheduled", "Scheduled"
        COMPLETED = "completed", "Completed"
        SKIPPED = "skipped", "Skipped"
        MISSED = "missed", "Missed"
        BLOCKED = "blocked", "Blocked"
        CANCELLED = "cancelled", "Cancelled"

    prescription = models.ForeignKey(Prescription, on_delete=models.PROTECT, related_name="sessions")
    local_date = models.DateField()
    local_time = models.TimeField()
    scheduled_at = models.DateTimeField(help_text="UTC instant of the local date and time in the patient's zone.")
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.SCHEDULED)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["scheduled_at", "id"]
        constraints = [
            models.UniqueConstraint(
                fields=["prescription", "local_date", "local_time"], name="session_unique_per_slot"
            ),
            models.CheckConstraint(
                condition=Q(status__in=["scheduled", "completed", "skipped", "missed", "blocked", "cancelled"]),
                name="session_status_valid",
            ),
        ]
        indexes = [
            models.Index(fields=["status", "scheduled_at"]),
            models.Index(fields=["prescription", "local_date"]),
        ]
        triggers = [PROTECT_DELETE]

    def __str__(self) -> str:
        return f"Session {self.local_date} {self.local_time:%H:%M} ({self.get_status_display()})"


@audited
class SessionLog(models.Model):
    session = models.OneToOneField(Session, on_delete=models.PROTECT, related_name="log")
    logged_at = models.DateTimeField()
    logged_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    pain_before = models.PositiveSmallIntegerField(help_text="NPRS 0–10.")
    pain_after = models.PositiveSmallIntegerField(help_text="NPRS 0–10.")
    difficulty = models.PositiveSmallIntegerField(null=True, blank=True, help_text="1 (easy) – 5 (very hard).")
    item_completion = models.JSONField(default=dict, blank=True, help_text="{item id: completed?}")
    hurt_items = ArrayField(
        models.PositiveIntegerField(), default=list, blank=True, help_text="Ids of the plan items that hurt."
    )
    red_flag_questions = models.JSONField(
        default=list,
        blank=True,
        help_text="The red-flag questions asked, in order and as worded then: [{slug, text, severity}].",
    )
    red_flag_answers = models.JSONField(
        default=dict, blank=True, help_text="{question slug: yes?} for exactly the questions asked."
    )
    note = models.TextField(blank=True)

    class Meta:
        ordering = ["-logged_at", "-id"]
        constraints = [
            models.CheckConstraint(
                condition=Q(pain_before__gte=0, pain_before__lte=10),
                name="log_pain_before_0_10",
                violation_error_message="Pain is rated 0–10.",
            ),
            models.CheckConstraint(
                condition=Q(pain_after__gte=0, pain_after__lte=10),
                name="log_pain_after_0_10",
                violation_error_message="Pain is rated 0–10.",
            ),
            models.CheckConstraint(
                condition=Q(difficulty__isnull=True) | Q(difficulty__gte=1, difficulty__lte=5),
                name="log_difficulty_1_5",
                violation_error_message="Difficulty is rated 1–5.",
            ),
        ]
        triggers = [PROTECT_DELETE]

    def __str__(self) -> str:
        return f"Log of {self.session}: pain {self.pain_before}→{self.pain_after}"

    @property
    def red_flags_reported(self) -> list[str]:
        """The slugs of the red-flag questions answered yes."""
        return [slug for slug, yes in self.red_flag_answers.items() if yes]


class RedFlagQuestion(CatalogRow):
    """A yes/no question the patient answers when logging a session (DESIGN §5, issue #12 part 3).

    Who is asked is data: a question naming no plan region and no diagnosis is asked of everyone; otherwise of
    a session whose plan has a stretch in one of ``plan_regions``, or whose patient has, on the session's date,
    an active diagnosis one of ``diagnoses`` covers (``prescriptions.gate.pain.red_flag_questions``; the admin
    form checks ``diagnoses`` reads as its conditions). A yes raises a
    ``red_flag_symptom`` flag of ``severity`` (``urgent`` holds the plan) and tells the patient ``advice``.
    Seeded with sources by migration 0005; edited by superusers in the admin; retired with ``active``.
    """

    class Severity(models.TextChoices):
        URGENT = "urgent", "Urgent: seek care now, the plan is held"
        WARNING = "warning", "Warning: stop that stretch, the clinic reviews it"

    slug = models.SlugField(max_length=60, unique=True)
    text = models.CharField(
        max_length=400, help_text='Asked of the patient in plain words, answered yes or no ("Since your last …?").'
    )
    symptom = models.CharField(max_length=200, help_text="What a yes reports, in the clinic's flag.")
    plan_regions = ArrayField(
        models.CharField(max_length=20, choices=Stretch.Region.choices),
        default=list,
        blank=True,
        help_text="Asked when the plan has a stretch of one of these body regions.",
    )
    diagnoses = models.JSONField(
        default=list,
        blank=True,
        help_text='Asked with these diagnoses, e.g. [{"code": "Z96.64", "until_day": 90}]: an ICD-10-CM code or '
        "category (subcodes match) and optionally the last day since onset (inclusive).",
    )
    severity = models.CharField(max_length=10, choices=Severity.choices)
    advice = models.TextField(help_text="What the patient is told on a yes.")
    order = models.PositiveSmallIntegerField(help_text="Questions are asked in this order.")
    active = models.BooleanField(default=True)

    class Meta:
        ordering = ["order", "slug"]
        constraints = [
            models.CheckConstraint(condition=Q(severity__in=["urgent", "warning"]), name="red_flag_severity_valid"),
            models.CheckConstraint(
                condition=~Q(text="") & ~Q(symptom="") & ~Q(advice="") & ~Q(source=""),
                name="red_flag_question_complete",
                violation_error_message="A question needs its text, symptom, advice and source.",
            ),
        ]

    def __str__(self) -> str:
        return self.slug


@audited
class Reminder(models.Model):
    """A message to the patient, sent by the dispatcher (``prescriptions.services.reminders``). It belongs to exactly
    one owner: a session (``session`` before it, ``missed_follow_up`` after it) or a due outcome measure
    (``measure_due``, issue 18); one reminder per owner and purpose."""

    class Purpose(models.TextChoices):
        SESSION = "session", "Before the session"
        MISSED_FOLLOW_UP = "missed_follow_up", "Missed-session follow-up"
        MEASURE_DUE = "measure_due", "Questionnaire due"

    class Status(models.TextChoices):
        PENDING = "pending", "Pending"
        SENDING = "sending", "Sending"
        SENT = "sent", "Sent"
        FAILED = "failed", "Failed"
        CANCELLED = "cancelled", "Cancelled"

    SESSION_PURPOSES = (Purpose.SESSION, Purpose.MISSED_FOLLOW_UP)
    PATIENT_PATHS = ("session__prescription__patient", "measure_due__patient")
    """The lookups from a reminder to its patient, one per kind of owner."""

    session = models.ForeignKey(Session, on_delete=models.PROTECT, null=True, blank=True, related_name="reminders")
    measure_due = models.ForeignKey(
        "MeasureDue", on_delete=models.PROTECT, null=True, blank=True, related_name="reminders"
    )
    purpose = models.CharField(max_length=20, choices=Purpose.choices)
    channel = models.CharField(max_length=10, choices=Channel.choices)
    send_at = models.DateTimeField()
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.PENDING)
    attempts = models.PositiveSmallIntegerField(default=0)
    next_attempt_at = models.DateTimeField(null=True, blank=True)
    claimed_at = models.DateTimeField(null=True, blank=True)
    idempotency_key = models.CharField(max_length=64, unique=True)
    last_error = models.TextField(blank=True)
    sent_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["send_at", "id"]
        constraints = [
            models.CheckConstraint(
                condition=(
                    Q(session__isnull=False, measure_due__isnull=True, purpose__in=["session", "missed_follow_up"])
                    | Q(session__isnull=True, measure_due__isnull=False, purpose="measure_due")
                ),
                name="reminder_session_or_measure",
                violation_error_message=(
                    "A reminder belongs to a session (before it, or a missed-session follow-up) or to a due "
                    "questionnaire, never both or neither."
                ),
            ),
            models.UniqueConstraint(
                fields=["session", "purpose"],
                condition=Q(session__isnull=False),
                name="reminder_one_per_session_purpose",
            ),
            models.UniqueConstraint(
                fields=["measure_due", "purpose"],
                condition=Q(measure_due__isnull=False),
                name="reminder_one_per_measure_purpose",
            ),
            models.CheckConstraint(
                condition=Q(status__in=["pending", "sending", "sent", "failed", "cancelled"]),
                name="reminder_status_valid",
            ),
            models.CheckConstraint(
                condition=~Q(status="sent") | Q(sent_at__isnull=False), name="reminder_sent_has_time"
            ),
        ]
        indexes = [models.Index(fields=["status", "send_at"])]
        triggers = [PROTECT_DELETE]

    def __str__(self) -> str:
        owner = self.session if self.session_id is not None else self.measure_due
        return f"{self.get_purpose_display()} reminder for {owner} ({self.get_status_display()})"

    @property
    def patient(self) -> Patient:
        """The patient it goes to, through its session's plan or its due measure (select the path you use)."""
        if self.session_id is not None:
            return self.session.prescription.patient
        return self.measure_due.patient

    @property
    def patient_pk(self) -> int:
        return self.session.prescription.patient_id if self.session_id is not None else self.measure_due.patient_id

    @classmethod
    def of_patients(cls, lookup: str, value) -> Q:
        """Reminders whose patient matches ``<lookup>=value`` (a lookup from Patient, e.g. ``"clinic_id"`` or
        ``"archived_at__isnull"``), through either kind of owner. Each path is taken only for its own owner, so a
        lookup that is true on a missing row (``__isnull``) does not match through the other owner's empty join."""
        session_path, measure_path = cls.PATIENT_PATHS
        return Q(session__isnull=False, **{f"{session_path}__{lookup}": value}) | Q(
            measure_due__isnull=False, **{f"{measure_path}__{lookup}": value}
        )

    @classmethod
    def patient_field(cls, name: str):
        """The patient's field ``name`` (e.g. ``"id"``, ``"timezone"``) through either kind of owner: an expression
        for ``values``/``annotate``."""
        from django.db.models.functions import Coalesce

        return Coalesce(*(models.F(f"{path}__{name}") for path in cls.PATIENT_PATHS))


@audited
class SafetyFlag(models.Model):
    class Kind(models.TextChoices):
        CLEARANCE_CONFLICT = "clearance_conflict", "Clearance conflict"
        CONTRAINDICATION = "contraindication", "Contraindication"
        MOBILITY = "mobility", "Mobility"
        CLEARANCE_EXPIRING = "clearance_expiring", "Clearance expiring"
        PAIN_ESCALATION = "pain_escalation", "Pain escalation"
        RED_FLAG_SYMPTOM = "red_flag_symptom", "Red-flag symptom"
        PROGRESSION_HELD = "progression_held", "Progression step held"
        OUTCOME_WORSENING = "outcome_worsening", "Outcome measure worsened"

    class Severity(models.TextChoices):
        INFO = "info", "Info"
        WARNING = "warning", "Warning"
        URGENT = "urgent", "Urgent"

    class Status(models.TextChoices):
        OPEN = "open", "Open"
        ACKNOWLEDGED = "acknowledged", "Acknowledged"
        RESOLVED = "resolved", "Resolved"

    patient = models.ForeignKey(Patient, on_delete=models.PROTECT, related_name="safety_flags")
    prescription = models.ForeignKey(
        Prescription, on_delete=models.PROTECT, null=True, blank=True, related_name="safety_flags"
    )
    kind = models.CharField(max_length=24, choices=Kind.choices)
    cause_key = models.CharField(max_length=120, help_text="What raised it, e.g. prescription:12 or log:77.")
    severity = models.CharField(max_length=10, choices=Severity.choices)
    status = models.CharField(max_length=14, choices=Status.choices, default=Status.OPEN)
    summary = models.CharField(max_length=300)
    details = models.JSONField(default=dict, blank=True)
    sessions = models.ManyToManyField(Session, blank=True, related_name="flags")
    detected_at = models.DateTimeField()
    updated_at = models.DateTimeField(
        auto_now=True,
        help_text="Last raised again, escalated, acknowledged or resolved (the FHIR export's change time).",
    )
    acknowledged_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    acknowledged_at = models.DateTimeField(null=True, blank=True)
    resolved_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    resolved_at = models.DateTimeField(null=True, blank=True)
    resolution = models.TextField(blank=True)

    class Meta:
        ordering = ["-detected_at", "-id"]
        constraints = [
            models.UniqueConstraint(
                fields=["patient", "kind", "cause_key"],
                condition=~Q(status="resolved"),
                name="flag_one_unresolved_per_cause",
            ),
            models.UniqueConstraint(
                fields=["cause_key"],
                condition=Q(kind="clearance_expiring"),
                name="flag_clearance_expiring_once",
            ),
            models.CheckConstraint(
                condition=~Q(status="resolved") | (Q(resolved_at__isnull=False) & ~Q(resolution="")),
                name="flag_resolution_recorded",
                violation_error_message="A resolved flag records when and why.",
            ),
            models.CheckConstraint(
                condition=Q(status__in=["open", "acknowledged", "resolved"]), name="flag_status_valid"
            ),
        ]
        indexes = [models.Index(fields=["status", "kind"])]
        triggers = [PROTECT_DELETE]

    def __str__(self) -> str:
        state = f"{self.get_severity_display()}, {self.get_status_display()}"
        return f"{self.get_kind_display()} ({state}) — {self.patient}"

    @property
    def is_unresolved(self) -> bool:
        return self.status != self.Status.RESOLVED


@audited
class ProgressionStep(models.Model):
    """One dose progression step of a plan (issue 17): on ``on_date`` (the patient's local date) the items whose rule
    falls due progress, in a new version of the plan that the gate evaluates like any other. One row per (plan,
    date), so a step happens once: a second run or a second worker finds it done.

    ``applied``: the new version went live by itself. ``held``: it did not, for the conditions in ``held_because``
    (the therapist was flagged); ``applied_by_hand``: a therapist then applied it through the gate.
    """

    class Status(models.TextChoices):
        APPLIED = "applied", "Applied"
        HELD = "held", "Held for the therapist"
        APPLIED_BY_HAND = "applied_by_hand", "Applied by the therapist"

    class Condition(models.TextChoices):
        GATE = "gate", "The safety gate refused the new dose"
        OPEN_FLAG = "open_flag", "A symptom or safety flag is open"
        PAIN_RISING = "pain_rising", "Pain after sessions is rising"
        LOW_ADHERENCE = "low_adherence", "Too few sessions done"
        MISSING_DATA = "missing_data", "Not enough logged sessions to judge"
        AMENDMENT_IN_PROGRESS = "amendment_in_progress", "An amendment of the plan is in progress"
        OUT_OF_BOUNDS = "out_of_bounds", "The new version is outside the catalog's bounds"

    first_version = models.ForeignKey(Prescription, on_delete=models.PROTECT, related_name="progression_steps")
    on_date = models.DateField(help_text="The step's date in the patient's zone.")
    from_version = models.ForeignKey(Prescription, on_delete=models.PROTECT, related_name="+")
    to_version = models.ForeignKey(
        Prescription,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="made_by_step",
        help_text="The version it made: live when applied; cancelled when the gate refused it.",
    )
    status = models.CharField(max_length=16, choices=Status.choices)
    held_because = ArrayField(models.CharField(max_length=24, choices=Condition.choices), default=list, blank=True)
    changes = models.JSONField(default=list, help_text="[{item order, stretch, from dose, to dose}]")
    evidence = models.JSONField(default=dict, help_text="What was weighed: pain means, adherence, open flags.")
    ran_at = models.DateTimeField()
    applied_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    applied_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-on_date", "-id"]
        constraints = [
            models.UniqueConstraint(fields=["first_version", "on_date"], name="progression_step_once"),
            models.CheckConstraint(
                condition=Q(status__in=["applied", "held", "applied_by_hand"]), name="progression_step_status_valid"
            ),
            models.CheckConstraint(
                condition=~Q(status="held") | Q(held_because__len__gte=1),
                name="progression_step_held_says_why",
            ),
            models.CheckConstraint(
                condition=Q(status="held") | Q(to_version__isnull=False), name="progression_step_applied_has_version"
            ),
        ]
        triggers = [PROTECT_DELETE]

    def __str__(self) -> str:
        return f"Progression step of plan #{self.first_version_id} on {self.on_date} ({self.get_status_display()})"

    @property
    def held_text(self) -> str:
        labels = dict(self.Condition.choices)
        return "; ".join(labels.get(code, code) for code in self.held_because)


@audited
class MeasureDue(models.Model):
    """An outcome measure due for an episode (issue 18): at its start (baseline), every 14 days (follow-up) and at
    discharge, for each instrument of the episode's set. One per (episode, instrument, date). A follow-up left
    unanswered when the next falls due is missed."""

    class Occasion(models.TextChoices):
        BASELINE = "baseline", "Baseline"
        FOLLOW_UP = "follow_up", "Follow-up"
        DISCHARGE = "discharge", "Discharge"

    class Status(models.TextChoices):
        DUE = "due", "Due"
        DONE = "done", "Done"
        MISSED = "missed", "Missed"
        CANCELLED = "cancelled", "Cancelled"

    episode = models.ForeignKey(Episode, on_delete=models.PROTECT, related_name="measures_due")
    patient = models.ForeignKey(Patient, on_delete=models.PROTECT, related_name="measures_due")
    instrument = models.ForeignKey(Instrument, on_delete=models.PROTECT, related_name="+")
    due_on = models.DateField(help_text="The date it falls due, in the patient's zone.")
    occasion = models.CharField(max_length=10, choices=Occasion.choices)
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.DUE)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["due_on", "instrument__code", "id"]
        constraints = [
            models.UniqueConstraint(fields=["episode", "instrument", "due_on"], name="measure_due_once_per_date"),
            models.CheckConstraint(
                condition=Q(occasion__in=["baseline", "follow_up", "discharge"]), name="measure_due_occasion_valid"
            ),
            models.CheckConstraint(
                condition=Q(status__in=["due", "done", "missed", "cancelled"]), name="measure_due_status_valid"
            ),
        ]
        indexes = [models.Index(fields=["patient", "status"])]
        triggers = [PROTECT_DELETE]

    def __str__(self) -> str:
        return f"{self.instrument} {self.get_occasion_display().lower()} due {self.due_on} ({self.status})"


@audited
class MeasureResponse(models.Model):
    """The answers to one due measure, scored as published (``clinic.scoring``), with the change from the episode's
    baseline for that instrument and whether it crossed the instrument's meaningful change."""

    class Via(models.TextChoices):
        PORTAL = "portal", "The patient, in the portal"
        CLINIC = "clinic", "Staff, in the clinic"

    due = models.OneToOneField(MeasureDue, on_delete=models.PROTECT, related_name="response")
    episode = models.ForeignKey(Episode, on_delete=models.PROTECT, related_name="measure_responses")
    patient = models.ForeignKey(Patient, on_delete=models.PROTECT, related_name="measure_responses")
    instrument = models.ForeignKey(Instrument, on_delete=models.PROTECT, related_name="+")
    answers = models.JSONField(help_text="{item id: answer, or null when skipped}.")
    activities = ArrayField(
        models.CharField(max_length=120),
        default=list,
        blank=True,
        help_text="PSFS: the activities named at baseline, rated in order (items activity_1…).",
    )
    score = models.DecimalField(max_digits=5, decimal_places=1)
    percent = models.DecimalField(max_digits=5, decimal_places=1, null=True, blank=True)
    baseline = models.ForeignKey("self", on_delete=models.PROTECT, null=True, blank=True, related_name="+")
    change = models.DecimalField(max_digits=5, decimal_places=1, null=True, blank=True)
    improved = models.BooleanField(default=False)
    worsened = models.BooleanField(default=False)
    threshold = models.CharField(max_length=60, blank=True, help_text="The meaningful change it was judged by.")
    taken_at = models.DateTimeField()
    entered_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    via = models.CharField(max_length=10, choices=Via.choices)

    class Meta:
        ordering = ["taken_at", "id"]
        constraints = [
            models.CheckConstraint(condition=~(Q(improved=True) & Q(worsened=True)), name="measure_one_direction"),
            models.CheckConstraint(condition=Q(via__in=["portal", "clinic"]), name="measure_response_via_valid"),
        ]
        indexes = [models.Index(fields=["patient", "instrument", "taken_at"])]
        triggers = [PROTECT_DELETE]

    def __str__(self) -> str:
        return f"{self.instrument} {self.score} on {self.taken_at:%Y-%m-%d}"


class ReminderDelivery(models.Model):
    """What the database test channel 'delivered': one row per idempotency key, like a provider that drops
    repeats; ``attempts`` counts how often the key was offered."""

    idempotency_key = models.CharField(max_length=64, unique=True)
    reminder = models.ForeignKey(Reminder, on_delete=models.PROTECT, related_name="deliveries")
    channel = models.CharField(max_length=10, choices=Channel.choices)
    recipient = models.CharField(max_length=254)
    body = models.TextField()
    attempts = models.PositiveIntegerField(default=1)
    first_delivered_at = models.DateTimeField()
    last_attempt_at = models.DateTimeField()

    class Meta:
        ordering = ["first_delivered_at", "id"]

    def __str__(self) -> str:
        return f"Delivery {self.idempotency_key} ({self.attempts} attempt(s))"
