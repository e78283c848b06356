"""Portal writes on sessions: log one (raising pain and red-flag flags in the same transaction) or skip one.

Both refuse (StateConflict → 409) unless the session is ``scheduled`` and its log window is open: from the
start of the session's local date until the end of the next local day, in the patient's zone (DESIGN §3).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.utils import timezone

from clinic.errors import StateConflict
from patients.models import Patient
from patients.services import require_portal_access
from prescriptions import scheduling
from prescriptions.gate import pain
from prescriptions.models import Prescription, Reminder, SafetyFlag, Session, SessionLog
from prescriptions.selectors.red_flags import session_questions
from prescriptions.services import locks
from prescriptions.services.flagging import flag_raise

Status = Session.Status

NOTE_MAX_LENGTH = 2000
ANSWERS_MAX = 50
SKIP_REASON_MAX_LENGTH = 500

_REFUSALS = {
    Status.BLOCKED: (
        "it is on hold while your clinic reviews a safety concern; "
        "please don't do these stretches until they contact you."
    ),
    Status.CANCELLED: "it was cancelled.",
    Status.COMPLETED: "it is already logged.",
    Status.SKIPPED: "it was skipped.",
    Status.MISSED: "it was missed and its window has closed.",
}


@dataclass(frozen=True)
class SessionLogged:
    """The outcome of logging a session: the log, the flags it opened or refreshed, and the patient's advice."""

    log: SessionLog
    flags: list[SafetyFlag] = field(default_factory=list)
    signals: list[pain.Signal] = field(default_factory=list)
    advice: str | None = None
    questions: tuple[pain.RedFlagQuestionFact, ...] = ()


def log_window(*, patient: Patient, local_date: dt.date) -> tuple[dt.datetime, dt.datetime]:
    """``[opens, closes)`` in UTC: from the start of ``local_date`` to the end of the next local day, locally."""
    return scheduling.log_window(local_date, patient.zone)


def _require_open(session: Session, *, verb: str, now: dt.datetime) -> None:
    """Refuse unless the session is scheduled and ``now`` is inside its log window."""
    if session.status != Status.SCHEDULED:
        reason = _REFUSALS.get(session.status, f"it is {session.status}.")
        raise StateConflict(f"This session cannot be {verb}: {reason}")
    patient = session.prescription.patient
    opens, closes = log_window(patient=patient, local_date=session.local_date)
    if now < opens:
        raise StateConflict(
            f"This session cannot be {verb} yet: it is on {session.local_date.isoformat()} "
            f"and can be {verb} from the start of that day ({patient.timezone})."
        )
    if now >= closes:
        last_day = scheduling.last_log_date(session.local_date)
        raise StateConflict(
            f"This session can no longer be {verb}: its window closed at the end of "
            f"{last_day.isoformat()} ({patient.timezone})."
        )


def _is_rating(value: Any, low: int, high: int) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and low <= value <= high


def _check_input(*, pain_before: Any, pain_after: Any, difficulty: Any, answers: Any, note: str) -> None:
    errors: dict[str, str] = {}
    for name, value in (("pain_before", pain_before), ("pain_after", pain_after)):
        if not _is_rating(value, 0, 10):
            errors[name] = "Rate pain from 0 (none) to 10 (worst imaginable)."
    if difficulty is not None and not _is_rating(difficulty, 1, 5):
        errors["difficulty"] = "Rate difficulty from 1 (easy) to 5 (very hard), or leave it out."
    if not isinstance(answers, Mapping) or len(answers) > ANSWERS_MAX:
        errors["answers"] = "Answer the session's red-flag questions: {question slug: true or false}."
    else:
        for slug, value in answers.items():
            if not isinstance(value, bool):
                errors[f"answers.{slug}"] = pain.NOT_YES_OR_NO
    if len(note) > NOTE_MAX_LENGTH:
        errors["note"] = f"Keep the note under {NOTE_MAX_LENGTH} characters."
    if errors:
        raise ValidationError(errors)


def _item_id(key: Any, item_ids: Mapping[int, str]) -> int | None:
    """``key`` as the id of one of the plan's items, or None."""
    if isinstance(key, bool):
        return None
    try:
        item_id = int(key)
    except (TypeError, ValueError):
        return None
    return item_id if item_id in item_ids else None


def _item_completion(item_ids: Mapping[int, str], item_completion: Mapping[Any, Any]) -> dict[str, bool]:
    """``{item id: done}`` with every id an item of the session's plan, keys as strings (JSON)."""
    completion: dict[str, bool] = {}
    strangers: list[str] = []
    for key, done in item_completion.items():
        item_id = _item_id(key, item_ids)
        if item_id is None:
            strangers.append(str(key))
            continue
        if not isinstance(done, bool):
            raise ValidationError({"item_completion": f"Say true or false for item {item_id}."})
        completion[str(item_id)] = done
    if strangers:
        raise ValidationError(
            {"item_completion": f"Not stretches of this session's plan: {', '.join(sorted(strangers))}."}
        )
    return completion


def _hurt_items(item_ids: Mapping[int, str], hurt_items: Any) -> list[int]:
    """The ids of the plan's items the patient said hurt, each once, in the order given."""
    if isinstance(hurt_items, str | bytes | Mapping) or not isinstance(hurt_items, Iterable):
        raise ValidationError({"hurt_items": "Give a list of ids of this session's plan items."})
    hurt: list[int] = []
    strangers: list[str] = []
    for key in hurt_items:
        item_id = _item_id(key, item_ids)
        if item_id is None:
            strangers.append(str(key))
        elif item_id not in hurt:
            hurt.append(item_id)
    if strangers:
        raise ValidationError({"hurt_items": f"Not stretches of this session's plan: {', '.join(sorted(strangers))}."})
    return hurt


def _earlier_pain(patient_id: int) -> list[tuple[int, int]]:
    """(pain before, pain after) of the patient's latest earlier logs, oldest first: as many as the trend rule
    reads (the latest one is the previous session the not-settled rule compares with)."""
    latest_first = (
        SessionLog.objects.filter(session__prescription__patient_id=patient_id)
        .order_by("-logged_at", "-id")
        .values_list("pain_before", "pain_after")[: max(pain.PAIN_TREND_LOGS - 1, 1)]
    )
    return list(latest_first)[::-1]


_SEVERITY_RANK = {pain.Urgency.WARNING: 0, pain.Urgency.URGENT: 1}


def _hold_upcoming_sessions(patient_id: int) -> list[Session]:
    """Block the patient's upcoming scheduled sessions of active plans and cancel their pending reminders."""
    now = timezone.now()
    held = list(
        locks.rows(
            Session.objects.filter(
                prescription__patient_id=patient_id,
                prescription__status=Prescription.Status.ACTIVE,
                status=Session.Status.SCHEDULED,
                scheduled_at__gt=now,
            )
        )
    )
    ids = [session.pk for session in held]
    Session.objects.filter(pk__in=ids).update(status=Session.Status.BLOCKED, updated_at=now)
    Reminder.objects.filter(session_id__in=ids, status=Reminder.Status.PENDING).update(
        status=Reminder.Status.CANCELLED, last_error="Held: the patient reported a symptom to review.", updated_at=now
    )
    return held


def _raise_flags(
    log: SessionLog, signals: list[pain.Signal], hurt: list[dict[str, Any]] | None = None
) -> list[SafetyFlag]:
    """One flag per (kind, cause): ``log:<id>`` for what this log shows, ``pain-trend:<plan>`` for the trend.
    ``hurt`` (the stretches the patient said hurt) goes into the details of every flag."""
    session = log.session
    prescription = session.prescription
    grouped: dict[tuple[str, str], list[pain.Signal]] = {}
    for signal in signals:
        trend = signal.code == pain.SignalCode.PAIN_TREND
        cause = f"pain-trend:{prescription.pk}" if trend else f"log:{log.pk}"
        grouped.setdefault((signal.flag_kind, cause), []).append(signal)
    raised = []
    for (kind, cause), group in grouped.items():
        stop = any(signal.stop for signal in group)
        # A flag that holds the patient's plan is urgent, whatever else it lists: the patient has just been
        # told to stop and call the clinic.
        severity = (
            pain.Urgency.URGENT if stop else max((signal.severity for signal in group), key=_SEVERITY_RANK.__getitem__)
        )
        # The patient was told to stop: hold their upcoming sessions (and reminders) until a therapist
        # resolves the flag, which releases them.
        held = _hold_upcoming_sessions(prescription.patient_id) if stop else []
        flag, _created = flag_raise(
            patient=prescription.patient,
            prescription=prescription,
            kind=kind,
            cause_key=cause,
            severity=severity.value,
            sessions=held,
            summary=" ".join(signal.message for signal in group),
            details={
                "log": log.pk,
                "session": session.pk,
                "local_date": session.local_date.isoformat(),
                "pain_before": log.pain_before,
                "pain_after": log.pain_after,
                **({"hurt_items": hurt} if hurt else {}),
                "signals": [signal.as_dict() for signal in group],
            },
        )
        raised.append(flag)
    return raised


@transaction.atomic
def session_log_create(
    *,
    session: Session,
    by,
    pain_before: int,
    pain_after: int,
    answers: Mapping[str, bool],
    difficulty: int | None = None,
    item_completion: Mapping[Any, bool] | None = None,
    hurt_items: Iterable[Any] = (),
    note: str = "",
) -> SessionLogged:
    """Log a scheduled session inside its window; the session becomes ``completed``.

    ``answers`` answers exactly the session's red-flag questions (``selectors.red_flags.session_questions``,
    chosen by the patient's diagnoses on the session's date and the plan's stretch regions): a question left
    unanswered, or one the session does not ask, is a ValidationError naming it (``answers.<slug>``), never a
    "no". ``hurt_items`` names the plan items that hurt.

    In the same transaction the pain rules (``pain.pain_signals``) and the answers
    (``pain.red_flag_signals``) open or refresh flags: ``pain_escalation`` for ``log:<id>`` on high,
    above-acceptable, rising or not-settled pain and for ``pain-trend:<plan id>`` on pain rising across
    consecutive logs; ``red_flag_symptom`` for ``log:<id>`` on any yes. A flag whose signals tell the patient to
    stop (pain of 7 or more, a yes to an urgent question) holds the patient's upcoming sessions and is
    ``urgent``; the others are warnings. ``advice`` tells the patient what to do, naming each rule that fired.

    Logs of one patient are serialized (the patient's row is locked before the earlier logs are read), so of
    two logs made at once the second reads the first and a trend the two complete together is flagged.
    """
    _check_input(pain_before=pain_before, pain_after=pain_after, difficulty=difficulty, answers=answers, note=note)
    # One log of a patient at a time: the pain trend reads the patient's earlier logs, which a concurrent log
    # (a guardian's, a double submit) would not see until it commits. The patient's active plans are locked
    # too — their sessions may be held below — before the session (lock order: see the package docstring).
    plan_id, patient_id = Session.objects.values_list("prescription_id", "prescription__patient_id").get(pk=session.pk)
    require_portal_access(by, patient_id)  # before any lock: a stranger holds up no one
    locks.patient_and_plans(patient_id=patient_id, plan_ids=[plan_id])
    session = locks.session(session_id=session.pk)
    patient = session.prescription.patient
    if patient.archived_at is not None:  # archived while this request waited for the patient's lock
        raise StateConflict("This patient is archived: the session can no longer be logged.")
    now = timezone.now()
    _require_open(session, verb="logged", now=now)
    item_names = dict(session.prescription.items.values_list("id", "stretch__name"))
    completion = _item_completion(item_names, item_completion or {})
    hurt = _hurt_items(item_names, hurt_items)
    # Chosen under the patient's lock, from the facts as they are now: a diagnosis recorded since the client
    # fetched the questions adds its questions, and the log is refused until they are answered.
    questions = session_questions(session)
    if not any(question.asked_of_everyone for question in questions):
        # Fail closed: with no screening every patient is asked (all retired in the admin), "no symptoms"
        # would be read from questions nobody asked.
        raise StateConflict(
            "This session cannot be logged: the clinic's red-flag screening questions are switched off. "
            "Please call your clinic."
        )
    errors = pain.red_flag_answer_errors(questions, answers)
    if errors:
        raise ValidationError(errors)

    earlier = _earlier_pain(patient.pk)
    signals = [
        *pain.pain_signals(
            pain_before,
            pain_after,
            [after for _before, after in earlier],  # the trend reads the last PAIN_TREND_LOGS - 1
            previous_pain_before=earlier[-1][0] if earlier else None,
            hurt=[item_names[item_id] for item_id in hurt],
        ),
        *pain.red_flag_signals(questions, answers),
    ]
    log = SessionLog(
        session=session,
        logged_at=now,
        logged_by=by,
        pain_before=pain_before,
        pain_after=pain_after,
        difficulty=difficulty,
        item_completion=completion,
        hurt_items=hurt,
        red_flag_questions=[
            {"slug": question.slug, "text": question.text, "severity": question.severity.value}
            for question in questions
        ],
        red_flag_answers={question.slug: answers[question.slug] for question in questions},
        note=note.strip(),
    )
    try:
        with transaction.atomic():
            log.save()
    except IntegrityError as exc:  # a log without the status change: refuse rather than overwrite
        raise StateConflict(f"This session cannot be logged: {_REFUSALS[Status.COMPLETED]}") from exc
    session.status = Status.COMPLETED
    session.save(update_fields=["status", "updated_at"])
    flags = _raise_flags(log, signals, [{"item": item_id, "stretch": item_names[item_id]} for item_id in hurt])
    return SessionLogged(
        log=log, flags=flags, signals=signals, advice=pain.log_advice(signals), questions=tuple(questions)
    )


@transaction.atomic
def session_skip(*, session: Session, by, reason: str = "") -> Session:
    """The patient says they will not do this session: ``scheduled → skipped`` inside its log window.

    The reason is checked but not kept: the Session model has no field for it yet.
    """
    if len(reason) > SKIP_REASON_MAX_LENGTH:
        raise ValidationError({"reason": f"Keep the reason under {SKIP_REASON_MAX_LENGTH} characters."})
    session = locks.session(session_id=session.pk)
    require_portal_access(by, session.prescription.patient_id)
    _require_open(session, verb="skipped", now=timezone.now())
    session.status = Status.SKIPPED
    session.save(update_fields=["status", "updated_at"])
    return session
