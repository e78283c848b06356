"""Reminders of due outcome measures (issue 18 §3) on the real database: a due measure reaches the patient as a
``measure_due`` reminder through the same rows, planner and dispatcher as session reminders.

One reminder per due measure, 09:00 local on its due date (or now, when it falls due later), moved out of quiet
hours, on the patient's preferred consented channel, never after the end of the next local day. It skips the safety
gate (no stretch) but keeps consent, the daily cap, quiet hours and the archived-patient and discharged-episode checks
(a discharge measure is still sent after discharge). A measure answered, missed or cancelled before the send has its
reminder cancelled. The model holds a reminder to exactly one owner, a session or a due measure.

The planner's tests pin the clock (``now``); the dispatcher's run on the real one, as ``test_reminder_dispatch``.
"""

from __future__ import annotations

import datetime as dt
import importlib
import threading
from zoneinfo import ZoneInfo

import pytest
from django.apps import apps as global_apps
from django.core.exceptions import PermissionDenied
from django.db import IntegrityError, connection, transaction
from django.utils import timezone

from clinic.models import Instrument, InstrumentWording
from patients.models import Clearance, Episode, Patient
from prescriptions.channels import database_test_channels, use_channels
from prescriptions.models import MeasureDue, MeasureResponse, Reminder, ReminderDelivery
from prescriptions.services.measures import measure_respond, measures_schedule
from prescriptions.services.reminders import reminder_retry, reminders_dispatch
from prescriptions.services.schedule import (
    measure_reminder_key,
    measure_reminders_sync,
    reminder_key,
    reminders_refresh_for_patient,
    sessions_retime_for_patient,
)
from tests import factories
from tests.test_reminder_dispatch import MINUTE, consented_plan, session_soon

Status = Reminder.Status
Purpose = Reminder.Purpose
Due = MeasureDue.Status
Occasion = MeasureDue.Occasion
NY = ZoneInfo("America/New_York")
DAY = dt.timedelta(days=1)
DUE_ON = dt.date(2027, 1, 11)  # a Monday, far from any DST change


def ny(day: dt.date, hour: int, minute: int = 0) -> dt.datetime:
    return dt.datetime.combine(day, dt.time(hour, minute), tzinfo=NY)


def consented_patient(*, clinic=None, channel="email", **fields) -> Patient:
    now = timezone.now()
    values = {
        "timezone": "America/New_York",
        "first_name": "Ann",
        "last_name": "Okafor",
        "email": "ann.okafor@example.test",
        "email_consent": True,
        "email_consent_at": now,
        "phone": "+1 555 010 1234",
        "sms_consent": True,
        "sms_consent_at": now,
        "preferred_channel": channel,
        **fields,
    }
    return factories.PatientFactory(clinic=clinic or factories.ClinicFactory(), **values)


def measure(patient, code: str = "nprs", *, due_on: dt.date, occasion=Occasion.BASELINE, episode=None) -> MeasureDue:
    episode = episode or factories.EpisodeFactory(patient=patient, opened_on=due_on)
    return MeasureDue.objects.create(
        episode=episode, patient=patient, instrument=Instrument.objects.get(code=code), due_on=due_on, occasion=occasion
    )


def reminders_of(due: MeasureDue):
    return Reminder.objects.filter(measure_due=due)


def due_measure_reminder(patient=None, code: str = "nprs", *, now=None, channel="email", **measure_kwargs) -> Reminder:
    """A pending reminder, due at ``now``, of a measure due on the patient's local today."""
    now = now or timezone.now()
    patient = patient or consented_patient()
    due = measure(patient, code, due_on=patient.local_today(now), **measure_kwargs)
    return factories.ReminderFactory(
        session=None,
        measure_due=due,
        purpose=Purpose.MEASURE_DUE,
        channel=channel,
        send_at=now - MINUTE,
        idempotency_key=measure_reminder_key(due.pk),
    )


@pytest.fixture
def db_channels():
    with use_channels(database_test_channels()):
        yield


# --- Planning ----------------------------------------------------------------------------------------------------


def test_a_due_measure_gets_one_reminder_at_nine_local_on_its_due_date(db):
    patient = consented_patient()
    due = measure(patient, due_on=DUE_ON)

    measure_reminders_sync(episode_id=due.episode_id, now=ny(DUE_ON, 6))
    measure_reminders_sync(patient_id=patient.pk, now=ny(DUE_ON, 7))

    reminder = reminders_of(due).get()
    assert (reminder.purpose, reminder.status, reminder.channel) == (Purpose.MEASURE_DUE, Status.PENDING, "email")
    assert reminder.session is None
    assert reminder.send_at == ny(DUE_ON, 9)
    assert reminder.idempotency_key == measure_reminder_key(due.pk) != reminder_key(due.pk, Purpose.MEASURE_DUE)
    assert reminder.patient == patient


def test_the_questionnaires_falling_due_on_one_day_share_one_reminder(db, front_desk):
    """Two questionnaires due on the episode's first day: one message (the first still waiting carries it); answering
    that one hands the reminder to the other, and answering both leaves none pending."""
    patient = consented_patient(channel="sms", clinic=front_desk.membership.clinic)
    episode = factories.EpisodeFactory(patient=patient, opened_on=patient.local_today(), instruments=["nprs", "psfs"])

    assert measures_schedule(episode=episode) == 2
    assert measures_schedule(episode=episode) == 0

    rows = Reminder.objects.filter(measure_due__episode=episode)
    first, second = MeasureDue.objects.filter(episode=episode).order_by("pk")
    assert list(rows.values_list("measure_due", "purpose", "channel", "status")) == [
        (first.pk, Purpose.MEASURE_DUE, "sms", Status.PENDING)
    ]

    answers = {"pain": 3} if first.instrument.code == "nprs" else {"activity_1": 5, "activity_2": 5, "activity_3": 5}
    activities = None if first.instrument.code == "nprs" else ["Walking", "Sitting", "Lifting"]
    measure_respond(due=first, answers=answers, activities=activities, by=front_desk, via=MeasureResponse.Via.CLINIC)

    assert sorted(rows.values_list("measure_due", "status")) == [
        (first.pk, Status.CANCELLED),
        (second.pk, Status.PENDING),
    ]


def test_a_measure_falling_due_later_in_the_day_is_reminded_now(db):
    due = measure(consented_patient(), due_on=DUE_ON)

    measure_reminders_sync(episode_id=due.episode_id, now=ny(DUE_ON, 15, 20))

    assert reminders_of(due).get().send_at == ny(DUE_ON, 15, 20)


def test_quiet_hours_move_the_reminder_out_of_them(db):
    morning = measure(consented_patient(quiet_hours_start=dt.time(8), quiet_hours_end=dt.time(10, 30)), due_on=DUE_ON)
    evening = measure(consented_patient(quiet_hours_start=dt.time(21), quiet_hours_end=dt.time(7)), due_on=DUE_ON)

    measure_reminders_sync(episode_id=morning.episode_id, now=ny(DUE_ON, 6))
    measure_reminders_sync(episode_id=evening.episode_id, now=ny(DUE_ON, 22))

    assert reminders_of(morning).get().send_at == ny(DUE_ON, 10, 30)
    assert reminders_of(evening).get().send_at == ny(DUE_ON + DAY, 7), "the next morning, still in its window"


def test_a_zone_change_moves_the_reminder_to_nine_in_the_new_zone(db):
    patient = consented_patient()
    due = measure(patient, due_on=DUE_ON)
    measure_reminders_sync(episode_id=due.episode_id, now=ny(DUE_ON, 1))

    Patient.objects.filter(pk=patient.pk).update(timezone="America/Los_Angeles")
    sessions_retime_for_patient(patient_id=patient.pk, now=ny(DUE_ON, 1))

    la = ZoneInfo("America/Los_Angeles")
    assert reminders_of(due).get().send_at == dt.datetime.combine(DUE_ON, dt.time(9), tzinfo=la)


def test_no_reminder_once_the_day_after_the_due_date_is_over(db):
    due = measure(consented_patient(), due_on=DUE_ON)

    measure_reminders_sync(episode_id=due.episode_id, now=ny(DUE_ON + 2 * DAY, 0, 1))

    assert not reminders_of(due).exists()


def test_no_reminder_without_consent_and_a_withdrawn_consent_cancels_it(db):
    patient = consented_patient(email_consent=False, email_consent_at=None)
    due = measure(patient, due_on=DUE_ON)
    now = ny(DUE_ON, 6)

    measure_reminders_sync(episode_id=due.episode_id, now=now)
    assert not reminders_of(due).exists(), "no consent, no reminder"

    Patient.objects.filter(pk=patient.pk).update(email_consent=True, email_consent_at=now)
    reminders_refresh_for_patient(patient_id=patient.pk, now=now)
    assert reminders_of(due).get().status == Status.PENDING

    Patient.objects.filter(pk=patient.pk).update(email_consent=False)
    reminders_refresh_for_patient(patient_id=patient.pk, now=now)
    assert reminders_of(due).get().status == Status.CANCELLED

    Patient.objects.filter(pk=patient.pk).update(preferred_channel="sms")
    reminders_refresh_for_patient(patient_id=patient.pk, now=now)
    reminder = reminders_of(due).get()
    assert (reminder.status, reminder.channel) == (Status.PENDING, "sms"), "back, on the consented channel"


def test_archived_patients_and_discharged_episodes_get_no_reminder_but_a_discharge_measure_does(db):
    archived = consented_patient(archived_at=timezone.now())
    patient = consented_patient()
    episode = factories.EpisodeFactory(patient=patient, opened_on=DUE_ON - 14 * DAY, discharged_on=DUE_ON)
    follow_up = measure(patient, due_on=DUE_ON, occasion=Occasion.FOLLOW_UP, episode=episode)
    discharge = measure(patient, "psfs", due_on=DUE_ON, occasion=Occasion.DISCHARGE, episode=episode)
    of_archived = measure(archived, due_on=DUE_ON)

    measure_reminders_sync(episode_id=episode.pk, now=ny(DUE_ON, 6))
    measure_reminders_sync(patient_id=archived.pk, now=ny(DUE_ON, 6))

    assert not reminders_of(follow_up).exists()
    assert not reminders_of(of_archived).exists()
    assert reminders_of(discharge).get().status == Status.PENDING


def test_a_licensed_instrument_is_reminded_once_the_clinic_loaded_its_wording(clinic, clinic_admin):
    patient = consented_patient(clinic=clinic)
    due = measure(patient, "odi", due_on=DUE_ON)

    measure_reminders_sync(episode_id=due.episode_id, now=ny(DUE_ON, 6))
    assert not reminders_of(due).exists(), "the patient could not find it in their list"

    InstrumentWording.objects.create(
        clinic=patient.clinic, instrument=due.instrument, wording={}, licence="Site licence 42", loaded_by=clinic_admin
    )
    measure_reminders_sync(episode_id=due.episode_id, now=ny(DUE_ON, 6))
    assert reminders_of(due).get().status == Status.PENDING


@pytest.mark.parametrize("status", [Due.DONE, Due.MISSED, Due.CANCELLED])
def test_a_measure_no_longer_due_has_its_pending_reminder_cancelled_by_the_planner(db, status):
    due = measure(consented_patient(), due_on=DUE_ON)
    measure_reminders_sync(episode_id=due.episode_id, now=ny(DUE_ON, 6))

    MeasureDue.objects.filter(pk=due.pk).update(status=status)
    measure_reminders_sync(episode_id=due.episode_id, now=ny(DUE_ON, 7))

    assert reminders_of(due).get().status == Status.CANCELLED


# --- Sending -----------------------------------------------------------------------------------------------------


def test_a_due_measures_reminder_is_sent_once_and_names_no_instrument(db, db_channels):
    reminder = due_measure_reminder(code="psfs")

    assert reminders_dispatch().sent == 1
    assert reminders_dispatch().claimed == 0

    reminder.refresh_from_db()
    assert reminder.status == Status.SENT
    delivery = ReminderDelivery.objects.get()
    assert (delivery.idempotency_key, delivery.recipient) == (reminder.idempotency_key, "ann.okafor@example.test")
    assert delivery.body.startswith("Hi Ann, your clinic would like to know how you are doing.")
    for secret in ("Okafor", "PSFS", "Patient-Specific", "Functional", "pain", "back"):
        assert secret not in delivery.body


def test_the_gate_is_skipped_a_patient_whose_clearance_expired_still_gets_the_questionnaire(db, db_channels):
    now = timezone.now()
    plan = consented_plan()
    patient = plan.patient
    session_reminder = factories.ReminderFactory(session=session_soon(plan, 15, now=now), send_at=now - MINUTE)
    today = patient.local_today(now)
    Clearance.objects.filter(patient=patient).update(valid_from=today - 60 * DAY, valid_until=today - DAY)
    questionnaire = due_measure_reminder(patient, now=now)

    result = reminders_dispatch(now=now)

    assert (result.sent, result.held_by_gate) == (1, 1)
    questionnaire.refresh_from_db()
    session_reminder.refresh_from_db()
    assert questionnaire.status == Status.SENT
    assert session_reminder.status == Status.CANCELLED
    assert "safety gate" in session_reminder.last_error
    assert result.rechecks_requested == [patient.pk], "the session's hold still asks for the re-check"


def _archive(reminder):
    Patient.objects.filter(pk=reminder.measure_due.patient_id).update(archived_at=timezone.now())


def _discharge(reminder):
    Episode.objects.filter(pk=reminder.measure_due.episode_id).update(discharged_on=reminder.measure_due.due_on)


def _withdraw_consent(reminder):
    Patient.objects.filter(pk=reminder.measure_due.patient_id).update(email_consent=False)


def _set_measure(status):
    return lambda r: MeasureDue.objects.filter(pk=r.measure_due_id).update(status=status)


NOT_SENT = {
    "archived": (_archive, "the patient is archived"),
    "discharged": (_discharge, "the episode is discharged"),
    "consent withdrawn": (_withdraw_consent, "no consented Email address"),
    "missed": (_set_measure(Due.MISSED), "the questionnaire is missed"),
    "cancelled": (_set_measure(Due.CANCELLED), "the questionnaire is cancelled"),
}


@pytest.mark.parametrize("change", NOT_SENT.keys())
def test_a_measure_reminder_no_longer_due_is_cancelled_at_the_send(db, db_channels, change):
    reminder = due_measure_reminder(occasion=Occasion.FOLLOW_UP)
    make_not_due, reason = NOT_SENT[change]
    make_not_due(reminder)

    result = reminders_dispatch()

    assert (result.claimed, result.cancelled, result.sent, result.held_by_gate) == (1, 1, 0, 0)
    reminder.refresh_from_db()
    assert reminder.status == Status.CANCELLED
    assert reason in reminder.last_error
    assert not ReminderDelivery.objects.exists()
    assert not result.rechecks_requested


def test_a_discharge_measure_is_still_sent_after_discharge(db, db_channels):
    reminder = due_measure_reminder(occasion=Occasion.DISCHARGE)
    _discharge(reminder)

    assert reminders_dispatch().sent == 1


def test_answering_the_measure_cancels_its_reminder(clinic, db_channels, front_desk):
    patient = consented_patient(clinic=clinic)
    reminder = due_measure_reminder(patient)

    response = measure_respond(
        due=reminder.measure_due, answers={"pain": 4}, by=front_desk, via=MeasureResponse.Via.CLINIC
    )

    assert response.due.status == Due.DONE
    reminder.refresh_from_db()
    assert reminder.status == Status.CANCELLED  # at once, not when the dispatcher reaches it
    result = reminders_dispatch()
    assert (result.sent, result.cancelled) == (0, 0)
    assert not ReminderDelivery.objects.exists()


def test_a_reminder_too_late_for_its_due_date_is_cancelled(db, db_channels):
    now = timezone.now()
    patient = consented_patient()
    reminder = due_measure_reminder(patient, now=now)
    MeasureDue.objects.filter(pk=reminder.measure_due_id).update(due_on=patient.local_today(now) - 2 * DAY)

    assert reminders_dispatch(now=now).cancelled == 1
    reminder.refresh_from_db()
    assert "too late" in reminder.last_error


def test_the_daily_cap_counts_session_and_questionnaire_reminders_together(db, db_channels, settings):
    settings.REMINDER_DAILY_CAP = 2
    now = timezone.now()
    plan = consented_plan()
    patient = plan.patient
    sent_today = due_measure_reminder(patient, now=now)
    Reminder.objects.filter(pk=sent_today.pk).update(status=Status.SENT, sent_at=now - MINUTE)
    questionnaire = due_measure_reminder(patient, "psfs", now=now)
    session_reminder = factories.ReminderFactory(session=session_soon(plan, 15, now=now), send_at=now)

    result = reminders_dispatch(now=now)

    assert (result.sent, result.cancelled) == (1, 1)
    questionnaire.refresh_from_db()
    session_reminder.refresh_from_db()
    assert questionnaire.status == Status.SENT, "claimed first: its send time is earlier"
    assert session_reminder.status == Status.CANCELLED
    assert "daily cap of 2" in session_reminder.last_error


@pytest.mark.parametrize(("code", "per_reminder"), [("nprs", 2), ("odi", 1)])
def test_queries_per_questionnaire_reminder_stay_small_and_constant(db, db_channels, count_queries, code, per_reminder):
    def dispatch_for(patients: int) -> int:
        now = timezone.now()
        for _ in range(patients):
            due_measure_reminder(consented_patient(), code, now=now)
        queries = count_queries(lambda: reminders_dispatch(now=now))
        assert not Reminder.objects.filter(status__in=[Status.PENDING, Status.SENDING]).exists()
        return queries

    small, large = dispatch_for(4), dispatch_for(8)
    # Per reminder: the send (the test channel's insert) and the mark; or, for a licensed instrument whose wording
    # the clinic has not loaded, the cancellation. The wording is read once per batch, and no gate facts are loaded.
    assert (large - small) / 4 == per_reminder
    # Per batch: claim (+ its savepoint), load, patient locks (take, release), the day's sends, synchronous_commit
    # (off, reset), and the wording when an instrument is licensed.
    assert small - 4 * per_reminder <= 12


def test_staff_retry_a_failed_questionnaire_reminder(clinic, db_channels, front_desk, other_therapist):
    patient = consented_patient(clinic=clinic)
    reminder = due_measure_reminder(patient)
    Reminder.objects.filter(pk=reminder.pk).update(status=Status.FAILED, attempts=5)

    with pytest.raises(PermissionDenied):
        reminder_retry(reminder=reminder, by=other_therapist)
    assert reminder_retry(reminder=reminder, by=front_desk).status == Status.PENDING
    assert reminders_dispatch().sent == 1


@pytest.mark.django_db(transaction=True)
def test_two_dispatchers_racing_over_session_and_questionnaire_reminders_send_each_exactly_once(catalog, db_channels):
    # The catalog fixture does not put the instruments back after a flush (yet): the migration's seed does.
    importlib.import_module("clinic.migrations.0013_seed_instruments").seed(global_apps, None)
    now = timezone.now()
    with transaction.atomic():
        clinic, staff = factories.ClinicFactory(), factories.UserFactory()
        for n in range(40):
            plan = consented_plan(clinic=clinic, staff=staff, first_name=f"Pat{n}")
            for i in range(3):
                factories.ReminderFactory(session=session_soon(plan, 10 + i, now=now), send_at=now - MINUTE)
            for code in ("nprs", "psfs"):
                due_measure_reminder(plan.patient, code, now=now)
    start = threading.Barrier(2)
    sent: dict[str, int] = {"a": 0, "b": 0}
    errors: list[BaseException] = []

    def dispatcher(name: str) -> None:
        try:
            start.wait(timeout=10)
            while True:
                result = reminders_dispatch(batch=20)
                sent[name] += result.sent
                assert not (result.lost or result.cancelled or result.failed), result
                if not result.claimed:
                    return
        except BaseException as exc:  # noqa: BLE001 — reported by the main thread
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=dispatcher, args=(name,)) for name in sent]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)

    assert not errors
    assert sum(sent.values()) == ReminderDelivery.objects.count() == 200
    assert set(ReminderDelivery.objects.values_list("attempts", flat=True)) == {1}
    assert Reminder.objects.filter(purpose=Purpose.MEASURE_DUE, status=Status.SENT, attempts=1).count() == 80


# --- The model ---------------------------------------------------------------------------------------------------


def test_a_reminder_belongs_to_a_session_or_a_due_measure_never_both_or_neither(db):
    session = factories.SessionFactory()
    due = measure(session.prescription.patient, due_on=DUE_ON)
    fields = {"channel": "email", "send_at": timezone.now()}

    for n, (owners, purpose) in enumerate(
        [
            ({"session": session, "measure_due": due}, Purpose.MEASURE_DUE),
            ({"session": session, "measure_due": due}, Purpose.SESSION),
            ({}, Purpose.SESSION),
            ({}, Purpose.MEASURE_DUE),
            ({"session": session}, Purpose.MEASURE_DUE),
            ({"measure_due": due}, Purpose.SESSION),
        ]
    ):
        with pytest.raises(IntegrityError, match="reminder_session_or_measure"), transaction.atomic():
            Reminder.objects.create(purpose=purpose, idempotency_key=f"bad-{n}", **owners, **fields)

    Reminder.objects.create(measure_due=due, purpose=Purpose.MEASURE_DUE, idempotency_key="m1", **fields)
    with pytest.raises(IntegrityError, match="reminder_one_per_measure_purpose"), transaction.atomic():
        Reminder.objects.create(measure_due=due, purpose=Purpose.MEASURE_DUE, idempotency_key="m2", **fields)
    Reminder.objects.create(session=session, purpose=Purpose.SESSION, idempotency_key="s1", **fields)
    with pytest.raises(IntegrityError, match="reminder_one_per_session_purpose"), transaction.atomic():
        Reminder.objects.create(session=session, purpose=Purpose.SESSION, idempotency_key="s2", **fields)
