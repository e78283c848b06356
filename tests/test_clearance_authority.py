"""Who may clear whom (issue 12, part 2): a diagnosis's clearing professions, narrowed by authority rules that
depend on days since onset or on another diagnosis on record — in the pure gate, in the migrated catalog, in
both facts loaders, in the badge and through the services."""

from __future__ import annotations

import datetime as dt
import importlib

import pytest
from django.apps import apps as global_apps

from clinic.errors import SafetyBlocked
from clinic.models import REVIEW_NOTE, CatalogRecheckRequest, ClearanceAuthorityRule, Diagnosis, Profession
from patients import admin as patients_admin
from patients import services as patient_services
from patients.clearance import ClearanceFact
from patients.models import Patient
from prescriptions import services
from prescriptions.gate import facts as gate_facts_module
from prescriptions.gate import rules
from prescriptions.gate.facts import gate_facts_for_plans
from prescriptions.gate.rules import (
    AuthorityRuleFact,
    Code,
    DiagnosisFact,
    allowed_professions,
    evaluate,
)
from prescriptions.models import SafetyFlag, Session
from prescriptions.services import ItemIn
from prescriptions.services.conflicts import patient_recheck
from tests import factories

MIGRATION = importlib.import_module("clinic.migrations.0006_clearance_authority")

PHYSICIAN = frozenset({"physician"})
PHYSICIAN_OR_PT = frozenset({"physician", "physical_therapist"})
MSK = frozenset({"physician", "physical_therapist", "athletic_trainer"})
PREGNANCY = frozenset({"physician", "nurse_midwife"})
D = dt.date(2026, 12, 1)


def days_ago(n: int | None) -> dt.date | None:
    return None if n is None else D - dt.timedelta(days=n)


# --- The pure gate -------------------------------------------------------------------------------------------

HIP_RULE = AuthorityRuleFact(1, PHYSICIAN, 0, 84, None, "the surgeon's precautions govern.")
FRACTURE_RULE = AuthorityRuleFact(2, PHYSICIAN, None, None, "M48.56XA", "a fracture needs a medical assessment.")


def hip(onset_days_ago, *, id=1, rules=(HIP_RULE,)):
    return DiagnosisFact(
        id, "Z96.641", "Right hip replacement", "", "", days_ago(onset_days_ago), None, PHYSICIAN_OR_PT, rules
    )


def osteoporosis(id=1):
    return DiagnosisFact(id, "M81.0", "Osteoporosis", "", "", days_ago(900), None, PHYSICIAN_OR_PT, (FRACTURE_RULE,))


def fracture(*, id=2, onset_days_ago=50, resolved_days_ago=None):
    return DiagnosisFact(
        id, "M48.56XA", "Collapsed vertebra", "", "", days_ago(onset_days_ago), days_ago(resolved_days_ago), PHYSICIAN
    )


@pytest.mark.parametrize(
    ("day", "allowed"),
    [
        pytest.param(0, PHYSICIAN, id="day 0: physician only"),
        pytest.param(84, PHYSICIAN, id="day 84: physician only"),
        pytest.param(85, PHYSICIAN_OR_PT, id="day 85: PT too"),
        pytest.param(3000, PHYSICIAN_OR_PT, id="years later: PT too (the code is lifelong)"),
        pytest.param(None, PHYSICIAN, id="onset unknown: inside the window, physician only"),
    ],
)
def test_authority_by_days_since_onset(day, allowed):
    dx = hip(day)
    assert allowed_professions(dx, [dx], D) == allowed


@pytest.mark.parametrize(
    ("diagnoses", "allowed"),
    [
        pytest.param([osteoporosis()], PHYSICIAN_OR_PT, id="no fracture: PT too"),
        pytest.param([osteoporosis(), fracture()], PHYSICIAN, id="active fracture: physician only"),
        pytest.param(
            [osteoporosis(), fracture(onset_days_ago=400, resolved_days_ago=300)],
            PHYSICIAN,
            id="healed fracture still on record: physician only",
        ),
        pytest.param(
            [osteoporosis(), fracture(onset_days_ago=-10)], PHYSICIAN, id="fracture recorded with a later onset"
        ),
    ],
)
def test_authority_by_another_diagnosis_on_record(diagnoses, allowed):
    assert allowed_professions(diagnoses[0], diagnoses, D) == allowed


def test_the_strictest_rule_wins():
    rules = (HIP_RULE, AuthorityRuleFact(3, {"physician", "physical_therapist"}, 0, 200, None, ""))
    dx = hip(10, rules=rules)
    assert allowed_professions(dx, [dx], D) == PHYSICIAN
    # A rule can only narrow clearance_by, never widen it.
    widening = hip(10, rules=(AuthorityRuleFact(4, {"athletic_trainer", "physician"}, 0, 84, None, ""),))
    assert allowed_professions(widening, [widening], D) == PHYSICIAN


def findings_for(profession, diagnoses, on=D):
    clearance = ClearanceFact(
        7, "Kim Lee", profession, "cleared", frozenset(), dt.date(2026, 1, 1), dt.date(2027, 12, 31),
        dt.datetime(2026, 1, 1, tzinfo=dt.UTC), None,
    )  # fmt: skip
    facts = rules.Facts((clearance,), tuple(diagnoses), 5, ())
    probe = rules.ItemFact(1, rules.StretchFact("pelvic-tilt", "Pelvic tilt", frozenset({"supine"}), 1))
    return [(f.code, f.cause, f.message) for f in evaluate(facts, [probe], on)]


@pytest.mark.parametrize(
    ("diagnoses", "message"),
    [
        pytest.param(
            [hip(40)],
            "Pelvic tilt: clearance by Kim Lee (physical therapist) does not cover Z96.641 Right hip replacement, "
            "which only a physician may clear (days 0 to 84 after onset): the surgeon's precautions govern.",
            id="window",
        ),
        pytest.param(
            [hip(None)],
            "Pelvic tilt: clearance by Kim Lee (physical therapist) does not cover Z96.641 Right hip replacement, "
            "which only a physician may clear (onset not recorded — assumed within days 0 to 84 after onset): "
            "the surgeon's precautions govern.",
            id="onset unknown",
        ),
        pytest.param(
            [osteoporosis(), fracture(resolved_days_ago=1)],
            "Pelvic tilt: clearance by Kim Lee (physical therapist) does not cover M81.0 Osteoporosis, which only a "
            "physician may clear (with M48.56XA Collapsed vertebra on record): a fracture needs a medical "
            "assessment.",
            id="another diagnosis",
        ),
    ],
)
def test_the_finding_explains_the_rule(diagnoses, message):
    ((code, cause, text),) = findings_for("physical_therapist", diagnoses)
    assert (code, cause, text) == (
        Code.CLEARANCE_INSUFFICIENT_AUTHORITY,
        f"clearance:7:diagnosis:{diagnoses[0].code}",
        message,
    )


def test_the_cause_stays_the_clearance_and_code_whatever_the_reason():
    """An athletic trainer may never clear a hip replacement: the finding's cause is the same inside the window
    and after it (only its explanation changes), so it stays one finding of one flag."""
    ((_, inside, why_inside),) = findings_for("athletic_trainer", [hip(40)])
    ((_, after, why_after),) = findings_for("athletic_trainer", [hip(200)])
    assert inside == after == "clearance:7:diagnosis:Z96.641"
    assert "which only a physician may clear (days 0 to 84" in why_inside
    assert why_after.endswith("which only a physician or a physical therapist may clear.")


def test_change_dates_include_the_rule_window_edges():
    f = rules.Facts((), (hip(0),), 5, ())
    assert rules.change_dates(f, D, D + dt.timedelta(days=200)) == [D, D + dt.timedelta(days=85)]
    assert rules.change_dates(rules.Facts((), (hip(None),), 5, ()), D, D + dt.timedelta(days=200)) == [D]


def test_the_badge_follows_the_same_rule():
    therapist = ClearanceFact(
        7, "Kim Lee", "physical_therapist", "cleared", frozenset(), dt.date(2026, 1, 1), dt.date(2027, 12, 31),
        dt.datetime(2026, 1, 1, tzinfo=dt.UTC), None,
    )  # fmt: skip
    S = rules.ClearanceState
    assert rules.clearance_states([therapist], [hip(84)], D) == (S.INSUFFICIENT_AUTHORITY,)
    assert rules.clearance_states([therapist], [hip(85)], D) == (S.CLEARED,)
    assert rules.clearance_states([therapist], [osteoporosis(), fracture()], D) == (S.INSUFFICIENT_AUTHORITY,)


# --- The migrated catalog ------------------------------------------------------------------------------------


def catalog_diagnosis(code: str, *, id=1, onset_days_ago=None, resolved_days_ago=None) -> DiagnosisFact:
    """A patient's diagnosis as the loaders build it from the real catalog row and its rules."""
    row = Diagnosis.objects.get(code=code)
    return DiagnosisFact(
        id, code, row.name, "", "", days_ago(onset_days_ago), days_ago(resolved_days_ago),
        frozenset(row.clearance_by), gate_facts_module.authority_rules([code]).get(code, ()),
    )  # fmt: skip


# (code, onset days ago, other codes on record, who may clear on D): every row of the table.
CATALOG_TABLE = [
    ("M54.50", 30, (), PHYSICIAN_OR_PT),
    ("M54.2", 30, (), PHYSICIAN_OR_PT),
    ("M81.0", 900, (), PHYSICIAN_OR_PT),
    ("M81.0", 900, ("M48.56XA",), PHYSICIAN),
    ("Z96.641", 0, (), PHYSICIAN),
    ("Z96.641", 84, (), PHYSICIAN),
    ("Z96.641", 85, (), PHYSICIAN_OR_PT),
    ("Z96.641", None, (), PHYSICIAN),
    ("Z96.642", 84, (), PHYSICIAN),
    ("Z96.642", 85, (), PHYSICIAN_OR_PT),
    ("Z96.642", None, (), PHYSICIAN),
    ("Z33.1", 60, (), PREGNANCY),
    # Unchanged.
    ("S39.012A", 5, (), MSK),
    ("S83.90XA", 5, (), MSK),
    ("M51.26", 5, (), PHYSICIAN_OR_PT),
    ("M54.16", 5, (), PHYSICIAN_OR_PT),
    ("M54.40", 5, (), PHYSICIAN_OR_PT),
    ("M48.061", 5, (), PHYSICIAN_OR_PT),
    ("M48.56XA", 5, (), PHYSICIAN),
    ("Z98.890", 5, (), PHYSICIAN),
]


@pytest.mark.parametrize(("code", "onset", "others", "allowed"), CATALOG_TABLE)
def test_who_may_clear_each_catalog_diagnosis(db, code, onset, others, allowed):
    dx = catalog_diagnosis(code, onset_days_ago=onset)
    record = [dx, *(catalog_diagnosis(other, id=n + 2, onset_days_ago=50) for n, other in enumerate(others))]
    assert allowed_professions(dx, record, D) == allowed


@pytest.mark.parametrize(
    ("profession", "code", "cleared"),
    [
        ("nurse_midwife", "Z33.1", True),
        ("physical_therapist", "Z33.1", False),
        ("nurse_midwife", "Z96.641", False),
        ("nurse_midwife", "M54.50", False),
        ("athletic_trainer", "M54.2", False),
        ("athletic_trainer", "M54.50", False),
        ("athletic_trainer", "S39.012A", True),
    ],
)
def test_professions_through_the_gate(db, profession, code, cleared):
    found = findings_for(profession, [catalog_diagnosis(code, onset_days_ago=200)])
    assert (found == []) is cleared


def test_the_catalog_explains_the_hip_and_fracture_rules(db):
    ((_, _, hip_message),) = findings_for("physical_therapist", [catalog_diagnosis("Z96.642", onset_days_ago=40)])
    assert (
        "which only a physician may clear (days 0 to 84 after onset): For 12 weeks after a hip replacement"
        in hip_message
    )
    record = [
        catalog_diagnosis("M81.0", onset_days_ago=900),
        catalog_diagnosis("M48.56XA", id=2, onset_days_ago=400, resolved_days_ago=200),
    ]
    ((_, _, fracture_message),) = findings_for("physical_therapist", record)
    assert "which only a physician may clear (with M48.56XA Collapsed vertebra" in fracture_message
    assert "on record): With a vertebral fracture on record" in fracture_message


def test_every_authority_row_carries_its_source_and_review_note(db):
    expected = {
        "M54.50": "NICE NG59",
        "M54.2": "IFOMPT",
        "M81.0": "Too Fit To Fracture",
        "Z96.641": "StatPearls",
        "Z96.642": "StatPearls",
        "Z33.1": "ACOG Committee Opinion 804",
    }
    for code, cited in expected.items():
        assert cited in Diagnosis.objects.get(code=code).clearance_by_source, code
    for diagnosis in Diagnosis.objects.all():
        assert diagnosis.clearance_by_source, diagnosis.code
    rules = list(ClearanceAuthorityRule.objects.select_related("diagnosis", "with_diagnosis"))
    assert {
        (r.diagnosis.code, tuple(r.professions), r.from_day, r.until_day, r.with_diagnosis and r.with_diagnosis.code)
        for r in rules
    } == {
        ("Z96.641", ("physician",), 0, 84, None),
        ("Z96.642", ("physician",), 0, 84, None),
        ("M81.0", ("physician",), None, None, "M48.56XA"),
    }
    for rule in rules:
        assert rule.source and rule.rationale and rule.review_note == REVIEW_NOTE


def test_the_data_function_is_idempotent_and_skips_missing_codes(db):
    def rules():
        return list(
            ClearanceAuthorityRule.objects.order_by("id").values_list("id", "diagnosis", "professions", "source")
        )

    before = rules()
    MIGRATION.apply_clearance_authority(global_apps)
    assert rules() == before
    # Without the fracture code the osteoporosis rule is skipped, not an error.
    ClearanceAuthorityRule.objects.all().delete()
    Diagnosis.objects.filter(code="M48.56XA").update(code="M48.56XB")
    MIGRATION.apply_clearance_authority(global_apps)
    assert sorted(ClearanceAuthorityRule.objects.values_list("diagnosis__code", flat=True)) == ["Z96.641", "Z96.642"]


def test_nurse_midwife_is_a_profession():
    assert Profession.NURSE_MIDWIFE == "nurse_midwife" and Profession.NURSE_MIDWIFE.label == "Nurse-midwife"


# --- Loaders, badge and services -----------------------------------------------------------------------------

EVERY_DAY = [1, 2, 3, 4, 5, 6, 7]


def diagnose(patient, by, code, **fields):
    return patient_services.patient_diagnosis_add(
        patient=patient, by=by, diagnosis=Diagnosis.objects.get(code=code), **fields
    )


def pt_cleared_patient(clinic, therapist, mobility, *, profession="physical_therapist"):
    patient = factories.PatientFactory(clinic=clinic)
    factories.ClearanceFactory(
        patient=patient, recorded_by=therapist, profession=profession, professional_name="Kim Lee"
    )
    factories.MobilityAssessmentFactory(patient=patient, level=mobility(3), assessed_by=therapist)
    factories.EpisodeFactory(patient=patient, primary_therapist=therapist)
    return patient


def draft(patient, therapist, stretch, start):
    s = stretch("pelvic-tilt")
    return services.prescription_create(
        episode=patient.episodes.get(),
        by=therapist,
        start_date=start,
        days_of_week=EVERY_DAY,
        times=[dt.time(8, 0)],
        items=[ItemIn(stretch=s, reps=s.default_reps, sets=s.default_sets, hold_seconds=s.default_hold_seconds)],
    )


def test_both_loaders_load_the_rules_alike(clinic, therapist, mobility, stretch):
    patient = pt_cleared_patient(clinic, therapist, mobility)
    today = patient.local_today()
    diagnose(patient, therapist, "Z96.641", qualifier="posterior_approach", onset_date=today - dt.timedelta(days=10))
    diagnose(patient, therapist, "M81.0", onset_date=today - dt.timedelta(days=900))
    plan = draft(patient, therapist, stretch, today)

    items, facts = gate_facts_for_plans([plan])[plan.pk]

    rows = list(plan.items.select_related("stretch__min_mobility").prefetch_related("stretch__tags").order_by("order"))
    assert facts == gate_facts_module.gate_facts(patient=patient, stretches=[r.stretch for r in rows])
    assert {d.code: [(r.from_day, r.until_day, r.with_code) for r in d.authority] for d in facts.diagnoses} == {
        "Z96.641": [(0, 84, None)],
        "M81.0": [(None, None, "M48.56XA")],
    }


def test_the_badge_query_agrees_at_the_window_edges(clinic, therapist, mobility):
    patients = {}
    for day in (84, 85):
        patient = pt_cleared_patient(clinic, therapist, mobility)
        diagnose(patient, therapist, "Z96.642", onset_date=patient.local_today() - dt.timedelta(days=day))
        patients[day] = patient.pk
    unknown = pt_cleared_patient(clinic, therapist, mobility)
    diagnose(unknown, therapist, "Z96.642")
    patients[None] = unknown.pk
    listed = dict(
        Patient.objects.filter(pk__in=patients.values())
        .annotate(states=patients_admin.clearance_states_today())
        .values_list("pk", "states")
    )
    assert {day: listed[pk] for day, pk in patients.items()} == {
        84: ["insufficient_authority"],
        85: ["cleared"],
        None: ["insufficient_authority"],
    }


def test_a_pt_clearance_covers_a_hip_replacement_from_day_85(clinic, therapist, mobility, stretch):
    patient = pt_cleared_patient(clinic, therapist, mobility)
    today = patient.local_today()
    diagnose(patient, therapist, "Z96.641", qualifier="anterior_approach", onset_date=today - dt.timedelta(days=80))

    with pytest.raises(SafetyBlocked) as refused:
        services.prescription_activate(prescription=draft(patient, therapist, stretch, today), by=therapist)
    assert {f["code"] for f in refused.value.findings} == {"clearance_insufficient_authority"}
    assert "days 0 to 84 after onset" in refused.value.findings[0]["message"]

    later = services.prescription_activate(
        prescription=draft(patient, therapist, stretch, today + dt.timedelta(days=5)), by=therapist
    )
    assert later.status == "active"


def test_recording_a_fracture_holds_a_pt_cleared_osteoporosis_plan(clinic, therapist, mobility, stretch):
    patient = pt_cleared_patient(clinic, therapist, mobility)
    today = patient.local_today()
    diagnose(patient, therapist, "M81.0", onset_date=today - dt.timedelta(days=900))
    plan = services.prescription_activate(prescription=draft(patient, therapist, stretch, today), by=therapist)
    session = factories.SessionFactory(prescription=plan, local_date=today + dt.timedelta(days=2))

    diagnose(
        patient,
        therapist,
        "M48.56XA",
        onset_date=today - dt.timedelta(days=400),
        resolved_date=today - dt.timedelta(days=100),
    )
    patient_recheck(patient_id=patient.pk)

    session.refresh_from_db()
    assert session.status == Session.Status.BLOCKED
    flag = SafetyFlag.objects.get(prescription=plan, kind=SafetyFlag.Kind.CLEARANCE_CONFLICT)
    (finding,) = flag.details["findings"]
    assert finding["code"] == "clearance_insufficient_authority"
    assert "with M48.56XA" in finding["message"]


# --- The admin -------------------------------------------------------------------------------------------------


def test_a_superuser_edits_a_rule_in_the_admin_and_every_clinic_is_rechecked(client, django_user_model, clinic_admin):
    CatalogRecheckRequest.objects.filter(clinic=None).update(done=True)
    rule = ClearanceAuthorityRule.objects.get(diagnosis__code="Z96.641")
    form = {
        "diagnosis": rule.diagnosis_id,
        "professions": "physician",
        "from_day": 0,
        "until_day": 120,
        "with_diagnosis": "",
        "rationale": rule.rationale,
        "source": rule.source,
        "review_note": rule.review_note,
    }
    url = f"/admin/clinic/clearanceauthorityrule/{rule.pk}/change/"
    client.force_login(clinic_admin)
    assert client.post(url, form).status_code == 403  # global rows are superusers' only
    client.force_login(django_user_model.objects.create_superuser("root", "root@example.test", "pw-unused-1"))

    assert client.get("/admin/clinic/clearanceauthorityrule/").status_code == 200
    response = client.post(url, form)

    assert response.status_code == 302, response.content[:2000]
    rule.refresh_from_db()
    assert rule.until_day == 120
    assert CatalogRecheckRequest.objects.get(clinic=None).done is False


def test_a_nurse_midwife_clearance_through_the_api_clears_a_pregnancy(as_user, front_desk, therapist, clinic, mobility):
    patient = factories.PatientFactory(clinic=clinic)
    factories.MobilityAssessmentFactory(patient=patient, level=mobility(3), assessed_by=therapist)
    today = patient.local_today()
    diagnose(patient, therapist, "Z33.1", onset_date=today - dt.timedelta(days=60))
    response = as_user(front_desk).post(
        f"/api/v1/patients/{patient.pk}/clearances/",
        {
            "professional_name": "Rosa Diaz, CNM",
            "profession": "nurse_midwife",
            "status": "cleared",
            "valid_from": today.isoformat(),
            "valid_until": (today + dt.timedelta(days=90)).isoformat(),
        },
        format="json",
    )
    assert response.status_code == 201, response.json()
    assert response.json()["profession"] == "nurse_midwife"

    facts = gate_facts_module.gate_facts(patient=patient, stretches=[])
    probe = rules.ItemFact(None, rules.StretchFact("pelvic-tilt", "Pelvic tilt", frozenset(), 1))
    assert evaluate(facts, [probe], today) == []
    diagnose(patient, therapist, "Z96.641", onset_date=today - dt.timedelta(days=400))
    facts = gate_facts_module.gate_facts(patient=patient, stretches=[])
    (finding,) = evaluate(facts, [probe], today)
    assert finding.cause.endswith(":diagnosis:Z96.641")
    assert "which only a physician or a physical therapist may clear." in finding.message
