"""The starter library of protocol templates (issue 17, part 1; data migration clinic 0009_starter_templates).

Each template passes the real gate for a typical patient of its diagnosis — cleared by a profession that may clear
it, at a typical mobility level, inside the relevant window — every day of the weeks it runs: a plan made from it
is activated by the gate with no finding at all (not even a caution to acknowledge). The rows carry their source
and the review note, their doses stay inside ACSM's stretching guidance, and the tests' ``catalog`` fixture loads
them after a flush as the migration does.
"""

from __future__ import annotations

import datetime as dt
import importlib
import inspect
from dataclasses import dataclass

import pytest

from clinic.models import Contraindication, Diagnosis, MobilityLevel, ProtocolTemplate, Stretch
from prescriptions import services
from prescriptions.gate import rules
from prescriptions.gate.facts import gate_facts_for_plans
from prescriptions.models import GateEvaluation, Prescription
from tests import factories

LIBRARY = importlib.import_module("clinic.migrations.0009_starter_templates")
REVIEW_NOTE = "Seed content: a licensed physical therapist must review this row before clinical use."

NAMES = {  # the issue's six, by slug
    "acute-lumbar-strain-weeks-0-2": "Acute lumbar strain — weeks 0–2",
    "chronic-low-back-pain-mobility": "Chronic low back pain — mobility",
    "neck-pain-early": "Neck pain (cervicalgia) — early",
    "osteoporosis-safe-back-care": "Osteoporosis-safe back care",
    "posterior-hip-replacement-precaution-safe": "Posterior hip replacement — precaution-safe",
    "pregnancy-back-care": "Pregnancy — back care",
}


@dataclass(frozen=True)
class Typical:
    """A typical patient of a template: diagnoses (code, phase, qualifier, onset days ago), who cleared them, how
    well they move, when they were born."""

    template: str
    diagnoses: list[tuple[str, str, str, int]]
    profession: str
    mobility: int
    born: dt.date


TYPICAL = {
    "acute lumbar strain, day 4, cleared by a physical therapist": Typical(
        "acute-lumbar-strain-weeks-0-2", [("S39.012A", "acute", "", 4)], "physical_therapist", 3, dt.date(1988, 4, 2)
    ),
    "acute lumbar strain, cleared by an athletic trainer (an uncomplicated strain)": Typical(
        "acute-lumbar-strain-weeks-0-2", [("S39.012A", "acute", "", 2)], "athletic_trainer", 4, dt.date(2001, 9, 9)
    ),
    "chronic low back pain, mobility 3": Typical(
        "chronic-low-back-pain-mobility", [("M54.50", "chronic", "", 200)], "physical_therapist", 3, dt.date(1975, 1, 1)
    ),
    "neck pain, week 1, mobility 2": Typical(
        "neck-pain-early", [("M54.2", "acute", "", 7)], "physical_therapist", 2, dt.date(1990, 6, 15)
    ),
    "osteoporosis, 73, mobility 2, cleared by a physical therapist (no fracture on record)": Typical(
        "osteoporosis-safe-back-care", [("M81.0", "chronic", "", 900)], "physical_therapist", 2, dt.date(1953, 3, 3)
    ),
    "osteoporosis, 80, cleared by a physician": Typical(
        "osteoporosis-safe-back-care", [("M81.0", "", "", 2000)], "physician", 2, dt.date(1946, 5, 5)
    ),
    "posterior hip replacement, day 30 of 84, mobility 2, cleared by the surgeon": Typical(
        "posterior-hip-replacement-precaution-safe",
        [("Z96.641", "", "posterior_approach", 30)],
        "physician",
        2,
        dt.date(1958, 7, 7),
    ),
    "left hip replacement, day 3, approach not recorded (both precaution sets apply)": Typical(
        "posterior-hip-replacement-precaution-safe", [("Z96.642", "", "", 3)], "physician", 2, dt.date(1950, 2, 2)
    ),
    "pregnancy, 20 weeks (past the first trimester), cleared by a nurse-midwife": Typical(
        "pregnancy-back-care", [("Z33.1", "", "", 140)], "nurse_midwife", 4, dt.date(1995, 10, 10)
    ),
    "pregnancy, 30 weeks, cleared by an obstetrician, mobility 3": Typical(
        "pregnancy-back-care", [("Z33.1", "", "", 210)], "physician", 3, dt.date(1991, 12, 12)
    ),
}


def _items(template: ProtocolTemplate) -> list[services.ItemIn]:
    return [
        services.ItemIn(
            stretch=item.stretch,
            reps=item.reps,
            sets=item.sets,
            hold_seconds=item.hold_seconds,
            side=item.side,
            notes=item.notes,
        )
        for item in template.items.select_related("stretch").order_by("order")
    ]


@pytest.mark.parametrize("story", list(TYPICAL))
def test_each_template_passes_the_gate_for_its_typical_patient_every_day_it_runs(story, clinic, therapist):
    typical = TYPICAL[story]
    template = ProtocolTemplate.objects.get(clinic=None, slug=typical.template)
    patient = factories.PatientFactory(clinic=clinic, date_of_birth=typical.born)
    today = patient.local_today()
    for code, phase, qualifier, days_ago in typical.diagnoses:
        factories.PatientDiagnosisFactory(
            patient=patient,
            diagnosis=Diagnosis.objects.get(code=code),
            phase=phase,
            qualifier=qualifier,
            onset_date=today - dt.timedelta(days=days_ago),
            recorded_by=therapist,
        )
    assert {code for code, *_ in typical.diagnoses} <= set(template.diagnoses.values_list("code", flat=True))
    factories.ClearanceFactory(
        patient=patient,
        profession=typical.profession,
        recorded_by=therapist,
        valid_from=today - dt.timedelta(days=2),
        valid_until=today + dt.timedelta(weeks=template.weeks + 1),
    )
    factories.MobilityAssessmentFactory(
        patient=patient, level=MobilityLevel.objects.get(level=typical.mobility), assessed_by=therapist
    )
    episode = factories.EpisodeFactory(patient=patient, primary_therapist=therapist)

    plan = services.prescription_create(
        episode=episode,
        by=therapist,
        start_date=today,
        end_date=today + dt.timedelta(weeks=template.weeks, days=-1),
        days_of_week=template.days_of_week,
        times=template.times,
        items=_items(template),
    )
    services.prescription_activate(prescription=plan, by=therapist)  # the gate, as for any plan

    plan.refresh_from_db()
    assert plan.status == Prescription.Status.ACTIVE
    [evaluation] = GateEvaluation.objects.filter(prescription=plan)
    assert evaluation.passed and all(span["findings"] == [] for span in evaluation.findings)
    # Beyond activation's horizon: every span of facts through the plan's last day, with no finding at all.
    item_facts, facts = gate_facts_for_plans([plan])[plan.pk]
    for span_start, _ in rules.spans(facts, plan.start_date, plan.end_date):
        assert rules.evaluate(facts, item_facts, span_start) == [], (story, span_start)


def test_the_library_holds_the_issues_six_templates_global_with_source_and_review_note(db):
    templates = ProtocolTemplate.objects.filter(clinic=None, slug__in=list(NAMES)).prefetch_related("diagnoses")
    assert {t.slug: t.name for t in templates} == NAMES
    covered = {slug for typical in TYPICAL.values() for slug in [typical.template]}
    assert covered == set(NAMES)  # a typical patient for every template
    for template in templates:
        assert template.source.startswith("Limber starter templates 2026 (issue 17) — "), template.slug
        assert len(template.source) <= 300
        assert template.review_note == REVIEW_NOTE
        assert template.version == 1
        assert template.description and template.weeks and template.days_of_week and template.times
        assert template.diagnoses.exists()
        assert "For " in template.description and "avoids" in template.description, template.slug


def test_doses_stay_inside_acsm_stretching_guidance(db):
    """Static holds 10–30 s (30 s for older adults), 2–4 repetitions: about 60 s a stretch; a dynamic item keeps
    its short pause (or none) and ten slow repetitions."""
    for template in ProtocolTemplate.objects.filter(clinic=None, slug__in=list(NAMES)):
        items = list(template.items.select_related("stretch"))
        assert [item.order for item in items] == list(range(1, len(items) + 1))
        for item in items:
            where = f"{template.slug}: {item.stretch.slug}"
            assert item.stretch.clinic_id is None, where
            assert item.sets == 1 and item.notes, where
            if item.stretch.kind == Stretch.Kind.STATIC:
                assert 10 <= item.hold_seconds <= 30 and 2 <= item.reps <= 4, where
                assert 50 <= item.hold_seconds * item.reps <= 90, where
            else:
                assert (item.hold_seconds or 0) <= 5 and item.reps == 10, where
    older = ProtocolTemplate.objects.get(clinic=None, slug="osteoporosis-safe-back-care")
    assert all(i.hold_seconds == 30 for i in older.items.filter(stretch__kind=Stretch.Kind.STATIC))


def test_no_item_enters_a_movement_its_diagnoses_contraindicate_in_any_window(db):
    """Stronger than one patient: no item carries a tag (or is a stretch) that any global contraindication row of the
    template's diagnoses names, whatever the row's window, qualifier and severity — in the template's phase, or in any
    phase when the template is for any."""
    for template in ProtocolTemplate.objects.filter(clinic=None, slug__in=list(NAMES)):
        rows = Contraindication.objects.filter(clinic=None, diagnosis__in=template.diagnoses.all())
        if template.phase:
            rows = rows.filter(phase__in=["", template.phase])
        ruled_out = {row.tag.slug for row in rows if row.tag_id} | {row.stretch.slug for row in rows if row.stretch_id}
        for item in template.items.select_related("stretch").prefetch_related("stretch__tags"):
            entered = {tag.slug for tag in item.stretch.tags.all()} | {item.stretch.slug}
            assert not entered & ruled_out, (template.slug, item.stretch.slug, entered & ruled_out)


def test_the_seed_is_idempotent_bumps_the_version_of_a_changed_template_and_reverses(db):
    from django.apps import apps as global_apps

    before = {t.slug: (t.version, list(t.items.values_list("stretch__slug", "hold_seconds"))) for t in _library()}
    LIBRARY.seed_starter_templates(global_apps)
    assert {t.slug: (t.version, list(t.items.values_list("stretch__slug", "hold_seconds"))) for t in _library()} == (
        before
    )

    neck = ProtocolTemplate.objects.get(clinic=None, slug="neck-pain-early")
    neck.items.filter(order=2).update(hold_seconds=25)
    LIBRARY.seed_starter_templates(global_apps)  # the frozen content is put back, as a new version
    neck.refresh_from_db()
    assert neck.version == 2 and neck.items.get(order=2).hold_seconds == 20

    LIBRARY.remove_starter_templates(global_apps)
    assert not _library().exists()
    LIBRARY.seed_starter_templates(global_apps)
    assert _library().count() == 6


def test_the_migration_carries_its_own_data():
    """Frozen: it imports no app code, which may change after it."""
    imports = [line for line in inspect.getsource(LIBRARY).splitlines() if line.startswith(("import ", "from "))]
    assert imports == ["import datetime as dt", "from django.db import migrations"]


@pytest.mark.django_db(transaction=True)
def test_the_catalog_fixture_loads_the_library_after_a_flush(catalog):
    assert _library().count() == 6
    assert all(t.items.exists() and t.diagnoses.exists() for t in _library())


def _library():
    return ProtocolTemplate.objects.filter(clinic=None, slug__in=list(NAMES))


@pytest.mark.django_db
def test_the_demo_plan_from_a_template_records_it_and_the_gate_still_refuses_what_the_template_does_not_know():
    """Maria's plan came from the chronic low back pain template; she is 40 days after a posterior-approach hip
    replacement, so the gate refused its knees to chest (hip flexion past 90°) and her therapist overrode it."""
    from prescriptions.demo import load_demo
    from prescriptions.models import GateOverride

    load_demo()
    template = ProtocolTemplate.objects.get(clinic=None, slug="chronic-low-back-pain-mobility")
    plan = Prescription.objects.get(patient__mrn="DEMO-001")
    assert (plan.status, plan.template_id, plan.template_version) == ("active", template.pk, template.version)
    assert list(plan.items.order_by("order").values_list("stretch__slug", "hold_seconds", "reps", "side")) == list(
        template.items.order_by("order").values_list("stretch__slug", "hold_seconds", "reps", "side")
    )
    assert (plan.days_of_week, plan.times) == (template.days_of_week, template.times)
    [override] = GateOverride.objects.filter(prescription=plan)
    assert (override.kind, override.code) == ("override", "contraindicated")
    assert override.item.stretch.slug == "knees-to-chest"
    assert not Prescription.objects.exclude(patient__mrn="DEMO-001").exclude(template=None).exists()
