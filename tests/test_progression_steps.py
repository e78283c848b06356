"""Dose progression steps on the real database (issue 17): a step due makes the plan's next version, which the gate
evaluates like any other, and goes live only when the patient is ready; otherwise it is held, once, with its reasons
and one flag per plan, and the therapist may apply it by hand. Also the selector of plans due (in each patient's
zone), the sweep task and the stretches' dose bounds.

Dates are fixed (a plan starting Monday 2 March 2026, stepping every 2 weeks: first step on 16 March) and ``now`` is
passed to the services; only the sweep, which reads the clock itself, runs relative to today.
"""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

import pytest
from django.core.exceptions import PermissionDenied, ValidationError
from django.utils import timezone

from clinic.errors import SafetyBlocked, StateConflict
from clinic.models import Diagnosis, Stretch
from clinic.services import ItemIn, ProgressionIn
from patients.models import Clearance
from prescriptions import progression, services
from prescriptions.models import (
    GateEvaluation,
    GateOverride,
    Prescription,
    PrescriptionItem,
    ProgressionStep,
    SafetyFlag,
    Session,
    SessionLog,
)
from prescriptions.selectors.progression import next_step, plans_due
from prescriptions.services.progression import progression_step_apply, progression_step_run
from prescriptions.tasks.progression import progression_sweep
from tests import factories
from tests.threads import together

NY = ZoneInfo("America/New_York")
DAY, WEEK = dt.timedelta(days=1), dt.timedelta(weeks=1)
START = dt.date(2026, 3, 2)  # a Monday
STEP = START + 2 * WEEK
AT_STEP = dt.datetime.combine(STEP, dt.time(9), tzinfo=NY)
EVERY_DAY = [1, 2, 3, 4, 5, 6, 7]
ROTATION = "seated-thoracic-rotation"  # static; spinal rotation: a caution with osteoporosis (M81.0)

Plan = Prescription.Status
Step = ProgressionStep.Status
Kind = SafetyFlag.Kind
HELD_FLAG = Kind.PROGRESSION_HELD


# --- Set-up -------------------------------------------------------------------------------------------------


def a_patient(clinic, therapist, *, zone="America/New_York", diagnosis="M81.0", around=START, cleared_until=None):
    """A patient with an open episode, a physician's clearance (from 30 days before ``around`` through
    ``cleared_until``, default 180 days after), assessed at mobility 3 and, unless ``diagnosis=None``, with that
    diagnosis since a year before."""
    patient = factories.PatientFactory(clinic=clinic, timezone=zone)
    factories.EpisodeFactory(patient=patient, primary_therapist=therapist, opened_on=around - 30 * DAY)
    factories.ClearanceFactory(
        patient=patient,
        recorded_by=therapist,
        valid_from=around - 30 * DAY,
        valid_until=cleared_until or around + 180 * DAY,
        recorded_at=dt.datetime.combine(around - 30 * DAY, dt.time(12), tzinfo=NY),
    )
    factories.MobilityAssessmentFactory(patient=patient, assessed_by=therapist)
    if diagnosis:
        diagnose(patient, therapist, diagnosis, onset=around - 365 * DAY)
    return patient


def diagnose(patient, therapist, code: str, *, onset: dt.date):
    return factories.PatientDiagnosisFactory(
        patient=patient, diagnosis=Diagnosis.objects.get(code=code), onset_date=onset, recorded_by=therapist
    )


def global_stretch(slug: str) -> Stretch:
    return Stretch.objects.get(clinic=None, slug=slug)


def rotation(*, hold: int = 20, rule: ProgressionIn | None = None) -> ItemIn:
    """Seated trunk rotation, 20 s × 3; by default every 2 weeks +5 s hold (up to the stretch's bound, 60 s)."""
    rule = rule or ProgressionIn(every_weeks=2, hold_seconds=5)
    return ItemIn(stretch=global_stretch(ROTATION), reps=3, hold_seconds=hold, progression=rule)


def first_version(patient, therapist, *, items=None, start: dt.date = START) -> Prescription:
    """Version 1, made and activated through the services on ``start``."""
    draft = services.prescription_create(
        episode=patient.episodes.get(),
        by=therapist,
        start_date=start,
        days_of_week=EVERY_DAY,
        times=[dt.time(8)],
        items=items or [rotation()],
    )
    return activated(draft, therapist, on=start)


def activated(draft: Prescription, therapist, *, on: dt.date) -> Prescription:
    """``draft`` activated on ``on``, each caution the gate raises (its dry run) acknowledged."""
    dry_run = services.gate_run(prescription=draft, by=therapist, purpose=GateEvaluation.Purpose.ACTIVATION, today=on)
    acknowledgements = [services.WaiverIn(item=f.item, code=f.code, cause=f.cause) for f in dry_run.blocking]
    plan = services.prescription_activate(prescription=draft, by=therapist, acknowledgements=acknowledgements, today=on)
    # Activated on ``on``, as the gate was told: a version's steps count from the day it went live.
    plan.activated_at = dt.datetime.combine(on, dt.time(8), tzinfo=ZoneInfo(plan.patient.timezone))
    plan.save(update_fields=["activated_at"])
    return plan


def _on(plan: Prescription, day: int) -> dt.date:
    """The date ``day`` days after the start of the plan's first version."""
    first = plan.first_version if plan.first_version_id else plan
    return first.start_date + day * DAY


def logged(plan: Prescription, days, *, pain_after: int = 2) -> None:
    """A completed session at 08:00 on each of ``days`` (days since the lineage's start), logged at 08:20."""
    zone = ZoneInfo(plan.patient.timezone)
    for day in days:
        factories.SessionLogFactory(
            session__prescription=plan,
            session__local_date=_on(plan, day),
            logged_at=dt.datetime.combine(_on(plan, day), dt.time(8, 20), tzinfo=zone),
            pain_before=pain_after,
            pain_after=pain_after,
        )


def sessions(plan: Prescription, days, status: str) -> None:
    for day in days:
        factories.SessionFactory(prescription=plan, local_date=_on(plan, day), status=status)


def good_history(plan: Prescription) -> None:
    """Every session of the first two weeks done and logged at pain 2."""
    logged(plan, range(14))


def held_flags(plan: Prescription):
    return SafetyFlag.objects.filter(kind=HELD_FLAG, cause_key=f"progression:{plan.lineage_id}")


def dose(plan: Prescription) -> list[tuple[int | None, int, int]]:
    return [(item.hold_seconds, item.reps, item.sets) for item in plan.items.order_by("order")]


def counts() -> tuple[int, ...]:
    return (
        Prescription.objects.count(),
        ProgressionStep.objects.count(),
        GateEvaluation.objects.count(),
        GateOverride.objects.count(),
        SafetyFlag.objects.count(),
    )


# --- A step that goes ahead ----------------------------------------------------------------------------------


def test_a_step_that_goes_ahead_makes_the_next_version_live_with_the_overrides_carried(clinic, therapist):
    patient = a_patient(clinic, therapist)
    plan = first_version(patient, therapist)
    [acknowledgement] = plan.overrides.all()
    assert acknowledgement.code == "caution"
    good_history(plan)

    step = progression_step_run(prescription_id=plan.pk, now=AT_STEP)

    assert (step.status, step.held_because, step.on_date) == (Step.APPLIED, [], STEP)
    assert (step.first_version_id, step.from_version_id) == (plan.pk, plan.pk)
    assert step.ran_at == AT_STEP
    new = step.to_version
    assert (new.status, new.version, new.first_version_id, new.supersedes_id) == (Plan.ACTIVE, 2, plan.pk, plan.pk)
    assert new.start_date == STEP
    assert (new.therapist, new.episode_id, new.days_of_week, new.times) == (
        therapist,
        plan.episode_id,
        plan.days_of_week,
        plan.times,
    )
    plan.refresh_from_db()
    assert plan.status == Plan.COMPLETED
    assert dose(plan) == [(20, 3, 1)]
    assert dose(new) == [(25, 3, 1)]
    [item] = new.items.all()
    assert ProgressionIn.of(item) == ProgressionIn(every_weeks=2, hold_seconds=5)  # the rule goes on
    assert step.changes == [
        {
            "order": 1,
            "stretch": item.stretch.name,
            "from": {"hold_seconds": 20, "reps": 3, "sets": 1},
            "to": {"hold_seconds": 25, "reps": 3, "sets": 1},
        }
    ]
    assert (step.evidence["adherence"]["due"], step.evidence["adherence"]["percent"]) == (14, 100)
    assert step.evidence["baseline"]["logs"] == 7
    assert step.evidence["recent"]["logs"] == 3

    evaluation = new.evaluations.get()
    assert (evaluation.purpose, evaluation.passed, evaluation.on_date) == ("progression", True, STEP)
    assert evaluation.evaluated_by is None

    [carried] = new.overrides.all()
    assert carried.carried_from == acknowledgement
    assert carried.item == item
    assert (carried.kind, carried.code, carried.cause, carried.reason, carried.by) == (
        acknowledgement.kind,
        acknowledgement.code,
        acknowledgement.cause,
        acknowledgement.reason,
        acknowledgement.by,
    )
    [finding] = evaluation.findings[0]["findings"]  # the caution is still there, and covered by the carried one
    assert (finding["code"], finding["cause"], finding["item"], finding["covered"]) == (
        "caution",
        acknowledgement.cause,
        item.pk,
        True,
    )
    assert not SafetyFlag.objects.filter(kind=HELD_FLAG).exists()


def test_a_second_run_finds_the_step_done(clinic, therapist):
    patient = a_patient(clinic, therapist)
    plan = first_version(patient, therapist)
    good_history(plan)
    step = progression_step_run(prescription_id=plan.pk, now=AT_STEP)
    before = counts()

    assert progression_step_run(prescription_id=plan.pk, now=AT_STEP) is None  # the old version: completed
    assert progression_step_run(prescription_id=step.to_version_id, now=AT_STEP) is None
    assert progression_step_run(prescription_id=step.to_version_id, now=AT_STEP + 13 * DAY) is None
    assert counts() == before


def test_a_held_step_is_not_run_again_on_its_date(clinic, therapist):
    patient = a_patient(clinic, therapist)
    plan = first_version(patient, therapist)  # nothing logged: missing data
    progression_step_run(prescription_id=plan.pk, now=AT_STEP)
    before = counts()

    assert progression_step_run(prescription_id=plan.pk, now=AT_STEP + 3 * DAY) is None
    assert counts() == before


def test_the_next_step_counts_from_the_first_versions_start(clinic, therapist):
    """The second step (week 4) steps the second version into a third, whose first version is still the first."""
    patient = a_patient(clinic, therapist)
    plan = first_version(patient, therapist)
    good_history(plan)
    second = progression_step_run(prescription_id=plan.pk, now=AT_STEP).to_version
    logged(second, range(14, 28))

    step = progression_step_run(prescription_id=second.pk, now=AT_STEP + 2 * WEEK)

    assert (step.status, step.on_date, step.first_version_id, step.from_version_id) == (
        Step.APPLIED,
        STEP + 2 * WEEK,
        plan.pk,
        second.pk,
    )
    third = step.to_version
    assert (third.version, third.first_version_id, third.supersedes_id) == (3, plan.pk, second.pk)
    assert dose(third) == [(30, 3, 1)]
    [override] = third.overrides.all()
    assert override.carried_from.carried_from == plan.overrides.get()
    assert step.evidence["baseline"] == {"from": START.isoformat(), "logs": 7, "pain_after": 2.0}


def test_a_therapists_amendment_moves_the_count_to_its_own_start(clinic, therapist):
    """An amendment starting at week 3: the week-2 date (missed) is behind it; the next step is week 4."""
    patient = a_patient(clinic, therapist)
    plan = first_version(patient, therapist)
    draft = services.prescription_create(
        episode=plan.episode,
        by=therapist,
        start_date=START + 3 * WEEK,
        days_of_week=EVERY_DAY,
        times=[dt.time(8)],
        items=[rotation(hold=22)],
        supersedes=plan,
    )
    amended = activated(draft, therapist, on=START + 3 * WEEK)
    assert (amended.version, amended.first_version_id) == (2, plan.pk)
    logged(plan, range(21))
    logged(amended, range(21, 28))

    assert progression_step_run(prescription_id=amended.pk, now=AT_STEP + WEEK + DAY) is None
    step = progression_step_run(prescription_id=amended.pk, now=AT_STEP + 2 * WEEK)

    assert (step.status, step.on_date) == (Step.APPLIED, START + 4 * WEEK)
    assert dose(step.to_version) == [(27, 3, 1)]


# --- Dose bounds --------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("rule", "expected"),
    [
        (ProgressionIn(every_weeks=2, hold_seconds=5), 60),  # no maximum of its own: the stretch's bound
        (ProgressionIn(every_weeks=2, hold_seconds=5, max_hold_seconds=59), 59),
    ],
)
def test_a_step_stops_at_the_rules_maximum_or_else_the_stretchs_bound(clinic, therapist, rule, expected):
    patient = a_patient(clinic, therapist)
    plan = first_version(patient, therapist, items=[rotation(hold=57, rule=rule)])
    good_history(plan)

    step = progression_step_run(prescription_id=plan.pk, now=AT_STEP)

    assert dose(step.to_version) == [(expected, 3, 1)]


def test_an_item_at_its_maximum_makes_no_step(clinic, therapist):
    patient = a_patient(clinic, therapist)
    plan = first_version(patient, therapist, items=[rotation(hold=60)])
    good_history(plan)
    before = counts()

    assert plans_due(now=AT_STEP) == []
    assert progression_step_run(prescription_id=plan.pk, now=AT_STEP) is None
    assert next_step(plan) is None
    assert counts() == before


def _create(patient, therapist, item: ItemIn):
    return services.prescription_create(
        episode=patient.episodes.get(),
        by=therapist,
        start_date=START,
        days_of_week=EVERY_DAY,
        times=[dt.time(8)],
        items=[item],
    )


def test_a_dose_above_the_stretchs_bound_is_refused(clinic, therapist):
    patient = a_patient(clinic, therapist, diagnosis=None)
    with pytest.raises(ValidationError) as refused:
        _create(patient, therapist, rotation(hold=61))
    assert set(refused.value.message_dict) == {"items[0].hold_seconds"}
    assert "60 s" in refused.value.message_dict["items[0].hold_seconds"][0]

    own = factories.StretchFactory(clinic=clinic, max_hold_seconds=30, max_reps=3)
    with pytest.raises(ValidationError) as refused:
        _create(patient, therapist, ItemIn(stretch=own, hold_seconds=31, reps=4))
    assert set(refused.value.message_dict) == {"items[0].hold_seconds", "items[0].reps"}
    assert not Prescription.objects.exists()
    _create(patient, therapist, ItemIn(stretch=own, hold_seconds=30, reps=3))  # at the bound: fine


def test_a_rule_whose_maximum_exceeds_the_stretchs_bound_is_refused(clinic, therapist):
    patient = a_patient(clinic, therapist, diagnosis=None)
    with pytest.raises(ValidationError) as refused:
        _create(patient, therapist, rotation(rule=ProgressionIn(every_weeks=2, hold_seconds=5, max_hold_seconds=90)))
    assert set(refused.value.message_dict) == {"items[0].progression.max_hold_seconds"}
    assert not Prescription.objects.exists()


def test_a_step_past_bounds_the_catalog_lowered_since_is_held(clinic, therapist):
    """The clinic lowers its stretch's longest hold below the rule's maximum: the step would give more than the
    catalog now allows, so the therapist decides."""
    own = factories.StretchFactory(clinic=clinic, kind=Stretch.Kind.STATIC)
    rule = ProgressionIn(every_weeks=2, hold_seconds=5, max_hold_seconds=40)
    patient = a_patient(clinic, therapist, diagnosis=None)
    plan = first_version(patient, therapist, items=[ItemIn(stretch=own, hold_seconds=20, reps=3, progression=rule)])
    good_history(plan)
    Stretch.objects.filter(pk=own.pk).update(max_hold_seconds=22)

    step = progression_step_run(prescription_id=plan.pk, now=AT_STEP)

    assert_held(step, plan, [progression.OUT_OF_BOUNDS])
    assert step.evidence["errors"]
    assert not Prescription.objects.filter(first_version=plan).exists()
    assert dose(plan) == [(20, 3, 1)]


# --- Two workers --------------------------------------------------------------------------------------------


@pytest.mark.django_db(transaction=True)
def test_a_step_run_by_two_workers_at_once_happens_once(catalog):
    clinic = factories.ClinicFactory()
    therapist = factories.MembershipFactory(clinic=clinic).user
    for _ in range(3):
        patient = a_patient(clinic, therapist)
        plan = first_version(patient, therapist)
        good_history(plan)

        def run(plan_id=plan.pk):
            return progression_step_run(prescription_id=plan_id, now=AT_STEP)

        outcomes = [worker.outcome() for worker in together(run, run)]

        [step] = [outcome for outcome in outcomes if outcome is not None]
        assert outcomes.count(None) == 1
        assert step.status == Step.APPLIED
        assert ProgressionStep.objects.filter(first_version=plan).count() == 1
        assert list(Prescription.objects.filter(first_version=plan).values_list("pk", flat=True)) == [
            step.to_version_id
        ]
        assert GateEvaluation.objects.filter(prescription__first_version=plan).count() == 1


# --- Held steps ---------------------------------------------------------------------------------------------


def assert_held(step: ProgressionStep, plan: Prescription, because: list[str]) -> None:
    """Held for exactly ``because``; the plan still live with its dose; one flag for the therapist."""
    assert (step.status, step.held_because) == (Step.HELD, because)
    assert (step.on_date, step.first_version_id, step.from_version_id) == (STEP, plan.lineage_id, plan.pk)
    plan.refresh_from_db()
    assert plan.status == Plan.ACTIVE
    [flag] = held_flags(plan)
    assert (flag.status, flag.severity, flag.prescription_id) == ("open", "warning", plan.pk)
    findings = {"findings": step.evidence["findings"]} if step.evidence.get("findings") else {}
    assert flag.details == {"step": step.pk, "on_date": STEP.isoformat(), "held_because": because, **findings}
    assert (progression.GATE in because) == bool(findings)  # the gate's findings go to the therapist with the flag


@pytest.mark.parametrize(
    ("setup", "code"),
    [
        pytest.param(
            lambda patient, therapist: Clearance.objects.filter(patient=patient).update(valid_until=STEP - DAY),
            "clearance_expired",
            id="clearance expired the day before",
        ),
        pytest.param(
            lambda patient, therapist: Clearance.objects.filter(patient=patient).update(
                revoked_at=dt.datetime.combine(STEP - 3 * DAY, dt.time(15), tzinfo=NY),
                revoked_by=therapist,
                revoke_reason="The physician withdrew the clearance pending a scan.",
            ),
            "clearance_revoked",
            id="clearance revoked before the step",
        ),
        pytest.param(
            # A lumbar compression fracture: spinal rotation is contraindicated for 12 weeks from its onset.
            lambda patient, therapist: diagnose(patient, therapist, "M48.56XA", onset=STEP - 5 * DAY),
            "contraindicated",
            id="contraindicating diagnosis recorded before the step",
        ),
    ],
)
def test_a_gate_refusal_holds_the_step(clinic, therapist, setup, code):
    patient = a_patient(clinic, therapist)
    plan = first_version(patient, therapist)
    good_history(plan)
    setup(patient, therapist)

    step = progression_step_run(prescription_id=plan.pk, now=AT_STEP)

    assert_held(step, plan, [progression.GATE])
    assert dose(plan) == [(20, 3, 1)]
    draft = step.to_version
    assert (draft.status, draft.version, draft.first_version_id, draft.supersedes_id) == (
        Plan.CANCELLED,
        2,
        plan.pk,
        plan.pk,
    )
    assert dose(draft) == [(25, 3, 1)]
    refused = GateEvaluation.objects.get(prescription=draft)
    assert (refused.purpose, refused.passed, refused.on_date) == ("progression", False, STEP)
    assert code in {finding["code"] for finding in step.evidence["findings"]}
    assert not draft.sessions.exists()
    # The cancelled draft does not hold the plan's next amendment.
    assert services.prescription_amend(prescription=plan, by=therapist).version == 2


HISTORIES = {
    # (b) an open symptom flag: a red-flag answer, or pain escalation the therapist acknowledged but did not resolve.
    "red-flag symptom open": (
        lambda plan: (
            good_history(plan),
            factories.SafetyFlagFactory(patient=plan.patient, kind=Kind.RED_FLAG_SYMPTOM),
        ),
        progression.OPEN_FLAG,
    ),
    "pain escalation acknowledged": (
        lambda plan: (
            good_history(plan),
            factories.SafetyFlagFactory(
                patient=plan.patient, kind=Kind.PAIN_ESCALATION, status=SafetyFlag.Status.ACKNOWLEDGED
            ),
        ),
        progression.OPEN_FLAG,
    ),
    # (c) the last three logs average 2 points above the first week's.
    "pain rising": (
        lambda plan: (logged(plan, range(11)), logged(plan, range(11, 14), pain_after=4)),
        progression.PAIN_RISING,
    ),
    # (d) 5 sessions done of 14 due (36 % < 60 %).
    "low adherence": (
        lambda plan: (logged(plan, [0, 1, 7, 8, 9]), sessions(plan, [2, 3, 4, 5, 6, 10, 11, 12, 13], "missed")),
        progression.LOW_ADHERENCE,
    ),
    # No log in the first week (its sessions were blocked, so not due: adherence 7 of 7).
    "no log in the first week": (
        lambda plan: (sessions(plan, range(7), "blocked"), logged(plan, range(7, 14))),
        progression.MISSING_DATA,
    ),
    # Two logs since the first week (9 of 14 done: 64 %).
    "fewer than three logs since": (
        lambda plan: (logged(plan, range(7)), sessions(plan, range(7, 12), "missed"), logged(plan, [12, 13])),
        progression.MISSING_DATA,
    ),
}


@pytest.mark.parametrize(("history", "condition"), list(HISTORIES.values()), ids=list(HISTORIES))
def test_a_patient_not_ready_holds_the_step_for_exactly_that_reason(clinic, therapist, history, condition):
    patient = a_patient(clinic, therapist)
    plan = first_version(patient, therapist)
    history(plan)

    step = progression_step_run(prescription_id=plan.pk, now=AT_STEP)

    assert_held(step, plan, [condition])
    assert step.to_version is None
    assert not Prescription.objects.filter(first_version=plan).exists()
    assert not GateEvaluation.objects.filter(purpose="progression").exists()
    assert dose(plan) == [(20, 3, 1)]
    assert set(step.evidence) == {"open_flags", "baseline", "recent", "adherence"}


def test_pain_rising_evidence_names_the_means(clinic, therapist):
    patient = a_patient(clinic, therapist)
    plan = first_version(patient, therapist)
    HISTORIES["pain rising"][0](plan)

    step = progression_step_run(prescription_id=plan.pk, now=AT_STEP)

    assert step.evidence["baseline"] == {"from": START.isoformat(), "logs": 7, "pain_after": 2.0}
    assert step.evidence["recent"] == {"logs": 3, "pain_after": 4.0}


def test_a_clinic_with_a_lower_minimum_lets_the_same_history_go_ahead(clinic, therapist):
    clinic.progression_min_adherence = 30
    clinic.save(update_fields=["progression_min_adherence"])
    patient = a_patient(clinic, therapist)
    plan = first_version(patient, therapist)
    HISTORIES["low adherence"][0](plan)

    step = progression_step_run(prescription_id=plan.pk, now=AT_STEP)

    assert step.status == Step.APPLIED
    adherence = step.evidence["adherence"]
    assert [adherence[key] for key in ("due", "done", "percent", "minimum")] == [14, 5, 36, 30]


def test_flags_that_are_neither_symptoms_nor_the_gates_do_not_hold(clinic, therapist):
    patient = a_patient(clinic, therapist)
    plan = first_version(patient, therapist)
    good_history(plan)
    factories.SafetyFlagFactory(patient=patient, kind=Kind.RED_FLAG_SYMPTOM, resolved=True)
    factories.SafetyFlagFactory(patient=patient, kind=Kind.CLEARANCE_EXPIRING)
    factories.SafetyFlagFactory(patient=patient, kind=Kind.PROGRESSION_HELD, cause_key="progression:0")
    factories.SafetyFlagFactory(patient=factories.PatientFactory(clinic=clinic), kind=Kind.PAIN_ESCALATION)

    assert progression_step_run(prescription_id=plan.pk, now=AT_STEP).status == Step.APPLIED


def test_a_second_held_step_of_the_plan_raises_no_second_flag(clinic, therapist):
    patient = a_patient(clinic, therapist)
    plan = first_version(patient, therapist)
    logged(plan, range(28))
    symptom = factories.SafetyFlagFactory(patient=patient, kind=Kind.RED_FLAG_SYMPTOM)

    first = progression_step_run(prescription_id=plan.pk, now=AT_STEP)
    second = progression_step_run(prescription_id=plan.pk, now=AT_STEP + 2 * WEEK)

    assert [first.held_because, second.held_because] == [[progression.OPEN_FLAG]] * 2
    assert (second.on_date, second.from_version_id) == (STEP + 2 * WEEK, plan.pk)
    [flag] = held_flags(plan)
    assert flag.details["step"] == second.pk
    assert second.evidence["open_flags"] == [f"red_flag_symptom#{symptom.pk}"]
    assert dose(plan) == [(20, 3, 1)]  # a held step does not add up: the next one gives +5 s, not +10 s
    assert [change["to"]["hold_seconds"] for change in second.changes] == [25]


def test_an_amendment_in_progress_holds_the_step(clinic, therapist):
    patient = a_patient(clinic, therapist)
    plan = first_version(patient, therapist)
    good_history(plan)
    amendment = services.prescription_amend(prescription=plan, by=therapist)

    step = progression_step_run(prescription_id=plan.pk, now=AT_STEP)

    assert_held(step, plan, [progression.AMENDMENT_IN_PROGRESS])
    assert step.evidence["amendment"] == amendment.pk
    amendment.refresh_from_db()
    assert amendment.status == Plan.DRAFT
    assert list(Prescription.objects.filter(supersedes=plan)) == [amendment]


# --- Applying a held step by hand ---------------------------------------------------------------------------


def a_held_step(clinic, therapist, **patient) -> tuple[Prescription, ProgressionStep]:
    """A plan whose first step was held for missing data (nothing logged since the first week)."""
    plan = first_version(a_patient(clinic, therapist, **patient), therapist)
    logged(plan, range(7))
    step = progression_step_run(prescription_id=plan.pk, now=AT_STEP)
    assert step.held_because == [progression.MISSING_DATA]
    return plan, step


# A clearance valid through the by-hand applications below.
FOR_YEARS = {"cleared_until": START + 4 * 365 * DAY}


def test_the_therapist_applies_a_held_step_by_hand(clinic, therapist):
    plan, step = a_held_step(clinic, therapist, **FOR_YEARS)
    acknowledgement = plan.overrides.get()
    applied_at = AT_STEP + DAY + dt.timedelta(hours=2)

    applied = progression_step_apply(step=step, by=therapist, now=applied_at)

    step.refresh_from_db()
    assert (step.status, step.applied_by, step.applied_at) == (Step.APPLIED_BY_HAND, therapist, applied_at)
    assert step.held_because == [progression.MISSING_DATA]  # why it was held stays on record
    assert applied.to_version_id == step.to_version_id
    new = step.to_version
    assert (new.status, new.version, new.first_version_id, new.supersedes_id) == (Plan.ACTIVE, 2, plan.pk, plan.pk)
    assert (new.start_date, new.therapist) == (STEP + DAY, therapist)
    assert dose(new) == [(25, 3, 1)]
    plan.refresh_from_db()
    assert plan.status == Plan.COMPLETED
    assert new.overrides.get().carried_from == acknowledgement
    assert new.evaluations.get().passed
    [flag] = held_flags(plan)
    assert flag.status == SafetyFlag.Status.RESOLVED
    assert "by hand" in flag.resolution


def test_applying_by_hand_evaluates_the_gate_on_the_date_of_now(clinic, therapist):
    plan, step = a_held_step(clinic, therapist, cleared_until=STEP + 30 * DAY)

    progression_step_apply(step=step, by=therapist, now=AT_STEP + DAY)

    step.refresh_from_db()
    assert step.status == Step.APPLIED_BY_HAND


@pytest.mark.parametrize("who", ["front_desk", "clinic_admin", "other_therapist"])
def test_only_a_therapist_of_the_clinic_applies_a_step(request, clinic, therapist, who):
    plan, step = a_held_step(clinic, therapist, **FOR_YEARS)
    before = counts()

    with pytest.raises(PermissionDenied):
        progression_step_apply(step=step, by=request.getfixturevalue(who), now=AT_STEP + DAY)

    assert counts() == before
    step.refresh_from_db()
    assert step.status == Step.HELD


def test_only_a_held_step_is_applied(clinic, therapist):
    patient = a_patient(clinic, therapist, **FOR_YEARS)
    plan = first_version(patient, therapist)
    good_history(plan)
    step = progression_step_run(prescription_id=plan.pk, now=AT_STEP)
    before = counts()

    with pytest.raises(StateConflict):
        progression_step_apply(step=step, by=therapist, now=AT_STEP + DAY)

    assert counts() == before


def test_a_held_step_of_a_plan_that_moved_on_is_not_applied(clinic, therapist):
    plan, step = a_held_step(clinic, therapist, **FOR_YEARS)
    services.prescription_pause(prescription=plan, by=therapist)

    with pytest.raises(StateConflict):
        progression_step_apply(step=step, by=therapist, now=AT_STEP + DAY)

    step.refresh_from_db()
    assert step.status == Step.HELD


def test_a_step_the_gate_refuses_by_hand_writes_nothing(clinic, therapist):
    patient = a_patient(clinic, therapist, cleared_until=STEP - DAY)
    plan = first_version(patient, therapist)
    good_history(plan)
    step = progression_step_run(prescription_id=plan.pk, now=AT_STEP)
    assert step.held_because == [progression.GATE]
    before = counts()

    with pytest.raises(SafetyBlocked) as refused:
        progression_step_apply(step=step, by=therapist, now=AT_STEP + DAY)

    assert {finding["code"] for finding in refused.value.findings} == {"clearance_expired"}
    assert counts() == before
    step.refresh_from_db()
    assert (step.status, step.applied_by, step.applied_at) == (Step.HELD, None, None)
    plan.refresh_from_db()
    assert plan.status == Plan.ACTIVE
    assert held_flags(plan).get().status == SafetyFlag.Status.OPEN


# --- Plans due, and the sweep --------------------------------------------------------------------------------

UTC = dt.UTC


@pytest.mark.parametrize(
    ("now", "due"),
    [
        (dt.datetime.combine(STEP - DAY, dt.time(10, 59), tzinfo=UTC), set()),  # Auckland 23:59 the day before
        (dt.datetime.combine(STEP - DAY, dt.time(11, 0), tzinfo=UTC), {"Pacific/Auckland"}),  # Auckland 00:00
        (dt.datetime.combine(STEP, dt.time(0, 30), tzinfo=UTC), {"Pacific/Auckland"}),  # midnight UTC: LA 17:30
        (dt.datetime.combine(STEP, dt.time(6, 59), tzinfo=UTC), {"Pacific/Auckland"}),  # LA 23:59 the day before
        (dt.datetime.combine(STEP, dt.time(7, 0), tzinfo=UTC), {"Pacific/Auckland", "America/Los_Angeles"}),
    ],
)
def test_plans_due_are_those_whose_step_has_come_in_their_patients_zone(clinic, therapist, now, due):
    plans = {}
    for zone in ("Pacific/Auckland", "America/Los_Angeles"):
        plans[zone] = first_version(a_patient(clinic, therapist, zone=zone, diagnosis=None), therapist)

    assert sorted(plans_due(now=now)) == sorted((plans[zone].pk, STEP) for zone in due)


def test_plans_due_leave_out_plans_without_a_step_to_take(clinic, therapist):
    def plan_of(**item) -> Prescription:
        return first_version(a_patient(clinic, therapist, diagnosis=None), therapist, items=[rotation(**item)])

    due = plan_of()
    plan_of(rule=ProgressionIn(every_weeks=3, hold_seconds=5))  # its first step is in week 3
    plan_of(hold=60)  # nothing left to add
    still = ItemIn(stretch=global_stretch(ROTATION), reps=3, hold_seconds=20)
    first_version(a_patient(clinic, therapist, diagnosis=None), therapist, items=[still])  # no rule
    paused = plan_of()
    services.prescription_pause(prescription=paused, by=therapist)
    done = plan_of()
    progression_step_run(prescription_id=done.pk, now=AT_STEP)  # held: its step is taken
    ending = plan_of()
    Prescription.objects.filter(pk=ending.pk).update(end_date=STEP - DAY)

    assert plans_due(now=AT_STEP) == [(due.pk, STEP)]


@pytest.mark.parametrize("size", [1, 5])
def test_plans_due_runs_the_same_queries_for_any_number_of_plans(clinic, therapist, django_assert_num_queries, size):
    plans = [first_version(a_patient(clinic, therapist, diagnosis=None), therapist) for _ in range(size)]
    good_history(plans[0])  # the first lineage steps to its second version; the others' steps are held
    for plan in plans:
        progression_step_run(prescription_id=plan.pk, now=AT_STEP)
    later = AT_STEP + 2 * WEEK

    with django_assert_num_queries(3):
        due = plans_due(now=later)

    current = [step.to_version_id or step.from_version_id for step in ProgressionStep.objects.order_by("pk")]
    assert sorted(due) == sorted((pk, STEP + 2 * WEEK) for pk in current)


def test_the_sweep_runs_each_plan_whose_step_has_come(clinic, therapist):
    """``progression_sweep`` reads the clock: a plan started 15 days ago has its step on yesterday's date (one day
    of margin, should the patient's midnight pass during the test); one started 10 days ago has none yet."""
    today = dt.datetime.now(NY).date()
    ready = first_version(a_patient(clinic, therapist, diagnosis=None, around=today), therapist, start=today - 15 * DAY)
    good_history(ready)
    not_yet = first_version(
        a_patient(clinic, therapist, diagnosis=None, around=today), therapist, start=today - 10 * DAY
    )
    logged(not_yet, range(10))
    unready = first_version(
        a_patient(clinic, therapist, diagnosis=None, around=today), therapist, start=today - 15 * DAY
    )

    progression_sweep()

    applied = ProgressionStep.objects.get(first_version=ready)
    assert (applied.status, applied.on_date) == (Step.APPLIED, today - DAY)
    assert applied.to_version.status == Plan.ACTIVE
    assert dose(applied.to_version) == [(25, 3, 1)]
    assert ProgressionStep.objects.get(first_version=unready).held_because == [progression.MISSING_DATA]
    assert not ProgressionStep.objects.filter(first_version=not_yet).exists()

    progression_sweep()  # nothing left to do
    assert ProgressionStep.objects.count() == 2


def test_the_step_task_runs_one_plans_step(clinic, therapist):
    from prescriptions.tasks.progression import progression_step

    today = dt.datetime.now(NY).date()
    plan = first_version(a_patient(clinic, therapist, diagnosis=None, around=today), therapist, start=today - 15 * DAY)

    progression_step(plan.pk)
    progression_step(plan.pk)

    assert ProgressionStep.objects.get(first_version=plan).status == Step.HELD
    assert held_flags(plan).count() == 1


# --- Shared words -------------------------------------------------------------------------------------------


def test_the_conditions_of_the_rules_are_the_step_rows_words():
    words = {
        progression.GATE,
        progression.OPEN_FLAG,
        progression.PAIN_RISING,
        progression.LOW_ADHERENCE,
        progression.MISSING_DATA,
        progression.AMENDMENT_IN_PROGRESS,
        progression.OUT_OF_BOUNDS,
    }
    assert words == set(ProgressionStep.Condition.values)


def test_a_held_steps_row_says_why_in_words(clinic, therapist):
    plan, step = a_held_step(clinic, therapist)
    flag = held_flags(plan).get()
    assert step.held_text == "Not enough logged sessions to judge"
    assert "not enough logged sessions to judge" in flag.summary
    assert isinstance(step.ran_at, dt.datetime)
    assert timezone.is_aware(step.ran_at)
    assert SessionLog.objects.filter(session__prescription=plan).count() == 7
    assert Session.objects.filter(prescription=plan).count() == 7


# --- Found in review ----------------------------------------------------------------------------------------


def test_a_dose_stored_above_bounds_narrowed_since_stays_amendable_and_the_others_still_step(clinic, therapist):
    """A plan stored before the bounds (5 reps of a static stretch, above today's 4) is amended as it is, and its
    step progresses the other item: the dose it already has stands, a new or changed dose is checked."""
    patient = a_patient(clinic, therapist, diagnosis=None)
    plan = first_version(patient, therapist, items=[rotation(), ItemIn(stretch=global_stretch("chin-tuck"), reps=10)])
    PrescriptionItem.objects.filter(prescription=plan, order=2).update(stretch=global_stretch("knees-to-chest"))
    PrescriptionItem.objects.filter(prescription=plan, order=2).update(hold_seconds=20, reps=5)
    good_history(plan)

    step = progression_step_run(prescription_id=plan.pk, now=AT_STEP)

    assert step.status == Step.APPLIED
    assert dose(step.to_version) == [(25, 3, 1), (20, 5, 1)]
    draft = services.prescription_amend(prescription=step.to_version, by=therapist)
    assert dose(draft) == [(25, 3, 1), (20, 5, 1)]
    with pytest.raises(ValidationError) as refused:
        services.prescription_update_draft(
            prescription=draft,
            by=therapist,
            items=[rotation(hold=25), ItemIn(stretch=global_stretch("knees-to-chest"), hold_seconds=20, reps=6)],
        )
    assert "items[1].reps" in refused.value.message_dict


def test_an_amendment_drafted_before_it_went_live_steps_from_the_day_it_went_live(clinic, therapist):
    """Drafted on day 10 (its start date), activated on day 16: the day-14 grid date is before it went live."""
    patient = a_patient(clinic, therapist)
    plan = first_version(patient, therapist, items=[ItemIn(stretch=global_stretch(ROTATION), reps=3, hold_seconds=20)])
    good_history(plan)
    draft = services.prescription_create(
        episode=plan.episode,
        by=therapist,
        start_date=START + 10 * DAY,
        days_of_week=EVERY_DAY,
        times=[dt.time(8)],
        items=[rotation()],
        supersedes=plan,
    )
    amended = activated(draft, therapist, on=START + 16 * DAY)
    logged(amended, range(16, 28))

    assert progression_step_run(prescription_id=amended.pk, now=AT_STEP + 2 * DAY) is None
    assert next_step(amended).on_date == START + 4 * WEEK


def test_a_plan_past_its_end_date_takes_no_step(clinic, therapist):
    patient = a_patient(clinic, therapist)
    draft = services.prescription_create(
        episode=patient.episodes.get(),
        by=therapist,
        start_date=START,
        end_date=STEP,
        days_of_week=EVERY_DAY,
        times=[dt.time(8)],
        items=[rotation()],
    )
    plan = activated(draft, therapist, on=START)
    good_history(plan)
    before = counts()

    assert plans_due(now=AT_STEP + DAY) == []
    assert progression_step_run(prescription_id=plan.pk, now=AT_STEP + DAY) is None
    assert counts() == before
    assert progression_step_run(prescription_id=plan.pk, now=AT_STEP).status == Step.APPLIED  # on its last day


def test_a_held_step_flag_is_resolved_when_the_therapist_amends_the_plan(clinic, therapist):
    patient = a_patient(clinic, therapist, **FOR_YEARS)  # an amendment starts on the real today
    plan = first_version(patient, therapist)
    logged(plan, range(7))  # nothing since the first week: missing data
    step = progression_step_run(prescription_id=plan.pk, now=AT_STEP)
    assert step.status == Step.HELD
    draft = services.prescription_amend(prescription=plan, by=therapist)

    activated(draft, therapist, on=STEP + DAY)

    [flag] = held_flags(plan)
    assert flag.status == SafetyFlag.Status.RESOLVED
    assert "version 1 of the plan was completed" in flag.resolution


def test_an_item_at_its_maximum_does_not_date_a_late_step(clinic, therapist):
    """A weekly item already at its maximum and a three-weekly one that changes: a run on day 28 that missed day 21
    records the step on day 21, the changing item's date."""
    patient = a_patient(clinic, therapist, diagnosis=None)
    capped = ItemIn(
        stretch=global_stretch(ROTATION), reps=3, hold_seconds=60, progression=ProgressionIn(every_weeks=1, reps=1)
    )
    capped = ItemIn(**{**vars(capped), "reps": 4})
    growing = ItemIn(
        stretch=global_stretch("knees-to-chest"),
        reps=3,
        hold_seconds=20,
        progression=ProgressionIn(every_weeks=3, hold_seconds=5),
    )
    plan = first_version(patient, therapist, items=[capped, growing])
    logged(plan, range(28))

    step = progression_step_run(prescription_id=plan.pk, now=AT_STEP + 2 * WEEK)

    assert (step.status, step.on_date) == (Step.APPLIED, START + 3 * WEEK)
    assert dose(step.to_version) == [(60, 4, 1), (25, 3, 1)]
