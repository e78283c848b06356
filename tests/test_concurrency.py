"""Races between the services that share a patient's rows, on the real PostgreSQL: each request runs in a thread
with its own connection and commits for real (``transaction=True``), so locks, waits and deadlock detection
are PostgreSQL's own.

The lock order these tests hold the services to is written down in ``prescriptions/services/__init__.py``.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import threading
import time
from collections.abc import Callable
from functools import partial

import pytest
from django.db import connection, transaction
from django.utils import timezone

from clinic.errors import StateConflict
from clinic.models import StaffMembership, Stretch
from patients.models import Clearance, PortalAccess
from prescriptions import services
from prescriptions.gate.pain import PAIN_TREND_LOGS
from prescriptions.models import Prescription, Reminder, SafetyFlag, Session, SessionLog
from prescriptions.services.conflicts import prescription_recheck
from prescriptions.services.schedule import reminders_refresh_for_patient, sessions_retime_for_patient
from prescriptions.services.sessions import session_log_create
from tests import factories
from tests.threads import OnItsOwnConnection, together

Kind = SafetyFlag.Kind
BLOCKED, SCHEDULED, COMPLETED = Session.Status.BLOCKED, Session.Status.SCHEDULED, Session.Status.COMPLETED
UNRESOLVED = (SafetyFlag.Status.OPEN, SafetyFlag.Status.ACKNOWLEDGED)


Request = OnItsOwnConnection


def waits_on_a_lock() -> bool:
    """Whether some other connection to the test database is waiting for a row lock right now."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_stat_clear_snapshot()")  # the activity view is read once per transaction
        cursor.execute(
            "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() AND wait_event_type = 'Lock'"
        )
        return bool(cursor.fetchone()[0])


def until(condition: Callable[[], bool], timeout: float = 5.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.02)
    return condition()


# --- Set-up (factories only: nothing here publishes to the broker) ----------------------------------------


def a_patient(*, cleared: bool = True):
    clinic = factories.ClinicFactory()
    therapist = factories.MembershipFactory(clinic=clinic, role=StaffMembership.Role.THERAPIST).user
    patient = factories.PatientFactory(
        clinic=clinic, preferred_channel="email", email_consent=True, email_consent_at=timezone.now()
    )
    factories.MobilityAssessmentFactory(patient=patient, assessed_by=therapist)
    if cleared:
        factories.ClearanceFactory(patient=patient, recorded_by=therapist)
    return patient, therapist


def an_active_plan(patient, therapist, *, start_days_ago: int = 10) -> Prescription:
    plan = factories.PrescriptionFactory(
        episode__patient=patient,
        therapist=therapist,
        status=Prescription.Status.ACTIVE,
        start_date=patient.local_today() - dt.timedelta(days=start_days_ago),
        activated_at=timezone.now() - dt.timedelta(days=start_days_ago),
    )
    factories.PrescriptionItemFactory(prescription=plan, stretch=Stretch.objects.get(clinic=None, slug="pelvic-tilt"))
    return plan


def upcoming(plan, days: int) -> list[Session]:
    """Sessions at 08:00 local on the next ``days`` days, each with a pending session reminder."""
    today = plan.patient.local_today()
    sessions = []
    for offset in range(1, days + 1):
        session = factories.SessionFactory(prescription=plan, local_date=today + dt.timedelta(days=offset))
        factories.ReminderFactory(session=session)
        sessions.append(session)
    return sessions


def earlier_logs(plan, pains_after: list[int]) -> None:
    """Completed sessions on the days before yesterday, logged in that order, with these pain-after ratings."""
    today = plan.patient.local_today()
    for index, pain in enumerate(pains_after):
        back = len(pains_after) + 1 - index
        factories.SessionLogFactory(
            session__prescription=plan,
            session__local_date=today - dt.timedelta(days=back),
            logged_at=timezone.now() - dt.timedelta(days=back),
            pain_before=pain,
            pain_after=pain,
        )


def trend_flags(plan):
    return SafetyFlag.objects.filter(kind=Kind.PAIN_ESCALATION, cause_key=f"pain-trend:{plan.pk}")


def rising(pains: list[int]) -> bool:
    last = pains[-PAIN_TREND_LOGS:]
    return len(last) == PAIN_TREND_LOGS and all(a < b for a, b in zip(last, last[1:], strict=False))


# --- 1. Pain-trend checks are serialized per patient ------------------------------------------------------

# Earlier logs 5 then 2: a log of 3 alone reads (5, 2, 3) and a log of 4 alone reads (5, 2, 4) — no trend
# either way. Logged one after the other, 3 then 4 reads (2, 3, 4): pain rising across three logs.
EARLIER, FIRST, SECOND = [5, 2], 3, 4


def two_sessions_today(plan) -> tuple[Session, Session]:
    today = plan.patient.local_today()
    return (
        factories.SessionFactory(prescription=plan, local_date=today, local_time=dt.time(0, 0)),
        factories.SessionFactory(prescription=plan, local_date=today, local_time=dt.time(0, 30)),
    )


def pain_log(session, by, pain: int):
    answers = factories.no_red_flags(session)
    return partial(session_log_create, session=session, by=by, pain_before=pain, pain_after=pain, answers=answers)


@pytest.mark.django_db(transaction=True)
def test_a_log_made_while_another_log_of_the_patient_is_in_flight_waits_for_it_and_sees_the_trend(catalog):
    """The patient logs one session while their guardian logs another: the guardian's log must read the
    patient's (it commits first), or the rising trend the two complete together is never flagged."""
    patient, therapist = a_patient()
    plan = an_active_plan(patient, therapist)
    earlier_logs(plan, EARLIER)
    mine, theirs = two_sessions_today(plan)
    myself = factories.PortalAccessFactory(patient=patient).user
    guardian = factories.PortalAccessFactory(patient=patient, relationship=PortalAccess.Relationship.GUARDIAN).user
    logged, commit = threading.Event(), threading.Event()

    def patient_request():  # a request whose transaction is still open after the log service returned
        with transaction.atomic():
            outcome = pain_log(mine, myself, FIRST)()
            logged.set()
            assert commit.wait(10)
        return outcome

    def guardian_request():
        assert logged.wait(10)
        return pain_log(theirs, guardian, SECOND)()

    first, second = Request(patient_request), Request(guardian_request)
    first.start()
    second.start()
    until(lambda: not second.is_alive() or waits_on_a_lock())
    commit.set()
    first_outcome, second_outcome = first.outcome(), second.outcome()

    assert first_outcome.flags == []
    [flag] = trend_flags(plan)
    assert second_outcome.flags == [flag]
    assert flag.details["signals"][0]["evidence"] == [EARLIER[-1], FIRST, SECOND]


@pytest.mark.django_db(transaction=True)
def test_two_logs_of_one_patient_at_the_same_instant_flag_the_trend_they_complete_exactly_once(catalog):
    """Two requests log two sessions at the same instant (patient and guardian, or a double submit): whichever
    commits second reads the first, so the trend flag is there exactly when the logs, in order, rise."""
    for _ in range(8):
        patient, therapist = a_patient()
        plan = an_active_plan(patient, therapist)
        earlier_logs(plan, EARLIER)
        mine, theirs = two_sessions_today(plan)
        myself = factories.PortalAccessFactory(patient=patient).user
        guardian = factories.PortalAccessFactory(patient=patient, relationship=PortalAccess.Relationship.GUARDIAN).user

        requests = together(pain_log(mine, myself, FIRST), pain_log(theirs, guardian, SECOND))

        outcomes = [request.outcome() for request in requests]  # no IntegrityError, no deadlock
        pains = list(
            SessionLog.objects.filter(session__prescription=plan)
            .order_by("logged_at", "id")
            .values_list("pain_after", flat=True)
        )
        expected = rising(pains)
        assert trend_flags(plan).count() == (1 if expected else 0), f"logs in order: {pains}"
        trend_raised = [any(f.cause_key.startswith("pain-trend:") for f in outcome.flags) for outcome in outcomes]
        assert sum(trend_raised) == (1 if expected else 0)


# --- 2. Services lock in one order: patient → plans → sessions → flags -------------------------------------


def a_plan_held_by_a_clearance_conflict(days: int = 8):
    """An active plan whose upcoming sessions a ``clearance_conflict`` flag holds (no clearance on file)."""
    patient, therapist = a_patient(cleared=False)
    plan = an_active_plan(patient, therapist, start_days_ago=0)
    sessions = upcoming(plan, days)
    prescription_recheck(prescription_id=plan.pk)
    flag = SafetyFlag.objects.get(prescription=plan, kind=Kind.CLEARANCE_CONFLICT)
    assert {s.status for s in Session.objects.filter(pk__in=[s.pk for s in sessions])} == {BLOCKED}
    return patient, therapist, plan, sessions, flag


@pytest.mark.django_db(transaction=True)
def test_resolving_a_gate_flag_while_its_plan_is_rechecked_never_deadlocks(catalog):
    """The physician's clearance has just been filed (its re-check is running) while a therapist resolves the
    plan's clearance flag by hand: both lift the same sessions and close the same flag. Either may win; neither
    may fail, and the plan ends up released either way."""
    for _ in range(20):
        patient, therapist, plan, sessions, flag = a_plan_held_by_a_clearance_conflict()
        factories.ClearanceFactory(patient=patient, recorded_by=therapist)

        resolve, recheck = together(
            partial(services.flag_resolve, flag=flag, by=therapist, resolution="The clearance is on file now."),
            partial(prescription_recheck, prescription_id=plan.pk),
        )

        recheck.outcome()
        with contextlib.suppress(StateConflict):  # the re-check resolved it first: "already resolved"
            resolve.outcome()
        flag.refresh_from_db()
        assert flag.status == SafetyFlag.Status.RESOLVED
        assert not SafetyFlag.objects.filter(prescription=plan, status__in=UNRESOLVED).exists()
        assert set(Session.objects.filter(prescription=plan).values_list("status", flat=True)) == {SCHEDULED}
        assert set(Reminder.objects.filter(session__in=sessions).values_list("status", flat=True)) == {
            Reminder.Status.PENDING
        }


@pytest.mark.django_db(transaction=True)
def test_a_red_flag_log_while_its_plan_is_rechecked_never_deadlocks(catalog):
    """A clearance was just revoked (its re-check blocks today's and the upcoming sessions) while the patient
    logs today's session with a red-flag answer (which holds the upcoming sessions). Either may go first."""
    for _ in range(12):
        patient, therapist = a_patient()
        plan = an_active_plan(patient, therapist, start_days_ago=0)
        today = factories.SessionFactory(prescription=plan, local_date=patient.local_today(), local_time=dt.time(0))
        sessions = upcoming(plan, 8)
        portal = factories.PortalAccessFactory(patient=patient).user
        Clearance.objects.filter(patient=patient).update(
            revoked_at=timezone.now() - dt.timedelta(days=1), revoked_by=therapist, revoke_reason="Withdrawn"
        )

        log, recheck = together(
            partial(
                session_log_create,
                session=today,
                by=portal,
                pain_before=2,
                pain_after=2,
                answers=factories.no_red_flags(today, progressive_leg_weakness=True),
            ),
            partial(prescription_recheck, prescription_id=plan.pk),
        )

        recheck.outcome()
        try:
            log.outcome()
        except StateConflict:  # the re-check blocked today's session first: the patient is told it is on hold
            logged = False
        else:
            logged = True
        today.refresh_from_db()
        assert today.status == (COMPLETED if logged else BLOCKED)
        assert SafetyFlag.objects.filter(patient=patient, kind=Kind.RED_FLAG_SYMPTOM).count() == int(logged)
        assert set(Session.objects.filter(pk__in=[s.pk for s in sessions]).values_list("status", flat=True)) == {
            BLOCKED
        }
        conflict = SafetyFlag.objects.get(prescription=plan, kind=Kind.CLEARANCE_CONFLICT)
        assert set(conflict.sessions.values_list("pk", flat=True)) >= {s.pk for s in sessions}


@pytest.mark.django_db(transaction=True)
def test_a_log_while_the_plan_is_paused_never_deadlocks(catalog):
    """Pausing locks the plan (and its patient); logging locks the patient, then the plans: one order."""
    for _ in range(12):
        patient, therapist = a_patient()
        plan = an_active_plan(patient, therapist, start_days_ago=0)
        today = factories.SessionFactory(prescription=plan, local_date=patient.local_today(), local_time=dt.time(0))
        upcoming(plan, 4)
        portal = factories.PortalAccessFactory(patient=patient).user

        log, pause = together(
            partial(
                session_log_create,
                session=today,
                by=portal,
                pain_before=8,
                pain_after=8,
                answers=factories.no_red_flags(today),
            ),
            partial(services.prescription_pause, prescription=plan, by=therapist),
        )

        log.outcome()
        pause.outcome()
        plan.refresh_from_db()
        assert plan.status == Prescription.Status.PAUSED
        assert Session.objects.get(pk=today.pk).status == COMPLETED


@pytest.mark.django_db(transaction=True)
def test_re_planning_reminders_while_a_red_flag_log_holds_the_sessions_never_deadlocks(catalog):
    """A preferences change re-plans the patient's reminders (inserting the missing ones key-share-locks their
    sessions) while the patient logs a red flag, which holds those sessions and cancels their reminders; and a
    zone change re-times the same sessions. All take the plans first, so they queue."""
    for _ in range(12):
        patient, therapist = a_patient()
        plan = an_active_plan(patient, therapist, start_days_ago=0)
        today = factories.SessionFactory(prescription=plan, local_date=patient.local_today(), local_time=dt.time(0))
        upcoming(plan, 4)
        for offset in range(1, 5):  # evening sessions with no reminder yet: the refresh inserts theirs
            factories.SessionFactory(
                prescription=plan, local_date=patient.local_today() + dt.timedelta(days=offset), local_time=dt.time(18)
            )
        portal = factories.PortalAccessFactory(patient=patient).user

        log, refresh, retime = together(
            partial(
                session_log_create,
                session=today,
                by=portal,
                pain_before=2,
                pain_after=2,
                answers=factories.no_red_flags(today, saddle_numbness=True),
            ),
            partial(reminders_refresh_for_patient, patient_id=patient.pk),
            partial(sessions_retime_for_patient, patient_id=patient.pk),
        )

        log.outcome()
        refresh.outcome()
        retime.outcome()
        assert SafetyFlag.objects.filter(patient=patient, kind=Kind.RED_FLAG_SYMPTOM).count() == 1
        held = Session.objects.filter(prescription=plan, local_date__gt=patient.local_today())
        assert held.count() == 8 and set(held.values_list("status", flat=True)) == {BLOCKED}
        assert not Reminder.objects.filter(session__in=held, status=Reminder.Status.PENDING).exists()
