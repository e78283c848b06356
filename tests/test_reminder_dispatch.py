"""The reminder dispatcher: claim → re-check → send with the key → mark; races, crashes, backoff, texts, channels.

Everything runs on the real PostgreSQL; the race and worker tests commit (``transaction=True``) and use
real threads and a real Celery worker on the test Redis. Reminders go to the database test channel,
which, like a provider with idempotency, delivers each key once and counts every attempt.
"""

from __future__ import annotations

import datetime as dt
import logging
import smtplib
import threading
import time

import pytest
from celery.contrib.testing.worker import start_worker
from django.core import mail
from django.core.exceptions import PermissionDenied
from django.db import connection, transaction
from django.db.models import F
from django.utils import timezone

from clinic.errors import StateConflict
from clinic.models import Diagnosis, Stretch
from config.celery import app
from patients.models import Clearance, Patient
from prescriptions import scheduling
from prescriptions.channels import (
    ConsoleSmsBackend,
    DatabaseTestChannel,
    EmailChannel,
    PermanentChannelError,
    TransientChannelError,
    channel_for,
    database_test_channels,
    mask_phone,
    message_id,
    use_channels,
)
from prescriptions.models import Prescription, Reminder, ReminderDelivery, Session
from prescriptions.services.reminders import (
    reminder_retry,
    reminders_dispatch,
    reminders_release_stale,
)
from prescriptions.tasks.reminders import dispatch_reminders
from tests import factories

Status = Reminder.Status
Purpose = Reminder.Purpose
MINUTE = dt.timedelta(minutes=1)
TEST_QUEUE = "limber-test-reminder-dispatch"


# --- Set-up ----------------------------------------------------------------------------------------------


def consented_plan(*, clinic=None, staff=None, zone="America/New_York", first_name="Ann", last_name="Okafor"):
    """An active two-stretch plan for a patient who consented to email and SMS, is cleared and whose mobility
    (level 3) meets both stretches' minimum: the gate passes, as it must for an active plan."""
    now = timezone.now()
    clinic = clinic or factories.ClinicFactory()
    staff = staff or factories.UserFactory()
    patient = factories.PatientFactory(
        clinic=clinic,
        timezone=zone,
        first_name=first_name,
        last_name=last_name,
        email=f"{first_name.lower()}.{last_name.lower()}@example.test",
        email_consent=True,
        email_consent_at=now,
        phone="+1 555 010 1234",
        sms_consent=True,
        sms_consent_at=now,
    )
    factories.ClearanceFactory(patient=patient, recorded_by=staff)
    factories.MobilityAssessmentFactory(patient=patient, assessed_by=staff)
    plan = factories.PrescriptionFactory(
        episode__patient=patient,
        therapist=staff,
        status=Prescription.Status.ACTIVE,
        start_date=timezone.localdate() - dt.timedelta(days=7),
        notes="Watch the L4-L5 disc; avoid loaded flexion.",
    )
    stretches = Stretch.objects.filter(clinic=None)
    factories.PrescriptionItemFactory(
        prescription=plan, stretch=stretches.get(slug="pelvic-tilt"), order=1, notes="Gentle after the surgery."
    )
    factories.PrescriptionItemFactory(prescription=plan, stretch=stretches.get(slug="cat-cow"), order=2)
    return plan


def session_at(plan, local_date: dt.date, local_time: dt.time, *, create=True) -> Session:
    """A scheduled session whose UTC instant follows the RFC 5545 rule in the patient's zone."""
    scheduled_at = scheduling.to_utc(local_date, local_time, plan.patient.zone)
    make = factories.SessionFactory if create else factories.SessionFactory.build
    return make(prescription=plan, local_date=local_date, local_time=local_time, scheduled_at=scheduled_at)


def session_soon(plan, minutes: int, *, create=True, now=None) -> Session:
    """A session ``minutes`` from now (to the minute) in the patient's zone."""
    local = ((now or timezone.now()) + dt.timedelta(minutes=minutes)).astimezone(plan.patient.zone)
    return session_at(plan, local.date(), local.time().replace(second=0, microsecond=0, fold=0), create=create)


def due_reminder(plan=None, *, channel="email", purpose=Purpose.SESSION, now=None, **plan_kwargs) -> Reminder:
    """A pending reminder due at ``now`` for a session 15 minutes later."""
    now = now or timezone.now()
    plan = plan or consented_plan(**plan_kwargs)
    session = session_soon(plan, 15, now=now)
    return factories.ReminderFactory(session=session, channel=channel, purpose=purpose, send_at=now - MINUTE)


@transaction.atomic
def seed_due_reminders(*, patients: int, per_patient: int) -> list[Reminder]:
    """``patients × per_patient`` reminders due now, in bulk (sessions 10+ minutes ahead, a minute apart)."""
    now = timezone.now()
    clinic, staff = factories.ClinicFactory(), factories.UserFactory()
    zones = ["America/New_York", "Europe/London", "Australia/Lord_Howe", "Asia/Tokyo"]
    plans = [
        consented_plan(clinic=clinic, staff=staff, zone=zones[n % len(zones)], first_name=f"Pat{n}")
        for n in range(patients)
    ]
    sessions = Session.objects.bulk_create(
        [session_soon(plan, 10 + i, create=False, now=now) for plan in plans for i in range(per_patient)]
    )
    return Reminder.objects.bulk_create(
        [factories.ReminderFactory.build(session=session, send_at=now - MINUTE) for session in sessions]
    )


@pytest.fixture
def db_channels():
    """Send through the database test channel (both email and SMS) for the test."""
    with use_channels(database_test_channels()):
        yield


def dispatch_until_done(now=None, batch=100):
    while reminders_dispatch(now=now, batch=batch).claimed:
        pass


class AlwaysFailing:
    """A channel whose provider always answers with ``error``; remembers the keys it was offered."""

    def __init__(self, error: Exception) -> None:
        self.error = error
        self.keys: list[str] = []

    def send(self, *, reminder_id, to, subject, body, idempotency_key) -> None:
        self.keys.append(idempotency_key)
        raise self.error


class Crash(BaseException):
    """The dispatcher's process dies (not an Exception: nothing in the dispatcher may catch it)."""


class CrashAfter:
    """Delivers through ``inner``, then kills the dispatcher right after the k-th accepted send."""

    def __init__(self, inner, k: int) -> None:
        self.inner, self.k, self.sent = inner, k, 0
        self.last_key: str | None = None

    def send(self, **message) -> None:
        self.inner.send(**message)
        self.sent += 1
        if self.sent == self.k:
            self.last_key = message["idempotency_key"]
            raise Crash


# --- The happy path --------------------------------------------------------------------------------------


def test_a_due_reminder_is_sent_once_with_its_key(db, db_channels):
    reminder = due_reminder()
    now = timezone.now()

    result = reminders_dispatch(now=now)

    assert (result.claimed, result.sent) == (1, 1)
    reminder.refresh_from_db()
    assert reminder.status == Status.SENT
    assert reminder.sent_at == now
    assert reminder.attempts == 1
    assert reminder.claimed_at == now
    delivery = ReminderDelivery.objects.get()
    assert delivery.idempotency_key == reminder.idempotency_key
    assert (delivery.reminder_id, delivery.channel, delivery.attempts) == (reminder.pk, "email", 1)
    assert delivery.recipient == reminder.session.prescription.patient.email
    assert reminders_dispatch(now=now + MINUTE).claimed == 0


def test_only_due_rows_are_claimed_oldest_first(db, db_channels):
    now = timezone.now()
    plan = consented_plan()
    later = factories.ReminderFactory(session=session_soon(plan, 30, now=now), send_at=now + MINUTE)
    backing_off = factories.ReminderFactory(
        session=session_soon(plan, 40, now=now), send_at=now - MINUTE, next_attempt_at=now + MINUTE
    )
    older = factories.ReminderFactory(session=session_soon(plan, 50, now=now), send_at=now - 3 * MINUTE)
    newer = factories.ReminderFactory(session=session_soon(plan, 60, now=now), send_at=now - 2 * MINUTE)

    result = reminders_dispatch(now=now, batch=1)

    assert result.claimed == 1
    assert set(Reminder.objects.filter(status=Status.SENT)) == {older}
    assert reminders_dispatch(now=now).claimed == 1
    assert set(Reminder.objects.filter(status=Status.SENT)) == {older, newer}
    assert Reminder.objects.get(pk=later.pk).status == Status.PENDING
    assert Reminder.objects.get(pk=backing_off.pk).status == Status.PENDING
    assert reminders_dispatch(now=now + MINUTE).sent == 2


def test_queries_per_reminder_stay_small_and_constant(db, db_channels, count_queries):
    def dispatch_for(patients: int) -> int:
        now = timezone.now()
        for _ in range(patients):
            due_reminder(now=now)
        queries = count_queries(lambda: reminders_dispatch(now=now))
        assert Reminder.objects.filter(status=Status.SENT).count() == Reminder.objects.count()
        return queries

    small, large = dispatch_for(4), dispatch_for(8)
    assert (large - small) / 4 == 2  # per reminder: the send (the test channel's insert) and the mark
    # Per batch: claim (+ its savepoint), load, prefetch items, patient locks (take, release), the day's sends,
    # synchronous_commit (off, reset); the gate's batch facts (items, stretches and their tags, clearance
    # restrictions, clearances, diagnoses, mobility; contraindication rows when a patient has a diagnosis) and
    # the plans' covered keys.
    assert small - 4 * 2 <= 20


# --- Texts and channels ----------------------------------------------------------------------------------


def test_the_text_has_first_name_local_time_and_stretches_and_nothing_clinical(db, db_channels):
    plan = consented_plan(zone="Europe/London", first_name="Ann", last_name="Okafor")
    patient = plan.patient
    disc = Diagnosis.objects.get(code="M51.26")
    factories.PatientDiagnosisFactory(patient=patient, diagnosis=disc)
    session = session_at(plan, patient.local_today(), dt.time(7, 30))
    factories.ReminderFactory(session=session)

    reminders_dispatch(now=session.scheduled_at - 15 * MINUTE)

    delivery = ReminderDelivery.objects.get()
    assert delivery.body.startswith("Hi Ann, time for your stretches today at 7:30 AM: Pelvic tilt, Cat and cow.")
    for secret in ("Okafor", disc.code, disc.name, "disc", "L4-L5", "surgery", "Gentle"):
        assert secret not in delivery.body


def test_the_local_time_is_the_patients_wall_clock_after_a_dst_gap(db, db_channels):
    plan = consented_plan(zone="America/New_York")
    session = session_at(plan, dt.date(2027, 3, 14), dt.time(2, 30))  # does not exist: read as 03:30 EDT
    assert session.scheduled_at == dt.datetime(2027, 3, 14, 7, 30, tzinfo=dt.UTC)
    spring = {"valid_from": dt.date(2027, 3, 1), "valid_until": dt.date(2027, 3, 31)}
    factories.ClearanceFactory(patient=plan.patient, recorded_by=plan.therapist, **spring)
    factories.ReminderFactory(session=session)

    reminders_dispatch(now=session.scheduled_at - 15 * MINUTE)

    assert "today at 3:30 AM" in ReminderDelivery.objects.get().body


def test_the_missed_session_follow_up_asks_to_log_yesterdays_stretches(db, db_channels):
    plan = consented_plan(zone="Asia/Tokyo", first_name="Yui", last_name="Sato")
    patient = plan.patient
    yesterday = patient.local_today() - dt.timedelta(days=1)
    session = session_at(plan, yesterday, dt.time(18, 0))
    send_at = scheduling.follow_up_at(yesterday, patient.zone)
    factories.ReminderFactory(session=session, purpose=Purpose.MISSED_FOLLOW_UP, send_at=send_at)

    reminders_dispatch(now=send_at)

    body = ReminderDelivery.objects.get().body
    assert body.startswith("Hi Yui, yesterday's 6:00 PM stretches (Pelvic tilt, Cat and cow) aren't logged yet.")
    assert "until the end of today" in body
    assert "Sato" not in body


def test_email_carries_the_key_as_message_id(db):
    reminder = due_reminder(first_name="Ann", last_name="Okafor")

    assert reminders_dispatch().sent == 1

    (email,) = mail.outbox
    message = email.message()
    assert message["Message-ID"] == f"<{reminder.idempotency_key}@limber>" == message_id(reminder.idempotency_key)
    assert email.to == ["ann.okafor@example.test"]
    assert email.subject.startswith("Your stretches ")
    assert "Okafor" not in email.subject + email.body
    assert "Hi Ann" in email.body


def test_the_default_sms_backend_logs_a_masked_number_and_the_key(db, caplog):
    reminder = due_reminder(channel="sms")

    with caplog.at_level(logging.INFO, logger="prescriptions.channels"):
        assert reminders_dispatch().sent == 1

    logged = caplog.text
    assert reminder.idempotency_key in logged
    assert "SMS to *********34 " in logged
    assert "555 010 1234" not in logged and "5550101234" not in logged
    assert isinstance(channel_for("sms"), ConsoleSmsBackend)


def test_phone_masking_keeps_two_digits():
    assert mask_phone("+1 (555) 010-1234") == "*********34"
    assert mask_phone("12") == "**"


def test_channel_for_picks_overrides_then_defaults():
    assert isinstance(channel_for("email"), EmailChannel)
    override = DatabaseTestChannel("email")
    with use_channels({"email": override}):
        assert channel_for("email") is override
        assert isinstance(channel_for("sms"), ConsoleSmsBackend)
    assert isinstance(channel_for("email"), EmailChannel)
    with pytest.raises(PermanentChannelError):
        channel_for("none")


class QuietSms:
    """An SMS backend named by ``SMS_BACKEND``."""

    def send(self, **message) -> None:
        pass


def test_sms_backend_is_the_dotted_path_in_the_setting(settings):
    assert settings.SMS_BACKEND == "prescriptions.channels.ConsoleSmsBackend"
    settings.SMS_BACKEND = f"{__name__}.QuietSms"
    assert isinstance(channel_for("sms"), QuietSms)


class RefusingEmailBackend:
    """An email backend whose server answers with ``error`` (set per test)."""

    error: Exception = OSError("connection refused")

    def __init__(self, **kwargs) -> None:
        pass

    def send_messages(self, messages):
        raise self.error


@pytest.mark.parametrize(
    ("error", "expected"),
    [
        (smtplib.SMTPRecipientsRefused({"ann@example.test": (550, b"no such user")}), PermanentChannelError),
        (smtplib.SMTPResponseException(554, b"rejected"), PermanentChannelError),
        (smtplib.SMTPResponseException(451, b"try again later"), TransientChannelError),
        (smtplib.SMTPAuthenticationError(535, b"bad credentials"), TransientChannelError),
        (smtplib.SMTPServerDisconnected("gone"), TransientChannelError),
        (TimeoutError("timed out"), TransientChannelError),
    ],
)
def test_email_errors_are_sorted_into_transient_and_permanent(settings, monkeypatch, error, expected):
    settings.EMAIL_BACKEND = f"{__name__}.RefusingEmailBackend"
    monkeypatch.setattr(RefusingEmailBackend, "error", error)
    with pytest.raises(expected):
        EmailChannel().send(reminder_id=1, to="ann@example.test", subject="s", body="b", idempotency_key="k")


def test_the_database_channel_delivers_a_key_once_and_counts_attempts(db):
    reminder = due_reminder()
    channel = DatabaseTestChannel("sms")
    for _ in range(3):
        channel.send(reminder_id=reminder.pk, to="+1", subject="s", body="b", idempotency_key="key-1")
    delivery = ReminderDelivery.objects.get()
    assert (delivery.idempotency_key, delivery.attempts, delivery.channel) == ("key-1", 3, "sms")
    assert delivery.last_attempt_at >= delivery.first_delivered_at


# --- Re-checks after the claim ---------------------------------------------------------------------------


def _set_session(status):
    return lambda r: Session.objects.filter(pk=r.session_id).update(status=status)


def _set_plan(status):
    return lambda r: Prescription.objects.filter(pk=r.session.prescription_id).update(status=status)


def _set_patient(**fields):
    return lambda r: Patient.objects.filter(pk=r.session.prescription.patient_id).update(**fields)


def _revoke_clearance(r):
    clearance = Clearance.objects.get(patient_id=r.session.prescription.patient_id)
    clearance.revoked_at = timezone.now() - dt.timedelta(days=1)
    clearance.revoked_by = clearance.recorded_by
    clearance.revoke_reason = "Imaging showed a new fracture."
    clearance.save()


def _expire_clearance(r):
    Clearance.objects.filter(patient_id=r.session.prescription.patient_id).update(
        valid_from=r.session.local_date - dt.timedelta(days=60), valid_until=r.session.local_date - dt.timedelta(days=1)
    )


RECHECKS = {
    "blocked": (_set_session(Session.Status.BLOCKED), "the session is blocked"),
    "cancelled": (_set_session(Session.Status.CANCELLED), "the session is cancelled"),
    "skipped": (_set_session(Session.Status.SKIPPED), "the session is skipped"),
    "paused plan": (_set_plan(Prescription.Status.PAUSED), "the plan is paused"),
    "completed plan": (_set_plan(Prescription.Status.COMPLETED), "the plan is completed"),
    "logged": (lambda r: factories.SessionLogFactory(session=r.session), "the session is already logged"),
    "archived": (_set_patient(archived_at=timezone.now()), "the patient is archived"),
    "email consent withdrawn": (_set_patient(email_consent=False), "no consented Email address"),
    "no email address": (_set_patient(email=""), "no consented Email address"),
    "revoked clearance": (_revoke_clearance, "the safety gate holds the session"),
    "expired clearance": (_expire_clearance, "the safety gate holds the session"),
}


@pytest.mark.parametrize("change", RECHECKS.keys())
def test_a_reminder_no_longer_due_is_cancelled_with_the_reason(db, db_channels, change):
    reminder = due_reminder()
    make_not_due, reason = RECHECKS[change]
    make_not_due(reminder)

    result = reminders_dispatch()

    assert (result.claimed, result.cancelled, result.sent) == (1, 1, 0)
    reminder.refresh_from_db()
    assert reminder.status == Status.CANCELLED
    assert reason in reminder.last_error
    assert not ReminderDelivery.objects.exists()


@pytest.mark.parametrize(
    ("clearance", "in_force"),
    [
        ({"revoked_days": 0}, False),  # revoked later on the session's local date: not in force that day
        ({"revoked_days": 1}, True),  # revoked the next day
        ({"starts_days": 1}, False),
        ({"ends_days": 0}, True),  # valid_until is inclusive
        ({"ends_days": -1}, False),
    ],
)
def test_the_clearance_check_agrees_with_effective_on(db, db_channels, clearance, in_force):
    reminder = due_reminder(zone="Asia/Tokyo")
    patient = reminder.session.prescription.patient
    day = reminder.session.local_date
    row = Clearance.objects.get(patient=patient)
    if "revoked_days" in clearance:
        revoke_day = day + dt.timedelta(days=clearance["revoked_days"])
        row.revoked_at = scheduling.to_utc(revoke_day, dt.time(23, 30), patient.zone)
        row.revoked_by, row.revoke_reason = row.recorded_by, "New imaging."
    if "starts_days" in clearance:
        row.valid_from = day + dt.timedelta(days=clearance["starts_days"])
        row.valid_until = row.valid_from + dt.timedelta(days=30)
    if "ends_days" in clearance:
        row.valid_until = day + dt.timedelta(days=clearance["ends_days"])
    row.save()
    assert (Clearance.objects.effective_on(patient, day) is not None) is in_force

    reminders_dispatch()

    reminder.refresh_from_db()
    assert reminder.status == (Status.SENT if in_force else Status.CANCELLED)


def test_an_sms_reminder_needs_sms_consent(db, db_channels):
    reminder = due_reminder(channel="sms")
    _set_patient(sms_consent=False)(reminder)

    reminders_dispatch()

    reminder.refresh_from_db()
    assert reminder.status == Status.CANCELLED
    assert reminder.last_error == "Not sent: the patient has no consented SMS address."


def test_a_reminder_after_the_log_window_closed_is_cancelled(db, db_channels):
    reminder = due_reminder()
    session = reminder.session
    closes = scheduling.log_window(session.local_date, session.prescription.patient.zone)[1]

    reminders_dispatch(now=closes)

    reminder.refresh_from_db()
    assert reminder.status == Status.CANCELLED
    assert "log window has closed" in reminder.last_error


def test_a_follow_up_is_cancelled_once_the_session_is_logged_or_its_window_closed(db, db_channels):
    plan = consented_plan(zone="America/Los_Angeles")
    zone = plan.patient.zone
    yesterday = plan.patient.local_today() - dt.timedelta(days=1)
    logged = session_at(plan, yesterday, dt.time(7, 0))
    factories.SessionLogFactory(session=logged)
    follow_up_logged = factories.ReminderFactory(
        session=logged, purpose=Purpose.MISSED_FOLLOW_UP, send_at=scheduling.follow_up_at(yesterday, zone)
    )
    two_days_ago = yesterday - dt.timedelta(days=1)
    old = session_at(plan, two_days_ago, dt.time(7, 0))
    follow_up_late = factories.ReminderFactory(
        session=old, purpose=Purpose.MISSED_FOLLOW_UP, send_at=scheduling.follow_up_at(two_days_ago, zone)
    )

    reminders_dispatch(now=scheduling.follow_up_at(yesterday, zone))

    follow_up_logged.refresh_from_db()
    follow_up_late.refresh_from_db()
    assert follow_up_logged.status == follow_up_late.status == Status.CANCELLED
    assert "already logged" in follow_up_logged.last_error
    assert "log window has closed" in follow_up_late.last_error


def test_the_daily_cap_counts_what_was_sent_in_the_patients_local_day(db, db_channels, settings):
    settings.REMINDER_DAILY_CAP = 3
    now = timezone.now()
    plan = consented_plan(zone="Australia/Lord_Howe")
    zone = plan.patient.zone
    day_start, _ = scheduling.local_day_bounds(plan.patient.local_today(now), zone)
    sent_today = factories.ReminderFactory(
        session=session_soon(plan, -60, now=now), status=Status.SENT, sent_at=max(day_start, now - 2 * MINUTE)
    )
    factories.ReminderFactory(  # sent in the previous local day: does not count
        session=session_soon(plan, -24 * 60 - 30, now=now), status=Status.SENT, sent_at=day_start - MINUTE
    )
    due = [
        factories.ReminderFactory(session=session_soon(plan, 15 + i, now=now), send_at=now - (5 - i) * MINUTE)
        for i in range(4)
    ]

    result = reminders_dispatch(now=now)

    assert (result.sent, result.cancelled) == (2, 2)
    statuses = [Reminder.objects.get(pk=r.pk).status for r in due]
    assert statuses == [Status.SENT, Status.SENT, Status.CANCELLED, Status.CANCELLED]
    assert "daily cap of 3" in Reminder.objects.get(pk=due[-1].pk).last_error
    assert sent_today.status == Status.SENT


def test_the_daily_cap_is_per_patient(db, db_channels, settings):
    settings.REMINDER_DAILY_CAP = 1
    now = timezone.now()
    first, second = due_reminder(now=now), due_reminder(now=now)

    assert reminders_dispatch(now=now).sent == 2
    assert {first.session.prescription.patient_id, second.session.prescription.patient_id} == set(
        ReminderDelivery.objects.values_list("reminder__session__prescription__patient_id", flat=True)
    )


# --- Failures, backoff, stale claims, retries -------------------------------------------------------------


def test_transient_failures_back_off_1_2_4_8_minutes_then_fail(db):
    now = timezone.now()
    reminder = due_reminder(now=now)
    flaky = AlwaysFailing(TransientChannelError("provider timeout"))

    with use_channels({"email": flaky}):
        at = now
        for attempt, delay in enumerate([1, 2, 4, 8], start=1):
            assert reminders_dispatch(now=at).retrying == 1
            reminder.refresh_from_db()
            assert (reminder.status, reminder.attempts) == (Status.PENDING, attempt)
            assert reminder.next_attempt_at == at + delay * MINUTE
            assert "provider timeout" in reminder.last_error
            assert reminders_dispatch(now=at + delay * MINUTE - dt.timedelta(seconds=1)).claimed == 0
            at += delay * MINUTE
        assert reminders_dispatch(now=at).failed == 1

    reminder.refresh_from_db()
    assert (reminder.status, reminder.attempts, reminder.next_attempt_at) == (Status.FAILED, 5, None)
    assert reminder.last_error.startswith("Gave up.")
    assert flaky.keys == [reminder.idempotency_key] * 5
    assert reminders_dispatch(now=at + dt.timedelta(hours=1)).claimed == 0


def test_max_attempts_comes_from_the_setting(db, settings):
    settings.REMINDER_MAX_ATTEMPTS = 2
    now = timezone.now()
    reminder = due_reminder(now=now)
    with use_channels({"email": AlwaysFailing(TransientChannelError("busy"))}):
        reminders_dispatch(now=now)
        assert reminders_dispatch(now=now + MINUTE).failed == 1
    reminder.refresh_from_db()
    assert (reminder.status, reminder.attempts) == (Status.FAILED, 2)


def test_a_permanent_failure_fails_at_once(db):
    reminder = due_reminder()
    with use_channels({"email": AlwaysFailing(PermanentChannelError("mailbox does not exist"))}):
        assert reminders_dispatch().failed == 1
    reminder.refresh_from_db()
    assert (reminder.status, reminder.attempts) == (Status.FAILED, 1)
    assert reminder.last_error == "Permanent failure: mailbox does not exist"


def test_an_unexpected_backend_error_is_retried_like_a_transient_one(db, caplog):
    reminder = due_reminder()
    with use_channels({"email": AlwaysFailing(RuntimeError("bug in a backend"))}):
        assert reminders_dispatch().retrying == 1
    reminder.refresh_from_db()
    assert reminder.status == Status.PENDING
    assert "RuntimeError: bug in a backend" in reminder.last_error
    assert "unexpected error" in caplog.text


def test_stale_claims_return_to_pending_and_exhausted_ones_fail(db, settings):
    now = timezone.now()
    plan = consented_plan()
    fresh, stale, exhausted = (
        factories.ReminderFactory(
            session=session_soon(plan, 20 + i, now=now), status=Status.SENDING, claimed_at=claimed_at, attempts=tries
        )
        for i, (claimed_at, tries) in enumerate([(now - MINUTE, 1), (now - 6 * MINUTE, 2), (now - 6 * MINUTE, 5)])
    )

    assert reminders_release_stale(now=now) == 2

    fresh.refresh_from_db()
    stale.refresh_from_db()
    exhausted.refresh_from_db()
    assert fresh.status == Status.SENDING
    assert (stale.status, stale.attempts, stale.next_attempt_at) == (Status.PENDING, 2, None)
    assert "same key" in stale.last_error
    assert exhausted.status == Status.FAILED
    assert reminders_release_stale(now=now, older_than=dt.timedelta(seconds=30)) == 1


def test_the_task_releases_stale_claims_then_dispatches(db, db_channels):
    stale = due_reminder()
    Reminder.objects.filter(pk=stale.pk).update(
        status=Status.SENDING, attempts=1, claimed_at=timezone.now() - 10 * MINUTE
    )
    due = due_reminder()

    dispatch_reminders()

    assert set(Reminder.objects.values_list("status", flat=True)) == {Status.SENT}
    assert Reminder.objects.get(pk=stale.pk).attempts == 2
    assert Reminder.objects.get(pk=due.pk).attempts == 1
    assert ReminderDelivery.objects.count() == 2


def test_an_outcome_is_not_recorded_over_a_claim_someone_else_took(db):
    reminder = due_reminder()

    class TakenOverWhileSending(DatabaseTestChannel):
        def send(self, **message):
            super().send(**message)
            # Meanwhile the claim went stale and another dispatcher claimed the row again.
            Reminder.objects.filter(pk=reminder.pk).update(attempts=F("attempts") + 1, claimed_at=timezone.now())

    with use_channels({"email": TakenOverWhileSending("email")}):
        result = reminders_dispatch()

    assert (result.sent, result.lost) == (0, 1)
    reminder.refresh_from_db()
    assert (reminder.status, reminder.attempts) == (Status.SENDING, 2)


def test_claims_past_the_deadline_are_handed_back_untouched(db, db_channels):
    now = timezone.now()
    reminders = [due_reminder(now=now) for _ in range(3)]

    result = reminders_dispatch(now=now, deadline=time.monotonic() - 1)

    assert (result.claimed, result.unclaimed, result.sent) == (3, 3, 0)
    for reminder in reminders:
        reminder.refresh_from_db()
        assert (reminder.status, reminder.attempts) == (Status.PENDING, 0)
    assert reminders_dispatch(now=now).sent == 3


def test_staff_retry_a_failed_reminder_with_the_same_key(db, db_channels, clinic, front_desk, other_therapist):
    reminder = due_reminder(clinic=clinic)
    Reminder.objects.filter(pk=reminder.pk).update(status=Status.FAILED, attempts=5, last_error="Gave up.")

    with pytest.raises(PermissionDenied):
        reminder_retry(reminder=reminder, by=other_therapist)
    retried = reminder_retry(reminder=reminder, by=front_desk)

    assert (retried.status, retried.attempts, retried.next_attempt_at) == (Status.PENDING, 0, None)
    assert reminders_dispatch().sent == 1
    assert ReminderDelivery.objects.get().idempotency_key == reminder.idempotency_key
    with pytest.raises(StateConflict, match="Only a failed reminder"):
        reminder_retry(reminder=reminder, by=front_desk)


# --- Exactly once: a crash, two racing dispatchers, real workers -----------------------------------------


def test_a_crash_after_k_sends_loses_nothing_and_retries_carry_the_same_keys(db):
    seed_due_reminders(patients=12, per_patient=5)
    now = timezone.now()
    k, batch = 10, 25
    crashing = CrashAfter(DatabaseTestChannel("email"), k)

    with use_channels({"email": crashing}), pytest.raises(Crash):
        reminders_dispatch(now=now, batch=batch)

    in_flight = Reminder.objects.get(idempotency_key=crashing.last_key)
    assert in_flight.status == Status.SENDING, "accepted by the provider, but never marked"
    counts = {status: Reminder.objects.filter(status=status).count() for status in Status}
    assert counts[Status.SENT] == k - 1
    assert counts[Status.SENDING] == batch - (k - 1)
    assert counts[Status.PENDING] == 60 - batch
    stranded = set(Reminder.objects.filter(status=Status.SENDING).values_list("idempotency_key", flat=True))

    assert reminders_release_stale(now=now + 4 * MINUTE) == 0, "not stale yet"
    later = now + 6 * MINUTE
    assert reminders_release_stale(now=later) == batch - (k - 1)
    with use_channels(database_test_channels()):
        dispatch_until_done(now=later, batch=batch)

    assert Reminder.objects.filter(status=Status.SENT).count() == 60
    deliveries = dict(ReminderDelivery.objects.values_list("idempotency_key", "attempts"))
    assert set(deliveries) == set(Reminder.objects.values_list("idempotency_key", flat=True))
    assert len(deliveries) == ReminderDelivery.objects.count() == 60, "no key delivered twice"
    assert deliveries[in_flight.idempotency_key] == 2, "the in-flight one was offered again, with its own key"
    assert {key for key, attempts in deliveries.items() if attempts > 1} == {in_flight.idempotency_key}
    assert set(Reminder.objects.filter(attempts=2).values_list("idempotency_key", flat=True)) == stranded


@pytest.mark.django_db(transaction=True)
def test_two_dispatchers_racing_over_1000_reminders_send_each_exactly_once(catalog, db_channels):
    seed_due_reminders(patients=200, per_patient=5)
    start = threading.Barrier(2)
    results: dict[str, list] = {"a": [], "b": []}
    errors: list[BaseException] = []

    def dispatcher(name: str) -> None:
        try:
            start.wait(timeout=10)
            while True:
                result = reminders_dispatch(batch=25)
                results[name].append(result)
                if not result.claimed:
                    return
        except BaseException as exc:  # noqa: BLE001 — reported by the main thread
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=dispatcher, args=(name,)) for name in results]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)

    assert not errors
    assert ReminderDelivery.objects.count() == 1000
    assert set(ReminderDelivery.objects.values_list("attempts", flat=True)) == {1}
    assert Reminder.objects.filter(status=Status.SENT, attempts=1).count() == 1000
    sent = {name: sum(r.sent for r in runs) for name, runs in results.items()}
    assert sum(sent.values()) == 1000
    assert all(sent.values()), f"both dispatchers should have sent some: {sent}"
    assert not any(r.lost or r.cancelled or r.failed for runs in results.values() for r in runs)


@pytest.fixture(scope="module")
def worker_threads():
    """Two real worker threads on the test Redis, on a queue of this module's own (other test modules may
    run workers on the same Redis database)."""
    with start_worker(
        app, pool="threads", concurrency=2, queues=[TEST_QUEUE], perform_ping_check=False, shutdown_timeout=10
    ) as worker:
        yield worker


@pytest.mark.django_db(transaction=True)
def test_two_worker_threads_running_the_dispatch_task_send_each_exactly_once(worker_threads, catalog, db_channels):
    seed_due_reminders(patients=80, per_patient=5)  # 400: more than a task's batch of 100, so both loop

    dispatch_reminders.apply_async(queue=TEST_QUEUE)
    dispatch_reminders.apply_async(queue=TEST_QUEUE)
    deadline = time.monotonic() + 45
    while time.monotonic() < deadline and Reminder.objects.filter(status=Status.SENT).count() < 400:
        time.sleep(0.2)

    assert Reminder.objects.filter(status=Status.SENT).count() == 400
    assert ReminderDelivery.objects.count() == 400
    assert set(ReminderDelivery.objects.values_list("attempts", flat=True)) == {1}
    assert not Reminder.objects.exclude(attempts=1).exists()
