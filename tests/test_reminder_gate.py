"""The last check before a reminder leaves is the whole safety gate (issue 11 item 2, DESIGN §10).

A fact that changed without any re-check having processed it (an outage, a backlog) must not let a reminder out:
the facts here are written with the factories, which record no outbox request and run no re-check. The
dispatcher evaluates the gate for the session's plan items on its local date with the plan's stored overrides,
cancels a held reminder with the reason and records the patient's re-check in the outbox, which the drain then
turns into a blocked session and a flag.
"""

from __future__ import annotations

import datetime as dt

import pytest
from django.utils import timezone

from clinic.models import Contraindication, Diagnosis, MobilityLevel, MovementTag
from patients.models import Clearance, RecheckRequest
from prescriptions import scheduling
from prescriptions.channels import database_test_channels, use_channels
from prescriptions.models import GateOverride, Reminder, ReminderDelivery, SafetyFlag, Session
from prescriptions.services import reminders as reminders_module
from prescriptions.services.outbox import rechecks_drain
from prescriptions.services.reminders import reminders_dispatch
from tests import factories
from tests.test_reminder_dispatch import MINUTE, consented_plan, due_reminder, session_at, session_soon

Status = Reminder.Status


@pytest.fixture
def db_channels():
    """Send through the database test channel (both email and SMS) for the test."""
    with use_channels(database_test_channels()):
        yield


def _cat_cow(plan):
    return plan.items.get(stretch__slug="cat-cow")


def _acute_disc(patient, **fields):
    """Acute lumbar disc herniation: an absolute contraindication of lumbar flexion (cat and cow has it)."""
    return factories.PatientDiagnosisFactory(
        patient=patient, diagnosis=Diagnosis.objects.get(code="M51.26"), phase="acute", **fields
    )


def _acute_knee_sprain(patient):
    """Acute knee sprain: a relative contraindication (caution) of kneeling (cat and cow has it)."""
    return factories.PatientDiagnosisFactory(
        patient=patient, diagnosis=Diagnosis.objects.get(code="S83.90XA"), phase="acute"
    )


def _row(code: str, tag: str) -> Contraindication:
    # The row for every phase, or the acute phase's where the catalog has one per phase (since issue 12).
    return Contraindication.objects.get(clinic=None, diagnosis__code=code, tag__slug=tag, phase__in=["", "acute"])


def _cover(plan, code: str, cause: str, kind=GateOverride.Kind.OVERRIDE) -> GateOverride:
    return GateOverride.objects.create(
        prescription=plan,
        item=_cat_cow(plan),
        kind=kind,
        code=code,
        cause=cause,
        reason="Reviewed with the patient: done on a soft mat, within a pain-free range.",
        by=plan.therapist,
        at=timezone.now(),
    )


def _dispatch(reminder):
    result = reminders_dispatch()
    reminder.refresh_from_db()
    return result


def _assert_held(reminder, result, *, naming: tuple[str, ...]):
    patient_id = reminder.session.prescription.patient_id
    assert (result.claimed, result.sent, result.cancelled, result.held_by_gate) == (1, 0, 1, 1)
    assert reminder.status == Status.CANCELLED
    assert reminder.last_error.startswith(
        f"Not sent: the safety gate holds the session on {reminder.session.local_date.isoformat()}: "
    )
    for words in naming:
        assert words in reminder.last_error
    assert not ReminderDelivery.objects.exists()
    assert result.rechecks_requested == [patient_id]
    request = RecheckRequest.objects.get(patient_id=patient_id)
    assert (request.done, request.reason) == (False, "reminder held by the gate")


# --- Facts no re-check has processed --------------------------------------------------------------------


def test_a_new_contraindicating_diagnosis_holds_the_reminder_and_records_a_recheck(db, db_channels):
    reminder = due_reminder()
    _acute_disc(reminder.session.prescription.patient)
    # Written behind the services' back: nothing re-checked it.
    assert not RecheckRequest.objects.filter(done=False).exists()

    result = _dispatch(reminder)

    _assert_held(reminder, result, naming=("Cat and cow", "lumbar flexion is contraindicated", "M51.26"))


def test_a_restricted_clearance_recorded_later_holds_the_reminder(db, db_channels):
    reminder = due_reminder()
    plan = reminder.session.prescription
    restricted = factories.ClearanceFactory(
        patient=plan.patient,
        recorded_by=plan.therapist,
        status=Clearance.Status.RESTRICTED,
        professional_name="Dr. Lee Park",
        recorded_at=timezone.now() + dt.timedelta(seconds=1),
    )
    restricted.restricted_tags.set([MovementTag.objects.get(slug="kneeling")])

    result = _dispatch(reminder)

    _assert_held(reminder, result, naming=("Cat and cow", "kneeling is restricted", "Dr. Lee Park"))


def test_a_mobility_drop_below_a_stretchs_minimum_holds_the_reminder(db, db_channels):
    reminder = due_reminder()
    plan = reminder.session.prescription
    factories.MobilityAssessmentFactory(
        patient=plan.patient,
        assessed_by=plan.therapist,
        level=MobilityLevel.objects.get(level=2),
        assessed_at=timezone.now() + dt.timedelta(seconds=1),
    )

    result = _dispatch(reminder)

    _assert_held(reminder, result, naming=("Cat and cow", "mobility level 2 is below this stretch's minimum of 3"))


def test_an_unacknowledged_caution_holds_the_reminder_like_the_conflict_recheck(db, db_channels):
    reminder = due_reminder()
    _acute_knee_sprain(reminder.session.prescription.patient)

    result = _dispatch(reminder)

    _assert_held(reminder, result, naming=("Cat and cow", "kneeling calls for caution"))


def test_the_reason_names_the_first_finding_and_counts_the_others(db, db_channels):
    reminder = due_reminder()
    patient = reminder.session.prescription.patient
    _acute_disc(patient)
    _acute_knee_sprain(patient)

    _dispatch(reminder)

    assert "lumbar flexion is contraindicated" in reminder.last_error
    assert reminder.last_error.endswith("(and 1 more finding).")


# --- Overrides and acknowledgements ------------------------------------------------------------------


def test_a_contraindication_covered_by_a_stored_override_is_sent(db, db_channels):
    reminder = due_reminder()
    plan = reminder.session.prescription
    _acute_disc(plan.patient)
    _cover(plan, "contraindicated", f"contraindication:{_row('M51.26', 'lumbar_flexion').pk}")

    result = _dispatch(reminder)

    assert (result.sent, result.cancelled, result.held_by_gate, result.rechecks_requested) == (1, 0, 0, [])
    assert reminder.status == Status.SENT
    assert not RecheckRequest.objects.filter(done=False).exists()


def test_an_acknowledged_caution_is_sent(db, db_channels):
    reminder = due_reminder()
    plan = reminder.session.prescription
    _acute_knee_sprain(plan.patient)
    _cover(plan, "caution", f"contraindication:{_row('S83.90XA', 'kneeling').pk}", GateOverride.Kind.ACKNOWLEDGEMENT)

    result = _dispatch(reminder)

    assert (result.sent, result.cancelled, result.held_by_gate, result.rechecks_requested) == (1, 0, 0, [])
    assert reminder.status == Status.SENT


def test_an_override_of_another_cause_covers_nothing(db, db_channels):
    reminder = due_reminder()
    plan = reminder.session.prescription
    _acute_disc(plan.patient)
    _cover(plan, "contraindicated", f"contraindication:{_row('M81.0', 'lumbar_flexion').pk}")

    _dispatch(reminder)

    assert reminder.status == Status.CANCELLED


# --- The session's local date ----------------------------------------------------------------------------


def test_the_gate_is_evaluated_on_the_sessions_local_date(db, db_channels):
    held, sent = due_reminder(zone="Asia/Tokyo"), due_reminder(zone="Asia/Tokyo")
    for reminder, onset_days in ((held, 0), (sent, 1)):
        onset = reminder.session.local_date + dt.timedelta(days=onset_days)
        _acute_disc(reminder.session.prescription.patient, onset_date=onset)

    reminders_dispatch()

    held.refresh_from_db()
    sent.refresh_from_db()
    assert (held.status, sent.status) == (Status.CANCELLED, Status.SENT)


# --- The outbox request ------------------------------------------------------------------------------------


def test_one_recheck_request_per_patient_per_batch(db, db_channels):
    now = timezone.now()
    plan = consented_plan()
    for minutes in (15, 16, 17):
        factories.ReminderFactory(session=session_soon(plan, minutes, now=now), send_at=now - MINUTE)
    _acute_disc(plan.patient)

    result = reminders_dispatch(now=now)

    assert (result.cancelled, result.held_by_gate) == (3, 3)
    assert result.rechecks_requested == [plan.patient_id]
    assert RecheckRequest.objects.get(patient_id=plan.patient_id).version == 1


def test_the_request_commits_with_the_cancellation_or_not_at_all(db, db_channels, monkeypatch):
    reminder = due_reminder()
    _acute_disc(reminder.session.prescription.patient)

    def outbox_down(**_):
        raise RuntimeError("outbox write failed")

    monkeypatch.setattr(reminders_module, "recheck_request", outbox_down)
    with pytest.raises(RuntimeError):
        reminders_dispatch()

    reminder.refresh_from_db()
    assert reminder.status == Status.SENDING  # the stale-claim release offers it again, re-checked again
    assert reminder.last_error == ""


def test_draining_the_request_blocks_the_session_and_opens_one_flag(db, db_channels):
    reminder = due_reminder()
    _acute_disc(reminder.session.prescription.patient)
    _dispatch(reminder)

    drained = rechecks_drain()

    assert (drained.claimed, drained.closed) == (1, 1)
    session = Session.objects.get(pk=reminder.session_id)
    assert session.status == Session.Status.BLOCKED
    flag = SafetyFlag.objects.get()
    assert (flag.kind, flag.prescription_id) == (SafetyFlag.Kind.CONTRAINDICATION, session.prescription_id)
    assert list(flag.sessions.all()) == [session]
    assert not RecheckRequest.objects.filter(done=False).exists()


# --- Cost ---------------------------------------------------------------------------------------------------


def test_the_gate_costs_a_constant_number_of_queries_per_batch(db, db_channels, count_queries):
    """Sent and held reminders alike: the gate's facts are read once per batch, never per reminder."""

    def dispatch_for(patients: int) -> int:
        now = timezone.now()
        for n in range(patients):
            reminder = due_reminder(now=now)
            patient = reminder.session.prescription.patient
            factories.PatientDiagnosisFactory(patient=patient)  # chronic low back pain: no finding
            if n % 2:
                _acute_disc(patient)
        queries = count_queries(lambda: reminders_dispatch(now=now))
        assert Reminder.objects.filter(status=Status.PENDING).count() == 0
        return queries

    small, large = dispatch_for(4), dispatch_for(8)
    # Per sent reminder: the send and the mark; per held one (one per patient here): the cancellation and the
    # outbox request, in a transaction (a savepoint and its release inside the test's transaction).
    assert large - small == 2 * 2 + 2 * 4
    # Per batch: as in test_reminder_dispatch, plus the contraindication rows (the patients have diagnoses).
    assert small - (2 * 2 + 2 * 4) <= 21


def test_a_missed_session_follow_up_is_held_when_today_fails_the_gate(db, db_channels):
    """The follow-up asks the patient to do yesterday's stretches now: a clearance that ended yesterday holds it,
    though yesterday itself passed (and the conflict re-check, which looks from today on, never touches
    yesterday's session)."""
    plan = consented_plan(zone="Asia/Tokyo")
    patient = plan.patient
    yesterday = patient.local_today() - dt.timedelta(days=1)
    Clearance.objects.filter(patient=patient).update(
        valid_from=yesterday - dt.timedelta(days=30), valid_until=yesterday
    )
    session = session_at(plan, yesterday, dt.time(18, 0))
    send_at = scheduling.follow_up_at(yesterday, patient.zone)
    reminder = factories.ReminderFactory(session=session, purpose=Reminder.Purpose.MISSED_FOLLOW_UP, send_at=send_at)

    result = reminders_dispatch(now=send_at)

    assert result.sent == 0 and result.cancelled == 1
    reminder.refresh_from_db()
    assert reminder.status == Status.CANCELLED
    assert f"holds the session on {patient.local_today(send_at).isoformat()}" in reminder.last_error
    assert not ReminderDelivery.objects.exists()
