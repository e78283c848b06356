"""Prescription services: drafts, the gate at activation, overrides, and every transition of DESIGN §3."""

from __future__ import annotations

import datetime as dt

import pytest
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction
from django.utils import timezone

from clinic.errors import SafetyBlocked, StateConflict
from clinic.models import Diagnosis, MovementTag, Qualifier
from patients import services as patient_services
from prescriptions import services
from prescriptions.gate import rules
from prescriptions.models import GateEvaluation, GateOverride, Prescription
from prescriptions.services import ItemIn, WaiverIn
from tests import factories

Status = Prescription.Status
EVERY_DAY = [1, 2, 3, 4, 5, 6, 7]


@pytest.fixture
def items(stretch):
    def build(*slugs: str) -> list[ItemIn]:
        result = []
        for slug in slugs:
            s = stretch(slug)
            result.append(
                ItemIn(stretch=s, reps=s.default_reps, sets=s.default_sets, hold_seconds=s.default_hold_seconds)
            )
        return result

    return build


@pytest.fixture
def draft_for(therapist, today, items):
    def build(patient, *slugs: str, start: dt.date | None = None) -> Prescription:
        return services.prescription_create(
            episode=patient.episodes.get(),
            by=therapist,
            start_date=start or today,
            days_of_week=EVERY_DAY,
            times=[dt.time(8, 0)],
            items=items(*slugs),
        )

    return build


def diagnose(patient, therapist, code, **fields):
    return factories.PatientDiagnosisFactory(
        patient=patient, diagnosis=Diagnosis.objects.get(code=code), recorded_by=therapist, **fields
    )


def codes(exc_info) -> list[str]:
    return [f["code"] for f in exc_info.value.findings]


# --- Drafts -------------------------------------------------------------------------------------------


def test_therapist_creates_a_draft_with_ordered_items(cleared_patient, draft_for):
    plan = draft_for(cleared_patient, "pelvic-tilt", "knees-to-chest")
    assert plan.status == Status.DRAFT
    assert plan.patient == cleared_patient
    assert [(i.order, i.stretch.slug) for i in plan.items.all()] == [(1, "pelvic-tilt"), (2, "knees-to-chest")]


@pytest.mark.parametrize("role_fixture", ["front_desk", "clinic_admin", "other_therapist"])
def test_only_a_therapist_of_the_clinic_prescribes(request, role_fixture, cleared_patient, items, today):
    user = request.getfixturevalue(role_fixture)
    with pytest.raises(PermissionDenied):
        services.prescription_create(
            episode=cleared_patient.episodes.get(),
            by=user,
            start_date=today,
            days_of_week=EVERY_DAY,
            times=[dt.time(8)],
            items=items("pelvic-tilt"),
        )
    assert not Prescription.objects.exists()


def test_static_stretch_needs_a_hold(cleared_patient, therapist, stretch, today):
    with pytest.raises(ValidationError) as exc_info:
        services.prescription_create(
            episode=cleared_patient.episodes.get(),
            by=therapist,
            start_date=today,
            days_of_week=EVERY_DAY,
            times=[dt.time(8)],
            items=[ItemIn(stretch=stretch("knees-to-chest"), reps=3)],
        )
    assert "items" in exc_info.value.message_dict
    assert "static stretch" in exc_info.value.message_dict["items"][0]
    assert not Prescription.objects.exists()


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"days_of_week": []}, "days_of_week"),
        ({"days_of_week": [0, 8]}, "days_of_week"),
        ({"times": []}, "times"),
        ({"end_date": dt.date(2000, 1, 1)}, "end_date"),
        ({"items": []}, "items"),
    ],
)
def test_bad_schedule_or_items_are_field_errors(cleared_patient, therapist, items, today, change, field):
    kwargs = {
        "episode": cleared_patient.episodes.get(),
        "by": therapist,
        "start_date": today,
        "days_of_week": EVERY_DAY,
        "times": [dt.time(8)],
        "items": items("pelvic-tilt"),
        **change,
    }
    with pytest.raises(ValidationError) as exc_info:
        services.prescription_create(**kwargs)
    assert field in exc_info.value.message_dict
    assert not Prescription.objects.exists()


def test_item_dosage_out_of_range_is_a_field_error(cleared_patient, therapist, stretch, today):
    with pytest.raises(ValidationError) as exc_info:
        services.prescription_create(
            episode=cleared_patient.episodes.get(),
            by=therapist,
            start_date=today,
            days_of_week=EVERY_DAY,
            times=[dt.time(8)],
            items=[ItemIn(stretch=stretch("pelvic-tilt"), reps=0)],
        )
    assert "items" in exc_info.value.message_dict
    assert not Prescription.objects.exists()


def test_another_clinics_stretch_is_refused(cleared_patient, therapist, other_clinic, stretch, today):
    theirs = stretch("pelvic-tilt")
    theirs.pk, theirs.clinic, theirs.slug = None, other_clinic, "their-tilt"
    theirs.save()
    with pytest.raises(ValidationError, match="not in this clinic's catalog"):
        services.prescription_create(
            episode=cleared_patient.episodes.get(),
            by=therapist,
            start_date=today,
            days_of_week=EVERY_DAY,
            times=[dt.time(8)],
            items=[ItemIn(stretch=theirs, reps=10)],
        )


def test_archived_patient_or_discharged_episode_refuses_new_plans(cleared_patient, therapist, draft_for):
    episode = cleared_patient.episodes.get()
    episode.discharged_on = episode.opened_on
    episode.save()
    with pytest.raises(StateConflict, match="discharged"):
        draft_for(cleared_patient, "pelvic-tilt")
    cleared_patient.archived_at = timezone.now()
    cleared_patient.save()
    with pytest.raises(StateConflict, match="archived"):
        draft_for(cleared_patient, "pelvic-tilt")


def test_update_draft_replaces_items_and_schedule(cleared_patient, therapist, draft_for, items):
    plan = draft_for(cleared_patient, "pelvic-tilt")
    plan = services.prescription_update_draft(
        prescription=plan, by=therapist, days_of_week=[5, 1, 1], items=items("cat-cow", "bridge")
    )
    assert plan.days_of_week == [1, 5]
    assert [i.stretch.slug for i in plan.items.all()] == ["cat-cow", "bridge"]


def test_update_draft_refuses_unknown_fields_and_non_drafts(cleared_patient, therapist, draft_for):
    plan = draft_for(cleared_patient, "pelvic-tilt")
    with pytest.raises(ValidationError):
        services.prescription_update_draft(prescription=plan, by=therapist, status="active")
    services.prescription_activate(prescription=plan, by=therapist)
    with pytest.raises(StateConflict, match="Only a draft"):
        services.prescription_update_draft(prescription=plan, by=therapist, notes="changed")


# --- Activation and the gate --------------------------------------------------------------------------


def test_activation_passes_and_keeps_the_evaluation(cleared_patient, therapist, draft_for, today):
    plan = services.prescription_activate(prescription=draft_for(cleared_patient, "pelvic-tilt"), by=therapist)
    assert plan.status == Status.ACTIVE
    assert plan.activated_at
    evaluation = plan.evaluations.get()
    assert evaluation.passed
    assert evaluation.purpose == GateEvaluation.Purpose.ACTIVATION
    assert evaluation.on_date == today
    assert evaluation.through_date == today + dt.timedelta(days=14)
    assert evaluation.evaluated_by == therapist
    assert evaluation.facts["mobility_level"] == 3
    assert evaluation.catalog_version.startswith("global-v2:")


def test_refused_activation_keeps_its_evaluation_and_stays_draft(patient, therapist, mobility, draft_for):
    factories.EpisodeFactory(patient=patient)
    factories.MobilityAssessmentFactory(patient=patient, level=mobility(3))
    plan = draft_for(patient, "pelvic-tilt")
    with pytest.raises(SafetyBlocked) as exc_info:
        services.prescription_activate(prescription=plan, by=therapist)
    assert codes(exc_info) == ["no_clearance"]
    assert "Pelvic tilt" in exc_info.value.findings[0]["message"]
    plan.refresh_from_db()
    assert plan.status == Status.DRAFT
    evaluation = plan.evaluations.get()
    assert evaluation.passed is False
    assert evaluation.findings[0]["findings"][0]["code"] == "no_clearance"


def test_refused_evaluation_survives_even_inside_a_callers_transaction_rollback_free(
    patient, therapist, mobility, draft_for
):
    """The evaluation is written in its own atomic block, after the refused one has ended."""
    factories.EpisodeFactory(patient=patient)
    factories.MobilityAssessmentFactory(patient=patient, level=mobility(3))
    plan = draft_for(patient, "pelvic-tilt")
    with transaction.atomic(), pytest.raises(SafetyBlocked):
        services.prescription_activate(prescription=plan, by=therapist)
    assert GateEvaluation.objects.filter(prescription=plan, passed=False).count() == 1


def test_contraindication_blocks_until_overridden_with_a_reason(cleared_patient, therapist, draft_for):
    diagnose(cleared_patient, therapist, "M51.26", phase="acute")
    plan = draft_for(cleared_patient, "knees-to-chest", "pelvic-tilt")
    with pytest.raises(SafetyBlocked) as exc_info:
        services.prescription_activate(prescription=plan, by=therapist)
    [finding] = exc_info.value.findings
    assert finding["code"] == "contraindicated"
    assert finding["overridable"] is True
    assert finding["stretch"] == "knees-to-chest"
    waiver = WaiverIn(item=finding["item"], code=finding["code"], cause=finding["cause"])

    with pytest.raises(ValidationError, match="reason"):
        services.prescription_activate(prescription=plan, by=therapist, overrides=[waiver])
    plan = services.prescription_activate(
        prescription=plan,
        by=therapist,
        overrides=[WaiverIn(**{**waiver.__dict__, "reason": "Gentle, pain-free range agreed with surgeon"})],
    )
    assert plan.status == Status.ACTIVE
    override = GateOverride.objects.get()
    assert override.kind == GateOverride.Kind.OVERRIDE
    assert override.key == (finding["item"], "contraindicated", finding["cause"])
    assert override.by == therapist
    assert [e.passed for e in plan.evaluations.order_by("id")] == [False, True]


def test_caution_must_be_acknowledged(cleared_patient, therapist, draft_for):
    diagnose(cleared_patient, therapist, "M81.0")
    plan = draft_for(cleared_patient, "seated-thoracic-rotation")
    with pytest.raises(SafetyBlocked) as exc_info:
        services.prescription_activate(prescription=plan, by=therapist)
    [finding] = exc_info.value.findings
    assert finding["code"] == "caution"
    assert finding["severity"] == "warn"
    ack = WaiverIn(item=finding["item"], code="caution", cause=finding["cause"])
    plan = services.prescription_activate(prescription=plan, by=therapist, acknowledgements=[ack])
    assert plan.status == Status.ACTIVE
    assert GateOverride.objects.get().kind == GateOverride.Kind.ACKNOWLEDGEMENT


def test_mobility_below_minimum_is_overridable(patient, therapist, mobility, draft_for):
    factories.EpisodeFactory(patient=patient)
    factories.ClearanceFactory(patient=patient)
    factories.MobilityAssessmentFactory(patient=patient, level=mobility(2))
    plan = draft_for(patient, "cat-cow")
    with pytest.raises(SafetyBlocked) as exc_info:
        services.prescription_activate(prescription=plan, by=therapist)
    [finding] = exc_info.value.findings
    assert (finding["code"], finding["cause"]) == ("mobility_below_minimum", "mobility:2<min:3")
    plan = services.prescription_activate(
        prescription=plan,
        by=therapist,
        overrides=[WaiverIn(item=finding["item"], code=finding["code"], cause=finding["cause"], reason="Assisted")],
    )
    assert plan.status == Status.ACTIVE


@pytest.mark.parametrize(
    ("setup", "code"),
    [
        ("expired", "clearance_expired"),
        ("revoked", "clearance_revoked"),
        ("restricted", "restricted_movement"),
        ("trainer_for_disc", "clearance_insufficient_authority"),
        ("unassessed", "mobility_unknown"),
    ],
)
def test_never_overridable_findings_refuse_overrides(patient, therapist, mobility, draft_for, today, setup, code):
    factories.EpisodeFactory(patient=patient)
    if setup != "unassessed":
        factories.MobilityAssessmentFactory(patient=patient, level=mobility(3))
    clearance = factories.ClearanceFactory(patient=patient)
    if setup == "expired":
        clearance.valid_until = today - dt.timedelta(days=1)
        clearance.save()
    elif setup == "revoked":
        clearance.revoked_at, clearance.revoked_by, clearance.revoke_reason = timezone.now(), therapist, "Letter"
        clearance.save()
    elif setup == "restricted":
        clearance.status = "restricted"
        clearance.save()
        clearance.restricted_tags.set([MovementTag.objects.get(slug="lumbar_flexion")])
    elif setup == "trainer_for_disc":
        clearance.profession = "athletic_trainer"
        clearance.save()
        diagnose(patient, therapist, "M51.26", phase="chronic")
    plan = draft_for(patient, "knees-to-chest" if setup == "restricted" else "pelvic-tilt")
    with pytest.raises(SafetyBlocked) as exc_info:
        services.prescription_activate(prescription=plan, by=therapist)
    finding = next(f for f in exc_info.value.findings if f["code"] == code)
    assert finding["overridable"] is False
    waiver = WaiverIn(item=finding["item"], code=code, cause=finding["cause"], reason="I insist")
    with pytest.raises(ValidationError, match="cannot be overridden"):
        services.prescription_activate(prescription=plan, by=therapist, overrides=[waiver])
    plan.refresh_from_db()
    assert plan.status == Status.DRAFT
    assert not GateOverride.objects.exists()


def test_an_override_must_name_an_existing_finding(cleared_patient, therapist, draft_for):
    plan = draft_for(cleared_patient, "pelvic-tilt")
    item = plan.items.get()
    bogus = WaiverIn(item=item.pk, code="contraindicated", cause="contraindication:999", reason="x")
    with pytest.raises(ValidationError, match="No finding"):
        services.prescription_activate(prescription=plan, by=therapist, overrides=[bogus])
    assert not plan.evaluations.exists()


def test_a_future_start_is_evaluated_on_its_own_date(cleared_patient, therapist, draft_for, today):
    clearance = cleared_patient.clearances.get()
    clearance.valid_until = today + dt.timedelta(days=5)
    clearance.save()
    plan = draft_for(cleared_patient, "pelvic-tilt", start=today + dt.timedelta(days=10))
    with pytest.raises(SafetyBlocked) as exc_info:
        services.prescription_activate(prescription=plan, by=therapist)
    assert codes(exc_info) == ["clearance_expired"]


def test_later_failures_in_the_window_do_not_block_the_start(cleared_patient, therapist, draft_for, today):
    clearance = cleared_patient.clearances.get()
    clearance.valid_until = today + dt.timedelta(days=3)
    clearance.save()
    plan = services.prescription_activate(prescription=draft_for(cleared_patient, "pelvic-tilt"), by=therapist)
    assert plan.status == Status.ACTIVE
    spans = plan.evaluations.get().findings
    assert spans[0]["findings"] == []
    assert spans[-1]["from"] == (today + dt.timedelta(days=4)).isoformat()
    assert spans[-1]["findings"][0]["code"] == "clearance_expired"


# --- Unknown means the risky case ---------------------------------------------------------------------


def test_an_unrecorded_surgical_approach_gets_the_posterior_hip_precautions(
    cleared_patient, therapist, draft_for, today
):
    """Hip replacement 30 days ago, approach not recorded: knees to chest is refused until the approach is known."""
    hip = patient_services.patient_diagnosis_add(
        patient=cleared_patient,
        by=therapist,
        diagnosis=Diagnosis.objects.get(code="Z96.642"),
        onset_date=today - dt.timedelta(days=30),
    )
    plan = draft_for(cleared_patient, "knees-to-chest")
    with pytest.raises(SafetyBlocked) as refused:
        services.prescription_activate(prescription=plan, by=therapist)
    assert {f["code"] for f in refused.value.findings} == {"contraindicated"}
    assert all(f["cause"].startswith("contraindication:") for f in refused.value.findings)
    assert all(
        "surgical approach not recorded — posterior-approach precautions applied" in f["message"]
        for f in refused.value.findings
    )

    patient_services.patient_diagnosis_update(patient_diagnosis=hip, by=therapist, qualifier="posterior_approach")
    with pytest.raises(SafetyBlocked) as still:
        services.prescription_activate(prescription=plan, by=therapist)
    assert [f["cause"] for f in still.value.findings] == [f["cause"] for f in refused.value.findings]
    assert not any("not recorded" in f["message"] for f in still.value.findings)

    patient_services.patient_diagnosis_update(patient_diagnosis=hip, by=therapist, qualifier="anterior_approach")
    assert services.prescription_activate(prescription=plan, by=therapist).status == Status.ACTIVE


def test_a_disc_herniation_without_a_phase_keeps_the_acute_flexion_block(cleared_patient, therapist, draft_for):
    disc = diagnose(cleared_patient, therapist, "M51.26", phase="")
    plan = draft_for(cleared_patient, "knees-to-chest")
    with pytest.raises(SafetyBlocked) as refused:
        services.prescription_activate(prescription=plan, by=therapist)
    # Both phases' flexion rows apply (the strictest): the acute block and the subacute caution (issue 12).
    block, caution = refused.value.findings
    assert (block["code"], caution["code"]) == ("contraindicated", "caution")
    assert "phase not recorded — acute phase assumed" in block["message"]
    assert "phase not recorded — subacute phase assumed" in caution["message"]
    patient_services.patient_diagnosis_update(patient_diagnosis=disc, by=therapist, phase="chronic")
    assert services.prescription_activate(prescription=plan, by=therapist).status == Status.ACTIVE


def test_every_qualifier_has_its_wording_for_an_unrecorded_value():
    assert set(rules.QUALIFIER_ASSUMED) == set(Qualifier.values)


def test_a_clinics_stretch_is_checked_against_what_its_position_implies(cleared_patient, therapist, clinic, today):
    """A supine stretch whose tags leave out ``supine`` is still supine to the gate."""
    untagged = factories.StretchFactory(clinic=clinic, position="supine")
    assert not untagged.tags.exists()
    clearance = cleared_patient.clearances.get()
    clearance.status = "restricted"
    clearance.save()
    clearance.restricted_tags.set([MovementTag.objects.get(slug="supine")])
    plan = services.prescription_create(
        episode=cleared_patient.episodes.get(),
        by=therapist,
        start_date=today,
        days_of_week=EVERY_DAY,
        times=[dt.time(8, 0)],
        items=[ItemIn(stretch=untagged, reps=3, hold_seconds=20)],
    )
    with pytest.raises(SafetyBlocked) as refused:
        services.prescription_activate(prescription=plan, by=therapist)
    assert [(f["code"], f["cause"]) for f in refused.value.findings] == [
        ("restricted_movement", f"clearance:{clearance.pk}:tag:supine")
    ]


def test_a_clearance_that_starts_later_is_named_with_its_start(patient, therapist, mobility, draft_for, today):
    factories.EpisodeFactory(patient=patient)
    factories.MobilityAssessmentFactory(patient=patient, level=mobility(3))
    later = factories.ClearanceFactory(
        patient=patient, professional_name="Dr Reyes", valid_from=today + dt.timedelta(days=3)
    )
    plan = draft_for(patient, "pelvic-tilt")
    with pytest.raises(SafetyBlocked) as refused:
        services.prescription_activate(prescription=plan, by=therapist)
    [finding] = refused.value.findings
    assert (finding["code"], finding["cause"], finding["overridable"]) == (
        "clearance_not_yet_valid",
        f"clearance:{later.pk}",
        False,
    )
    starts = (today + dt.timedelta(days=3)).isoformat()
    assert f"the clearance by Dr Reyes (physician) starts on {starts}" in finding["message"]
    assert "no clearance on file" not in finding["message"]


# --- Refusals: findings and their detail -------------------------------------------------------------


def test_refusal_findings_name_the_plan_item_and_its_place(cleared_patient, therapist, draft_for):
    diagnose(cleared_patient, therapist, "M81.0")
    plan = draft_for(cleared_patient, "pelvic-tilt", "knees-to-chest", "seated-thoracic-rotation")
    with pytest.raises(SafetyBlocked) as refused:
        services.prescription_activate(prescription=plan, by=therapist)
    ids = {i.order - 1: i.pk for i in plan.items.all()}
    assert [(f["item"], f["item_index"], f["stretch"]) for f in refused.value.findings] == [
        (ids[1], 1, "knees-to-chest"),
        (ids[2], 2, "seated-thoracic-rotation"),
    ]
    stored = plan.evaluations.get().findings[0]["findings"]
    assert [(f["item"], f["item_index"]) for f in stored] == [(ids[1], 1), (ids[2], 2)]


@pytest.mark.parametrize("count", [2, 4])
def test_refusal_detail_joins_messages_without_doubled_punctuation(count):
    findings = [{"message": f"Stretch {n}: record one before prescribing."} for n in range(count)]
    detail = SafetyBlocked(findings).detail
    assert ".;" not in detail and not detail.endswith("..")
    assert detail.startswith("The safety gate refused this plan: Stretch 0: record one before prescribing; Stretch 1")
    assert detail.endswith(" (and 1 more)." if count == 4 else "Stretch 1: record one before prescribing.")


# --- Transitions --------------------------------------------------------------------------------------

TRANSITIONS = {
    "pause": {Status.ACTIVE: Status.PAUSED},
    "resume": {Status.PAUSED: Status.ACTIVE},
    "complete": {Status.ACTIVE: Status.COMPLETED, Status.PAUSED: Status.COMPLETED},
    "cancel": {Status.DRAFT: Status.CANCELLED, Status.ACTIVE: Status.CANCELLED, Status.PAUSED: Status.CANCELLED},
    "activate": {Status.DRAFT: Status.ACTIVE},
}


@pytest.mark.parametrize("action", sorted(TRANSITIONS))
@pytest.mark.parametrize("status", [s.value for s in Status])
def test_transition_table(cleared_patient, therapist, draft_for, action, status):
    plan = draft_for(cleared_patient, "pelvic-tilt")
    Prescription.objects.filter(pk=plan.pk).update(status=status)
    service = getattr(services, f"prescription_{action}")
    expected = TRANSITIONS[action].get(status)
    if expected is None:
        with pytest.raises(StateConflict, match=f"this one is {status}"):
            service(prescription=plan, by=therapist)
        plan.refresh_from_db()
        assert plan.status == status
    else:
        assert service(prescription=plan, by=therapist).status == expected
        plan.refresh_from_db()
        assert plan.status == expected
        if expected in (Status.COMPLETED, Status.CANCELLED):
            assert plan.ended_at is not None


@pytest.mark.parametrize("action", ["pause", "resume", "complete", "cancel", "activate", "amend"])
def test_front_desk_cannot_change_plans(cleared_patient, front_desk, draft_for, action):
    plan = draft_for(cleared_patient, "pelvic-tilt")
    with pytest.raises(PermissionDenied):
        getattr(services, f"prescription_{action}")(prescription=plan, by=front_desk)


def test_resume_runs_the_gate_again(cleared_patient, therapist, front_desk, draft_for):
    plan = services.prescription_activate(prescription=draft_for(cleared_patient, "pelvic-tilt"), by=therapist)
    services.prescription_pause(prescription=plan, by=therapist)
    patient_services.clearance_revoke(
        clearance=cleared_patient.clearances.get(), by=front_desk, reason="Physician withdrew clearance"
    )
    with pytest.raises(SafetyBlocked) as exc_info:
        services.prescription_resume(prescription=plan, by=therapist)
    assert codes(exc_info) == ["clearance_revoked"]
    plan.refresh_from_db()
    assert plan.status == Status.PAUSED
    assert plan.evaluations.filter(purpose=GateEvaluation.Purpose.RESUME, passed=False).exists()


def test_resume_honours_the_plans_stored_overrides(cleared_patient, therapist, draft_for):
    diagnose(cleared_patient, therapist, "M51.26", phase="acute")
    plan = draft_for(cleared_patient, "knees-to-chest")
    with pytest.raises(SafetyBlocked) as exc_info:
        services.prescription_activate(prescription=plan, by=therapist)
    f = exc_info.value.findings[0]
    waiver = WaiverIn(item=f["item"], code=f["code"], cause=f["cause"], reason="Surgeon agrees")
    services.prescription_activate(prescription=plan, by=therapist, overrides=[waiver])
    services.prescription_pause(prescription=plan, by=therapist)
    assert services.prescription_resume(prescription=plan, by=therapist).status == Status.ACTIVE


# --- Amendments ---------------------------------------------------------------------------------------


def test_amend_copies_the_plan_and_activation_completes_the_old_one(cleared_patient, therapist, draft_for, items):
    plan = services.prescription_activate(
        prescription=draft_for(cleared_patient, "pelvic-tilt", "bridge"), by=therapist
    )
    amendment = services.prescription_amend(prescription=plan, by=therapist)
    assert amendment.status == Status.DRAFT
    assert amendment.supersedes == plan
    assert [i.stretch.slug for i in amendment.items.all()] == ["pelvic-tilt", "bridge"]
    with pytest.raises(StateConflict, match="amendment"):
        services.prescription_amend(prescription=plan, by=therapist)

    services.prescription_update_draft(prescription=amendment, by=therapist, items=items("pelvic-tilt"))
    services.prescription_activate(prescription=amendment, by=therapist)
    plan.refresh_from_db()
    assert plan.status == Status.COMPLETED
    assert plan.ended_at
    assert Prescription.objects.active().get() == amendment


def test_a_cancelled_amendment_frees_the_plan_for_another(cleared_patient, therapist, draft_for):
    plan = services.prescription_activate(prescription=draft_for(cleared_patient, "pelvic-tilt"), by=therapist)
    first = services.prescription_amend(prescription=plan, by=therapist)
    services.prescription_cancel(prescription=first, by=therapist)
    second = services.prescription_amend(prescription=plan, by=therapist)
    assert second.supersedes == plan


def test_items_of_an_active_plan_are_immutable_through_services(cleared_patient, therapist, draft_for, items):
    plan = services.prescription_activate(prescription=draft_for(cleared_patient, "pelvic-tilt"), by=therapist)
    with pytest.raises(StateConflict):
        services.prescription_update_draft(prescription=plan, by=therapist, items=items("cat-cow"))
    assert [i.stretch.slug for i in plan.items.all()] == ["pelvic-tilt"]


def test_active_queryset_helpers(cleared_patient, therapist, draft_for):
    active = services.prescription_activate(prescription=draft_for(cleared_patient, "pelvic-tilt"), by=therapist)
    draft = draft_for(cleared_patient, "bridge")
    assert list(Prescription.objects.active()) == [active]
    services.prescription_pause(prescription=active, by=therapist)
    assert set(Prescription.objects.live()) == {active}
    assert draft not in Prescription.objects.live()


# --- Archiving a patient asks prescriptions first (patients.signals.patient_archiving) -------------------


@pytest.mark.parametrize("live", [Status.ACTIVE, Status.PAUSED])
def test_a_patient_with_a_live_plan_cannot_be_archived(cleared_patient, therapist, front_desk, draft_for, live):
    plan = draft_for(cleared_patient, "pelvic-tilt")
    services.prescription_activate(prescription=plan, by=therapist)
    if live == Status.PAUSED:
        services.prescription_pause(prescription=plan, by=therapist)

    with pytest.raises(StateConflict, match="active or paused plan"):
        patient_services.patient_archive(patient=cleared_patient, by=front_desk)

    cleared_patient.refresh_from_db()
    assert cleared_patient.archived_at is None


def test_the_refusal_is_a_409_and_a_plan_that_ended_does_not_hold_the_archive(
    cleared_patient, therapist, front_desk, draft_for, as_user
):
    plan = draft_for(cleared_patient, "pelvic-tilt")
    services.prescription_activate(prescription=plan, by=therapist)
    client = as_user(front_desk)

    refused = client.post(f"/api/v1/patients/{cleared_patient.pk}/archive")
    assert refused.status_code == 409
    assert "active or paused plan" in refused.json()["detail"]

    services.prescription_cancel(prescription=plan, by=therapist)
    assert client.post(f"/api/v1/patients/{cleared_patient.pk}/archive").status_code == 200
    cleared_patient.refresh_from_db()
    assert cleared_patient.archived_at is not None
