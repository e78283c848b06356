"""Schedule tasks: the per-minute materialize sweep (the catch-up for dropped enqueues), the missed sweep, and
the after-commit path to a real worker (activation, zone and preference changes)."""

from __future__ import annotations

import datetime as dt
import time
from zoneinfo import ZoneInfo

import kombu.pools
import pytest
from celery.contrib.testing.worker import start_worker
from django.utils import timezone

from clinic.enqueue import publish
from config.celery import app
from patients import services as patient_services
from prescriptions import services
from prescriptions.models import Prescription, Reminder, SafetyFlag, Session
from prescriptions.scheduling import to_utc
from prescriptions.services import ItemIn
from prescriptions.services.schedule import (
    patients_with_stale_session_times,
    prescriptions_to_materialize,
    sessions_materialize,
)
from prescriptions.tasks.schedule import (
    materialize_sessions,
    refresh_reminders,
    retime_sessions,
    sweep_materialize,
    sweep_missed_sessions,
)
from tests import factories
from tests.broker import broker_unreachable

EVERY_DAY = [1, 2, 3, 4, 5, 6, 7]


@pytest.fixture(autouse=True)
def _reminder_settings(settings):
    settings.REMINDER_HORIZON_DAYS = 14
    settings.REMINDER_LEAD_MINUTES = 15


def consenting(patient):
    patient.email_consent, patient.email_consent_at, patient.preferred_channel = True, timezone.now(), "email"
    patient.save()
    return patient


def activate(patient, therapist, stretch, django_capture_on_commit_callbacks=None, *, start=None) -> Prescription:
    """Create and activate a daily 08:00 plan through the services."""
    s = stretch("pelvic-tilt")
    draft = services.prescription_create(
        episode=patient.episodes.get(),
        by=therapist,
        start_date=start or patient.local_today() + dt.timedelta(days=1),
        days_of_week=EVERY_DAY,
        times=[dt.time(8, 0)],
        items=[ItemIn(stretch=s, reps=s.default_reps, sets=s.default_sets, hold_seconds=s.default_hold_seconds)],
    )
    return services.prescription_activate(prescription=draft, by=therapist)


def wait_for(condition, timeout: float = 20.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.1)
    return False


# --- The materialize sweep ---------------------------------------------------------------------------------


def test_the_sweep_finds_lagging_plans_by_each_patients_local_date(clinic):
    now = dt.datetime(2027, 1, 10, 12, 0, tzinfo=dt.UTC)  # already 11 January in Kiritimati (UTC+14)
    kiritimati = factories.PatientFactory(clinic=clinic, timezone="Pacific/Kiritimati")
    new_york = factories.PatientFactory(clinic=clinic, timezone="America/New_York")
    through = dt.date(2027, 1, 24)  # 10 January + 14 days

    def plan(patient, **fields):
        fields.setdefault("status", Prescription.Status.ACTIVE)
        return factories.PrescriptionFactory(episode__patient=patient, start_date=dt.date(2027, 1, 1), **fields)

    never = plan(new_york)
    behind_in_kiritimati = plan(kiritimati, materialized_through=through)
    plan(new_york, materialized_through=through)  # current in New York
    plan(new_york, materialized_through=dt.date(2027, 1, 20), end_date=dt.date(2027, 1, 20))  # done: it ends
    plan(new_york, status=Prescription.Status.PAUSED)
    plan(new_york, status=Prescription.Status.DRAFT)

    assert prescriptions_to_materialize(now=now) == [never.pk, behind_in_kiritimati.pk]


def test_the_sweep_materializes_an_activation_whose_enqueue_was_dropped(
    cleared_patient, therapist, stretch, django_capture_on_commit_callbacks
):
    consenting(cleared_patient)
    with django_capture_on_commit_callbacks(execute=False) as dropped:  # the publish never happens
        plan = activate(cleared_patient, therapist, stretch)
    assert len(dropped) == 1
    assert not plan.sessions.exists()

    sweep_materialize()

    assert plan.sessions.count() == 14
    assert Reminder.objects.filter(session__prescription=plan, status=Reminder.Status.PENDING).count() == 28
    assert plan.pk not in prescriptions_to_materialize()
    sweep_materialize()
    assert plan.sessions.count() == 14


def test_the_materialize_task_blocks_the_dates_the_gate_refuses(
    patient, therapist, mobility, stretch, django_capture_on_commit_callbacks
):
    consenting(patient)
    last_cleared = patient.local_today() + dt.timedelta(days=5)
    factories.ClearanceFactory(patient=patient, recorded_by=therapist, valid_until=last_cleared)
    factories.MobilityAssessmentFactory(patient=patient, level=mobility(3), assessed_by=therapist)
    factories.EpisodeFactory(patient=patient, primary_therapist=therapist)
    with django_capture_on_commit_callbacks(execute=False):
        plan = activate(patient, therapist, stretch)

    materialize_sessions(plan.pk)  # the task body, as the worker runs it

    sessions = list(plan.sessions.all())
    assert len(sessions) == 14
    assert {s.status for s in sessions if s.local_date <= last_cleared} == {Session.Status.SCHEDULED}
    assert {s.status for s in sessions if s.local_date > last_cleared} == {Session.Status.BLOCKED}
    assert SafetyFlag.objects.filter(prescription=plan).exclude(status=SafetyFlag.Status.RESOLVED).exists()
    blocked_pending = Reminder.objects.filter(session__status=Session.Status.BLOCKED, status=Reminder.Status.PENDING)
    assert not blocked_pending.exists()


def test_a_stale_task_for_a_plan_that_is_gone_does_nothing(db):
    from django.apps import apps

    def rows() -> dict[str, int]:
        return {model._meta.label: model.objects.count() for model in apps.get_models()}

    before = rows()
    materialize_sessions(10**9)
    retime_sessions(10**9)
    refresh_reminders(10**9)
    assert rows() == before  # not a row written anywhere


def test_the_sweep_retimes_a_zone_change_whose_task_was_lost(cleared_patient, therapist, stretch):
    plan = activate(cleared_patient, therapist, stretch)
    sessions_materialize(prescription_id=plan.pk)
    assert patients_with_stale_session_times() == []
    Prescription.objects.filter(pk=plan.pk).update(materialized_through=None)  # only the re-time is behind
    type(cleared_patient).objects.filter(pk=cleared_patient.pk).update(timezone="Asia/Tokyo")  # no signal

    assert patients_with_stale_session_times() == [cleared_patient.pk]
    sweep_materialize()

    tokyo = ZoneInfo("Asia/Tokyo")
    assert all(s.scheduled_at == to_utc(s.local_date, s.local_time, tokyo) for s in plan.sessions.all())
    assert patients_with_stale_session_times() == []


def test_a_repeated_wall_time_is_not_mistaken_for_a_zone_change(patient):
    plan = factories.PrescriptionFactory(
        episode__patient=patient, status=Prescription.Status.ACTIVE, start_date=dt.date(2027, 11, 6),
        end_date=dt.date(2027, 11, 8), times=[dt.time(1, 30)],
    )  # fmt: skip
    sessions_materialize(prescription_id=plan.pk, today=dt.date(2027, 11, 6))

    assert patients_with_stale_session_times(now=dt.datetime(2027, 11, 6, 0, 0, tzinfo=dt.UTC)) == []


def test_the_missed_sweep_marks_sessions_whose_window_closed(patient):
    plan = factories.PrescriptionFactory(episode__patient=patient, status=Prescription.Status.ACTIVE)
    zone = ZoneInfo(patient.timezone)
    three_days_ago = patient.local_today() - dt.timedelta(days=3)
    old = factories.SessionFactory(
        prescription=plan, local_date=three_days_ago, scheduled_at=to_utc(three_days_ago, dt.time(8), zone)
    )
    today = patient.local_today()
    current = factories.SessionFactory(
        prescription=plan, local_date=today, scheduled_at=to_utc(today, dt.time(8), zone)
    )

    sweep_missed_sessions()

    assert Session.objects.get(pk=old.pk).status == Session.Status.MISSED
    assert Session.objects.get(pk=current.pk).status == Session.Status.SCHEDULED


# --- A real worker ---------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def worker(django_db_setup, django_db_blocker):
    """A real worker thread on the test Redis, started before any test transaction opens (its Django fixup
    closes database connections when it starts)."""
    # Forget closed broker pools (a broker-outage test elsewhere may have closed them): kombu keeps them
    # in a global registry keyed by URL, and a closed pool refuses every publish.
    kombu.pools.reset()
    app._pool = None
    app.amqp._producer_pool = None
    with django_db_blocker.unblock():
        app.control.purge()
        # Name the default queue: a worker started with other queues leaves them selected on the app.
        queues = [app.conf.task_default_queue]
        with start_worker(app, pool="solo", queues=queues, perform_ping_check=False, shutdown_timeout=10) as running:
            yield running


@pytest.mark.django_db(transaction=True)
def test_activation_is_materialized_by_a_real_worker_after_commit(worker, catalog, cleared_patient, therapist, stretch):
    consenting(cleared_patient)

    plan = activate(cleared_patient, therapist, stretch)  # commits; the after-commit publish reaches Redis

    assert wait_for(lambda: Prescription.objects.get(pk=plan.pk).materialized_through is not None)
    assert plan.sessions.count() == 14
    assert Reminder.objects.filter(session__prescription=plan).count() == 28


@pytest.mark.django_db(transaction=True)
def test_zone_and_preference_changes_reach_a_real_worker(worker, catalog, cleared_patient, therapist, stretch):
    plan = activate(cleared_patient, therapist, stretch)
    sessions_materialize(prescription_id=plan.pk)  # whether or not the worker got there first
    assert not Reminder.objects.exists()
    london = ZoneInfo("Europe/London")

    def retimed() -> bool:
        rows = list(plan.sessions.all())
        return len(rows) == 14 and all(s.scheduled_at == to_utc(s.local_date, s.local_time, london) for s in rows)

    patient_services.patient_update(patient=cleared_patient, by=therapist, timezone="Europe/London")
    assert wait_for(retimed), "the zone change did not re-time the sessions"

    patient_services.patient_update(
        patient=cleared_patient, by=therapist, email_consent=True, preferred_channel="email"
    )
    assert wait_for(lambda: Reminder.objects.filter(status=Reminder.Status.PENDING).count() == 28)
    session_reminder = Reminder.objects.filter(purpose=Reminder.Purpose.SESSION).select_related("session").first()
    assert session_reminder.send_at == session_reminder.session.scheduled_at - dt.timedelta(minutes=15)


@pytest.mark.django_db(transaction=True)
def test_a_broker_outage_never_fails_activation_and_the_sweep_catches_up(
    worker, catalog, cleared_patient, therapist, stretch
):
    """Redis unreachable while a therapist activates: the request succeeds, nothing is lost; once Redis is
    back the per-minute sweep (published here as beat would) creates the sessions and reminders."""
    consenting(cleared_patient)
    with broker_unreachable():
        started = time.monotonic()
        plan = activate(cleared_patient, therapist, stretch)
        assert time.monotonic() - started < 10  # short broker timeouts: a dead Redis never hangs a request
        assert plan.status == Prescription.Status.ACTIVE
        time.sleep(1)
        assert not plan.sessions.exists()

    assert publish(sweep_materialize)  # beat's next tick, with the broker back
    assert wait_for(lambda: plan.sessions.count() == 14)
    assert wait_for(lambda: Reminder.objects.filter(session__prescription=plan).count() == 28)
