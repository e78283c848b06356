"""Sessions and their reminder rows over a plan's life: materialize, stop, resume, re-time, mark missed.

Every time rule comes from ``prescriptions.scheduling`` (RFC 5545 wall time → UTC, log windows,
reminder send times); this module only decides which rows exist and in which state (DESIGN §3, §5).

Reminders are rows, never countdown/ETA tasks. A scheduled session of an active plan has, when the
patient's preferred channel is consented, a ``session`` reminder (``scheduled_at`` − lead, moved out
of quiet hours, dropped past the log window) and a ``missed_follow_up`` reminder (09:00 local the
next day, also moved out of quiet hours); the dispatcher re-checks each one when it sends. Each row's
idempotency key is derived from (session, purpose), so a revived or retried reminder keeps its key.

A due outcome measure (issue 18) has one ``measure_due`` reminder while it waits for an answer and the patient's
preferred channel is consented: 09:00 local on its due date (or now, when it falls due later in the day), moved out
of quiet hours, and never after the end of the next local day. It has no stretch, so no gate; an archived patient, a
discharged episode (unless it is the discharge measure) and a licensed instrument whose wording the clinic has not
loaded get none. Its key is derived from (measure, purpose).
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Iterable
from zoneinfo import ZoneInfo

from django.conf import settings
from django.db import transaction
from django.db.models import DateField, DateTimeField, Exists, ExpressionWrapper, F, Func, OuterRef, Q, Value
from django.db.models.functions import Cast
from django.utils import timezone

from clinic.enqueue import enqueue_after_commit
from clinic.models import InstrumentWording
from patients.models import Patient
from prescriptions.models import MeasureDue, Prescription, Reminder, SafetyFlag, Session
from prescriptions.scheduling import (
    first_loggable_date,
    follow_up_at,
    log_window,
    occurrences,
    reminder_send_at,
    to_utc,
)
from prescriptions.services import locks

SessionStatus = Session.Status
ReminderStatus = Reminder.Status
Purpose = Reminder.Purpose

REMINDER_KEY_NAMESPACE = uuid.UUID("0d6f6a2e-5b0c-4c53-9a52-2f1b8f0e7c41")
"""Namespace of the uuid5 idempotency keys; never change it, or retried sends would carry new keys."""

#: The log window of a session closes at least this long after its start (a local day is ≥ 22 h even
#: where DST shifts by two hours), so older sessions are the only candidates for ``missed``.
MISSED_CANDIDATE_AGE = dt.timedelta(hours=20)

#: Unresolved flags keep the sessions they list blocked.
UNRESOLVED_FLAG_STATUSES = (SafetyFlag.Status.OPEN, SafetyFlag.Status.ACKNOWLEDGED)


#: A questionnaire's reminder goes out at this local time on its due date (moved out of quiet hours).
MEASURE_REMINDER_TIME = dt.time(9, 0)


def reminder_key(session_id: int, purpose: str) -> str:
    """The stable idempotency key of a (session, purpose) reminder: the same on every retry and revival."""
    return uuid.uuid5(REMINDER_KEY_NAMESPACE, f"reminder:{session_id}:{purpose}").hex


def measure_reminder_key(measure_due_id: int, purpose: str = Purpose.MEASURE_DUE) -> str:
    """The stable idempotency key of a due measure's reminder (never equal to a session reminder's key)."""
    return uuid.uuid5(REMINDER_KEY_NAMESPACE, f"reminder:measure:{measure_due_id}:{purpose}").hex


def measure_reminder_closes(due_on: dt.date, zone: ZoneInfo) -> dt.datetime:
    """When a due measure's reminder is too late to send: the end of the local day after its due date."""
    return log_window(due_on, zone)[1]


# --- Reminder rows --------------------------------------------------------------------------------------


def _send_time(session: Session, purpose: str, patient: Patient, now: dt.datetime) -> dt.datetime | None:
    """When this reminder would go out with the patient's current zone and quiet hours, or None if never."""
    zone = patient.zone
    window_end = log_window(session.local_date, zone)[1]
    if window_end <= now:
        return None
    if purpose == Purpose.SESSION:
        if session.scheduled_at <= now:  # the session has begun: a reminder for it is no use
            return None
        at, lead = session.scheduled_at, dt.timedelta(minutes=settings.REMINDER_LEAD_MINUTES)
    else:
        at, lead = follow_up_at(session.local_date, zone), dt.timedelta(0)
    return reminder_send_at(at, zone, lead, patient.quiet_hours_start, patient.quiet_hours_end, window_end)


def _worth_queueing(send_at: dt.datetime | None, purpose: str, now: dt.datetime) -> bool:
    """A new or revived row is queued only while it is still timely; a session reminder whose lead time
    has passed still goes out before the session begins (``_send_time`` already ruled that out)."""
    return send_at is not None and (send_at > now or purpose == Purpose.SESSION)


def _reconcile(row: Reminder | None, *, channel: str | None, send_at: dt.datetime | None, timely: bool, now, build):
    """One reminder row against what it should be: ``("create", reminder)``, ``("update", row)`` or None.

    ``channel`` is None when the owner should have no reminder (not live, no consent); ``send_at`` None when no send
    time remains; ``timely`` whether a new or revived row is still worth queueing. Missing rows are created, pending
    rows re-timed (or cancelled), cancelled rows revived while timely (else kept current for a later revival).
    """
    if row is None:
        return ("create", build(channel, send_at)) if channel and timely else None
    before = (row.status, row.send_at, row.channel)
    if row.status == ReminderStatus.PENDING:
        if channel and send_at is not None:
            row.send_at, row.channel = send_at, channel
        else:
            row.status = ReminderStatus.CANCELLED
    elif channel and timely:
        row.status, row.send_at, row.channel = ReminderStatus.PENDING, send_at, channel
        row.next_attempt_at = row.claimed_at = None
    elif send_at is not None:
        row.send_at = send_at  # kept current for whoever revives it later
    if (row.status, row.send_at, row.channel) == before:
        return None
    row.updated_at = now
    return ("update", row)


def _write(changes: Iterable[tuple[str, Reminder] | None]) -> None:
    to_create: list[Reminder] = []
    to_update: list[Reminder] = []
    for change in changes:
        if change is not None:
            (to_create if change[0] == "create" else to_update).append(change[1])
    if to_create:
        Reminder.objects.bulk_create(to_create, ignore_conflicts=True)
    if to_update:
        Reminder.objects.bulk_update(
            to_update, ["status", "send_at", "channel", "next_attempt_at", "claimed_at", "updated_at"]
        )


def _consented_channel(patient: Patient, live: bool) -> str | None:
    return patient.preferred_channel if live and patient.consented_to(patient.preferred_channel) else None


def _sync_reminders(sessions: Iterable[Session], now: dt.datetime) -> None:
    """Make the pending/cancelled reminder rows of ``sessions`` match the plan, the patient and the clock.

    ``sessions`` come with ``prescription__patient`` loaded. For a scheduled session of an active plan
    with a consented preferred channel: missing rows are created, pending rows re-timed (or cancelled
    when no send time remains), cancelled rows revived when still timely. Otherwise pending rows are
    cancelled. Rows being sent, sent or failed are never touched. The rows are locked first, so a
    dispatcher that claims with ``skip_locked`` never has its claim overwritten.
    """
    sessions = list(sessions)
    if not sessions:
        return
    existing = {
        (row.session_id, row.purpose): row
        for row in locks.rows(
            Reminder.objects.filter(
                session__in=[s.pk for s in sessions], status__in=[ReminderStatus.PENDING, ReminderStatus.CANCELLED]
            )
        )
    }
    changes = []
    for session in sessions:
        patient = session.prescription.patient
        live = session.status == SessionStatus.SCHEDULED and session.prescription.status == Prescription.Status.ACTIVE
        channel = _consented_channel(patient, live)
        for purpose in Reminder.SESSION_PURPOSES:
            send_at = _send_time(session, purpose, patient, now)

            def build(channel, send_at, session=session, purpose=purpose):
                key = reminder_key(session.pk, purpose)
                return Reminder(session=session, purpose=purpose, channel=channel, send_at=send_at, idempotency_key=key)

            changes.append(
                _reconcile(
                    existing.get((session.pk, purpose)),
                    channel=channel,
                    send_at=send_at,
                    timely=_worth_queueing(send_at, purpose, now),
                    now=now,
                    build=build,
                )
            )
    _write(changes)


# --- Reminders of due outcome measures -------------------------------------------------------------------


def _measure_send_time(due: MeasureDue, patient: Patient, now: dt.datetime) -> dt.datetime | None:
    """09:00 local on the due date, or now when later, moved out of quiet hours; None once too late."""
    zone = patient.zone
    closes = measure_reminder_closes(due.due_on, zone)
    if closes <= now:
        return None
    at = max(to_utc(due.due_on, MEASURE_REMINDER_TIME, zone), now)
    return reminder_send_at(at, zone, dt.timedelta(0), patient.quiet_hours_start, patient.quiet_hours_end, closes)


def measure_wants_reminder(due: MeasureDue, *, patient: Patient, worded: bool) -> str | None:
    """Why a due measure should have no reminder (None: it should have one, given consent and a send time).

    Shared by the planner and the dispatcher's re-check. ``due`` comes with its episode and instrument; ``worded``
    says whether the patient's clinic may show the instrument (a licensed one needs the clinic's loaded wording).
    """
    if due.status != MeasureDue.Status.DUE:
        return f"the questionnaire is {due.get_status_display().lower()}"
    if patient.is_archived:
        return "the patient is archived"
    if not due.episode.is_open and due.occasion != MeasureDue.Occasion.DISCHARGE:
        return "the episode is discharged"
    if not worded:
        return "the clinic has not loaded the questionnaire's licensed wording"
    return None


def worded_instruments(dues: Iterable[MeasureDue]) -> set[tuple[int, int]]:
    """(clinic id, instrument id) of the ``dues`` whose instrument the patient's clinic may show: a free instrument
    always, a licensed one once the clinic loaded its wording (one query, none when nothing is licensed)."""
    dues = list(dues)
    worded = {(d.patient.clinic_id, d.instrument_id) for d in dues if not d.instrument.licensed}
    licensed = {(d.patient.clinic_id, d.instrument_id) for d in dues if d.instrument.licensed}
    if licensed:
        clinics = {clinic for clinic, _ in licensed}
        instruments = {instrument for _, instrument in licensed}
        loaded = InstrumentWording.objects.filter(clinic_id__in=clinics, instrument_id__in=instruments)
        worded |= licensed & set(loaded.values_list("clinic_id", "instrument_id"))
    return worded


def _sync_measure_reminders(dues: Iterable[MeasureDue], now: dt.datetime) -> None:
    """Make the pending/cancelled reminder rows of due measures match their status, the patient and the clock
    (``_reconcile``): a measure waiting for an answer gets one reminder on its preferred consented channel; an
    answered, missed or cancelled one, or one the patient should not be reminded of, has its pending row cancelled.

    ``dues`` come with ``patient``, ``episode`` and ``instrument`` loaded. The rows are locked first (the dispatcher
    claims with ``skip_locked``, so its claims are never overwritten).
    """
    dues = list(dues)
    if not dues:
        return
    existing = {
        row.measure_due_id: row
        for row in locks.rows(
            Reminder.objects.filter(
                measure_due__in=[d.pk for d in dues], status__in=[ReminderStatus.PENDING, ReminderStatus.CANCELLED]
            )
        )
    }
    worded = worded_instruments(dues)
    # One message a day for an episode's questionnaires (a back patient has three due at once): the first still
    # waiting carries it, unless one of that day's already went out.
    days = {(due.episode_id, due.due_on) for due in dues}
    sent_days = set(
        Reminder.objects.filter(
            measure_due__episode_id__in={episode for episode, _ in days},
            measure_due__due_on__in={day for _, day in days},
            # A failed one too: "gave up" may follow a send whose outcome was never recorded.
            status__in=[ReminderStatus.SENDING, ReminderStatus.SENT, ReminderStatus.FAILED],
        ).values_list("measure_due__episode_id", "measure_due__due_on")
    )
    carried: set[tuple[int, dt.date]] = set()
    changes = []
    for due in dues:
        patient = due.patient
        why_not = measure_wants_reminder(due, patient=patient, worded=(patient.clinic_id, due.instrument_id) in worded)
        day = (due.episode_id, due.due_on)
        if why_not is None and (day in sent_days or day in carried):
            why_not = "that day's questionnaires have one reminder"
        if why_not is None:
            carried.add(day)
        send_at = _measure_send_time(due, patient, now)

        def build(channel, send_at, due=due):
            key = measure_reminder_key(due.pk)
            return Reminder(
                measure_due=due, purpose=Purpose.MEASURE_DUE, channel=channel, send_at=send_at, idempotency_key=key
            )

        changes.append(
            _reconcile(
                existing.get(due.pk),
                channel=_consented_channel(patient, why_not is None),
                send_at=send_at,
                timely=send_at is not None,
                now=now,
                build=build,
            )
        )
    _write(changes)


def _measures_to_sync(measures, now: dt.datetime):
    """Of ``measures``: those whose reminder may still go out (a reminder goes out until the end of the day after
    the due date: due on or after the day before yesterday in UTC, below every zone's yesterday) and those with a
    pending reminder to cancel."""
    earliest = now.astimezone(dt.UTC).date() - dt.timedelta(days=2)  # local dates run up to a day behind UTC
    pending = Reminder.objects.filter(measure_due=OuterRef("pk"), status=ReminderStatus.PENDING)
    return (
        measures.filter(Q(due_on__gte=earliest) | Exists(pending))
        .select_related("patient", "episode", "instrument")
        .order_by("pk")
    )


@transaction.atomic
def measure_reminders_sync(
    *, episode_id: int | None = None, patient_id: int | None = None, now: dt.datetime | None = None
) -> None:
    """Bring the reminders of an episode's (or a patient's) due measures in line with their state. Idempotent.

    ``measures_schedule`` calls it once it has written what fell due; ``reminders_refresh_for_patient`` when the
    patient's consent, channel, quiet hours or zone changed.
    """
    if episode_id is None and patient_id is None:
        raise ValueError("give episode_id or patient_id")
    now = now or timezone.now()
    measures = MeasureDue.objects.all()
    if episode_id is not None:
        measures = measures.filter(episode_id=episode_id)
    if patient_id is not None:
        measures = measures.filter(patient_id=patient_id)
    _sync_measure_reminders(_measures_to_sync(measures, now), now)


def _with_plan_and_patient(sessions):
    return sessions.select_related("prescription__patient").order_by("scheduled_at", "pk")


@transaction.atomic
def reminders_sync(*, session_ids: Iterable[int], now: dt.datetime | None = None) -> None:
    """Bring the reminder rows of these sessions in line with their state (see ``_sync_reminders``).

    Call it after changing sessions' status outside this module (e.g. unblocking sessions when a
    conflict is gone: their reminders return, re-timed) — idempotent.
    """
    sessions = _with_plan_and_patient(Session.objects.filter(pk__in=list(session_ids)))
    _sync_reminders(sessions, now or timezone.now())


@transaction.atomic
def reminders_refresh_for_patient(*, patient_id: int, now: dt.datetime | None = None) -> None:
    """Re-plan the reminders of a patient whose contact, consent, channel or quiet hours changed.

    Covers every scheduled session of the patient's active plans whose log window is still open, and every
    due measure whose reminder may still go out: new consent adds rows, a withdrawn one cancels pending rows,
    a new channel or new quiet hours re-time and re-route pending rows, and cancelled rows come back while
    still timely. Pending rows of sessions that are no longer due are left for the dispatcher's re-check.
    """
    now = now or timezone.now()
    patient = Patient.objects.filter(pk=patient_id).first()
    if patient is None:
        return
    locks.active_plans(patient_id=patient_id)  # before the reminders and sessions (lock order: package docstring)
    open_from = first_loggable_date(patient.local_today(now))
    sessions = Session.objects.filter(
        prescription__patient_id=patient_id,
        prescription__status=Prescription.Status.ACTIVE,
        status=SessionStatus.SCHEDULED,
        local_date__gte=open_from,
    )
    _sync_reminders(_with_plan_and_patient(sessions), now)
    # The reminders of the patient's due questionnaires too (consent withdrawn: their pending rows are cancelled).
    _sync_measure_reminders(_measures_to_sync(MeasureDue.objects.filter(patient_id=patient_id), now), now)


# --- Materialization ------------------------------------------------------------------------------------


@transaction.atomic
def sessions_materialize(*, prescription_id: int, today: dt.date | None = None) -> int:
    """Create the sessions of an active plan up to the horizon and their reminder rows; returns how many.

    One session per (local date in the plan's days of week, local time) over
    ``[max(start, today, materialized_through + 1), min(end, today + REMINDER_HORIZON_DAYS)]``, where
    ``today`` is the patient's local date (pass it only to pin the clock in tests). ``scheduled_at`` is
    the RFC 5545 instant of the wall time in the patient's zone. Slots before the plan's activation are
    skipped (an amendment does not repeat this morning's sessions). Idempotent: the unique (plan, date,
    time) slot absorbs repeats and races; ``materialized_through`` only moves forward. The plan row is
    locked, so a concurrent zone change waits for it (and re-times what it made).
    """
    try:
        prescription = locks.plan(prescription_id=prescription_id)
    except Prescription.DoesNotExist:
        return 0
    if prescription.status != Prescription.Status.ACTIVE:
        return 0
    patient = Patient.objects.get(pk=prescription.patient_id)  # read after the lock: the zone is current
    zone = patient.zone
    now = timezone.now()
    today = today or patient.local_today(now)
    horizon_end = today + dt.timedelta(days=settings.REMINDER_HORIZON_DAYS)
    last = horizon_end if prescription.end_date is None else min(prescription.end_date, horizon_end)
    first = max(prescription.start_date, today)
    if prescription.materialized_through is not None:
        first = max(first, prescription.materialized_through + dt.timedelta(days=1))

    created = 0
    if first <= last:
        slots = occurrences(
            prescription.start_date,
            prescription.end_date,
            prescription.days_of_week,
            prescription.times,
            first,
            last,
        )
        taken = set(
            Session.objects.filter(prescription=prescription, local_date__range=(first, last)).values_list(
                "local_date", "local_time"
            )
        )
        not_before = prescription.activated_at
        new = []
        for local_date, local_time in slots:
            if (local_date, local_time) in taken:
                continue
            scheduled_at = to_utc(local_date, local_time, zone)
            if not_before is not None and scheduled_at < not_before:
                continue
            new.append(
                Session(
                    prescription=prescription,
                    local_date=local_date,
                    local_time=local_time,
                    scheduled_at=scheduled_at,
                )
            )
        if new:
            Session.objects.bulk_create(new, ignore_conflicts=True)
            created = len(new)
            fresh = Session.objects.filter(
                prescription=prescription, status=SessionStatus.SCHEDULED, local_date__range=(first, last)
            )
            _sync_reminders(_with_plan_and_patient(fresh), now)

    if prescription.materialized_through is None or last > prescription.materialized_through:
        prescription.materialized_through = last
        prescription.save(update_fields=["materialized_through", "updated_at"])
    return created


def prescriptions_to_materialize(*, now: dt.datetime | None = None, limit: int = 1000) -> list[int]:
    """Ids of active plans whose ``materialized_through`` lags the patient's local today + horizon.

    The patient's local date is computed by PostgreSQL (``timezone(zone, now)``) so one query serves
    every zone; the materializer re-checks with Python's zone rules. Plans that never materialized come
    first, then the ones furthest behind. Plans already materialized through their end date are skipped.
    """
    now = now or timezone.now()
    local_today = Cast(
        Func(F("patient__timezone"), Value(now, output_field=DateTimeField()), function="timezone"),
        output_field=DateField(),
    )
    due_through = ExpressionWrapper(
        local_today + Value(dt.timedelta(days=settings.REMINDER_HORIZON_DAYS)), output_field=DateField()
    )
    lagging = Q(materialized_through__isnull=True) | (
        Q(materialized_through__lt=due_through) & (Q(end_date__isnull=True) | Q(materialized_through__lt=F("end_date")))
    )
    return list(
        Prescription.objects.active()
        .filter(lagging)
        .order_by(F("materialized_through").asc(nulls_first=True), "pk")
        .values_list("pk", flat=True)[:limit]
    )


def materialize_after_commit(*, prescription_id: int) -> None:
    """Queue the materializer (and the conflict re-check it runs) once the current transaction commits.

    A dropped publish is harmless: ``prescriptions.sweep_materialize`` finds the plan within a minute.
    """
    enqueue_after_commit("prescriptions.materialize_sessions", prescription_id)


# --- A plan's lifecycle ---------------------------------------------------------------------------------


def sessions_stop(*, prescription_id: int, now: dt.datetime | None = None) -> int:
    """The plan was paused, cancelled or completed: future scheduled or blocked sessions are cancelled.

    Every pending reminder of the plan is cancelled too (only an active plan has pending reminders);
    sessions that already began stay as they are, so the patient may still log them. Runs inside the
    transition's transaction; returns the number of sessions cancelled.
    """
    now = now or timezone.now()
    with transaction.atomic():
        Reminder.objects.filter(session__prescription_id=prescription_id, status=ReminderStatus.PENDING).update(
            status=ReminderStatus.CANCELLED, updated_at=now
        )
        return Session.objects.filter(
            prescription_id=prescription_id,
            status__in=[SessionStatus.SCHEDULED, SessionStatus.BLOCKED],
            scheduled_at__gt=now,
        ).update(status=SessionStatus.CANCELLED, updated_at=now)


def sessions_resume(*, prescription_id: int, now: dt.datetime | None = None) -> int:
    """A paused plan is active again: its future cancelled sessions come back, then the materializer runs.

    Each is re-timed with the patient's current zone (it may have changed during the pause) and revived
    when still in the future: ``blocked`` if an unresolved flag still lists it, else ``scheduled`` with its
    reminders pending again when still timely (re-timed). The materializer and the conflict re-check are
    queued after commit. Call it once the plan is active, inside the resume transaction; returns how many
    sessions came back.
    """
    now = now or timezone.now()
    with transaction.atomic():
        prescription = Prescription.objects.select_related("patient").get(pk=prescription_id)
        patient = prescription.patient
        zone = patient.zone
        candidates = list(
            locks.rows(
                Session.objects.filter(
                    prescription_id=prescription_id,
                    status=SessionStatus.CANCELLED,
                    local_date__gte=first_loggable_date(patient.local_today(now)),
                )
            )
        )
        revived = []
        for session in candidates:
            session.scheduled_at = to_utc(session.local_date, session.local_time, zone)
            if session.scheduled_at > now:
                revived.append(session)
        flagged = set(
            Session.objects.filter(
                pk__in=[s.pk for s in revived], flags__status__in=UNRESOLVED_FLAG_STATUSES
            ).values_list("pk", flat=True)
        )
        for session in revived:
            session.status = SessionStatus.BLOCKED if session.pk in flagged else SessionStatus.SCHEDULED
            session.updated_at = now
        Session.objects.bulk_update(revived, ["status", "scheduled_at", "updated_at"])
        for session in revived:
            session.prescription = prescription
        _sync_reminders(revived, now)
        materialize_after_commit(prescription_id=prescription_id)
    return len(revived)


# --- Zone changes ---------------------------------------------------------------------------------------


@transaction.atomic
def sessions_retime_for_patient(*, patient_id: int, now: dt.datetime | None = None) -> int:
    """The patient moved zone: future scheduled/blocked sessions keep their local date and time and get
    the new instant; their reminders are re-timed (pending ones, and cancelled ones kept current), and so are the
    reminders of the patient's due questionnaires.

    Past sessions keep their instant. The patient's live plans are locked first so a materializer running
    with the old zone finishes before (and its sessions are re-timed here) or starts after (and reads the
    new zone). Idempotent; returns how many sessions moved.
    """
    now = now or timezone.now()
    locks.live_plans(patient_id=patient_id)
    patient = Patient.objects.filter(pk=patient_id).first()
    if patient is None:
        return 0
    zone = patient.zone
    sessions = list(
        _with_plan_and_patient(
            locks.rows(
                Session.objects.filter(
                    prescription__patient_id=patient_id,
                    status__in=[SessionStatus.SCHEDULED, SessionStatus.BLOCKED],
                    scheduled_at__gt=now,
                )
            )
        )
    )
    moved = []
    for session in sessions:
        instant = to_utc(session.local_date, session.local_time, zone)
        if instant != session.scheduled_at:
            session.scheduled_at, session.updated_at = instant, now
            moved.append(session)
        session.prescription.patient = patient
    Session.objects.bulk_update(moved, ["scheduled_at", "updated_at"])
    _sync_reminders(sessions, now)
    # A questionnaire's 09:00 is the new zone's too.
    _sync_measure_reminders(_measures_to_sync(MeasureDue.objects.filter(patient_id=patient_id), now), now)
    return len(moved)


def patients_with_stale_session_times(
    *, now: dt.datetime | None = None, within: dt.timedelta = dt.timedelta(days=2), limit: int = 500
) -> list[int]:
    """Patients whose upcoming sessions no longer match their zone: the catch-up for a zone change whose
    re-time task was lost (a broker outage drops the receiver's enqueue).

    PostgreSQL maps each scheduled/blocked session of the next ``within`` to an instant in the patient's
    current zone; where that differs from ``scheduled_at``, Python's RFC 5545 rule has the last word
    (PostgreSQL reads a repeated wall time as its second occurrence, RFC 5545 as its first).
    """
    now = now or timezone.now()
    wall = ExpressionWrapper(F("local_date") + F("local_time"), output_field=DateTimeField())
    instant = Func(F("prescription__patient__timezone"), wall, function="timezone", output_field=DateTimeField())
    suspects = (
        Session.objects.filter(
            status__in=[SessionStatus.SCHEDULED, SessionStatus.BLOCKED],
            scheduled_at__gt=now,
            scheduled_at__lt=now + within,
        )
        .annotate(in_current_zone=instant)
        .exclude(scheduled_at=F("in_current_zone"))
        .order_by()
        .values_list(
            "local_date", "local_time", "scheduled_at", "prescription__patient_id", "prescription__patient__timezone"
        )
    )
    stale: list[int] = []
    for local_date, local_time, scheduled_at, patient_id, zone in suspects.iterator():
        if patient_id not in stale and to_utc(local_date, local_time, ZoneInfo(zone)) != scheduled_at:
            stale.append(patient_id)
            if len(stale) >= limit:
                break
    return stale


# --- Missed sessions ------------------------------------------------------------------------------------


def _closed_through(zone: ZoneInfo, now: dt.datetime) -> dt.date:
    """The latest local date whose log window in ``zone`` has closed at ``now``."""
    today = now.astimezone(zone).date()
    days = (today - dt.timedelta(days=back) for back in (1, 2, 3, 4))
    return max((day for day in days if log_window(day, zone)[1] <= now), default=today - dt.timedelta(days=5))


def sessions_mark_missed(*, now: dt.datetime | None = None) -> int:
    """Scheduled sessions whose log window has closed become ``missed``; returns how many.

    Set-based, per zone: one query finds the zones with candidates, then per zone one UPDATE cancels
    the pending reminders of the closing sessions and one marks them missed (in one transaction). The
    window of a session on local date D closes at the start of D + 2 in the patient's zone.
    """
    now = now or timezone.now()
    zones = (
        Session.objects.filter(status=SessionStatus.SCHEDULED, scheduled_at__lt=now - MISSED_CANDIDATE_AGE)
        .order_by()
        .values_list("prescription__patient__timezone", flat=True)
        .distinct()
    )
    missed = 0
    for name in sorted(zones):
        closed = Session.objects.filter(
            status=SessionStatus.SCHEDULED,
            prescription__patient__timezone=name,
            local_date__lte=_closed_through(ZoneInfo(name), now),
        )
        with transaction.atomic():
            Reminder.objects.filter(session__in=closed, status=ReminderStatus.PENDING).update(
                status=ReminderStatus.CANCELLED, updated_at=now
            )
            missed += closed.update(status=SessionStatus.MISSED, updated_at=now)
    return missed
