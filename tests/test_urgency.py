"""Urgency that matches what the patient is told (issue #11, item 4): a symptom that holds the plan is urgent;
a conflict is urgent once a session it holds starts within 24 hours, and escalates (never back) as time passes.

Time is fixed: the clock is frozen at ``NOW`` (12:00 in New York, the factories' zone) before anything is
built, and moved with ``at(...)``; the services that take ``now`` get the same instant."""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from clinic.models import Diagnosis, Stretch
from patients import services as patient_services
from prescriptions.gate import pain
from prescriptions.models import Prescription, SafetyFlag, Session
from prescriptions.services.conflicts import conflict_flags_escalate, patient_recheck
from prescriptions.services.sessions import session_log_create
from tests import factories

Kind, Severity = SafetyFlag.Kind, SafetyFlag.Severity
URGENT, WARNING = Severity.URGENT, Severity.WARNING
BLOCKED = Session.Status.BLOCKED
NEW_YORK = ZoneInfo("America/New_York")
NOW = dt.datetime(2031, 6, 11, 12, 0, tzinfo=NEW_YORK)  # a Wednesday, far from any DST change
TODAY = NOW.date()


def local(days: int, hour: int, minute: int = 0) -> dt.datetime:
    """``days`` after today, at this local time in New York."""
    return dt.datetime.combine(TODAY + dt.timedelta(days=days), dt.time(hour, minute), tzinfo=NEW_YORK)


@pytest.fixture(autouse=True)
def at(monkeypatch):
    """``at(instant)`` moves the frozen clock (``timezone.now()``) to ``instant`` and returns it."""

    def move(instant: dt.datetime) -> dt.datetime:
        monkeypatch.setattr(timezone, "now", lambda: instant)
        return instant

    move(NOW)
    return move


def flag_of(plan, kind) -> SafetyFlag:
    return SafetyFlag.objects.get(prescription=plan, kind=kind, cause_key=f"prescription:{plan.pk}")


# --- Symptoms that hold the plan ----------------------------------------------------------------------------


@pytest.fixture
def plan(cleared_patient):
    plan = factories.PrescriptionFactory(
        episode=cleared_patient.episodes.first(), status=Prescription.Status.ACTIVE, start_date=TODAY
    )
    factories.PrescriptionItemFactory(prescription=plan)
    return plan


@pytest.fixture
def todays_session(plan):
    return factories.SessionFactory(prescription=plan, local_date=TODAY)


def test_pain_high_is_an_urgent_signal_and_a_rise_alone_a_warning():
    high, rise = pain.pain_signals(4, 7, [])
    assert (high.code, high.severity, high.stop) == (pain.SignalCode.PAIN_HIGH, pain.Urgency.URGENT, True)
    assert (rise.code, rise.severity, rise.stop) == (pain.SignalCode.PAIN_RISE, pain.Urgency.WARNING, False)
    assert all(signal.severity == pain.Urgency.URGENT for signal in pain.pain_signals(8, 8, []) if signal.stop)


def test_a_4_to_7_pain_log_holds_the_plan_under_an_urgent_flag(plan, todays_session, portal_user, cleared_patient):
    upcoming = [
        factories.SessionFactory(prescription=plan, local_date=TODAY + dt.timedelta(days=n)) for n in range(1, 15)
    ]

    outcome = session_log_create(
        session=todays_session,
        by=portal_user,
        pain_before=4,
        pain_after=7,
        answers=factories.no_red_flags(todays_session),
    )

    (flag,) = outcome.flags
    assert flag.kind == Kind.PAIN_ESCALATION and flag.severity == URGENT
    assert pain.PAIN_ADVICE in outcome.advice
    assert set(flag.sessions.values_list("pk", flat=True)) == {s.pk for s in upcoming}
    assert set(Session.objects.filter(pk__in=[s.pk for s in upcoming]).values_list("status", flat=True)) == {BLOCKED}


def test_a_red_flag_with_high_pain_makes_both_flags_urgent(plan, todays_session, portal_user):
    outcome = session_log_create(
        session=todays_session,
        by=portal_user,
        pain_before=8,
        pain_after=8,
        answers=factories.no_red_flags(todays_session, bladder_bowel_change=True),
    )
    assert {(flag.kind, flag.severity) for flag in outcome.flags} == {
        (Kind.PAIN_ESCALATION, URGENT),
        (Kind.RED_FLAG_SYMPTOM, URGENT),
    }


def test_a_pain_rise_alone_stays_a_warning_and_holds_nothing(plan, todays_session, portal_user):
    tomorrow = factories.SessionFactory(prescription=plan, local_date=TODAY + dt.timedelta(days=1))

    outcome = session_log_create(
        session=todays_session,
        by=portal_user,
        pain_before=3,
        pain_after=5,
        answers=factories.no_red_flags(todays_session),
    )

    (flag,) = outcome.flags
    assert flag.kind == Kind.PAIN_ESCALATION and flag.severity == WARNING
    assert "went up by 2 points" in outcome.advice and pain.PAIN_ADVICE not in outcome.advice  # carry on
    assert list(flag.sessions.all()) == []
    assert Session.objects.get(pk=tomorrow.pk).status == Session.Status.SCHEDULED


# --- Conflicts: urgent when a held session starts within 24 hours -------------------------------------------


def conflicted_plan(patient, therapist, cause: str, *, first_day: int, days=(0,)) -> Prescription:
    """An active knees-to-chest plan starting ``first_day`` days from today, one session at 07:30 local on each
    of ``first_day + d`` for d in ``days``, then a conflict for every session: ``contraindication``
    (osteoporosis) or ``clearance`` (the clearance revoked)."""
    start = TODAY + dt.timedelta(days=first_day)
    plan = factories.PrescriptionFactory(
        episode=patient.episodes.first(), status=Prescription.Status.ACTIVE, start_date=start, times=[dt.time(7, 30)]
    )
    factories.PrescriptionItemFactory(
        prescription=plan, stretch=Stretch.objects.get(clinic=None, slug="knees-to-chest")
    )
    for offset in days:
        factories.SessionFactory(
            prescription=plan, local_date=start + dt.timedelta(days=offset), local_time=dt.time(7, 30)
        )
    if cause == "contraindication":
        patient_services.patient_diagnosis_add(
            patient=patient, by=therapist, diagnosis=Diagnosis.objects.get(code="M81.0"), onset_date=dt.date(2020, 1, 1)
        )
    else:
        patient_services.clearance_revoke(clearance=patient.clearances.get(), by=therapist, reason="Withdrawn")
    return plan


KIND_OF_CAUSE = {"contraindication": Kind.CONTRAINDICATION, "clearance": Kind.CLEARANCE_CONFLICT}


@pytest.mark.parametrize("cause", sorted(KIND_OF_CAUSE))
def test_a_conflict_holding_a_session_tomorrow_at_0730_is_urgent(cleared_patient, therapist, cause):
    plan = conflicted_plan(cleared_patient, therapist, cause, first_day=1, days=(0, 1, 2))

    patient_recheck(patient_id=cleared_patient.pk, now=NOW)

    flag = flag_of(plan, KIND_OF_CAUSE[cause])
    assert flag.severity == URGENT  # tomorrow 07:30 is 19.5 hours away
    assert Session.objects.filter(prescription=plan).exclude(status=BLOCKED).count() == 0


@pytest.mark.parametrize("cause", sorted(KIND_OF_CAUSE))
def test_a_conflict_whose_first_held_session_is_three_days_away_is_a_warning(cleared_patient, therapist, cause):
    plan = conflicted_plan(cleared_patient, therapist, cause, first_day=3)

    patient_recheck(patient_id=cleared_patient.pk, now=NOW)

    assert flag_of(plan, KIND_OF_CAUSE[cause]).severity == WARNING


def test_a_session_of_today_that_has_begun_does_not_make_a_contraindication_urgent(cleared_patient, therapist, at):
    plan = conflicted_plan(cleared_patient, therapist, "contraindication", first_day=0, days=(0, 3))
    # today 07:30 has begun (it is 12:00); the next held session is 3 days away

    patient_recheck(patient_id=cleared_patient.pk, now=NOW)

    assert flag_of(plan, Kind.CONTRAINDICATION).severity == WARNING


def test_a_clearance_conflict_failing_today_stays_urgent(cleared_patient, therapist):
    plan = conflicted_plan(cleared_patient, therapist, "clearance", first_day=0, days=(0, 3))

    patient_recheck(patient_id=cleared_patient.pk, now=NOW)

    assert flag_of(plan, Kind.CLEARANCE_CONFLICT).severity == URGENT


# --- Escalation as time passes ------------------------------------------------------------------------------


@pytest.fixture
def warned(cleared_patient, therapist):
    """A contraindication warning on a plan whose held sessions are in 3 and 6 days at 07:30."""
    plan = conflicted_plan(cleared_patient, therapist, "contraindication", first_day=3, days=(0, 3))
    patient_recheck(patient_id=cleared_patient.pk, now=NOW)
    flag = flag_of(plan, Kind.CONTRAINDICATION)
    assert flag.severity == WARNING
    return flag


def test_escalation_turns_the_warning_urgent_once_the_first_held_session_is_within_24_hours(warned, at):
    assert conflict_flags_escalate(now=at(local(2, 7, 29))) == 0  # 24 h 1 min ahead
    warned.refresh_from_db()
    assert warned.severity == WARNING

    now = at(local(2, 9))
    with CaptureQueriesContext(connection) as captured:
        assert conflict_flags_escalate(now=now) == 1
    statements = [q["sql"] for q in captured if "SAVEPOINT" not in q["sql"]]
    assert len(statements) == 1 and statements[0].startswith("UPDATE")  # one statement, whatever the flag count
    warned.refresh_from_db()
    assert warned.severity == URGENT and warned.status == SafetyFlag.Status.OPEN

    assert conflict_flags_escalate(now=now) == 0  # idempotent
    assert conflict_flags_escalate(now=at(local(7, 9))) == 0  # nothing ahead: it never goes back
    warned.refresh_from_db()
    assert warned.severity == URGENT


def test_a_later_recheck_never_downgrades_an_escalated_flag(warned, at, cleared_patient):
    conflict_flags_escalate(now=at(local(2, 9)))

    # Day 3, 09:00: the 07:30 session has begun and the next is 3 days away — the rule alone says warning.
    (result,) = patient_recheck(patient_id=cleared_patient.pk, now=at(local(3, 9)))

    warned.refresh_from_db()
    assert warned.severity == URGENT
    assert result.flags_raised == ()  # nothing else changed: the flag is not rewritten


def test_the_recheck_itself_escalates_once_and_then_leaves_the_flag_alone(warned, at, cleared_patient):
    now = at(local(2, 9))

    (first,) = patient_recheck(patient_id=cleared_patient.pk, now=now)
    (again,) = patient_recheck(patient_id=cleared_patient.pk, now=now)

    warned.refresh_from_db()
    assert warned.severity == URGENT
    assert first.flags_raised == (warned.pk,) and again.flags_raised == ()


def test_escalation_touches_only_unresolved_non_urgent_plan_conflict_flags_holding_a_blocked_session_soon(
    cleared_patient, at
):
    plan, other = (
        factories.PrescriptionFactory(
            episode=cleared_patient.episodes.first(), status=Prescription.Status.ACTIVE, start_date=TODAY
        )
        for _ in range(2)
    )

    def session(when: dt.datetime, status=BLOCKED, on=None) -> Session:
        when = when.astimezone(NEW_YORK)
        return factories.SessionFactory(
            prescription=on or plan, local_date=when.date(), local_time=when.time(), scheduled_at=when, status=status
        )

    def flag(kind, *, on=None, cause=None, held=None, **extra) -> SafetyFlag:
        on = on or plan
        row = factories.SafetyFlagFactory(
            patient=cleared_patient, prescription=on, kind=kind, cause_key=cause or f"prescription:{on.pk}", **extra
        )
        # tomorrow from 07:30, a minute apart (one session per slot)
        row.sessions.add(held or session(local(1, 7, 30 + SafetyFlag.objects.count()), on=on))
        return row

    due = flag(Kind.MOBILITY)
    resolved = flag(Kind.CONTRAINDICATION, resolved=True)
    urgent = flag(Kind.CLEARANCE_CONFLICT, severity=URGENT)
    pain = flag(Kind.PAIN_ESCALATION, cause="log:1")
    elsewhere = flag(Kind.MOBILITY, cause="prescription:999999")
    begun = flag(Kind.CONTRAINDICATION, held=session(NOW - dt.timedelta(hours=1)))
    released = flag(Kind.CLEARANCE_CONFLICT, on=other, held=session(local(1, 8), Session.Status.SCHEDULED, on=other))
    later = flag(Kind.MOBILITY, on=other, held=session(local(1, 12, 1), on=other))  # 24 h 1 min ahead

    assert conflict_flags_escalate(now=NOW) == 1

    severities = {
        row.pk: row.severity
        for row in SafetyFlag.objects.filter(
            pk__in=[f.pk for f in (due, resolved, urgent, pain, elsewhere, released, begun, later)]
        )
    }
    assert severities == {
        due.pk: URGENT,
        resolved.pk: WARNING,
        urgent.pk: URGENT,
        pain.pk: WARNING,
        elsewhere.pk: WARNING,
        released.pk: WARNING,
        begun.pk: WARNING,
        later.pk: WARNING,
    }
    assert SafetyFlag.objects.get(pk=resolved.pk).status == SafetyFlag.Status.RESOLVED


def test_the_per_minute_beat_task_escalates(warned, at):
    from django.conf import settings

    from prescriptions.tasks.conflicts import escalate_conflict_flags

    entries = [e for e in settings.CELERY_BEAT_SCHEDULE.values() if e["task"] == escalate_conflict_flags.name]
    assert len(entries) == 1 and entries[0]["schedule"] <= 60
    at(local(2, 9))
    escalate_conflict_flags()

    warned.refresh_from_db()
    assert warned.severity == URGENT
