"""Sessions and reminder rows: materialization (DST, horizon, idempotency), the plan's lifecycle, zone and
preference changes, missed sessions. Dates in 2027 pin the calendar through ``today``; the clock stays real."""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

import pytest
from django.db.models import Count
from django.utils import timezone

from prescriptions import services
from prescriptions.models import Prescription, Reminder, SafetyFlag, Session
from prescriptions.scheduling import to_utc
from prescriptions.services import ItemIn
from prescriptions.services.schedule import (
    reminder_key,
    reminders_refresh_for_patient,
    sessions_mark_missed,
    sessions_materialize,
    sessions_retime_for_patient,
)
from tests import factories

UTC = dt.UTC
EVERY_DAY = [1, 2, 3, 4, 5, 6, 7]
Scheduled, Cancelled, Blocked, Missed, Completed = (
    Session.Status.SCHEDULED,
    Session.Status.CANCELLED,
    Session.Status.BLOCKED,
    Session.Status.MISSED,
    Session.Status.COMPLETED,
)
Pending = Reminder.Status.PENDING
SESSION, FOLLOW_UP = Reminder.Purpose.SESSION, Reminder.Purpose.MISSED_FOLLOW_UP


@pytest.fixture(autouse=True)
def _reminder_settings(settings):
    settings.REMINDER_HORIZON_DAYS = 14
    settings.REMINDER_LEAD_MINUTES = 15


def utc(*args) -> dt.datetime:
    return dt.datetime(*args, tzinfo=UTC)


def consent_by_email(patient, **fields):
    for name, value in {
        "email_consent": True,
        "email_consent_at": timezone.now(),
        "preferred_channel": "email",
        **fields,
    }.items():
        setattr(patient, name, value)
    patient.save()
    return patient


def plan_for(
    patient, *, start, end=None, days=EVERY_DAY, times=(dt.time(8, 0),), status=Prescription.Status.ACTIVE, **fields
) -> Prescription:
    """An active plan written directly (the gate is tested elsewhere)."""
    return factories.PrescriptionFactory(
        episode__patient=patient,
        status=status,
        start_date=start,
        end_date=end,
        days_of_week=list(days),
        times=list(times),
        **fields,
    )


def slots(plan) -> list[tuple[dt.date, dt.time, dt.datetime]]:
    rows = plan.sessions.order_by("local_date", "local_time")
    return list(rows.values_list("local_date", "local_time", "scheduled_at"))


def statuses(plan) -> set[str]:
    return set(plan.sessions.values_list("status", flat=True))


# --- Materialization --------------------------------------------------------------------------------------


def test_one_session_per_weekday_and_time_up_to_the_horizon(patient):
    monday = dt.date(2027, 3, 1)
    plan = plan_for(patient, start=monday, days=[1, 3, 5], times=[dt.time(18, 0), dt.time(8, 0)])

    created = sessions_materialize(prescription_id=plan.pk, today=monday)

    # 1 Mar … 15 Mar: Mondays 1, 8, 15; Wednesdays 3, 10; Fridays 5, 12; twice a day.
    assert created == 14
    dates = sorted({d for d, _, _ in slots(plan)})
    assert [d.day for d in dates] == [1, 3, 5, 8, 10, 12, 15]
    assert {t for _, t, _ in slots(plan)} == {dt.time(8, 0), dt.time(18, 0)}
    assert statuses(plan) == {Scheduled}
    plan.refresh_from_db()
    assert plan.materialized_through == dt.date(2027, 3, 15)


def test_the_end_date_clips_and_nothing_follows_it(patient):
    monday = dt.date(2027, 3, 1)
    plan = plan_for(patient, start=monday, end=dt.date(2027, 3, 5), days=[1, 3, 5], times=[dt.time(8), dt.time(18)])

    assert sessions_materialize(prescription_id=plan.pk, today=monday) == 6
    plan.refresh_from_db()
    assert plan.materialized_through == dt.date(2027, 3, 5)
    assert sessions_materialize(prescription_id=plan.pk, today=dt.date(2027, 3, 4)) == 0
    assert plan.sessions.count() == 6


def test_the_horizon_moves_with_today_and_a_start_beyond_it_waits(patient):
    plan = plan_for(patient, start=dt.date(2027, 3, 1))
    assert sessions_materialize(prescription_id=plan.pk, today=dt.date(2027, 3, 1)) == 15  # 1 … 15 March
    assert sessions_materialize(prescription_id=plan.pk, today=dt.date(2027, 3, 3)) == 2  # 16 and 17 March
    assert max(d for d, _, _ in slots(plan)) == dt.date(2027, 3, 17)

    later = plan_for(patient, start=dt.date(2027, 4, 1))
    assert sessions_materialize(prescription_id=later.pk, today=dt.date(2027, 3, 1)) == 0
    later.refresh_from_db()
    assert later.materialized_through == dt.date(2027, 3, 15)
    assert sessions_materialize(prescription_id=later.pk, today=dt.date(2027, 3, 20)) == 3  # 1 … 3 April


def test_materializing_twice_gives_the_same_rows(patient):
    consent_by_email(patient)
    plan = plan_for(patient, start=dt.date(2027, 3, 1), times=[dt.time(8), dt.time(20)])
    assert sessions_materialize(prescription_id=plan.pk, today=dt.date(2027, 3, 1)) == 30
    first = (slots(plan), sorted(Reminder.objects.values_list("session_id", "purpose", "send_at", "idempotency_key")))

    assert sessions_materialize(prescription_id=plan.pk, today=dt.date(2027, 3, 1)) == 0
    # As if a crash had lost materialized_through: the unique slots absorb the repeat.
    Prescription.objects.filter(pk=plan.pk).update(materialized_through=None)
    assert sessions_materialize(prescription_id=plan.pk, today=dt.date(2027, 3, 1)) == 0

    again = (slots(plan), sorted(Reminder.objects.values_list("session_id", "purpose", "send_at", "idempotency_key")))
    assert again == first
    assert len(first[1]) == 60


def test_only_an_active_plan_materializes(patient):
    for status in (Prescription.Status.DRAFT, Prescription.Status.PAUSED, Prescription.Status.COMPLETED):
        plan = plan_for(patient, start=dt.date(2027, 3, 1), status=status)
        assert sessions_materialize(prescription_id=plan.pk, today=dt.date(2027, 3, 1)) == 0
        assert not plan.sessions.exists()
    assert sessions_materialize(prescription_id=10**9) == 0  # a stale task for a plan that is gone


def test_slots_before_the_activation_are_not_created(patient):
    day = dt.date(2027, 3, 1)
    zone = ZoneInfo(patient.timezone)
    plan = plan_for(patient, start=day, times=[dt.time(8), dt.time(18)], activated_at=to_utc(day, dt.time(12), zone))

    sessions_materialize(prescription_id=plan.pk, today=day)

    first_day = [t for d, t, _ in slots(plan) if d == day]
    assert first_day == [dt.time(18)]


# --- DST (RFC 5545: a time in a gap takes the offset before it; a repeated time means the first) ------------


@pytest.mark.parametrize(
    ("zone", "start", "local_time", "expected"),
    [
        pytest.param(
            "America/New_York",
            dt.date(2027, 3, 13),
            dt.time(2, 30),
            [utc(2027, 3, 13, 7, 30), utc(2027, 3, 14, 7, 30), utc(2027, 3, 15, 6, 30)],
            id="new-york-spring-gap",
        ),
        pytest.param(
            "America/New_York",
            dt.date(2027, 11, 6),
            dt.time(1, 30),
            [utc(2027, 11, 6, 5, 30), utc(2027, 11, 7, 5, 30), utc(2027, 11, 8, 6, 30)],
            id="new-york-fall-fold",
        ),
        pytest.param(
            "Europe/London",
            dt.date(2027, 3, 27),
            dt.time(1, 30),
            [utc(2027, 3, 27, 1, 30), utc(2027, 3, 28, 1, 30), utc(2027, 3, 29, 0, 30)],
            id="london-spring-gap",
        ),
        pytest.param(
            "Europe/London",
            dt.date(2027, 10, 30),
            dt.time(1, 30),
            [utc(2027, 10, 30, 0, 30), utc(2027, 10, 31, 0, 30), utc(2027, 11, 1, 1, 30)],
            id="london-fall-fold",
        ),
        pytest.param(
            "Australia/Lord_Howe",
            dt.date(2027, 4, 3),
            dt.time(1, 45),
            [utc(2027, 4, 2, 14, 45), utc(2027, 4, 3, 14, 45), utc(2027, 4, 4, 15, 15)],
            id="lord-howe-half-hour-fold",
        ),
        pytest.param(
            "Australia/Lord_Howe",
            dt.date(2027, 10, 2),
            dt.time(2, 15),
            [utc(2027, 10, 1, 15, 45), utc(2027, 10, 2, 15, 45), utc(2027, 10, 3, 15, 15)],
            id="lord-howe-half-hour-gap",
        ),
    ],
)
def test_sessions_across_dst_follow_rfc_5545(clinic, zone, start, local_time, expected):
    patient = consent_by_email(factories.PatientFactory(clinic=clinic, timezone=zone))
    plan = plan_for(patient, start=start, end=start + dt.timedelta(days=2), times=[local_time])

    assert sessions_materialize(prescription_id=plan.pk, today=start) == 3

    assert [at for _, _, at in slots(plan)] == expected
    assert {t for _, t, _ in slots(plan)} == {local_time}
    reminders = Reminder.objects.filter(session__prescription=plan, purpose=SESSION).order_by("send_at")
    assert [r.send_at for r in reminders] == [at - dt.timedelta(minutes=15) for at in expected]


# --- Reminder rows ----------------------------------------------------------------------------------------


def test_reminders_are_planned_only_on_a_consented_channel(patient):
    day = dt.date(2027, 6, 1)
    plan = plan_for(patient, start=day, end=day + dt.timedelta(days=1))
    sessions_materialize(prescription_id=plan.pk, today=day)
    assert not Reminder.objects.exists(), "no consent, no reminders"

    consent_by_email(patient)
    reminders_refresh_for_patient(patient_id=patient.pk)
    rows = list(Reminder.objects.select_related("session").order_by("session__local_date", "purpose"))
    assert [(r.session.local_date, r.purpose, r.status, r.channel) for r in rows] == [
        (day, FOLLOW_UP, Pending, "email"),
        (day, SESSION, Pending, "email"),
        (day + dt.timedelta(days=1), FOLLOW_UP, Pending, "email"),
        (day + dt.timedelta(days=1), SESSION, Pending, "email"),
    ]
    first = rows[1]
    assert first.send_at == utc(2027, 6, 1, 11, 45)  # 08:00 EDT − 15 min
    assert rows[0].send_at == utc(2027, 6, 2, 13, 0)  # 09:00 EDT the next day
    assert all(r.idempotency_key == reminder_key(r.session_id, r.purpose) for r in rows)
    assert len({r.idempotency_key for r in rows}) == 4

    consent_by_email(patient, email_consent=False, preferred_channel="none")
    reminders_refresh_for_patient(patient_id=patient.pk)
    assert set(Reminder.objects.values_list("status", flat=True)) == {Reminder.Status.CANCELLED}

    sms = {"phone": "+15555550123", "sms_consent": True, "sms_consent_at": timezone.now(), "preferred_channel": "sms"}
    consent_by_email(patient, **sms)
    reminders_refresh_for_patient(patient_id=patient.pk)
    revived = {r.pk: (r.status, r.channel, r.idempotency_key) for r in Reminder.objects.all()}
    assert revived == {r.pk: (Pending, "sms", r.idempotency_key) for r in rows}, "the same rows come back"


def test_quiet_hours_move_reminders_to_their_end(patient):
    consent_by_email(patient, quiet_hours_start=dt.time(21, 0), quiet_hours_end=dt.time(9, 30))
    day = dt.date(2027, 6, 1)
    plan = plan_for(patient, start=day, end=day, times=[dt.time(7, 30), dt.time(12, 0)])

    sessions_materialize(prescription_id=plan.pk, today=day)

    sent = {
        (r.session.local_time, r.purpose): r.send_at
        for r in Reminder.objects.select_related("session").filter(session__prescription=plan)
    }
    assert sent[(dt.time(7, 30), SESSION)] == utc(2027, 6, 1, 13, 30)  # 07:15 is quiet → 09:30 EDT
    assert sent[(dt.time(12, 0), SESSION)] == utc(2027, 6, 1, 15, 45)  # 11:45 EDT
    assert sent[(dt.time(12, 0), FOLLOW_UP)] == utc(2027, 6, 2, 13, 30)  # 09:00 next day is quiet → 09:30

    consent_by_email(patient, quiet_hours_start=None, quiet_hours_end=None)
    reminders_refresh_for_patient(patient_id=patient.pk)
    session_reminder = Reminder.objects.get(session__local_time=dt.time(7, 30), purpose=SESSION)
    assert session_reminder.send_at == utc(2027, 6, 1, 11, 15)


def test_a_session_that_already_began_gets_no_session_reminder(patient):
    consent_by_email(patient)
    today = patient.local_today()
    plan = plan_for(patient, start=today, end=today, times=[dt.time(0, 0)])  # midnight: always past today

    sessions_materialize(prescription_id=plan.pk)

    assert plan.sessions.count() == 1
    assert list(Reminder.objects.values_list("purpose", flat=True)) == [FOLLOW_UP]


# --- Zone change ------------------------------------------------------------------------------------------


def test_a_zone_change_retimes_future_sessions_and_their_reminders_only(patient):
    consent_by_email(patient)
    today = patient.local_today()
    plan = plan_for(patient, start=today - dt.timedelta(days=1), times=[dt.time(23, 59)])
    past = factories.SessionFactory(
        prescription=plan, local_date=today - dt.timedelta(days=3), scheduled_at=timezone.now() - dt.timedelta(days=2)
    )
    past_reminder = factories.ReminderFactory(session=past, purpose=FOLLOW_UP, send_at=timezone.now())
    sessions_materialize(prescription_id=plan.pk)
    before = {s.pk: s.scheduled_at for s in plan.sessions.all()}
    blocked = plan.sessions.filter(local_date=today + dt.timedelta(days=5)).get()
    Session.objects.filter(pk=blocked.pk).update(status=Blocked)

    patient.timezone = "Asia/Kathmandu"
    patient.save()
    moved = sessions_retime_for_patient(patient_id=patient.pk)

    kathmandu = ZoneInfo("Asia/Kathmandu")
    future = list(plan.sessions.exclude(pk=past.pk).prefetch_related("reminders"))
    assert moved == len(future) == 15
    for session in future:
        assert session.scheduled_at == to_utc(session.local_date, session.local_time, kathmandu)
        for reminder in session.reminders.all():
            if reminder.status != Pending:
                continue
            if reminder.purpose == SESSION:
                assert reminder.send_at == session.scheduled_at - dt.timedelta(minutes=15)
            else:
                assert reminder.send_at == to_utc(session.local_date + dt.timedelta(days=1), dt.time(9), kathmandu)
    assert Reminder.objects.filter(session__in=future, status=Pending).count() >= 27
    assert Session.objects.get(pk=blocked.pk).status == Blocked
    past.refresh_from_db()
    assert past.scheduled_at == before[past.pk]
    assert Reminder.objects.get(pk=past_reminder.pk).send_at == past_reminder.send_at
    assert sessions_retime_for_patient(patient_id=patient.pk) == 0  # idempotent


# --- The plan's lifecycle through the plan services -----------------------------------------------------


@pytest.fixture
def live_plan(cleared_patient, therapist, stretch, django_capture_on_commit_callbacks):
    """An activated plan (daily 08:00 from tomorrow) for a patient who consents to email, materialized."""
    consent_by_email(cleared_patient)
    s = stretch("pelvic-tilt")
    draft = services.prescription_create(
        episode=cleared_patient.episodes.get(),
        by=therapist,
        start_date=cleared_patient.local_today() + dt.timedelta(days=1),
        days_of_week=EVERY_DAY,
        times=[dt.time(8, 0)],
        items=[ItemIn(stretch=s, reps=s.default_reps, sets=s.default_sets, hold_seconds=s.default_hold_seconds)],
    )
    with django_capture_on_commit_callbacks() as queued:
        plan = services.prescription_activate(prescription=draft, by=therapist)
    assert len(queued) == 1, "activation queues the materializer after commit"
    assert sessions_materialize(prescription_id=plan.pk) == 14
    return plan


def pending_reminders(plan) -> int:
    return Reminder.objects.filter(session__prescription=plan, status=Pending).count()


def test_pause_cancels_future_sessions_and_resume_revives_them(
    live_plan, therapist, django_capture_on_commit_callbacks
):
    assert pending_reminders(live_plan) == 28
    keys = set(Reminder.objects.values_list("idempotency_key", flat=True))
    flagged = live_plan.sessions.order_by("local_date")[3]
    Session.objects.filter(pk=flagged.pk).update(status=Blocked)
    Reminder.objects.filter(session=flagged).update(status=Reminder.Status.CANCELLED)
    flag = factories.SafetyFlagFactory(patient=live_plan.patient, prescription=live_plan)
    flag.sessions.add(flagged)

    services.prescription_pause(prescription=live_plan, by=therapist)
    assert statuses(live_plan) == {Cancelled}
    assert pending_reminders(live_plan) == 0

    with django_capture_on_commit_callbacks() as queued:
        services.prescription_resume(prescription=live_plan, by=therapist)
    assert len(queued) == 1, "resume queues the materializer after commit"

    by_status = dict(live_plan.sessions.values_list("status").annotate(n=Count("pk")))
    assert by_status == {Scheduled: 13, Blocked: 1}
    assert pending_reminders(live_plan) == 26
    assert not Reminder.objects.filter(session=flagged, status=Pending).exists()
    assert set(Reminder.objects.values_list("idempotency_key", flat=True)) == keys, "same rows, same keys"
    assert sessions_materialize(prescription_id=live_plan.pk) == 0


@pytest.mark.parametrize("transition", ["prescription_cancel", "prescription_complete"])
def test_cancel_and_complete_cancel_future_sessions_and_reminders(live_plan, therapist, transition):
    Session.objects.filter(pk=live_plan.sessions.order_by("local_date").first().pk).update(status=Blocked)
    logged = live_plan.sessions.order_by("local_date")[1]
    Session.objects.filter(pk=logged.pk).update(status=Completed)

    getattr(services, transition)(prescription=live_plan, by=therapist)

    assert statuses(live_plan) == {Cancelled, Completed}
    assert pending_reminders(live_plan) == 0
    assert sessions_materialize(prescription_id=live_plan.pk) == 0


def test_activating_an_amendment_ends_the_old_plans_sessions(live_plan, therapist):
    amendment = services.prescription_amend(prescription=live_plan, by=therapist)
    services.prescription_update_draft(prescription=amendment, by=therapist, times=[dt.time(9, 0)])
    services.prescription_activate(prescription=amendment, by=therapist)

    assert statuses(live_plan) == {Cancelled}
    assert pending_reminders(live_plan) == 0
    assert sessions_materialize(prescription_id=amendment.pk) == 14
    assert set(amendment.sessions.values_list("local_time", flat=True)) == {dt.time(9, 0)}
    assert pending_reminders(amendment) == 28


# --- Missed sessions --------------------------------------------------------------------------------------


def test_missed_at_the_window_edge_in_zones_far_from_utc(clinic):
    day = dt.date(2027, 1, 10)
    made = {}
    for zone in ("Pacific/Kiritimati", "Pacific/Pago_Pago"):
        patient = factories.PatientFactory(clinic=clinic, timezone=zone)
        plan = plan_for(patient, start=day, end=day, times=[dt.time(8), dt.time(19)])
        sessions_materialize(prescription_id=plan.pk, today=day)
        made[zone] = list(plan.sessions.order_by("local_time"))
    kiritimati_morning, kiritimati_evening = made["Pacific/Kiritimati"]
    Session.objects.filter(pk=kiritimati_evening.pk).update(status=Completed)
    follow_up = factories.ReminderFactory(session=kiritimati_morning, purpose=FOLLOW_UP)

    closes = utc(2027, 1, 11, 10, 0)  # the end of 11 January in UTC+14
    assert sessions_mark_missed(now=closes - dt.timedelta(microseconds=1)) == 0
    assert sessions_mark_missed(now=closes) == 1

    kiritimati_morning.refresh_from_db()
    follow_up.refresh_from_db()
    assert kiritimati_morning.status == Missed
    assert follow_up.status == Reminder.Status.CANCELLED
    assert Session.objects.get(pk=kiritimati_evening.pk).status == Completed
    assert {s.status for s in Session.objects.filter(prescription__patient__timezone="Pacific/Pago_Pago")} == {
        Scheduled
    }

    assert sessions_mark_missed(now=utc(2027, 1, 12, 11, 0)) == 2  # the end of 11 January in UTC−11
    assert sessions_mark_missed(now=utc(2027, 1, 12, 11, 0)) == 0


def test_flags_hold_revived_sessions_blocked_not_resolved_ones(live_plan, therapist):
    session = live_plan.sessions.order_by("local_date").first()
    resolved = factories.SafetyFlagFactory(patient=live_plan.patient, resolved=True)
    resolved.sessions.add(session)

    services.prescription_pause(prescription=live_plan, by=therapist)
    services.prescription_resume(prescription=live_plan, by=therapist)

    session.refresh_from_db()
    assert session.status == Scheduled
    assert SafetyFlag.objects.filter(sessions=session).count() == 1
