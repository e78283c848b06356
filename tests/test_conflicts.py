"""Conflicts (DESIGN §5): re-checks block and unblock upcoming sessions, flag per (kind, plan), honour
overrides for the same cause only, store evaluations only on a changed outcome; clearance_expiring once;
the receivers reach a real worker."""

from __future__ import annotations

import datetime as dt
import time

import pytest
from celery.contrib.testing.worker import start_worker
from django.utils import timezone

from clinic.errors import StateConflict
from clinic.models import Contraindication, Diagnosis, MovementTag, Stretch
from config.celery import app
from patients import services as patient_services
from prescriptions import services
from prescriptions.gate import facts as gate_facts_module
from prescriptions.gate import rules
from prescriptions.gate.facts import gate_facts_for_plans
from prescriptions.models import GateEvaluation, Reminder, SafetyFlag, Session
from prescriptions.services import ItemIn, WaiverIn
from prescriptions.services.conflicts import (
    clearance_expiring_scan,
    patient_recheck,
    patients_recheck,
    prescription_recheck,
)
from prescriptions.tasks import conflicts as conflict_tasks
from tests import factories

Kind = SafetyFlag.Kind
EVERY_DAY = [1, 2, 3, 4, 5, 6, 7]
BLOCKED, SCHEDULED = Session.Status.BLOCKED, Session.Status.SCHEDULED
PENDING, CANCELLED = Reminder.Status.PENDING, Reminder.Status.CANCELLED


# --- Set-up -----------------------------------------------------------------------------------------------


@pytest.fixture
def plan_for(therapist, stretch):
    """An active plan (every day at 08:00 from the patient's local today) with the given stretches."""

    def build(patient, *slugs: str, overrides_for=None):
        items = []
        for slug in slugs or ("pelvic-tilt",):
            s = stretch(slug)
            dosage = {"reps": s.default_reps, "sets": s.default_sets, "hold_seconds": s.default_hold_seconds}
            items.append(ItemIn(stretch=s, **dosage))
        draft = services.prescription_create(
            episode=patient.episodes.first(),
            by=therapist,
            start_date=patient.local_today(),
            days_of_week=EVERY_DAY,
            times=[dt.time(8, 0)],
            items=items,
        )
        overrides = overrides_for(draft) if overrides_for else ()
        return services.prescription_activate(prescription=draft, by=therapist, overrides=overrides)

    return build


@pytest.fixture
def patient(clinic):
    """A patient who takes reminders by email (so reminder rows exist and come back)."""
    return factories.PatientFactory(
        clinic=clinic, preferred_channel="email", email_consent=True, email_consent_at=timezone.now()
    )


def with_sessions(plan, days: int, *, first: int = 0) -> list[Session]:
    """Sessions on today + first … today + first + days - 1, each with a pending session reminder: at 08:00
    local, except today's at 00:00 (it has begun, so its reminder can never come back)."""
    today = plan.patient.local_today()
    sessions = []
    for offset in range(first, first + days):
        at = dt.time(0, 0) if offset == 0 else dt.time(8, 0)
        day = today + dt.timedelta(days=offset)
        session = factories.SessionFactory(prescription=plan, local_date=day, local_time=at)
        factories.ReminderFactory(session=session)
        sessions.append(session)
    return sessions


def statuses(sessions) -> list[str]:
    rows = Session.objects.filter(pk__in=[s.pk for s in sessions]).order_by("local_date")
    return list(rows.values_list("status", flat=True))


def reminder_statuses(sessions) -> list[str]:
    rows = Reminder.objects.filter(session__in=sessions, purpose=Reminder.Purpose.SESSION)
    return list(rows.order_by("session__local_date").values_list("status", flat=True))


def flags(plan, kind=None):
    rows = SafetyFlag.objects.filter(prescription=plan, cause_key=f"prescription:{plan.pk}")
    return rows.filter(kind=kind) if kind else rows


def revoke(patient, by):
    clearance = patient.clearances.get()
    return patient_services.clearance_revoke(clearance=clearance, by=by, reason="Physician withdrew clearance")


def record_clearance(patient, by, *, valid_from, days=90, **extra):
    return patient_services.clearance_record(
        patient=patient,
        by=by,
        professional_name="Dr. Ben Okafor",
        profession="physician",
        status=extra.pop("status", "cleared"),
        valid_from=valid_from,
        valid_until=valid_from + dt.timedelta(days=days),
        **extra,
    )


def diagnose(patient, by, code, **fields):
    return patient_services.patient_diagnosis_add(
        patient=patient, by=by, diagnosis=Diagnosis.objects.get(code=code), **fields
    )


def row(code: str, tag: str) -> Contraindication:
    return Contraindication.objects.get(clinic=None, diagnosis__code=code, tag__slug=tag, phase="", qualifier="")


# --- Clearance revoked, then a new one ----------------------------------------------------------------------


def test_revoking_a_clearance_blocks_every_upcoming_session_and_opens_one_flag_per_plan(
    cleared_patient, therapist, front_desk, plan_for, today
):
    first, second = plan_for(cleared_patient), plan_for(cleared_patient, "knees-to-chest")
    sessions = {first: with_sessions(first, 5), second: with_sessions(second, 3)}
    past = factories.SessionFactory(prescription=first, local_date=today - dt.timedelta(days=1))
    done = factories.SessionFactory(prescription=first, local_date=today + dt.timedelta(days=1), local_time=dt.time(7))
    Session.objects.filter(pk=done.pk).update(status=Session.Status.COMPLETED)

    revoke(cleared_patient, front_desk)
    results = patient_recheck(patient_id=cleared_patient.pk)

    assert {r.prescription_id for r in results} == {first.pk, second.pk}
    for plan, upcoming in sessions.items():
        assert statuses(upcoming) == [BLOCKED] * len(upcoming)
        assert reminder_statuses(upcoming) == [CANCELLED] * len(upcoming)
        (flag,) = flags(plan)
        assert flag.kind == Kind.CLEARANCE_CONFLICT and flag.status == SafetyFlag.Status.OPEN
        assert flag.severity == SafetyFlag.Severity.URGENT  # today fails
        assert set(flag.sessions.values_list("pk", flat=True)) == {s.pk for s in upcoming}
        assert flag.details["sessions"] == [s.pk for s in upcoming]
        assert {f["code"] for f in flag.details["findings"]} == {"clearance_revoked"}
        assert "revoked" in flag.summary
    assert Session.objects.get(pk=past.pk).status == SCHEDULED  # not upcoming: left to the missed sweep
    assert Session.objects.get(pk=done.pk).status == Session.Status.COMPLETED
    latest = GateEvaluation.objects.filter(prescription=first).first()
    assert latest.purpose == GateEvaluation.Purpose.RECHECK and not latest.passed


def test_a_new_clearance_unblocks_revives_future_reminders_and_resolves_with_the_reason(
    cleared_patient, therapist, front_desk, plan_for, today
):
    plan = plan_for(cleared_patient)
    sessions = with_sessions(plan, 4)
    revoke(cleared_patient, front_desk)
    patient_recheck(patient_id=cleared_patient.pk)
    (flag,) = flags(plan)

    record_clearance(cleared_patient, therapist, valid_from=today)
    (result,) = patient_recheck(patient_id=cleared_patient.pk)

    assert statuses(sessions) == [SCHEDULED] * 4
    # Today's session has begun: its reminder stays cancelled; the others are pending again.
    assert reminder_statuses(sessions) == [CANCELLED, PENDING, PENDING, PENDING]
    flag.refresh_from_db()
    assert flag.status == SafetyFlag.Status.RESOLVED and flag.resolved_by is None
    assert "clearance recorded" in flag.resolution
    assert set(result.unblocked) == {s.pk for s in sessions} and result.flags_resolved == (flag.pk,)
    assert GateEvaluation.objects.filter(prescription=plan).first().passed


def test_a_session_another_unresolved_flag_lists_stays_blocked(cleared_patient, therapist, front_desk, plan_for, today):
    plan = plan_for(cleared_patient)
    sessions = with_sessions(plan, 3)
    revoke(cleared_patient, front_desk)
    patient_recheck(patient_id=cleared_patient.pk)
    other = factories.SafetyFlagFactory(patient=cleared_patient, kind=Kind.PAIN_ESCALATION, cause_key="log:1")
    other.sessions.add(sessions[2])

    record_clearance(cleared_patient, therapist, valid_from=today)
    patient_recheck(patient_id=cleared_patient.pk)

    assert statuses(sessions) == [SCHEDULED, SCHEDULED, BLOCKED]
    assert reminder_statuses(sessions)[2] == CANCELLED


def test_an_expiring_clearance_blocks_only_the_sessions_after_its_end(patient, therapist, plan_for, today, mobility):
    factories.ClearanceFactory(patient=patient, recorded_by=therapist, valid_until=today + dt.timedelta(days=3))
    factories.MobilityAssessmentFactory(patient=patient, level=mobility(3), assessed_by=therapist)
    factories.EpisodeFactory(patient=patient, primary_therapist=therapist)
    plan = plan_for(patient)
    sessions = with_sessions(plan, 7)

    prescription_recheck(prescription_id=plan.pk)

    assert statuses(sessions) == [SCHEDULED] * 4 + [BLOCKED] * 3
    assert reminder_statuses(sessions) == [PENDING] * 4 + [CANCELLED] * 3
    (flag,) = flags(plan)
    assert flag.kind == Kind.CLEARANCE_CONFLICT and flag.severity == SafetyFlag.Severity.WARNING
    assert flag.details["from"] == (today + dt.timedelta(days=4)).isoformat()
    assert {f["code"] for f in flag.details["findings"]} == {"clearance_expired"}
    assert set(flag.sessions.values_list("pk", flat=True)) == {s.pk for s in sessions[4:]}


# --- Contraindications, overrides, mobility ---------------------------------------------------------------


def test_a_new_diagnosis_contraindicating_a_stretch_opens_a_contraindication_flag(cleared_patient, therapist, plan_for):
    plan = plan_for(cleared_patient, "pelvic-tilt", "knees-to-chest")
    sessions = with_sessions(plan, 3, first=2)  # none within 24 hours: a warning

    diagnose(cleared_patient, therapist, "M81.0", onset_date=dt.date(2020, 1, 1))
    (result,) = patient_recheck(patient_id=cleared_patient.pk)

    assert statuses(sessions) == [BLOCKED] * 3
    (flag,) = flags(plan)
    assert flag.kind == Kind.CONTRAINDICATION and flag.severity == SafetyFlag.Severity.WARNING
    (finding,) = flag.details["findings"]
    assert finding["code"] == "contraindicated" and finding["stretch"] == "knees-to-chest"
    assert finding["cause"] == f"contraindication:{row('M81.0', 'lumbar_flexion').pk}"
    assert result.flags_raised == (flag.pk,)


def test_a_stored_override_is_honoured_for_its_cause_but_a_new_cause_is_not(cleared_patient, therapist, plan_for):
    diagnose(cleared_patient, therapist, "M81.0", onset_date=dt.date(2020, 1, 1))
    osteoporosis = row("M81.0", "lumbar_flexion")

    def override(draft):
        item = draft.items.get()
        return [WaiverIn(item.pk, "contraindicated", f"contraindication:{osteoporosis.pk}", "Surgeon agrees")]

    plan = plan_for(cleared_patient, "knees-to-chest", overrides_for=override)
    sessions = with_sessions(plan, 3)

    patient_recheck(patient_id=cleared_patient.pk)
    assert statuses(sessions) == [SCHEDULED] * 3 and not flags(plan).exists()

    diagnose(cleared_patient, therapist, "M48.56XA", onset_date=dt.date(2020, 1, 1))  # compression fracture
    patient_recheck(patient_id=cleared_patient.pk)

    assert statuses(sessions) == [BLOCKED] * 3
    (flag,) = flags(plan)
    assert flag.kind == Kind.CONTRAINDICATION
    fracture = row("M48.56XA", "lumbar_flexion")
    assert [f["cause"] for f in flag.details["findings"]] == [f"contraindication:{fracture.pk}"]


def test_mobility_below_a_stretchs_minimum_opens_a_mobility_flag_until_reassessed(
    cleared_patient, therapist, plan_for, mobility
):
    plan = plan_for(cleared_patient, "prayer-stretch")  # minimum level 3
    sessions = with_sessions(plan, 3)

    patient_services.mobility_assess(patient=cleared_patient, by=therapist, level=mobility(2))
    patient_recheck(patient_id=cleared_patient.pk)
    (flag,) = flags(plan)
    assert flag.kind == Kind.MOBILITY
    assert [f["code"] for f in flag.details["findings"]] == ["mobility_below_minimum"]
    assert statuses(sessions) == [BLOCKED] * 3

    patient_services.mobility_assess(patient=cleared_patient, by=therapist, level=mobility(3))
    patient_recheck(patient_id=cleared_patient.pk)
    flag.refresh_from_db()
    assert flag.status == SafetyFlag.Status.RESOLVED and "mobility reassessed" in flag.resolution
    assert statuses(sessions) == [SCHEDULED] * 3


def test_kinds_are_flagged_and_resolved_independently(
    cleared_patient, therapist, front_desk, plan_for, mobility, today
):
    plan = plan_for(cleared_patient, "prayer-stretch")
    sessions = with_sessions(plan, 2)
    patient_services.mobility_assess(patient=cleared_patient, by=therapist, level=mobility(2))
    revoke(cleared_patient, front_desk)
    patient_recheck(patient_id=cleared_patient.pk)
    # Without a clearance the gate checks nothing else.
    assert set(flags(plan).values_list("kind", flat=True)) == {Kind.CLEARANCE_CONFLICT}

    record_clearance(cleared_patient, therapist, valid_from=today)
    patient_recheck(patient_id=cleared_patient.pk)

    # With a clearance back the mobility finding shows: the clearance flag resolves, a mobility flag opens,
    # and the sessions stay blocked throughout.
    unresolved = flags(plan).exclude(status=SafetyFlag.Status.RESOLVED)
    assert set(unresolved.values_list("kind", flat=True)) == {Kind.MOBILITY}
    assert flags(plan, Kind.CLEARANCE_CONFLICT).get().status == SafetyFlag.Status.RESOLVED
    assert statuses(sessions) == [BLOCKED, BLOCKED]
    assert reminder_statuses(sessions)[1] == CANCELLED


# --- Idempotence, evaluations, query counts ---------------------------------------------------------------


def test_a_second_recheck_with_unchanged_facts_changes_nothing(cleared_patient, front_desk, plan_for):
    plan = plan_for(cleared_patient)
    sessions = with_sessions(plan, 4)
    revoke(cleared_patient, front_desk)
    first = prescription_recheck(prescription_id=plan.pk)
    assert first.changed and first.evaluation_id
    before = {
        "sessions": list(Session.objects.filter(prescription=plan).values_list("pk", "status", "updated_at")),
        "reminders": list(Reminder.objects.filter(session__in=sessions).values_list("pk", "status", "updated_at")),
        "flags": list(SafetyFlag.objects.values_list("pk", "status", "severity", "summary", "details")),
        "evaluations": GateEvaluation.objects.count(),
    }

    again = prescription_recheck(prescription_id=plan.pk)

    assert not again.changed and again.evaluation_id is None
    assert again.failing_sessions == first.failing_sessions
    after = {
        "sessions": list(Session.objects.filter(prescription=plan).values_list("pk", "status", "updated_at")),
        "reminders": list(Reminder.objects.filter(session__in=sessions).values_list("pk", "status", "updated_at")),
        "flags": list(SafetyFlag.objects.values_list("pk", "status", "severity", "summary", "details")),
        "evaluations": GateEvaluation.objects.count(),
    }
    assert after == before


def test_a_recheck_agreeing_with_the_activation_stores_no_evaluation(cleared_patient, plan_for):
    plan = plan_for(cleared_patient)
    with_sessions(plan, 3)
    result = prescription_recheck(prescription_id=plan.pk)
    assert not result.changed
    assert list(GateEvaluation.objects.filter(prescription=plan).values_list("purpose", flat=True)) == ["activation"]


def test_newly_materialized_sessions_in_a_failing_span_are_blocked_without_a_new_evaluation(
    cleared_patient, front_desk, plan_for
):
    plan = plan_for(cleared_patient)
    with_sessions(plan, 2)
    revoke(cleared_patient, front_desk)
    prescription_recheck(prescription_id=plan.pk)
    evaluations = GateEvaluation.objects.count()

    later = with_sessions(plan, 2, first=2)
    result = prescription_recheck(prescription_id=plan.pk)

    assert statuses(later) == [BLOCKED, BLOCKED] and set(result.blocked) == {s.pk for s in later}
    assert GateEvaluation.objects.count() == evaluations  # same facts, same outcome
    (flag,) = flags(plan)
    assert flag.sessions.count() == 4


def test_a_paused_plan_is_left_alone(cleared_patient, therapist, front_desk, plan_for):
    plan = plan_for(cleared_patient)
    with_sessions(plan, 2)
    services.prescription_pause(prescription=plan, by=therapist)
    revoke(cleared_patient, front_desk)
    assert prescription_recheck(prescription_id=plan.pk).checked is False
    assert patient_recheck(patient_id=cleared_patient.pk) == []
    assert not flags(plan).exists()


def test_recheck_queries_do_not_grow_with_sessions(clinic, therapist, front_desk, plan_for, mobility, count_queries):
    plans = []
    for days in (2, 12):
        patient = factories.PatientFactory(clinic=clinic)
        factories.ClearanceFactory(patient=patient, recorded_by=therapist)
        factories.MobilityAssessmentFactory(patient=patient, level=mobility(3), assessed_by=therapist)
        factories.EpisodeFactory(patient=patient, primary_therapist=therapist)
        plan = plan_for(patient, "pelvic-tilt", "knees-to-chest")
        with_sessions(plan, days)
        revoke(patient, front_desk)
        plans.append(plan)

    blocking = [count_queries(lambda p=p: prescription_recheck(prescription_id=p.pk)) for p in plans]
    steady = [count_queries(lambda p=p: prescription_recheck(prescription_id=p.pk)) for p in plans]

    assert blocking[0] == blocking[1]
    assert steady[0] == steady[1]
    assert steady[0] <= 16


def test_a_batch_recheck_reads_in_a_fixed_number_of_queries(clinic, therapist, plan_for, mobility, count_queries):
    def patients(count: int) -> list[int]:
        ids = []
        for _ in range(count):
            patient = factories.PatientFactory(clinic=clinic)
            factories.ClearanceFactory(patient=patient, recorded_by=therapist)
            factories.MobilityAssessmentFactory(patient=patient, level=mobility(3), assessed_by=therapist)
            factories.PatientDiagnosisFactory(patient=patient, recorded_by=therapist)
            factories.EpisodeFactory(patient=patient, primary_therapist=therapist)
            with_sessions(plan_for(patient), 3)
            with_sessions(plan_for(patient, "knees-to-chest"), 2)
            ids.append(patient.pk)
        return ids

    small, large = patients(2), patients(6)
    assert count_queries(lambda: patients_recheck(patient_ids=small)) == count_queries(
        lambda: patients_recheck(patient_ids=large)
    )


def test_bulk_facts_equal_the_gate_selectors(cleared_patient, therapist, front_desk, stretch, today):
    diagnose(cleared_patient, therapist, "M51.26", phase="acute", onset_date=today - dt.timedelta(days=3))
    diagnose(cleared_patient, therapist, "M48.061", onset_date=today - dt.timedelta(days=400))
    record_clearance(
        cleared_patient,
        therapist,
        valid_from=today + dt.timedelta(days=5),
        status="restricted",
        restricted_tags=[MovementTag.objects.get(slug="spinal_rotation")],
    )
    withdrawn = record_clearance(cleared_patient, therapist, valid_from=today, days=10)
    patient_services.clearance_revoke(clearance=withdrawn, by=front_desk, reason="Sent in error")
    plan = services.prescription_create(  # a draft: the stenosis caution would need acknowledging to activate
        episode=cleared_patient.episodes.get(),
        by=therapist,
        start_date=today,
        days_of_week=EVERY_DAY,
        times=[dt.time(8, 0)],
        items=[
            ItemIn(stretch=stretch("pelvic-tilt"), reps=10, hold_seconds=5),
            ItemIn(stretch=stretch("prone-press-up"), reps=10),
        ],
    )

    items, facts = gate_facts_for_plans([plan])[plan.pk]

    rows = list(plan.items.select_related("stretch__min_mobility").prefetch_related("stretch__tags").order_by("order"))
    assert items == [rules.ItemFact(key=r.pk, stretch=gate_facts_module.stretch_fact(r.stretch)) for r in rows]
    assert facts == gate_facts_module.gate_facts(patient=plan.patient, stretches=[r.stretch for r in rows])
    assert facts.contraindications and len(facts.clearances) == 3
    assert facts.clearances[-1].revoked_on == today and facts.clearances[1].restricted_tags == {"spinal_rotation"}


# --- clearance_expiring -----------------------------------------------------------------------------------


def test_clearance_expiring_opens_once_when_no_successor(patient, therapist, plan_for, today, mobility):
    ends = today + dt.timedelta(days=7)
    ending = factories.ClearanceFactory(patient=patient, recorded_by=therapist, valid_until=ends)
    factories.MobilityAssessmentFactory(patient=patient, level=mobility(3), assessed_by=therapist)
    factories.EpisodeFactory(patient=patient, primary_therapist=therapist)
    plan_for(patient)
    far = factories.PatientFactory(clinic=patient.clinic)  # ends in 8 days: not yet
    factories.ClearanceFactory(patient=far, recorded_by=therapist, valid_until=today + dt.timedelta(days=8))
    factories.MobilityAssessmentFactory(patient=far, level=mobility(3), assessed_by=therapist)
    factories.EpisodeFactory(patient=far, primary_therapist=therapist)
    plan_for(far)

    assert clearance_expiring_scan() == 1
    assert clearance_expiring_scan() == 0

    (flag,) = SafetyFlag.objects.filter(kind=Kind.CLEARANCE_EXPIRING)
    assert flag.patient == patient and flag.cause_key == f"clearance:{ending.pk}"
    assert flag.severity == SafetyFlag.Severity.WARNING and flag.details["days_left"] == 7
    services.flag_auto_resolve(flag=flag, reason="seen")
    assert clearance_expiring_scan() == 0  # once ever per clearance


def test_no_clearance_expiring_when_a_successor_is_on_file(patient, therapist, plan_for, today, mobility):
    factories.ClearanceFactory(patient=patient, recorded_by=therapist, valid_until=today + dt.timedelta(days=2))
    factories.MobilityAssessmentFactory(patient=patient, level=mobility(3), assessed_by=therapist)
    factories.EpisodeFactory(patient=patient, primary_therapist=therapist)
    plan_for(patient)
    record_clearance(patient, therapist, valid_from=today + dt.timedelta(days=3))

    assert clearance_expiring_scan() == 0


def test_a_successor_recorded_before_the_ending_clearance_counts(patient, therapist, plan_for, today, mobility):
    """A future-dated letter filed first, then a short one: on the day after the short one ends the gate finds
    the future-dated one in force, so there is nothing to warn about."""
    earlier = timezone.now() - dt.timedelta(days=3)
    factories.ClearanceFactory(
        patient=patient, recorded_by=therapist, recorded_at=earlier, valid_from=today + dt.timedelta(days=3)
    )
    factories.ClearanceFactory(patient=patient, recorded_by=therapist, valid_until=today + dt.timedelta(days=2))
    factories.MobilityAssessmentFactory(patient=patient, level=mobility(3), assessed_by=therapist)
    factories.EpisodeFactory(patient=patient, primary_therapist=therapist)
    plan_for(patient)

    assert clearance_expiring_scan() == 0


def test_a_short_successor_does_not_hide_the_gap_behind_it(patient, therapist, plan_for, today, mobility):
    factories.ClearanceFactory(patient=patient, recorded_by=therapist, valid_until=today + dt.timedelta(days=2))
    factories.MobilityAssessmentFactory(patient=patient, level=mobility(3), assessed_by=therapist)
    factories.EpisodeFactory(patient=patient, primary_therapist=therapist)
    plan_for(patient)
    record_clearance(patient, therapist, valid_from=today + dt.timedelta(days=3), days=0)  # a one-day letter

    assert clearance_expiring_scan() == 1
    assert SafetyFlag.objects.get(kind=Kind.CLEARANCE_EXPIRING).details["days_left"] == 2


def test_a_revoked_successor_does_not_count(patient, therapist, plan_for, today, mobility):
    factories.ClearanceFactory(patient=patient, recorded_by=therapist, valid_until=today + dt.timedelta(days=2))
    factories.MobilityAssessmentFactory(patient=patient, level=mobility(3), assessed_by=therapist)
    factories.EpisodeFactory(patient=patient, primary_therapist=therapist)
    plan_for(patient)
    successor = record_clearance(patient, therapist, valid_from=today + dt.timedelta(days=3))
    patient_services.clearance_revoke(clearance=successor, by=therapist, reason="letter withdrawn")

    assert clearance_expiring_scan() == 1


def test_a_successor_that_leaves_a_gap_does_not_count(patient, therapist, plan_for, today, mobility):
    factories.ClearanceFactory(patient=patient, recorded_by=therapist, valid_until=today + dt.timedelta(days=2))
    factories.MobilityAssessmentFactory(patient=patient, level=mobility(3), assessed_by=therapist)
    factories.EpisodeFactory(patient=patient, primary_therapist=therapist)
    plan_for(patient)
    record_clearance(patient, therapist, valid_from=today + dt.timedelta(days=4))

    assert clearance_expiring_scan() == 1


# --- Tasks ------------------------------------------------------------------------------------------------


def test_the_nightly_sweep_fans_out_batches_and_scans_expiring_clearances(
    clinic, therapist, plan_for, mobility, today, django_capture_on_commit_callbacks, monkeypatch
):
    monkeypatch.setattr(conflict_tasks, "SWEEP_BATCH_SIZE", 2)
    patients = []
    for index in range(3):
        patient = factories.PatientFactory(clinic=clinic)
        ends = today + dt.timedelta(days=3 if index == 0 else 90)
        factories.ClearanceFactory(patient=patient, recorded_by=therapist, valid_until=ends)
        factories.MobilityAssessmentFactory(patient=patient, level=mobility(3), assessed_by=therapist)
        factories.EpisodeFactory(patient=patient, primary_therapist=therapist)
        with_sessions(plan_for(patient), 6)
        patients.append(patient)

    revoke(patients[1], therapist)

    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        conflict_tasks.sweep_conflicts()
    assert len(callbacks) == 2  # batches of 2 patients: [p0, p1], [p2]
    assert SafetyFlag.objects.filter(kind=Kind.CLEARANCE_EXPIRING, patient=patients[0]).exists()

    conflict_tasks.recheck_conflicts_batch(*[p.pk for p in patients])  # what the batches run
    plan = patients[0].prescriptions.get()
    assert statuses(plan.sessions.all()) == [SCHEDULED] * 4 + [BLOCKED] * 2
    revoked = patients[1].prescriptions.get()
    assert set(revoked.sessions.values_list("status", flat=True)) == {BLOCKED}
    assert GateEvaluation.objects.filter(prescription=revoked).first().purpose == GateEvaluation.Purpose.SWEEP


@pytest.fixture
def worker():
    """A real worker thread on the test Redis, started before the test touches the database."""
    app.control.purge()
    # Name the default queue: a worker another module started on its own queue leaves that one selected on the app.
    queues = [app.conf.task_default_queue]
    with start_worker(app, pool="solo", queues=queues, perform_ping_check=False, shutdown_timeout=10) as running:
        yield running


def wait_for(condition, timeout: float = 20.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.1)
    return condition()


@pytest.mark.django_db(transaction=True)
def test_revoking_through_the_service_blocks_sessions_via_a_real_worker(
    worker, catalog, django_capture_on_commit_callbacks
):
    clinic = factories.ClinicFactory()
    therapist = factories.MembershipFactory(clinic=clinic).user
    patient = factories.PatientFactory(
        clinic=clinic, preferred_channel="email", email_consent=True, email_consent_at=timezone.now()
    )
    factories.ClearanceFactory(patient=patient, recorded_by=therapist)
    factories.MobilityAssessmentFactory(patient=patient, assessed_by=therapist)
    factories.EpisodeFactory(patient=patient, primary_therapist=therapist)
    draft = services.prescription_create(
        episode=patient.episodes.get(),
        by=therapist,
        start_date=patient.local_today() + dt.timedelta(days=1),
        days_of_week=EVERY_DAY,
        times=[dt.time(8, 0)],
        items=[ItemIn(stretch=Stretch.objects.get(clinic=None, slug="pelvic-tilt"), reps=10, hold_seconds=5)],
    )
    plan = services.prescription_activate(prescription=draft, by=therapist)  # the worker materializes it
    assert wait_for(lambda: Reminder.objects.filter(session__prescription=plan, status=PENDING).exists())
    sessions = list(plan.sessions.all())

    with django_capture_on_commit_callbacks(execute=True):
        patient_services.clearance_revoke(clearance=patient.clearances.get(), by=therapist, reason="Withdrawn")

    assert wait_for(lambda: statuses(sessions) == [BLOCKED] * len(sessions)), statuses(sessions)
    assert not Reminder.objects.filter(session__prescription=plan, status=PENDING).exists()
    flag = flags(plan, Kind.CLEARANCE_CONFLICT).get()
    assert flag.sessions.count() == len(sessions)


def test_findings_map_to_flag_kinds():
    from prescriptions.services.conflicts import KIND_OF_CODE

    assert set(KIND_OF_CODE) == set(rules.Code)


# --- Fixes from review: nothing lifts what the gate or a symptom holds ------------------------------------


def test_resolving_a_conflict_flag_by_hand_while_the_cause_persists_blocks_again(
    cleared_patient, therapist, front_desk, plan_for
):
    plan = plan_for(cleared_patient)
    sessions = with_sessions(plan, 3, first=1)
    revoke(cleared_patient, front_desk)
    prescription_recheck(prescription_id=plan.pk)
    [flag] = flags(plan, SafetyFlag.Kind.CLEARANCE_CONFLICT)

    services.flag_resolve(flag=flag, by=therapist, resolution="Spoke to the patient")

    assert set(statuses(sessions)) == {Session.Status.BLOCKED}
    assert flags(plan, SafetyFlag.Kind.CLEARANCE_CONFLICT).exclude(status=SafetyFlag.Status.RESOLVED).count() == 1
    assert set(reminder_statuses(sessions)) == {Reminder.Status.CANCELLED}


def test_resume_blocks_failing_later_dates_at_once(patient, therapist, plan_for, today, mobility):
    factories.EpisodeFactory(patient=patient)
    factories.MobilityAssessmentFactory(patient=patient, level=mobility(3))
    factories.ClearanceFactory(patient=patient, valid_from=today, valid_until=today + dt.timedelta(days=2))
    plan = plan_for(patient)
    services.prescription_pause(prescription=plan, by=therapist)
    sessions = with_sessions(plan, 5, first=1)
    Session.objects.filter(pk__in=[s.pk for s in sessions]).update(status=Session.Status.CANCELLED)

    services.prescription_resume(prescription=plan, by=therapist)  # no worker: the re-check runs in the service

    assert statuses(sessions) == ["scheduled", "scheduled", "blocked", "blocked", "blocked"]
    assert flags(plan, SafetyFlag.Kind.CLEARANCE_CONFLICT).count() == 1


def test_ending_a_plan_resolves_its_conflict_flags(cleared_patient, therapist, front_desk, plan_for):
    plan = plan_for(cleared_patient)
    with_sessions(plan, 2, first=1)
    revoke(cleared_patient, front_desk)
    prescription_recheck(prescription_id=plan.pk)

    services.prescription_cancel(prescription=plan, by=therapist)

    [flag] = flags(plan)
    assert flag.status == SafetyFlag.Status.RESOLVED
    assert "the plan was cancelled" in flag.resolution


def test_a_paused_plans_conflict_flag_stays_open_until_resume_finds_the_cause_gone(
    cleared_patient, therapist, front_desk, plan_for, today
):
    """Pausing is not ending: the plan may resume, so its conflict still needs the clinic's attention and the
    flag stays open (ended plans resolve theirs). Resuming re-checks at once and resolves it, with the reason,
    when the cause went away during the pause."""
    plan = plan_for(cleared_patient)
    sessions = with_sessions(plan, 3, first=1)
    revoke(cleared_patient, front_desk)
    prescription_recheck(prescription_id=plan.pk)

    services.prescription_pause(prescription=plan, by=therapist)
    record_clearance(cleared_patient, front_desk, valid_from=today)
    patient_recheck(patient_id=cleared_patient.pk)  # what the clearance receiver runs: a paused plan is skipped

    [flag] = flags(plan, Kind.CLEARANCE_CONFLICT)
    assert flag.status == SafetyFlag.Status.OPEN

    services.prescription_resume(prescription=plan, by=therapist)

    flag.refresh_from_db()
    assert flag.status == SafetyFlag.Status.RESOLVED
    assert "clearance recorded" in flag.resolution
    assert statuses(sessions) == [SCHEDULED] * 3


def test_an_amendment_cannot_revive_a_cancelled_plan(cleared_patient, therapist, plan_for):
    plan = plan_for(cleared_patient)
    amendment = services.prescription_amend(prescription=plan, by=therapist)
    services.prescription_cancel(prescription=plan, by=therapist)

    with pytest.raises(StateConflict, match="cancelled"):
        services.prescription_activate(prescription=amendment, by=therapist)
    plan.refresh_from_db()
    assert plan.status == "cancelled"


def test_a_red_flag_holds_upcoming_sessions_until_a_therapist_resolves_it(
    patient, therapist, plan_for, mobility, today
):
    from prescriptions.services.sessions import session_log_create

    factories.EpisodeFactory(patient=patient)
    factories.MobilityAssessmentFactory(patient=patient, level=mobility(3))
    factories.ClearanceFactory(patient=patient)
    portal = factories.PortalAccessFactory(patient=patient).user
    plan = plan_for(patient)
    [today_session] = with_sessions(plan, 1)
    upcoming = with_sessions(plan, 3, first=1)

    answers = factories.no_red_flags(today_session, saddle_numbness=True)
    session_log_create(session=today_session, by=portal, pain_before=3, pain_after=3, answers=answers)

    flag = SafetyFlag.objects.get(kind=SafetyFlag.Kind.RED_FLAG_SYMPTOM)
    assert set(statuses(upcoming)) == {Session.Status.BLOCKED}
    assert set(reminder_statuses(upcoming)) == {Reminder.Status.CANCELLED}
    assert set(flag.sessions.values_list("pk", flat=True)) == {s.pk for s in upcoming}

    services.flag_resolve(flag=flag, by=therapist, resolution="Examined: no cauda equina signs")
    assert set(statuses(upcoming)) == {Session.Status.SCHEDULED}
