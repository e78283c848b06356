"""Sending reminders: each one offered under one idempotency key, sent at most once per key (DESIGN §3, §5).

Reminder rows are written by the materializer; this module moves them along
``pending → sending → sent | pending (retry) | failed | cancelled``.

How a row is sent (`reminders_dispatch`):

1. **Claim** in a short transaction: ``SELECT … FOR UPDATE SKIP LOCKED`` of due pending rows, then
   ``sending``, ``claimed_at``, ``attempts + 1``; commit. Two dispatchers never claim the same row.
2. **Re-check** outside any transaction that the session is still due: scheduled, plan active, not
   logged, its log window open, patient not archived; the **whole safety gate** passes for the plan's
   items on the session's local date with the plan's stored overrides and acknowledgements (DESIGN §10);
   the channel consented (with an address), and the patient's daily cap not reached. Otherwise the row is
   ``cancelled`` with the reason in ``last_error``. When the gate is the reason, the same transaction
   records a re-check request in the outbox (once per patient per batch), so the re-check blocks the
   session and flags the clinic even if no re-check has processed the fact that changed.
   A due measure's reminder (issue 18) has no stretch and skips the gate; the rest holds: the measure still
   waiting for an answer and its reminder not too late, patient not archived, episode open (or the measure
   its discharge measure), the instrument's wording loaded when licensed, consent and the daily cap.
3. **Send** through the channel with the row's idempotency key, then **mark** ``sent`` with a
   conditional UPDATE that only succeeds while this claim still owns the row.

The at-least-once boundary: a dispatcher that dies after the provider accepted a message but before
step 3 leaves the row ``sending``. `reminders_release_stale` returns such rows to ``pending`` and the
next dispatch offers them again with the same key, so a provider that honours idempotency (and the
database test channel) delivers it once; one that does not may deliver it twice. Nothing is lost.

Two choices keep this fast without weakening it: the outcomes of a batch commit with
``synchronous_commit = off`` (a *database* crash can lose the last ~0.6 s of marks, which puts those rows
on the same boundary; nothing else changes), and a dispatcher holds per-patient advisory locks while
it works through its batch, so the daily cap is exact even when two dispatchers race.
"""

from __future__ import annotations

import datetime as dt
import logging
import operator
import time
from collections.abc import Callable, Collection, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from functools import reduce

from django.conf import settings
from django.db import connection, transaction
from django.db.models import Count, F, Prefetch, Q
from django.utils import timezone

from clinic.errors import StateConflict
from clinic.policy import Action, require
from patients.models import Channel, Patient
from patients.services import recheck_request
from prescriptions import scheduling
from prescriptions.channels import PermanentChannelError, TransientChannelError, channel_for
from prescriptions.gate import rules
from prescriptions.gate.facts import gate_facts_for_plans
from prescriptions.models import Prescription, PrescriptionItem, Reminder, Session, SessionLog
from prescriptions.selectors.conflicts import covered_keys
from prescriptions.services import locks
from prescriptions.services.schedule import measure_reminder_closes, measure_wants_reminder, worded_instruments

logger = logging.getLogger(__name__)

Status = Reminder.Status
Purpose = Reminder.Purpose

DEFAULT_MAX_ATTEMPTS = 5
STALE_CLAIM_AFTER = dt.timedelta(minutes=5)
"""Longer than any dispatch task may run (its hard time limit), so only a dead dispatcher's claims qualify."""


def max_attempts() -> int:
    """How many claims a reminder gets before it is ``failed`` (``REMINDER_MAX_ATTEMPTS``, default 5)."""
    return getattr(settings, "REMINDER_MAX_ATTEMPTS", DEFAULT_MAX_ATTEMPTS)


def retry_delay(attempts: int) -> dt.timedelta:
    """Exponential backoff after a transient failure: 1, 2, 4, 8 … minutes after attempt 1, 2, 3, 4 …"""
    return dt.timedelta(minutes=2 ** max(attempts - 1, 0))


@dataclass
class DispatchResult:
    """What one `reminders_dispatch` call did with the rows it claimed."""

    claimed: int = 0
    sent: int = 0
    cancelled: int = 0
    retrying: int = 0
    failed: int = 0
    unclaimed: int = 0
    """Claimed but handed back untouched because the deadline passed."""
    lost: int = 0
    """The claim was taken over (released as stale) before this dispatcher recorded the outcome."""
    held_by_gate: int = 0
    """Of ``cancelled``: the safety gate held the session."""
    rechecks_requested: list[int] = field(default_factory=list)
    """Patients whose re-check this call recorded in the outbox because the gate held one of their reminders."""


@dataclass(frozen=True)
class ReminderText:
    subject: str
    body: str


# --- Texts -------------------------------------------------------------------------------------------------


def _clock_time(instant: dt.datetime) -> str:
    """``7:30 AM`` — the same in every locale."""
    hour = instant.hour % 12 or 12
    return f"{hour}:{instant.minute:02d} {'AM' if instant.hour < 12 else 'PM'}"


def _day_phrase(day: dt.date, today: dt.date) -> str:
    if day == today:
        return "today"
    if day == today + dt.timedelta(days=1):
        return "tomorrow"
    if day == today - dt.timedelta(days=1):
        return "yesterday"
    return f"on {day:%A} {day.day} {day:%B}"


def reminder_text(*, reminder: Reminder, now: dt.datetime | None = None) -> ReminderText:
    """The message for a reminder: the patient's first name, the session's local time and the stretch names.

    Never a last name, a diagnosis or a note: texts travel over channels the clinic does not control.
    ``now`` decides whether the session is "today" or "tomorrow" in the patient's zone. A questionnaire's reminder
    names no instrument either: an instrument's name says which body part hurts.
    """
    if reminder.purpose == Purpose.MEASURE_DUE:
        return _measure_text(reminder.measure_due.patient)
    session = reminder.session
    plan = session.prescription
    patient = plan.patient
    zone = patient.zone
    at = _clock_time(session.scheduled_at.astimezone(zone))
    today = patient.local_today(now)
    day = _day_phrase(session.local_date, today)
    stretches = ", ".join(item.stretch.name for item in plan.items.all())
    if reminder.purpose == Purpose.MISSED_FOLLOW_UP:
        which = f"{day}'s {at} stretches" if day in ("today", "yesterday") else f"your {at} stretches {day}"
        last_day = _day_phrase(scheduling.last_log_date(session.local_date), today)
        return ReminderText(
            subject=f"{which[0].upper()}{which[1:]} aren't logged yet",
            body=(
                f"Hi {patient.first_name}, {which} ({stretches}) aren't logged yet. If you did them, or do them "
                f"now, you can still log them in Limber until the end of {last_day}."
            ),
        )
    return ReminderText(
        subject=f"Your stretches {day} at {at}",
        body=(
            f"Hi {patient.first_name}, time for your stretches {day} at {at}: {stretches}. "
            "Log your session in Limber when you're done."
        ),
    )


def _measure_text(patient: Patient) -> ReminderText:
    return ReminderText(
        subject="A short questionnaire from your clinic",
        body=(
            f"Hi {patient.first_name}, your clinic would like to know how you are doing. A short questionnaire is "
            "waiting for you in Limber, under Questionnaires; it takes a few minutes."
        ),
    )


# --- Claiming --------------------------------------------------------------------------------------------


def _due(now: dt.datetime) -> Q:
    return Q(status=Status.PENDING, send_at__lte=now) & (Q(next_attempt_at__isnull=True) | Q(next_attempt_at__lte=now))


def _claim(*, now: dt.datetime, batch: int) -> list[int]:
    """Claim up to ``batch`` due rows, oldest send time first; committed before anything is sent."""
    with transaction.atomic():
        ids = list(
            locks.claim(Reminder.objects.filter(_due(now)))
            .order_by("send_at", "id")
            .values_list("pk", flat=True)[:batch]
        )
        if ids:
            Reminder.objects.filter(pk__in=ids).update(
                status=Status.SENDING, claimed_at=now, attempts=F("attempts") + 1, updated_at=now
            )
    return ids


def _claimed(ids: Sequence[int]) -> list[Reminder]:
    """The claimed rows with what the re-check and the text need, in a constant number of queries.

    The gate's facts are loaded separately, for the batch's plans at once (`_Recheck`).
    """
    items = PrescriptionItem.objects.select_related("stretch").order_by("order", "id")
    return list(
        Reminder.objects.filter(pk__in=ids)
        .select_related(
            "session__prescription__patient",
            "session__log",
            "measure_due__patient",
            "measure_due__episode",
            "measure_due__instrument",
        )
        .prefetch_related(Prefetch("session__prescription__items", queryset=items))
        .order_by("send_at", "id")
    )


def _record(reminder: Reminder, **fields) -> bool:
    """Record an outcome only while our claim still owns the row (same status, attempt and claim time).

    Plain SQL: this runs once per reminder, and building the ORM query cost several times the statement.
    """
    fields.setdefault("updated_at", timezone.now())
    meta, quote = Reminder._meta, connection.ops.quote_name
    columns = [meta.get_field(name) for name in fields]
    assignments = ", ".join(f"{quote(field.column)} = %s" for field in columns)
    values = [field.get_db_prep_save(fields[field.name], connection) for field in columns]
    with connection.cursor() as cursor:
        cursor.execute(
            f"UPDATE {quote(meta.db_table)} SET {assignments} "
            "WHERE id = %s AND status = %s AND attempts = %s AND claimed_at = %s",
            [*values, reminder.pk, Status.SENDING.value, reminder.attempts, reminder.claimed_at],
        )
        updated = cursor.rowcount == 1
    if not updated:
        logger.warning("Reminder %s: the claim was taken over before its outcome was recorded", reminder.pk)
    return updated


@contextmanager
def _outcomes_commit_asynchronously() -> Iterator[None]:
    """Commit this connection's writes without waiting for the WAL flush (``synchronous_commit = off``).

    Marks, cancellations and retries are protected by the idempotency key: if the *database server*
    crashes, it loses at most the last ~0.6 s of them (3 × ``wal_writer_delay``), never corrupting
    anything; those rows come back as ``sending`` and are offered again with the same key, the same
    boundary as a dispatcher crash. A dispatcher crash loses nothing this way. Without it, dispatch is
    bound by one fsync per reminder (~300 reminders/s on a slow disk).
    """
    with connection.cursor() as cursor:
        cursor.execute("SET synchronous_commit TO off")
    try:
        yield
    finally:
        with connection.cursor() as cursor:
            cursor.execute("RESET synchronous_commit")


# --- Re-checking -----------------------------------------------------------------------------------------


def _is_logged(session: Session) -> bool:
    try:
        return session.log is not None
    except SessionLog.DoesNotExist:
        return False


def _sent_in_local_day(patients: Collection[Patient], now: dt.datetime) -> dict[int, int]:
    """Reminders sent to each patient so far in the patient's local day at ``now`` (session and questionnaire
    reminders alike), in one query."""
    if not patients:
        return {}
    days = []
    for patient in patients:
        start, end = scheduling.local_day_bounds(patient.local_today(now), patient.zone)
        days.append(Q(sent_at__gte=start, sent_at__lt=end) & Reminder.of_patients("id", patient.pk))
    rows = (
        Reminder.objects.filter(reduce(operator.or_, days), status=Status.SENT)
        .annotate(patient_ref=Reminder.patient_field("id"))
        .order_by()
        .values_list("patient_ref")
        .annotate(sent=Count("pk"))
    )
    return dict(rows)


GATE_REASON_LENGTH = 300
"""How much of the first unresolved finding's message ``last_error`` quotes."""
RECHECK_REASON = "reminder held by the gate"


@dataclass(frozen=True)
class _NotDue:
    reason: str
    held_by_gate: bool = False
    """The safety gate holds the session: the cancellation also records a re-check request."""


def _shortened(text: str, length: int) -> str:
    return text if len(text) <= length else text[: length - 1].rstrip() + "…"


class _Recheck:
    """Why a claimed reminder is no longer due, or None.

    The last check before a message leaves is the whole safety gate (DESIGN §10): ``rules.evaluate`` for the
    plan's items on the session's local date, with the plan's stored overrides and acknowledgements. Its
    facts come from the one batch loader (``gate_facts_for_plans``) and the covered keys from
    ``covered_keys``, each read once for the batch's plans, and the findings are computed once per (plan,
    local date), so the check costs no query per reminder. The clearance in force is part of the gate (its
    clearance-level findings): there is no second clearance rule here.

    Like the conflict re-check, any unresolved finding holds the session: a block not overridden, and also
    a caution not acknowledged (``rules.unresolved``).
    """

    def __init__(self, now: dt.datetime, reminders: Sequence[Reminder]) -> None:
        self.now = now
        plans = {r.session.prescription_id: r.session.prescription for r in reminders if r.session_id is not None}
        self.facts = gate_facts_for_plans(list(plans.values())) if plans else {}
        self.covered = covered_keys(plans) if plans else {}
        self.unresolved: dict[tuple[int, dt.date], list[rules.Finding]] = {}
        dues = [r.measure_due for r in reminders if r.measure_due_id is not None]
        self.worded = worded_instruments(dues) if dues else set()

    def _gate(self, plan_id: int, day: dt.date) -> list[rules.Finding]:
        key = (plan_id, day)
        if key not in self.unresolved:
            items, facts = self.facts[plan_id]
            findings = rules.evaluate(facts, items, day)
            self.unresolved[key] = rules.unresolved(findings, self.covered.get(plan_id, ()))
        return self.unresolved[key]

    def problem(self, reminder: Reminder) -> _NotDue | None:
        if reminder.measure_due_id is not None:
            return self._measure_problem(reminder)
        session = reminder.session
        plan = session.prescription
        patient = plan.patient
        if session.status != Session.Status.SCHEDULED:
            return _NotDue(f"the session is {session.get_status_display().lower()}")
        if plan.status != Prescription.Status.ACTIVE:
            return _NotDue(f"the plan is {plan.get_status_display().lower()}")
        if _is_logged(session):
            return _NotDue("the session is already logged")
        if self.now >= scheduling.log_window(session.local_date, patient.zone)[1]:
            return _NotDue("the session's log window has closed")
        if patient.is_archived:
            return _NotDue("the patient is archived")
        # Before consent and the cap: a conflict no re-check has processed yet is reported (so the session gets
        # blocked and flagged) even when this reminder would not have gone out for another reason.
        # A missed-session follow-up invites the patient to do yesterday's stretches now: today must pass too.
        days = [session.local_date]
        if reminder.purpose == Purpose.MISSED_FOLLOW_UP:
            days.append(patient.local_today(self.now))
        for day in days:
            held = self._gate(plan.pk, day)
            if held:
                more = f" (and {len(held) - 1} more finding{'s' if len(held) > 2 else ''})" if len(held) > 1 else ""
                first = _shortened(held[0].message.rstrip("."), GATE_REASON_LENGTH)
                return _NotDue(
                    f"the safety gate holds the session on {day.isoformat()}: {first}{more}", held_by_gate=True
                )
        return self._consent_problem(reminder, patient)

    def _measure_problem(self, reminder: Reminder) -> _NotDue | None:
        """A questionnaire has no stretch, so no gate: the rest of the checks hold."""
        due = reminder.measure_due
        patient = due.patient
        why_not = measure_wants_reminder(
            due, patient=patient, worded=(patient.clinic_id, due.instrument_id) in self.worded
        )
        if why_not is not None:
            return _NotDue(why_not)
        if self.now >= measure_reminder_closes(due.due_on, patient.zone):
            return _NotDue("the questionnaire's reminder is too late (its due date was before yesterday)")
        return self._consent_problem(reminder, patient)

    @staticmethod
    def _consent_problem(reminder: Reminder, patient: Patient) -> _NotDue | None:
        if not patient.consented_to(reminder.channel):
            return _NotDue(f"the patient has no consented {Channel(reminder.channel).label} address")
        return None


def _cancel(reminder: Reminder, not_due: _NotDue, *, request_recheck: bool) -> bool:
    """Record the cancellation (only while our claim owns the row); with ``request_recheck``, the outbox
    request for the patient's re-check in the same transaction."""
    if not request_recheck:
        return _record(reminder, status=Status.CANCELLED, last_error=f"Not sent: {not_due.reason}.")
    # The batch commits with synchronous_commit = off, which is still safe here: the outbox row commits with
    # the cancellation or not at all. A database crash that loses both leaves the reminder ``sending``; it is
    # released with its key, offered again and re-checked, which cancels it and records the request again.
    # Recorded even if the claim was taken over: the gate holds the session whoever owns the row. No after-commit
    # task from here (the tasks sit above the services): the per-minute ``drain_rechecks`` takes the request
    # within a minute, and ``DispatchResult.rechecks_requested`` lets a caller publish the fast path.
    with transaction.atomic():
        cancelled = _record(reminder, status=Status.CANCELLED, last_error=f"Not sent: {not_due.reason}.")
        recheck_request(patient_ids=[reminder.patient_pk], reason=RECHECK_REASON)
    return cancelled


# --- Sending ---------------------------------------------------------------------------------------------


def _recipient(reminder: Reminder) -> str:
    patient = reminder.patient
    return patient.email if reminder.channel == Channel.EMAIL else patient.phone


def _send_one(reminder: Reminder, *, clock: Callable[[], dt.datetime], result: DispatchResult) -> bool:
    """Offer one reminder to its channel and record the outcome; True if it was sent."""
    text = reminder_text(reminder=reminder, now=clock())
    try:
        channel_for(reminder.channel).send(
            reminder_id=reminder.pk,
            to=_recipient(reminder),
            subject=text.subject,
            body=text.body,
            idempotency_key=reminder.idempotency_key,
        )
    except PermanentChannelError as exc:
        error = f"Permanent failure: {exc}"[:1000]
        outcome = _record(reminder, status=Status.FAILED, last_error=error, next_attempt_at=None)
        result.failed += outcome
        result.lost += not outcome
        return False
    except Exception as exc:  # noqa: BLE001 — transient, or a backend bug: retried with backoff, then failed
        if not isinstance(exc, TransientChannelError):
            logger.exception("Reminder %s: unexpected error from the %s channel", reminder.pk, reminder.channel)
        error = f"Attempt {reminder.attempts}: {type(exc).__name__}: {exc}"[:1000]
        if reminder.attempts >= max_attempts():
            outcome = _record(reminder, status=Status.FAILED, last_error=f"Gave up. {error}", next_attempt_at=None)
            result.failed += outcome
        else:
            retry_at = clock() + retry_delay(reminder.attempts)
            outcome = _record(reminder, status=Status.PENDING, last_error=error, next_attempt_at=retry_at)
            result.retrying += outcome
        result.lost += not outcome
        return False
    # The provider has it. From here until the UPDATE commits is the at-least-once boundary.
    if _record(reminder, status=Status.SENT, sent_at=clock(), last_error="", next_attempt_at=None):
        result.sent += 1
        return True
    result.lost += 1
    return False


def _unclaim(reminders: Sequence[Reminder]) -> int:
    """Hand back claims never offered to a channel: pending again, the claim's attempt not counted."""
    handed_back = 0
    for reminder in reminders:
        handed_back += _record(reminder, status=Status.PENDING, attempts=reminder.attempts - 1)
    return handed_back


def reminders_dispatch(
    *, now: dt.datetime | None = None, batch: int = 100, deadline: float | None = None
) -> DispatchResult:
    """Claim up to ``batch`` due reminders, re-check each, send it with its key and mark it sent.

    ``now`` fixes the clock (tests); otherwise the real time is used. ``deadline`` is a
    ``time.monotonic()`` value: claimed rows not reached by then go straight back to ``pending``.
    Transient channel errors return a row to ``pending`` with exponential backoff until
    ``REMINDER_MAX_ATTEMPTS`` (default 5) claims were made, then it is ``failed``; permanent errors fail
    it at once. At most ``REMINDER_DAILY_CAP`` reminders are sent to a patient per local day (the
    patient's day at the moment of sending). A reminder the safety gate holds is cancelled and its
    patient's re-check recorded in the outbox, once per patient per call. Call it outside a transaction:
    each claim and outcome commits on its own.
    """
    if batch < 1:
        raise ValueError(f"batch must be at least 1, got {batch}")
    clock: Callable[[], dt.datetime] = (lambda: now) if now is not None else timezone.now
    started = clock()
    result = DispatchResult()
    ids = _claim(now=started, batch=batch)
    result.claimed = len(ids)
    if not ids:
        return result

    claimed = _claimed(ids)
    patients = {r.patient_pk: r.patient for r in claimed}
    with locks.dispatching_patients(patients) as free, _outcomes_commit_asynchronously():
        busy = [r for r in claimed if r.patient_pk not in free]
        result.unclaimed += _unclaim(busy)  # another dispatcher is sending to them right now
        mine = [r for r in claimed if r.patient_pk in free]
        sent_today = _sent_in_local_day([patients[pk] for pk in free], clock())
        recheck = _Recheck(started, mine)
        cap = settings.REMINDER_DAILY_CAP
        for position, reminder in enumerate(mine):
            if deadline is not None and time.monotonic() >= deadline:
                result.unclaimed += _unclaim(mine[position:])
                break
            patient_id = reminder.patient_pk
            problem = recheck.problem(reminder)
            if problem is None and sent_today.get(patient_id, 0) >= cap:
                problem = _NotDue(f"the patient's daily cap of {cap} reminders is reached")
            if problem is not None:
                # One outbox request per patient per batch, however many of their reminders the gate holds.
                request = problem.held_by_gate and patient_id not in result.rechecks_requested
                cancelled = _cancel(reminder, problem, request_recheck=request)
                if request:
                    result.rechecks_requested.append(patient_id)
                result.cancelled += cancelled
                result.held_by_gate += cancelled and problem.held_by_gate
                result.lost += not cancelled
            elif _send_one(reminder, clock=clock, result=result):
                sent_today[patient_id] = sent_today.get(patient_id, 0) + 1

    if result.claimed:
        logger.info("Reminder dispatch: %s", result)
    return result


def reminders_release_stale(*, now: dt.datetime | None = None, older_than: dt.timedelta = STALE_CLAIM_AFTER) -> int:
    """Return claims older than ``older_than`` (their dispatcher died) to ``pending``; returns how many.

    The row keeps its idempotency key, so the next dispatch offers the same key again: the
    at-least-once boundary. A row that already used all its attempts is ``failed`` instead (and counted),
    so a reminder that kills its dispatcher every time cannot loop forever.
    """
    now = now or timezone.now()
    stale = Reminder.objects.filter(status=Status.SENDING, claimed_at__lt=now - older_than)
    with transaction.atomic():
        released = stale.filter(attempts__lt=max_attempts()).update(
            status=Status.PENDING,
            next_attempt_at=None,
            last_error="The dispatcher stopped before recording the outcome; offered again with the same key.",
            updated_at=now,
        )
        failed = stale.filter(attempts__gte=max_attempts()).update(
            status=Status.FAILED,
            next_attempt_at=None,
            last_error="Gave up: the dispatcher stopped before recording the outcome of the last attempt.",
            updated_at=now,
        )
    if released or failed:
        logger.warning("Released %s stale reminder claim(s); %s failed after the last attempt", released, failed)
    return released + failed


@transaction.atomic
def reminder_retry(*, reminder: Reminder, by) -> Reminder:
    """Staff give a failed reminder a fresh round of attempts; it keeps its key. Anything else is a 409."""
    owners = Reminder.objects.select_related("session__prescription__patient", "measure_due__patient")
    locked = locks.rows(owners).get(pk=reminder.pk)
    require(Action.RETRY_REMINDER, by, locked.patient.clinic_id)
    if locked.status != Status.FAILED:
        state = locked.get_status_display().lower()
        raise StateConflict(f"Only a failed reminder can be retried; this one is {state}.")
    locked.status = Status.PENDING
    locked.attempts = 0
    locked.next_attempt_at = None
    locked.save(update_fields=["status", "attempts", "next_attempt_at", "updated_at"])
    return locked
