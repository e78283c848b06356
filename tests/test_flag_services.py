"""Flag services: raised once per cause, acknowledged while open, resolved by a therapist, sessions released."""

from __future__ import annotations

import datetime as dt
import threading
import time

import pgtrigger
import pytest
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import connection, transaction
from django.utils import timezone

from clinic.errors import StateConflict
from clinic.models import Clinic
from patients.models import Patient
from prescriptions import services
from prescriptions.models import Prescription, Reminder, SafetyFlag, Session
from tests import factories
from tests.threads import OnItsOwnConnection

Kind = SafetyFlag.Kind
Severity = SafetyFlag.Severity
Status = SafetyFlag.Status
Blocked = Session.Status.BLOCKED
Scheduled = Session.Status.SCHEDULED


def raise_flag(patient, **overrides):
    arguments = {
        "patient": patient,
        "kind": Kind.CONTRAINDICATION,
        "cause_key": "prescription:1",
        "severity": Severity.WARNING,
        "summary": "Knees to chest is contraindicated after spinal surgery.",
        "details": {"findings": ["contraindicated"]},
    }
    return services.flag_raise(**{**arguments, **overrides})


@pytest.fixture
def plan(patient, therapist):
    return factories.PrescriptionFactory(
        episode__patient=patient, therapist=therapist, status=Prescription.Status.ACTIVE
    )


@pytest.fixture
def session_on(plan, today):
    """``session_on(days from today, status=..., prescription=...)``: a session at 08:00 local."""

    def make(days: int, status: str = Blocked, prescription: Prescription | None = None) -> Session:
        return factories.SessionFactory(
            prescription=prescription or plan, local_date=today + dt.timedelta(days=days), status=status
        )

    return make


# --- flag_raise -----------------------------------------------------------------------------------


def test_raise_opens_a_flag_with_what_it_was_given(patient, plan, session_on):
    session = session_on(3)

    flag, created = raise_flag(patient, prescription=plan, sessions=[session])

    assert created
    flag.refresh_from_db()
    assert (flag.patient, flag.prescription, flag.kind, flag.cause_key) == (
        patient,
        plan,
        Kind.CONTRAINDICATION,
        "prescription:1",
    )
    assert flag.status == Status.OPEN and flag.severity == Severity.WARNING
    assert flag.details == {"findings": ["contraindicated"]}
    assert flag.detected_at is not None and flag.acknowledged_at is None and flag.resolved_at is None
    assert list(flag.sessions.all()) == [session]


def test_raise_keeps_one_unresolved_flag_per_patient_kind_and_cause(patient):
    first, created = raise_flag(patient)
    again, created_again = raise_flag(patient)

    assert created and not created_again
    assert again.pk == first.pk
    assert SafetyFlag.objects.count() == 1


def test_raise_refreshes_an_acknowledged_flag_too(patient, front_desk):
    flag, _ = raise_flag(patient)
    services.flag_acknowledge(flag=flag, by=front_desk)

    again, created = raise_flag(patient, summary="Still contraindicated.")

    assert not created and again.pk == flag.pk
    again.refresh_from_db()
    assert again.status == Status.ACKNOWLEDGED and again.summary == "Still contraindicated."


def test_another_kind_cause_or_patient_is_another_flag(patient, other_patient):
    raise_flag(patient)
    _, other_kind = raise_flag(patient, kind=Kind.MOBILITY)
    _, other_cause = raise_flag(patient, cause_key="prescription:2")
    _, other_patient_flag = raise_flag(other_patient)

    assert other_kind and other_cause and other_patient_flag
    assert SafetyFlag.objects.count() == 4


def test_a_resolved_flag_does_not_absorb_a_new_raise(patient, therapist):
    flag, _ = raise_flag(patient)
    services.flag_resolve(flag=flag, by=therapist, resolution="Plan amended.")

    reopened, created = raise_flag(patient)

    assert created and reopened.pk != flag.pk and reopened.status == Status.OPEN
    assert SafetyFlag.objects.filter(patient=patient, cause_key="prescription:1").count() == 2


def test_refresh_escalates_severity_replaces_the_summary_and_details_and_adds_sessions(patient, session_on):
    first_session, second_session = session_on(2), session_on(3)
    flag, _ = raise_flag(patient, severity=Severity.INFO, sessions=[first_session])

    raise_flag(patient, severity=Severity.URGENT, summary="Worse now.", details={"n": 2}, sessions=[second_session])

    flag.refresh_from_db()
    assert flag.severity == Severity.URGENT
    assert flag.summary == "Worse now." and flag.details == {"n": 2}
    assert set(flag.sessions.all()) == {first_session, second_session}


def test_refresh_never_lowers_severity_and_keeps_details_when_none_given(patient, session_on):
    session = session_on(2)
    flag, _ = raise_flag(patient, severity=Severity.URGENT, sessions=[session])

    raise_flag(patient, severity=Severity.INFO, details=None, sessions=[session])

    flag.refresh_from_db()
    assert flag.severity == Severity.URGENT
    assert flag.details == {"findings": ["contraindicated"]}
    assert list(flag.sessions.all()) == [session]


def test_a_long_summary_is_cut_to_fit(patient):
    flag, _ = raise_flag(patient, summary="x" * 400)
    flag.refresh_from_db()
    assert len(flag.summary) == 300


def test_clearance_expiring_is_raised_once_ever(patient, therapist):
    flag, created = raise_flag(patient, kind=Kind.CLEARANCE_EXPIRING, cause_key="clearance:9", severity=Severity.INFO)
    services.flag_resolve(flag=flag, by=therapist, resolution="New clearance requested.")

    again, created_again = raise_flag(
        patient, kind=Kind.CLEARANCE_EXPIRING, cause_key="clearance:9", severity=Severity.URGENT, summary="Again"
    )

    assert created and not created_again
    assert again.pk == flag.pk
    again.refresh_from_db()
    assert again.status == Status.RESOLVED and again.severity == Severity.INFO and again.summary != "Again"
    assert SafetyFlag.objects.filter(kind=Kind.CLEARANCE_EXPIRING).count() == 1


def test_clearance_expiring_while_unresolved_is_returned_as_is(patient, session_on):
    flag, _ = raise_flag(patient, kind=Kind.CLEARANCE_EXPIRING, cause_key="clearance:9", severity=Severity.INFO)

    again, created = raise_flag(
        patient,
        kind=Kind.CLEARANCE_EXPIRING,
        cause_key="clearance:9",
        severity=Severity.URGENT,
        sessions=[session_on(1)],
    )

    assert not created and again.pk == flag.pk
    again.refresh_from_db()
    assert again.severity == Severity.INFO and not again.sessions.exists()


def committed(work):
    thread = OnItsOwnConnection(work, timeout=15.0)
    thread.start()
    return thread.outcome()


@pytest.fixture
def committed_patient(db):
    """A patient committed on another connection, so that concurrent raises see it; deleted afterwards (the
    clinical rows' delete protection is lifted for that) so later tests find the database as it was."""
    patient = committed(factories.PatientFactory)
    yield patient

    def remove() -> None:
        with pgtrigger.ignore("prescriptions.SafetyFlag:protect_delete", "patients.Patient:protect_delete"):
            SafetyFlag.objects.filter(patient_id=patient.pk).delete()
            Patient.objects.filter(pk=patient.pk).delete()
            Clinic.objects.filter(pk=patient.clinic_id).delete()

    committed(remove)


def _wait_until_a_query_waits_on_a_lock(timeout: float = 5.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_stat_clear_snapshot()")  # the activity view is read once per transaction
            cursor.execute(
                "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() AND wait_event_type = 'Lock'"
            )
            if cursor.fetchone()[0]:
                return
        time.sleep(0.02)
    raise AssertionError("the concurrent raise never waited")


@pytest.mark.parametrize("kind", [Kind.PAIN_ESCALATION, Kind.CLEARANCE_EXPIRING])
def test_concurrent_raises_of_one_cause_give_one_flag(committed_patient, kind):
    raised, go_on = threading.Event(), threading.Event()

    def first_raise():
        with transaction.atomic():
            result = raise_flag(committed_patient, kind=kind, cause_key="log:5")
            raised.set()
            assert go_on.wait(10)
        return result

    def second_raise():
        assert raised.wait(10)
        return raise_flag(committed_patient, kind=kind, cause_key="log:5", severity=Severity.URGENT)

    first, second = OnItsOwnConnection(first_raise), OnItsOwnConnection(second_raise)
    first.start()
    second.start()
    try:
        assert raised.wait(10)
        _wait_until_a_query_waits_on_a_lock()  # the second insert waits for the first to commit
    finally:
        go_on.set()
    (flag, created), (again, created_again) = first.outcome(), second.outcome()

    assert created and not created_again and again.pk == flag.pk
    assert SafetyFlag.objects.filter(kind=kind, cause_key="log:5").count() == 1
    expected = Severity.URGENT if kind == Kind.PAIN_ESCALATION else Severity.WARNING  # clearance_expiring: as is
    assert SafetyFlag.objects.get(pk=flag.pk).severity == expected


# --- flag_acknowledge -----------------------------------------------------------------------------


@pytest.mark.parametrize("role", ["front_desk", "therapist"])
def test_front_desk_and_therapists_acknowledge_an_open_flag(request, patient, role):
    user = request.getfixturevalue(role)
    flag = factories.SafetyFlagFactory(patient=patient)

    acknowledged = services.flag_acknowledge(flag=flag, by=user)

    acknowledged.refresh_from_db()
    assert acknowledged.status == Status.ACKNOWLEDGED
    assert acknowledged.acknowledged_by == user and acknowledged.acknowledged_at is not None


def test_clinic_admins_do_not_acknowledge(patient, clinic_admin):
    flag = factories.SafetyFlagFactory(patient=patient)
    with pytest.raises(PermissionDenied):
        services.flag_acknowledge(flag=flag, by=clinic_admin)
    flag.refresh_from_db()
    assert flag.status == Status.OPEN


def test_staff_of_another_clinic_and_portal_users_do_not_acknowledge(patient, other_therapist, portal_user):
    flag = factories.SafetyFlagFactory(patient=patient)
    for outsider in (other_therapist, portal_user):
        with pytest.raises(PermissionDenied):
            services.flag_acknowledge(flag=flag, by=outsider)
    flag.refresh_from_db()
    assert flag.status == Status.OPEN


@pytest.mark.parametrize("status", [Status.ACKNOWLEDGED, "resolved"])
def test_only_an_open_flag_is_acknowledged(patient, front_desk, status):
    flag = (
        factories.SafetyFlagFactory(patient=patient, resolved=True)
        if status == "resolved"
        else factories.SafetyFlagFactory(patient=patient, status=status)
    )
    with pytest.raises(StateConflict):
        services.flag_acknowledge(flag=flag, by=front_desk)
    flag.refresh_from_db()
    assert flag.acknowledged_by is None


# --- flag_resolve ---------------------------------------------------------------------------------


@pytest.mark.parametrize("status", [Status.OPEN, Status.ACKNOWLEDGED])
def test_a_therapist_resolves_with_a_resolution(patient, therapist, status):
    flag = factories.SafetyFlagFactory(patient=patient, status=status)

    services.flag_resolve(flag=flag, by=therapist, resolution="  Called the patient; pain settled.  ")

    flag.refresh_from_db()
    assert flag.status == Status.RESOLVED
    assert flag.resolved_by == therapist and flag.resolved_at is not None
    assert flag.resolution == "Called the patient; pain settled."


@pytest.mark.parametrize("role", ["front_desk", "clinic_admin", "other_therapist", "portal_user"])
def test_only_a_therapist_of_the_clinic_resolves(request, patient, role):
    flag = factories.SafetyFlagFactory(patient=patient)
    with pytest.raises(PermissionDenied):
        services.flag_resolve(flag=flag, by=request.getfixturevalue(role), resolution="Done.")
    flag.refresh_from_db()
    assert flag.status == Status.OPEN


def test_superusers_may_acknowledge_but_not_resolve(patient):
    root = factories.UserFactory(is_superuser=True, is_staff=True)
    flag = factories.SafetyFlagFactory(patient=patient)

    services.flag_acknowledge(flag=flag, by=root)
    with pytest.raises(PermissionDenied):
        services.flag_resolve(flag=flag, by=root, resolution="Done.")


@pytest.mark.parametrize("resolution", ["", "   ", None])
def test_resolving_needs_a_resolution(patient, therapist, resolution):
    flag = factories.SafetyFlagFactory(patient=patient)
    with pytest.raises(ValidationError) as refused:
        services.flag_resolve(flag=flag, by=therapist, resolution=resolution)
    assert "resolution" in refused.value.message_dict
    flag.refresh_from_db()
    assert flag.status == Status.OPEN


def test_a_resolved_flag_is_not_resolved_again(patient, therapist):
    flag = factories.SafetyFlagFactory(patient=patient, resolved=True)
    with pytest.raises(StateConflict):
        services.flag_resolve(flag=flag, by=therapist, resolution="Again.")
    flag.refresh_from_db()
    assert flag.resolution == "The cause is gone." and flag.resolved_by is None


# --- releasing blocked sessions -------------------------------------------------------------------


def test_resolving_releases_future_blocked_sessions_no_other_flag_lists(patient, therapist, plan, session_on):
    released, also_released = session_on(1), session_on(5)
    flag, _ = raise_flag(patient, prescription=plan, sessions=[released, also_released])

    services.flag_resolve(flag=flag, by=therapist, resolution="Override recorded.")

    assert {s.status for s in Session.objects.filter(pk__in=[released.pk, also_released.pk])} == {Scheduled}


def test_released_sessions_get_their_reminders_back(patient, therapist, session_on):
    patient.email_consent, patient.email_consent_at, patient.preferred_channel = True, timezone.now(), "email"
    patient.save()
    released, held = session_on(2), session_on(3)
    for session in (released, held):
        factories.ReminderFactory(session=session, status=Reminder.Status.CANCELLED)
    flag, _ = raise_flag(patient, sessions=[released, held])
    raise_flag(patient, kind=Kind.MOBILITY, sessions=[held])

    services.flag_resolve(flag=flag, by=therapist, resolution="Done.")

    assert released.reminders.get(purpose="session").status == Reminder.Status.PENDING
    assert held.reminders.get(purpose="session").status == Reminder.Status.CANCELLED


def test_a_session_another_unresolved_flag_lists_stays_blocked(patient, therapist, plan, session_on):
    shared, own = session_on(1), session_on(2)
    flag, _ = raise_flag(patient, sessions=[shared, own])
    other, _ = raise_flag(patient, kind=Kind.MOBILITY, sessions=[shared])
    services.flag_acknowledge(flag=other, by=therapist)  # acknowledged is still unresolved

    services.flag_resolve(flag=flag, by=therapist, resolution="Done.")

    shared.refresh_from_db()
    own.refresh_from_db()
    assert shared.status == Blocked and own.status == Scheduled

    services.flag_resolve(flag=other, by=therapist, resolution="Reassessed.")
    shared.refresh_from_db()
    assert shared.status == Scheduled


def test_a_resolved_other_flag_does_not_hold_a_session(patient, therapist, session_on):
    session = session_on(1)
    old = factories.SafetyFlagFactory(patient=patient, kind=Kind.MOBILITY, resolved=True)
    old.sessions.add(session)
    flag, _ = raise_flag(patient, sessions=[session])

    services.flag_resolve(flag=flag, by=therapist, resolution="Done.")

    session.refresh_from_db()
    assert session.status == Scheduled


def test_past_sessions_and_other_statuses_are_left_alone(patient, therapist, plan, session_on):
    yesterday = session_on(-1)
    earlier_today = factories.SessionFactory(
        prescription=plan,
        local_date=patient.local_today(),
        local_time=dt.time(0, 0),
        scheduled_at=timezone.now() - dt.timedelta(minutes=1),
        status=Blocked,
    )
    cancelled = session_on(2, status=Session.Status.CANCELLED)
    unlisted = session_on(3)
    flag, _ = raise_flag(patient, sessions=[yesterday, earlier_today, cancelled])

    services.flag_resolve(flag=flag, by=therapist, resolution="Done.")

    statuses = dict(
        Session.objects.filter(pk__in=[s.pk for s in (yesterday, earlier_today, cancelled, unlisted)]).values_list(
            "pk", "status"
        )
    )
    assert statuses == {
        yesterday.pk: Blocked,
        earlier_today.pk: Blocked,
        cancelled.pk: Session.Status.CANCELLED,
        unlisted.pk: Blocked,
    }


@pytest.mark.parametrize(
    "plan_status",
    [Prescription.Status.PAUSED, Prescription.Status.COMPLETED, Prescription.Status.CANCELLED],
)
def test_sessions_of_a_plan_that_is_not_active_stay_blocked(patient, therapist, session_on, plan_status):
    stopped = factories.PrescriptionFactory(episode__patient=patient, status=plan_status)
    session = session_on(1, prescription=stopped)
    flag, _ = raise_flag(patient, prescription=stopped, sessions=[session])

    services.flag_resolve(flag=flag, by=therapist, resolution="Done.")

    session.refresh_from_db()
    assert session.status == Blocked


# --- flag_auto_resolve ----------------------------------------------------------------------------


def test_auto_resolution_records_its_reason_and_releases_sessions(patient, session_on):
    session = session_on(1)
    flag, _ = raise_flag(patient, sessions=[session])

    services.flag_auto_resolve(flag=flag, reason="the clearance now covers these dates")

    flag.refresh_from_db()
    session.refresh_from_db()
    assert flag.status == Status.RESOLVED and flag.resolved_by is None and flag.resolved_at is not None
    assert flag.resolution == "Resolved automatically: the clearance now covers these dates"
    assert session.status == Scheduled


def test_auto_resolving_a_resolved_flag_changes_nothing(patient, therapist):
    flag = factories.SafetyFlagFactory(patient=patient)
    services.flag_resolve(flag=flag, by=therapist, resolution="By hand.")

    services.flag_auto_resolve(flag=flag, reason="gone")

    flag.refresh_from_db()
    assert flag.resolution == "By hand." and flag.resolved_by == therapist
