"""Prescription-side admin, plus what this app adds to the patient admin and to a patient's change trail (DESIGN §1:
the higher app assembles).

Plans, sessions and logs are browse-only; flags are acknowledged and resolved, and failed reminders retried,
through the services.
"""

from __future__ import annotations

import datetime as dt

from django import forms
from django.contrib import admin
from django.db.models import Count, DateTimeField, IntegerField, OuterRef, Subquery
from django.db.models.functions import Coalesce
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils import timezone
from django.utils.html import format_html, format_html_join
from django.utils.http import urlencode
from django.utils.safestring import mark_safe

from clinic.admin import NoDeleteAdmin
from clinic.admin_base import (
    ClinicScopedAdmin,
    ReadOnlyAdmin,
    ReadOnlyInline,
    ReasonActionForm,
    run_service_action,
    scope_to_clinic,
)
from clinic.policy import Action, may
from patients.admin.patients import PatientAdmin, staff_name
from patients.admin.reads import PatientReadsLogged
from patients.admin.trails import PatientIdFilter, add_patient_event_source
from patients.models import Patient
from prescriptions import progression
from prescriptions.gate import pain
from prescriptions.models import (
    GateEvaluation,
    GateOverride,
    MeasureDue,
    MeasureResponse,
    Prescription,
    PrescriptionItem,
    ProgressionStep,
    RedFlagQuestion,
    Reminder,
    SafetyFlag,
    Session,
    SessionLog,
)
from prescriptions.selectors import patient_page
from prescriptions.selectors.flags import flag_readout
from prescriptions.services.flags import flag_acknowledge, flag_resolve
from prescriptions.services.reminders import reminder_retry

UPCOMING_SHOWN = 10
OPEN_FLAG_STATUSES = f"{SafetyFlag.Status.OPEN},{SafetyFlag.Status.ACKNOWLEDGED}"
OPEN_FLAGS_STYLE = "font-weight: bold; color: #b00020"


# --- The patient admin, with this app's columns and inlines -----------------------------------------------


class HasOpenFlagsFilter(admin.SimpleListFilter):
    title = "open flags"
    parameter_name = "open_flags"

    def lookups(self, request, model_admin):
        return [("yes", "Yes"), ("no", "No")]

    def queryset(self, request, queryset):
        if self.value() == "yes":
            return queryset.filter(open_flag_count__gt=0)
        if self.value() == "no":
            return queryset.filter(open_flag_count=0)
        return queryset


class PrescriptionInline(ReadOnlyInline):
    model = Prescription
    fk_name = "patient"
    fields = ["status", "prescribed_by", "start_date", "end_date", "episode"]
    show_change_link = True

    def get_queryset(self, request):
        return super().get_queryset(request).select_related("therapist", "episode")

    @admin.display(description="Therapist")
    def prescribed_by(self, plan: Prescription) -> str:
        """By name: a read-only user field would link to the user admin, which staff may not open."""
        return staff_name(plan.therapist)


class FlagInline(ReadOnlyInline):
    model = SafetyFlag
    fk_name = "patient"
    fields = ["kind", "severity", "status", "summary", "detected_at"]
    show_change_link = True


class ClinicalPatientAdmin(PatientAdmin):
    """The patient admin with open-flag counts, the next session, plans, flags and upcoming sessions."""

    list_display = [*PatientAdmin.list_display, "open_flags", "next_session"]
    list_filter = [*PatientAdmin.list_filter, HasOpenFlagsFilter]
    inlines = [*PatientAdmin.inlines, PrescriptionInline, FlagInline]
    readonly_fields = [
        *PatientAdmin.readonly_fields,
        "live_program",
        "outcome_measures",
        "upcoming_sessions",
        "upcoming_reminders",
    ]

    def get_queryset(self, request):
        open_flags = (
            SafetyFlag.objects.filter(patient=OuterRef("pk"))
            .exclude(status=SafetyFlag.Status.RESOLVED)
            .order_by()
            .values("patient")
            .annotate(n=Count("pk"))
            .values("n")
        )
        next_session = (  # the next session of a live plan: one more column of the list's one query
            Session.objects.filter(
                prescription__patient=OuterRef("pk"),
                prescription__status=Prescription.Status.ACTIVE,
                status=Session.Status.SCHEDULED,
                scheduled_at__gte=timezone.now(),
            )
            .order_by("scheduled_at", "id")
            .values("scheduled_at")[:1]
        )
        return (
            super()
            .get_queryset(request)
            .annotate(
                open_flag_count=Coalesce(Subquery(open_flags, output_field=IntegerField()), 0),
                next_session_at=Subquery(next_session, output_field=DateTimeField()),
            )
        )

    def get_inlines(self, request, obj):
        return [] if obj is None else super().get_inlines(request, obj)  # no plans or flags before registering

    def get_fields(self, request, obj=None):
        fields = super().get_fields(request, obj)
        allowed = {"live_program": Action.VIEW_PROGRAM, "outcome_measures": Action.VIEW_OUTCOMES}
        return [name for name in fields if name not in allowed or may(allowed[name], request.user)]

    @admin.display(description="Open flags", ordering="open_flag_count", empty_value="")
    def open_flags(self, patient: Patient) -> str | None:
        """The count of unresolved flags, linked to them; an empty cell when there are none (every staff role may
        view flags)."""
        count = getattr(patient, "open_flag_count", 0)
        if not count:
            return None
        url = reverse(f"{self.admin_site.name}:prescriptions_safetyflag_changelist")
        query = urlencode({"patient": patient.pk, "status__in": OPEN_FLAG_STATUSES})
        return format_html('<a href="{}?{}" style="{}">{}</a>', url, query, OPEN_FLAGS_STYLE, count)

    @admin.display(description="Next session", ordering="next_session_at")
    def next_session(self, patient: Patient) -> str | None:
        """The next scheduled session of an active plan, at the patient's local time, the zone named."""
        at = getattr(patient, "next_session_at", None)
        if at is None:
            return None
        local = at.astimezone(patient.zone)
        year = f" {local.year}" if local.year != timezone.now().astimezone(patient.zone).year else ""
        when = f"{local:%a} {local.day} {local:%b}{year} {local:%H:%M}"
        zone = format_html_join(mark_safe("/<wbr>"), "{}", ((part,) for part in patient.timezone.split("/")))
        return format_html('<span style="white-space: nowrap">{}</span><br><small class="quiet">{}</small>', when, zone)

    @admin.display(description="Active program")
    def live_program(self, patient: Patient) -> str:
        """The active and paused plans as the patient follows them, read-only (``Action.VIEW_PROGRAM``)."""
        live = patient_page.live_program(patient_id=patient.pk)
        progressions = patient_page.progression_of(plans=live)
        plans = [
            {
                "status": plan.get_status_display(),
                "therapist": staff_name(plan.therapist),
                "dates": _plan_dates(plan),
                "version": plan.version,
                "schedule": plan.schedule_text,
                "items": [
                    {
                        "stretch": item.stretch.name,
                        "dose": item.dosage,
                        "progression": item.progression_text,
                        "side": "" if item.side == PrescriptionItem.Side.NONE else item.get_side_display(),
                        "notes": item.notes,
                    }
                    for item in plan.items.all()
                ],
                "progresses": any(item.progresses for item in plan.items.all()),
                **_progression_texts(progressions[plan.pk]),
                "decisions": [_decision_text(override, patient) for override in plan.overrides.all()],
            }
            for plan in live
        ]
        return render_to_string("admin/prescriptions/live_program.html", {"plans": plans, "zone": patient.timezone})

    @admin.display(description="Outcome measures")
    def outcome_measures(self, patient: Patient) -> str:
        """Each instrument's scores over time as a chart (the latest episode that answered it), the latest change
        from its baseline in words, and the measures now due (``Action.VIEW_OUTCOMES``). Two queries."""
        shown = [
            # The SVG is built from escaped text only (prescriptions/charts.py): safe to inline.
            {"svg": mark_safe(chart.svg), "latest": _latest_change(chart, patient)}
            for chart in patient_page.outcome_charts(patient=patient)
        ]
        due = [
            f"{row.instrument.abbreviation} {row.get_occasion_display().lower()}, due {_day(row.due_on)}"
            for row in patient_page.measures_due(patient=patient)
        ]
        return render_to_string("admin/prescriptions/outcome_measures.html", {"charts": shown, "due": due})

    @admin.display(description="Upcoming sessions")
    def upcoming_sessions(self, patient: Patient) -> str:
        """The next sessions at the patient's local time, the zone named."""
        sessions = patient_page.upcoming_sessions(patient_id=patient.pk, now=timezone.now(), limit=UPCOMING_SHOWN)
        rows = [(_local(s.scheduled_at, patient), s.get_status_display()) for s in sessions]
        return _listing(rows, patient, empty="None scheduled")

    @admin.display(description="Upcoming reminders")
    def upcoming_reminders(self, patient: Patient) -> str:
        """The next reminders to go out, at the patient's local time (quiet hours and consent already applied), the
        zone named. A blocked session's reminders are cancelled, so they are not listed."""
        reminders = patient_page.upcoming_reminders(patient_id=patient.pk, now=timezone.now(), limit=UPCOMING_SHOWN)
        rows = [
            (_local(r.send_at, patient), f"{r.get_purpose_display()} by {r.get_channel_display().lower()}")
            for r in reminders
        ]
        return _listing(rows, patient, empty="None to send")


def _local(at, patient: Patient) -> str:
    local = at.astimezone(patient.zone)
    return f"{local:%a} {local.day} {local:%b %Y %H:%M}"


def _listing(rows: list[tuple[str, str]], patient: Patient, *, empty: str) -> str:
    if not rows:
        return empty
    items = format_html_join("", "<li>{} — {}</li>", rows)
    return format_html(
        '<ul style="margin: 0; padding: 0; list-style: none">{}</ul><small class="quiet">Times in {}.</small>',
        items,
        patient.timezone,
    )


def _plan_dates(plan: Prescription) -> str:
    start = f"{plan.start_date.day} {plan.start_date:%b %Y}"
    if plan.end_date is None:
        return f"from {start}"
    return f"{start} to {plan.end_date.day} {plan.end_date:%b %Y}"


def _day(day: dt.date) -> str:
    return f"{day:%a} {day.day} {day:%b %Y}"


def _dose_text(dose: progression.Dose) -> str:
    """A dose in the items' words (``DosedItem.dosage``)."""
    return PrescriptionItem(hold_seconds=dose.hold_seconds, reps=dose.reps, sets=dose.sets).dosage


def _progression_texts(shown: patient_page.PlanProgression) -> dict[str, str]:
    """The next dose step (its date and what it gives) and the step held for the therapist, in words."""
    texts = {"next_step": "", "next_changes": "", "held_step": ""}
    if shown.next_step is not None:
        texts["next_step"] = f"Next dose step: {_day(shown.next_step.on_date)}"
        texts["next_changes"] = "; ".join(
            f"{change.item.stretch.name} to {_dose_text(change.after)}" for change in shown.next_step.changes
        )
    if shown.held is not None:
        texts["held_step"] = (
            f"The dose step of {_day(shown.held.on_date)} is held for the therapist: {shown.held.held_text}."
        )
    return texts


def _latest_change(chart: patient_page.OutcomeChart, patient: Patient) -> str:
    """The latest score against the baseline, in words: how far, better or worse, and whether it crossed the
    instrument's meaningful change ("ODI 26 on Tue 17 Mar 2026: 14 points better than the baseline of 40 (Tue 3 Mar
    2026) — a meaningful improvement (10 points).")."""
    latest, baseline, instrument = chart.latest, chart.baseline, chart.instrument
    taken = _day(latest.taken_at.astimezone(patient.zone).date())
    now = f"{instrument.abbreviation} {_score(latest.score)} on {taken}"
    if latest.pk == baseline.pk:
        return f"{now}: the baseline; no follow-up yet."
    since = f"the baseline of {_score(baseline.score)} ({_day(baseline.taken_at.astimezone(patient.zone).date())})"
    delta = latest.score - baseline.score
    if delta == 0:
        moved = f"the same as {since}"
    else:
        worse = (delta > 0) == instrument.higher_is_worse
        points = abs(delta)
        moved = f"{_score(points)} point{'' if points == 1 else 's'} {'worse' if worse else 'better'} than {since}"
    if latest.improved:
        verdict = f"a meaningful improvement ({latest.threshold})"
    elif latest.worsened:
        verdict = f"a meaningful worsening ({latest.threshold})"
    else:
        verdict = f"not a meaningful change (that takes {instrument.meaningful_change})"
    return f"{now}: {moved} — {verdict}."


def _score(value) -> str:
    return f"{value.normalize():f}" if value == value.to_integral_value() else f"{value:f}"


def _decision_text(override: GateOverride, patient: Patient) -> str:
    """One override or acknowledgement as a sentence: what, on which stretch, why, by whom and when (no keys)."""
    finding = override.code.replace("_", " ")
    day = override.at.astimezone(patient.zone).date()
    return (
        f"{override.get_kind_display()} of \u201c{finding}\u201d on {override.item.stretch.name}: "
        f"{override.reason} ({staff_name(override.by)}, {day.day} {day:%b %Y})"
    )


admin.site.unregister(Patient)
admin.site.register(Patient, ClinicalPatientAdmin)


# A patient's change trail includes the events naming their plans (the plan, items, overrides, progression steps)
# and sessions (the session, its log, its reminders).
add_patient_event_source("prescription_id", Prescription, "patient")
add_patient_event_source("session_id", Session, "prescription__patient")
add_patient_event_source("measure_due_id", MeasureDue, "patient")  # a questionnaire reminder
add_patient_event_source("first_version_id", Prescription, "patient")  # a plan's progression steps


# --- Plans (browse-only; no view permission for the front desk) ------------------------------------------


class ItemInline(ReadOnlyInline):
    model = PrescriptionItem
    fields = ["order", "stretch", "hold_seconds", "reps", "sets", "side", "notes"]


@admin.register(Prescription)
class PrescriptionAdmin(PatientReadsLogged, ReadOnlyAdmin):
    clinic_path = "patient__clinic"
    read_what = "prescription"
    list_display = ["id", "patient", "status", "therapist", "start_date", "end_date", "materialized_through"]
    list_filter = ["status"]
    list_select_related = ["patient", "therapist"]
    inlines = [ItemInline]


@admin.register(GateEvaluation)
class GateEvaluationAdmin(PatientReadsLogged, ReadOnlyAdmin):
    clinic_path = "prescription__patient__clinic"
    read_what = "gate-evaluation"

    def patient_id_of(self, obj) -> int:
        return obj.prescription.patient_id

    list_display = ["prescription", "purpose", "passed", "on_date", "through_date", "evaluated_at", "evaluated_by"]
    list_filter = ["purpose", "passed"]
    list_select_related = ["prescription__patient", "evaluated_by"]


@admin.register(GateOverride)
class GateOverrideAdmin(PatientReadsLogged, ReadOnlyAdmin):
    clinic_path = "prescription__patient__clinic"
    read_what = "gate-override"

    def patient_id_of(self, obj) -> int:
        return obj.prescription.patient_id

    list_display = ["prescription", "item", "kind", "code", "cause", "by", "at"]
    list_select_related = ["prescription__patient", "item__stretch", "by"]


@admin.register(Session)
class SessionAdmin(PatientReadsLogged, ReadOnlyAdmin):
    clinic_path = "prescription__patient__clinic"
    read_what = "session"

    def patient_id_of(self, obj) -> int:
        return obj.prescription.patient_id

    list_display = ["prescription", "local_date", "local_time", "scheduled_at", "status"]
    list_filter = ["status"]
    list_select_related = ["prescription__patient"]


@admin.register(SessionLog)
class SessionLogAdmin(PatientReadsLogged, ReadOnlyAdmin):
    clinic_path = "session__prescription__patient__clinic"
    read_what = "session-log"

    def patient_id_of(self, obj) -> int:
        return obj.session.prescription.patient_id

    list_display = ["session", "logged_at", "pain_before", "pain_after", "difficulty"]
    list_select_related = ["session__prescription__patient"]


@admin.register(ProgressionStep)
class ProgressionStepAdmin(PatientReadsLogged, ReadOnlyAdmin):
    """Dose progression steps (issue 17), to read: nobody adds, changes or deletes one (the services write them; a
    held step is applied by hand through ``progression_step_apply``, in the API)."""

    clinic_path = "first_version__patient__clinic"
    read_what = "progression-step"

    def patient_id_of(self, obj) -> int:
        return obj.first_version.patient_id

    list_display = ["plan", "on_date", "status", "held_because_text"]
    list_filter = ["status"]
    list_select_related = ["first_version__patient"]
    fields = ["plan", "on_date", "status", "held_because_text", "what_changes", "weighed", "from_version",
              "to_version", "ran_at", "applied_by", "applied_at"]  # fmt: skip
    readonly_fields = fields

    def get_queryset(self, request):
        return super().get_queryset(request).select_related("from_version__patient", "to_version__patient")

    @admin.display(description="Plan", ordering="first_version")
    def plan(self, step: ProgressionStep) -> str:
        return str(step.first_version)

    @admin.display(description="Held because")
    def held_because_text(self, step: ProgressionStep) -> str:
        return step.held_text or "—"

    @admin.display(description="Doses")
    def what_changes(self, step: ProgressionStep) -> str:
        lines = [
            (f"{change['stretch']}: {_dose_text(progression.Dose(**change['from']))} → "
             f"{_dose_text(progression.Dose(**change['to']))}",)
            for change in step.changes
        ]  # fmt: skip
        return format_html_join(mark_safe("<br>"), "{}", lines) if lines else "—"

    @admin.display(description="What was weighed")
    def weighed(self, step: ProgressionStep) -> str:
        lines = _evidence_text(step.evidence)
        return format_html_join(mark_safe("<br>"), "{}", ((line,) for line in lines)) if lines else "—"


def _evidence_text(evidence: dict) -> list[str]:
    """A step's evidence as sentences: pain, adherence, open flags, an amendment in progress, the gate's refusals."""
    lines = []
    baseline, recent = evidence.get("baseline"), evidence.get("recent")
    if baseline and recent:
        lines.append(
            f"Pain after sessions: first week {_mean(baseline.get('pain_after'))} ({baseline.get('logs', 0)} logs);"
            f" since then {_mean(recent.get('pain_after'))} (the last {recent.get('logs', 0)} logs)."
        )
    adherence = evidence.get("adherence")
    if adherence:
        done = f"{adherence.get('done')} of {adherence.get('due')} sessions done"
        percent = f" ({adherence['percent']} %)" if adherence.get("percent") is not None else ""
        lines.append(
            f"Adherence {adherence.get('from')} to {adherence.get('to')}: {done}{percent};"
            f" the clinic's minimum is {adherence.get('minimum')} %."
        )
    if evidence.get("open_flags"):
        lines.append(f"Open flags: {len(evidence['open_flags'])}.")
    if evidence.get("amendment"):
        lines.append(f"Amendment in progress: plan #{evidence['amendment']}.")
    lines.extend(f"Refused: {finding.get('message', finding.get('code'))}" for finding in evidence.get("findings", []))
    lines.extend(f"Refused: {error}" for error in evidence.get("errors", []))
    return lines


def _mean(value) -> str:
    return "no data" if value is None else f"{value:g}/10"


# --- Outcome measures (issue 18): read-only; answers come through ``measure_respond`` (API, portal) ----------


@admin.register(MeasureDue)
class MeasureDueAdmin(PatientReadsLogged, ReadOnlyAdmin):
    """What is due, done, missed or cancelled, to read: ``measures_schedule`` writes them."""

    clinic_path = "patient__clinic"
    read_what = "measure-due"
    list_display = ["patient", "instrument", "occasion", "due_on", "status"]
    list_filter = ["status", "occasion", "instrument"]
    list_select_related = ["patient", "instrument"]
    fields = ["patient", "episode", "instrument", "occasion", "due_on", "status", "created_at", "updated_at"]
    readonly_fields = fields

    def get_list_filter(self, request):
        return [*self.list_filter, PatientIdFilter]  # by id: no list of every patient's name (an unlogged read)


@admin.register(MeasureResponse)
class MeasureResponseAdmin(PatientReadsLogged, ReadOnlyAdmin):
    """Scored answers, to read: the score, the change from the episode's baseline and whether it crossed the
    instrument's meaningful change (better or worse)."""

    clinic_path = "patient__clinic"
    read_what = "measure-response"
    list_display = ["patient", "instrument", "taken_at", "score", "change", "verdict", "via"]
    list_filter = ["instrument", "improved", "worsened", "via"]
    list_select_related = ["patient", "instrument"]
    fields = ["patient", "episode", "instrument", "occasion", "taken_at", "score", "percent", "change", "verdict",
              "answers_text", "activities", "via", "entered_by"]  # fmt: skip
    readonly_fields = fields

    def get_queryset(self, request):
        return super().get_queryset(request).select_related("due", "entered_by")

    def get_list_filter(self, request):
        return [*self.list_filter, PatientIdFilter]

    @admin.display(description="Occasion")
    def occasion(self, response: MeasureResponse) -> str:
        return response.due.get_occasion_display()

    @admin.display(description="Meaningful change")
    def verdict(self, response: MeasureResponse) -> str:
        if response.improved:
            return f"Better ({response.threshold})"
        if response.worsened:
            return f"Worse ({response.threshold})"
        return "Baseline" if response.baseline_id is None else "No"

    @admin.display(description="Answers")
    def answers_text(self, response: MeasureResponse) -> str:
        rows = [(key, "—" if value is None else value) for key, value in response.answers.items()]
        return format_html_join(mark_safe("<br>"), "{}: {}", rows) if rows else "—"


class RedFlagQuestionForm(forms.ModelForm):
    """``diagnoses`` must be what the gate reads (``pain.asked_with``): a list of ``{"code", "until_day"}``."""

    class Meta:
        model = RedFlagQuestion
        fields = [
            "slug",
            "text",
            "symptom",
            "plan_regions",
            "diagnoses",
            "severity",
            "advice",
            "order",
            "active",
            "source",
            "review_note",
        ]

    def clean_diagnoses(self):
        diagnoses = self.cleaned_data["diagnoses"]
        try:
            pain.asked_with(diagnoses)
        except ValueError as exc:
            raise forms.ValidationError(str(exc)) from None
        return diagnoses


@admin.register(RedFlagQuestion)
class RedFlagQuestionAdmin(NoDeleteAdmin):
    """The questions a session log asks: global content, edited by superusers (no role group may change them);
    a question is retired by unticking ``active``, never deleted (logs keep the wording they asked)."""

    form = RedFlagQuestionForm
    list_display = ["order", "slug", "severity", "plan_regions", "diagnoses", "active"]
    list_display_links = ["slug"]
    list_filter = ["severity", "active"]
    search_fields = ["slug", "text", "symptom"]


# --- Reminders: read-only, failed ones retried -------------------------------------------------------------


@admin.register(Reminder)
class ReminderAdmin(PatientReadsLogged, ReadOnlyAdmin):
    """A session's reminders and a due questionnaire's (issue 18): scoped to the clinic through either owner."""

    clinic_path = "session__prescription__patient__clinic"
    read_what = "reminder"

    def patient_id_of(self, obj) -> int:
        return obj.patient_pk

    list_display = ["owner", "patient", "purpose", "channel", "send_at", "status", "attempts", "sent_at"]
    list_filter = ["status", "purpose", "channel"]
    list_select_related = ["session__prescription__patient", "measure_due__patient", "measure_due__instrument"]
    actions = ["retry"]

    def get_queryset(self, request):
        rows = super(ClinicScopedAdmin, self).get_queryset(request)  # scoped here, through either owner
        return scope_to_clinic(rows, request.user, f"{Reminder.PATIENT_PATHS[0]}__clinic") | scope_to_clinic(
            rows, request.user, f"{Reminder.PATIENT_PATHS[1]}__clinic"
        )

    @admin.display(description="For")
    def owner(self, reminder: Reminder) -> str:
        return str(reminder.session if reminder.session_id is not None else reminder.measure_due)

    def has_retry_permission(self, request) -> bool:
        return self.has_view_permission(request)  # any staff of the clinic may retry (the service checks)

    @admin.display(description="Patient")
    def patient(self, reminder: Reminder) -> Patient:
        return reminder.patient

    @admin.action(description="Retry selected failed reminders", permissions=["retry"])
    def retry(self, request, queryset):
        run_service_action(
            self, request, queryset, lambda r: reminder_retry(reminder=r, by=request.user), done="Queued again"
        )


# --- Safety flags: acknowledge (front desk, therapist), resolve (therapist) ----------------------------------


@admin.register(SafetyFlag)
class SafetyFlagAdmin(PatientReadsLogged, ReadOnlyAdmin):
    """``resolve`` records the reason typed in the action bar, or "Resolved in admin by <name>" if left empty."""

    clinic_path = "patient__clinic"
    read_what = "flag"
    list_display = ["patient", "kind", "severity", "status", "summary", "detected", "acknowledged"]
    list_filter = ["kind", "status", "severity"]
    list_select_related = ["patient", "acknowledged_by"]
    # What a person reads: no cause key, no raw JSON, no link to a page a role may not open (users, the plan).
    fields = ["patient", "kind", "severity", "status", "summary", "what_happened", "sessions_held", "detected",
              "acknowledged", "resolved"]  # fmt: skip
    readonly_fields = fields
    search_fields = ["patient__last_name", "patient__first_name", "patient__mrn", "summary"]
    action_form = ReasonActionForm
    actions = ["acknowledge", "resolve"]

    def changelist_view(self, request, extra_context=None):
        """The flags list gets the screen's width, as the patient list does (1366 px): no navigation sidebar here."""
        return super().changelist_view(request, {"is_nav_sidebar_enabled": False, **(extra_context or {})})

    @admin.display(description="What happened")
    def what_happened(self, flag: SafetyFlag) -> str:
        lines = flag_readout(flag.details)
        return format_html_join(mark_safe("<br>"), "{}", ((line,) for line in lines)) if lines else "—"

    @admin.display(description="Sessions on hold")
    def sessions_held(self, flag: SafetyFlag) -> str:
        zone = flag.patient.zone
        held = flag.sessions.order_by("scheduled_at")[:20]
        return ", ".join(f"{s.scheduled_at.astimezone(zone):%a %-d %b %H:%M}" for s in held) + (
            f" ({flag.patient.timezone})" if held else "—"
        )

    @admin.display(description="Detected", ordering="detected_at")
    def detected(self, flag: SafetyFlag) -> str:
        return f"{flag.detected_at.astimezone(flag.patient.zone):%a %-d %b %Y %H:%M} ({flag.patient.timezone})"

    @admin.display(description="Acknowledged")
    def acknowledged(self, flag: SafetyFlag) -> str:
        if flag.acknowledged_by is None:
            return "—"
        name = flag.acknowledged_by.get_full_name() or flag.acknowledged_by.get_username()
        if flag.acknowledged_at is None:
            return name
        return f"{name}, {flag.acknowledged_at.astimezone(flag.patient.zone):%a %-d %b %H:%M}"

    @admin.display(description="Resolved")
    def resolved(self, flag: SafetyFlag) -> str:
        if flag.resolved_at is None:
            return "—"
        by = flag.resolved_by.get_full_name() or flag.resolved_by.get_username() if flag.resolved_by else "Limber"
        return f"{by}, {flag.resolved_at.astimezone(flag.patient.zone):%a %-d %b %H:%M}: {flag.resolution}"

    def get_list_filter(self, request):
        # By id, not a list of every flagged patient's name and MRN (an unlogged read of them all).
        return [*self.list_filter, PatientIdFilter]

    def has_flag_action_permission(self, request) -> bool:
        return request.user.has_perm("prescriptions.change_safetyflag")

    @admin.action(description="Acknowledge selected flags", permissions=["flag_action"])
    def acknowledge(self, request, queryset):
        run_service_action(
            self,
            request,
            queryset.select_related("patient"),
            lambda f: flag_acknowledge(flag=f, by=request.user),
            done="Acknowledged",
        )

    @admin.action(
        description="Resolve selected flags (therapists; give the resolution above)", permissions=["flag_action"]
    )
    def resolve(self, request, queryset):
        resolution = request.POST.get("reason", "").strip()
        if not resolution:
            resolution = f"Resolved in admin by {request.user.get_full_name() or request.user.get_username()}"
        run_service_action(
            self,
            request,
            queryset.select_related("patient"),
            lambda f: flag_resolve(flag=f, by=request.user, resolution=resolution),
            done="Resolved",
        )
