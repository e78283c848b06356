"""The reviewed catalog (issue 12, part 1) through the real gate: every new or changed rule at its window's edges
(day N blocks, day N + 1 does not), unknown qualifiers and phases (the strictest), a recorded other value that
lifts them, the clinic's precaution window, the stretches' new tags, and the default hold from 65 on.

The rows are the migrated catalog's; facts come from the gate's own loaders, and `rules.evaluate` decides."""

from __future__ import annotations

import datetime as dt

import pytest

from clinic.models import Contraindication, Diagnosis, MobilityLevel, MovementTag, Stretch
from patients.clearance import ClearanceFact
from prescriptions import dosage
from prescriptions.gate import rules
from prescriptions.gate.facts import gate_facts, gate_facts_for_plans, stretch_fact
from tests import factories

ONSET = dt.date(2026, 1, 5)
ROW_CODES = {rules.Code.CONTRAINDICATED, rules.Code.CAUTION}


def day(n: int) -> dt.date:
    return ONSET + dt.timedelta(days=n)


def tagged(clinic, tag: str) -> Stretch:
    """A seated stretch of the clinic's own carrying only ``tag`` (a seated position implies no tag)."""
    stretch = factories.StretchFactory(clinic=clinic, position="seated")
    stretch.tags.set([MovementTag.objects.get(slug=tag)])
    return stretch


def loaded(stretch: Stretch) -> Stretch:
    return Stretch.objects.select_related("min_mobility").prefetch_related("tags").get(pk=stretch.pk)


class Case:
    """A patient with one diagnosis (onset `ONSET`), a physician's clearance covering a year, mobility 5."""

    def __init__(self, clinic, code: str, *, phase: str = "", qualifier: str = "", onset: dt.date | None = ONSET):
        self.record = factories.PatientFactory(clinic=clinic)
        factories.PatientDiagnosisFactory(
            patient=self.record,
            diagnosis=Diagnosis.objects.get(code=code),
            phase=phase,
            qualifier=qualifier,
            onset_date=onset,
        )
        factories.ClearanceFactory(patient=self.record, valid_from=ONSET - dt.timedelta(days=1), valid_until=day(400))
        factories.MobilityAssessmentFactory(patient=self.record, level=MobilityLevel.objects.get(level=5))

    def findings(self, stretch: Stretch, on: dt.date) -> list[rules.Finding]:
        stretch = loaded(stretch)
        facts = gate_facts(patient=self.record, stretches=[stretch])
        found = rules.evaluate(facts, [rules.ItemFact(None, stretch_fact(stretch))], on)
        return [f for f in found if f.code in ROW_CODES]

    def rows(self, stretch: Stretch, on: dt.date) -> dict[int, rules.Finding]:
        """Contraindication row id → its finding."""
        return {int(f.cause.removeprefix("contraindication:")): f for f in self.findings(stretch, on)}


def row(
    code: str, tag: str, *, phase: str = "", qualifier: str = "", from_day=None, until_day=None
) -> Contraindication:
    return Contraindication.objects.get(
        clinic=None,
        diagnosis__code=code,
        tag__slug=tag,
        phase=phase,
        qualifier=qualifier,
        from_day=from_day,
        until_day=until_day,
    )


# --- Windows of days since onset: day N blocks, day N + 1 does not -------------------------------------------

# (diagnosis, recorded qualifier, tag, the row's qualifier, last day)
WINDOWS = [
    # After spinal surgery, by procedure.
    *[("Z98.890", "lumbar_fusion", tag, "lumbar_fusion", 84) for tag in ("lumbar_flexion", "spinal_rotation")],
    ("Z98.890", "lumbar_fusion", "lumbar_extension", "lumbar_fusion", 84),
    *[("Z98.890", "lumbar_discectomy", tag, "lumbar_discectomy", 42) for tag in ("lumbar_flexion", "spinal_rotation")],
    *[
        ("Z98.890", "cervical_fusion", tag, "cervical_fusion", 42)
        for tag in ("cervical_rotation", "cervical_extension", "cervical_flexion")
    ],
    # Hip replacement, by approach.
    *[
        (code, "anterior_approach", tag, "anterior_approach", 42)
        for code in ("Z96.641", "Z96.642")
        for tag in ("hip_extension", "hip_external_rotation")
    ],
    *[
        (code, "posterior_approach", tag, "posterior_approach", 84)
        for code in ("Z96.641", "Z96.642")
        for tag in ("hip_flexion_over_90", "hip_adduction_past_midline", "hip_internal_rotation")
    ],
]


@pytest.mark.parametrize(("code", "qualifier", "tag", "row_qualifier", "last"), WINDOWS)
def test_a_window_blocks_through_its_last_day_only(clinic, code, qualifier, tag, row_qualifier, last):
    patient = Case(clinic, code, qualifier=qualifier)
    stretch = tagged(clinic, tag)
    expected = row(code, tag, qualifier=row_qualifier, from_day=0, until_day=last)

    for on in (day(0), day(last)):
        finding = patient.rows(stretch, on)[expected.pk]
        assert (finding.code, finding.severity) == (rules.Code.CONTRAINDICATED, rules.Severity.BLOCK)
        assert f"days 0 to {last} after onset" in finding.message
        assert "not recorded" not in finding.message
    assert expected.pk not in patient.rows(stretch, day(last + 1))


def test_a_recent_compression_fracture_blocks_rotation_for_12_weeks_then_warns(clinic):
    patient = Case(clinic, "M48.56XA", phase="subacute")
    stretch = tagged(clinic, "spinal_rotation")
    block = row("M48.56XA", "spinal_rotation", from_day=0, until_day=84)
    caution = row("M48.56XA", "spinal_rotation", from_day=85)

    assert set(patient.rows(stretch, day(84))) == {block.pk}
    assert patient.rows(stretch, day(84))[block.pk].severity == rules.Severity.BLOCK
    assert set(patient.rows(stretch, day(85))) == {caution.pk}
    assert patient.rows(stretch, day(85))[caution.pk].code == rules.Code.CAUTION
    assert set(patient.rows(stretch, day(365))) == {caution.pk}


def test_an_unrecorded_fracture_onset_keeps_the_block(clinic):
    """No onset: inside every window — the block (and the later caution) both apply."""
    patient = Case(clinic, "M48.56XA", onset=None)
    stretch = tagged(clinic, "spinal_rotation")
    found = patient.rows(stretch, day(200))
    assert row("M48.56XA", "spinal_rotation", from_day=0, until_day=84).pk in found
    assert rules.blocks(list(found.values()), set())


# --- Unknown qualifier: every procedure's rows (the strictest); a recorded one lifts the others ---------------

# tag → (row qualifier, last day) of every Z98.890 row naming it
SPINAL_SURGERY_ROWS = {
    "lumbar_flexion": [("lumbar_fusion", 84), ("lumbar_discectomy", 42)],
    "spinal_rotation": [("lumbar_fusion", 84), ("lumbar_discectomy", 42)],
    "lumbar_extension": [("lumbar_fusion", 84)],
    "cervical_rotation": [("cervical_fusion", 42)],
    "cervical_extension": [("cervical_fusion", 42)],
    "cervical_flexion": [("cervical_fusion", 42)],
}
ASSUMED = {
    "lumbar_fusion": "procedure not recorded — lumbar fusion precautions applied",
    "lumbar_discectomy": "procedure not recorded — lumbar discectomy precautions applied",
    "cervical_fusion": "procedure not recorded — cervical fusion precautions applied",
    "posterior_approach": "surgical approach not recorded — posterior-approach precautions applied",
    "anterior_approach": "surgical approach not recorded — anterior-approach precautions applied",
}


@pytest.mark.parametrize("tag", sorted(SPINAL_SURGERY_ROWS))
def test_spinal_surgery_without_a_procedure_gets_every_procedures_rows(clinic, tag):
    patient = Case(clinic, "Z98.890")
    stretch = tagged(clinic, tag)
    for on in (day(0), day(42), day(43), day(84), day(85)):
        expected = {
            row("Z98.890", tag, qualifier=qualifier, from_day=0, until_day=last).pk: qualifier
            for qualifier, last in SPINAL_SURGERY_ROWS[tag]
            if (on - ONSET).days <= last
        }
        found = patient.rows(stretch, on)
        assert set(found) == set(expected), on
        for pk, qualifier in expected.items():
            assert ASSUMED[qualifier] in found[pk].message
            assert found[pk].severity == rules.Severity.BLOCK


@pytest.mark.parametrize(
    ("recorded", "tag", "applies"),
    [
        ("lumbar_discectomy", "lumbar_extension", False),  # extension is the fusion's
        ("lumbar_discectomy", "cervical_rotation", False),
        ("lumbar_fusion", "cervical_flexion", False),
        ("cervical_fusion", "lumbar_flexion", False),
        ("cervical_fusion", "lumbar_extension", False),
        ("cervical_fusion", "cervical_extension", True),
        ("lumbar_fusion", "lumbar_extension", True),
    ],
)
def test_a_recorded_procedure_lifts_the_other_procedures_rows(clinic, recorded, tag, applies):
    patient = Case(clinic, "Z98.890", qualifier=recorded)
    assert bool(patient.rows(tagged(clinic, tag), day(10))) is applies


@pytest.mark.parametrize("code", ["Z96.641", "Z96.642"])
def test_a_hip_without_a_recorded_approach_gets_both_approaches_rows(clinic, code):
    patient = Case(clinic, code)
    for tag, qualifier in (("hip_extension", "anterior_approach"), ("hip_internal_rotation", "posterior_approach")):
        [finding] = patient.findings(tagged(clinic, tag), day(30))
        assert ASSUMED[qualifier] in finding.message
    assert not patient.findings(tagged(clinic, "hip_extension"), day(43))  # the anterior window has passed


@pytest.mark.parametrize(
    ("recorded", "tag"),
    [("posterior_approach", "hip_extension"), ("posterior_approach", "hip_external_rotation"),
     ("anterior_approach", "hip_flexion_over_90"), ("anterior_approach", "hip_internal_rotation")],
)  # fmt: skip
def test_a_recorded_approach_lifts_the_other_approachs_rows(clinic, recorded, tag):
    assert not Case(clinic, "Z96.642", qualifier=recorded).findings(tagged(clinic, tag), day(10))


def test_every_new_qualifier_reads_well_when_assumed():
    for qualifier in ("lumbar_fusion", "lumbar_discectomy", "cervical_fusion"):
        fact, assumed = rules.QUALIFIER_ASSUMED[qualifier]
        assert f"{fact} not recorded — {assumed}" == ASSUMED[qualifier]


# --- Phases: nerve-root irritation, disc beyond the acute phase, knee sprain, the new diagnoses ---------------

# (diagnosis, tag, the row's phase, severity, {recorded phase: applies}); "" = not recorded
PHASES = [
    *[
        (code, tag, "acute", "relative", {"acute": True, "": True, "subacute": False, "chronic": False})
        for code in ("M54.16", "M54.40")
        for tag in ("sciatic_neural_tension", "lumbar_flexion")
    ],
    (
        "M51.26",
        "lumbar_flexion",
        "subacute",
        "relative",
        {"subacute": True, "": True, "acute": False, "chronic": False},
    ),
    ("M51.26", "lumbar_flexion", "acute", "absolute", {"acute": True, "": True, "subacute": False, "chronic": False}),
    *[
        ("M51.26", "sciatic_neural_tension", phase, "relative", {phase: True, "": True, "chronic": False})
        for phase in ("acute", "subacute")
    ],
    ("S83.90XA", "knee_deep_flexion", "acute", "absolute", {"acute": True, "": True, "subacute": False}),
    ("S83.90XA", "kneeling", "subacute", "relative", {"subacute": True, "": True, "chronic": False}),
    ("S83.90XA", "kneeling", "acute", "relative", {"acute": True, "chronic": False}),
    ("M43.16", "lumbar_extension", "", "relative", {"": True, "acute": True, "chronic": True}),
    ("M48.062", "lumbar_extension", "", "relative", {"": True, "chronic": True}),
]


@pytest.mark.parametrize(("code", "tag", "row_phase", "severity", "cases"), PHASES)
def test_phase_rows(clinic, code, tag, row_phase, severity, cases):
    expected = row(code, tag, phase=row_phase)
    stretch = tagged(clinic, tag)
    for recorded, applies in cases.items():
        found = Case(clinic, code, phase=recorded).rows(stretch, day(5))
        assert (expected.pk in found) is applies, recorded
        if applies:
            finding = found[expected.pk]
            assert finding.code == (rules.Code.CONTRAINDICATED if severity == "absolute" else rules.Code.CAUTION)
            if row_phase and not recorded:
                assert f"phase not recorded — {row_phase} phase assumed" in finding.message


# --- The stretches' new tags, as the seeded stretches meet the rules ------------------------------------------


@pytest.mark.parametrize(
    ("code", "phase", "qualifier", "slug", "code_found"),
    [
        # Piriformis pulls the thigh to the chest: every flexion rule reaches it now.
        ("M81.0", "chronic", "", "piriformis-stretch", "contraindicated"),
        ("M51.26", "acute", "", "piriformis-stretch", "contraindicated"),
        ("M48.56XA", "subacute", "", "piriformis-stretch", "contraindicated"),
        ("Z98.890", "", "lumbar_discectomy", "piriformis-stretch", "contraindicated"),
        ("Z96.642", "", "anterior_approach", "piriformis-stretch", "contraindicated"),  # turns the hip out
        ("Z96.642", "", "anterior_approach", "standing-hip-flexor-stretch", "contraindicated"),
        ("Z96.641", "", "anterior_approach", "lower-trunk-rotation", "contraindicated"),
        ("Z98.890", "", "cervical_fusion", "cervical-rotation-stretch", "contraindicated"),
        ("Z98.890", "", "cervical_fusion", "chin-tuck", "contraindicated"),
        ("Z98.890", "", "lumbar_fusion", "prone-press-up", "contraindicated"),
        ("M54.16", "acute", "", "seated-hamstring-stretch", "caution"),  # the slump position
        ("M51.26", "acute", "", "seated-hamstring-stretch", "caution"),  # no lumbar flexion: the slump rule
        ("M51.26", "subacute", "", "seated-hamstring-stretch", "caution"),
        ("M54.40", "acute", "", "knees-to-chest", "caution"),
        ("M51.26", "subacute", "", "knees-to-chest", "caution"),
        ("S83.90XA", "acute", "", "prayer-stretch", "contraindicated"),  # sitting back onto the heels
        ("M43.16", "chronic", "", "prone-press-up", "caution"),
        ("M48.062", "chronic", "", "cat-cow", "caution"),
    ],
)
def test_seeded_stretches_meet_the_new_rules(clinic, stretch, code, phase, qualifier, slug, code_found):
    found = Case(clinic, code, phase=phase, qualifier=qualifier).findings(stretch(slug), day(10))
    assert code_found in {f.code for f in found}


@pytest.mark.parametrize(
    ("code", "phase", "qualifier", "slug"),
    [
        ("Z98.890", "", "cervical_fusion", "prone-press-up"),
        ("Z98.890", "", "lumbar_fusion", "cervical-rotation-stretch"),
        ("Z96.642", "", "posterior_approach", "standing-hip-flexor-stretch"),
        ("S83.90XA", "subacute", "", "pelvic-tilt"),
        ("M54.16", "chronic", "", "seated-hamstring-stretch"),
    ],
)
def test_stretches_the_rules_leave_alone(clinic, stretch, code, phase, qualifier, slug):
    assert not Case(clinic, code, phase=phase, qualifier=qualifier).findings(stretch(slug), day(10))


def test_the_bridge_needs_mobility_two(clinic, stretch):
    assert stretch_fact(loaded(stretch("bridge"))).min_mobility == 2


# --- The clinic's precaution window ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("setting", "qualifier", "tag", "catalog_last"),
    [
        ("posterior_hip_precaution_days", "posterior_approach", "hip_flexion_over_90", 84),
        ("anterior_hip_precaution_days", "anterior_approach", "hip_extension", 42),
    ],
)
@pytest.mark.parametrize("last", [28, 42, 120])
def test_a_clinic_sets_its_surgeons_hip_precaution_window(
    clinic, other_clinic, setting, qualifier, tag, catalog_last, last
):
    setattr(clinic, setting, last)
    clinic.save()
    patient = Case(clinic, "Z96.642", qualifier=qualifier)
    elsewhere = Case(other_clinic, "Z96.642", qualifier=qualifier)  # keeps the catalog's window
    stretch, other_stretch = tagged(clinic, tag), tagged(other_clinic, tag)

    [finding] = patient.findings(stretch, day(last))
    assert f"days 0 to {last} after onset" in finding.message
    assert not patient.findings(stretch, day(last + 1))
    assert elsewhere.findings(other_stretch, day(catalog_last))
    assert not elsewhere.findings(other_stretch, day(catalog_last + 1))

    facts = gate_facts(patient=patient.record, stretches=[loaded(stretch)])
    assert day(last + 1) in rules.change_dates(facts, day(0), day(200))


def test_the_window_setting_leaves_other_rows_alone(clinic):
    """Only rows marked with a window follow the setting: a spinal-surgery row keeps its own."""
    clinic.posterior_hip_precaution_days = 10
    clinic.anterior_hip_precaution_days = 10
    clinic.save()
    patient = Case(clinic, "Z98.890", qualifier="lumbar_fusion")
    assert patient.findings(tagged(clinic, "lumbar_flexion"), day(84))


def test_both_loaders_apply_the_clinic_window_alike(clinic, therapist):
    clinic.anterior_hip_precaution_days = 21
    clinic.save()
    patient = Case(clinic, "Z96.641", qualifier="")
    plan = factories.PrescriptionFactory(
        episode=factories.EpisodeFactory(patient=patient.record, primary_therapist=therapist), therapist=therapist
    )
    for order, slug in enumerate(["standing-hip-flexor-stretch", "piriformis-stretch", "pelvic-tilt"], start=1):
        factories.PrescriptionItemFactory(
            prescription=plan, stretch=Stretch.objects.get(clinic=None, slug=slug), order=order
        )

    items, facts = gate_facts_for_plans([plan])[plan.pk]

    rows = list(plan.items.select_related("stretch__min_mobility").prefetch_related("stretch__tags").order_by("order"))
    assert items == [rules.ItemFact(key=r.pk, stretch=stretch_fact(r.stretch)) for r in rows]
    assert facts == gate_facts(patient=plan.patient, stretches=[r.stretch for r in rows])
    anterior = [c for c in facts.contraindications if c.qualifier == "anterior_approach"]
    posterior = [c for c in facts.contraindications if c.qualifier == "posterior_approach"]
    assert anterior and {c.until_day for c in anterior} == {21}
    assert posterior and {c.until_day for c in posterior} == {84}


# --- Default holds: 20 s × 3 for the rotations, 30 s or more from 65 ------------------------------------------


@pytest.mark.parametrize(
    ("born", "start", "age"),
    [
        (dt.date(1961, 3, 10), dt.date(2026, 3, 10), 65),
        (dt.date(1961, 3, 10), dt.date(2026, 3, 9), 64),
        (dt.date(1960, 2, 29), dt.date(2025, 2, 28), 64),
        (dt.date(1960, 2, 29), dt.date(2025, 3, 1), 65),
    ],
)
def test_age_on_the_start_date(born, start, age):
    assert dosage.age_on(born, start) == age


@pytest.mark.parametrize(
    ("kind", "default", "age", "hold"),
    [
        ("static", 20, 65, 30),
        ("static", 20, 64, 20),
        ("static", 30, 80, 30),
        ("static", 45, 70, 45),
        ("dynamic", 5, 70, 5),
        ("dynamic", None, 70, None),
    ],
)
def test_default_hold(kind, default, age, hold):
    assert dosage.default_hold_seconds(kind=kind, stretch_default=default, age=age) == hold
    assert "ACSM" in dosage.OLDER_ADULT_HOLD_SOURCE


@pytest.mark.parametrize(("years_old", "expected"), [(65, [30, 30, 5, 15]), (64, [20, 30, 5, 15])])
def test_the_api_fills_an_omitted_hold_by_age_on_the_start_date(
    as_user, therapist, cleared_patient, years_old, expected
):
    start = cleared_patient.local_today() + dt.timedelta(days=3)
    born = start.replace(year=start.year - years_old)
    cleared_patient.date_of_birth = born if years_old == 65 else born + dt.timedelta(days=1)
    cleared_patient.save()
    items = [
        {"stretch": "seated-thoracic-rotation"},  # static, 20 s by default
        {"stretch": "piriformis-stretch"},  # static, 30 s
        {"stretch": "pelvic-tilt"},  # dynamic, 5 s
        {"stretch": "cervical-rotation-stretch", "hold_seconds": 15},  # given: kept
    ]
    body = {
        "episode": cleared_patient.episodes.get().pk,
        "start_date": start.isoformat(),
        "days_of_week": [1],
        "times": ["08:00"],
        "items": items,
    }
    client = as_user(therapist)
    created = client.post("/api/v1/prescriptions/", body)
    assert created.status_code == 201, created.json()
    assert [i["hold_seconds"] for i in created.json()["items"]] == expected

    # A draft's items replaced later get the same default, by the draft's start date.
    changed = client.patch(f"/api/v1/prescriptions/{created.json()['id']}/", {"items": items[:1]})
    assert changed.status_code == 200, changed.json()
    assert changed.json()["items"][0]["hold_seconds"] == expected[0]


def test_changing_a_clinics_window_in_the_admin_re_checks_its_plans(client, clinic, django_user_model):
    from clinic.models import CatalogRecheckRequest

    admin = django_user_model.objects.create_superuser("root-h6", "root@example.test", "pw-h6-long-enough")
    client.force_login(admin)
    url = f"/admin/clinic/clinic/{clinic.pk}/change/"
    form = {
        "name": clinic.name,
        "timezone": clinic.timezone,
        "phone": "+1 212 555 0100",
        "progression_min_adherence": 60,
    }

    assert client.post(url, {**form, "posterior_hip_precaution_days": ""}).status_code == 302
    assert not CatalogRecheckRequest.objects.filter(clinic=clinic).exists()  # nothing changed

    assert client.post(url, {**form, "posterior_hip_precaution_days": "42"}).status_code == 302
    clinic.refresh_from_db()
    assert clinic.posterior_hip_precaution_days == 42 and clinic.precaution_days() == {"hip_posterior": 42}
    request = CatalogRecheckRequest.objects.get(clinic=clinic)
    assert not request.done and request.reason == "clinic precaution window changed"

    assert client.post(url, {**form, "anterior_hip_precaution_days": "400"}).status_code == 200  # over a year


def test_a_qualifier_of_another_kind_lifts_no_row_of_the_procedure(db):
    """A clinic adds a Z98.890 row for an 'anterior approach', so the service accepts that qualifier on a spinal
    surgery; it still says nothing about which spinal procedure it was: every procedure's rows apply."""

    rows = [
        rules.ContraindicationFact(
            id=1, diagnosis_code="Z98.890", tag="lumbar_flexion", stretch_slug=None, phase="",
            qualifier="lumbar_fusion", from_day=0, until_day=84, severity="absolute", rationale="",
        ),
        rules.ContraindicationFact(
            id=2, diagnosis_code="Z98.890", tag="lumbar_flexion", stretch_slug=None, phase="",
            qualifier="anterior_approach", from_day=None, until_day=None, severity="relative", rationale="",
        ),
    ]  # fmt: skip
    onset = dt.date(2026, 11, 1)

    def findings(qualifier):
        diagnosis = rules.DiagnosisFact(
            id=1, code="Z98.890", name="After spinal surgery", phase="", qualifier=qualifier, onset=onset,
            resolved=None, clearance_by=frozenset({"physician"}),
        )  # fmt: skip
        clearance = ClearanceFact(
            id=1, professional_name="Dr Reyes", profession="physician", status="cleared",
            restricted_tags=frozenset(), valid_from=onset, valid_until=onset + dt.timedelta(days=365),
            recorded_at=dt.datetime(2026, 11, 1, tzinfo=dt.UTC), revoked_on=None,
        )  # fmt: skip
        facts = rules.Facts(clearances=(clearance,), diagnoses=(diagnosis,), mobility_level=5, contraindications=rows)
        item = rules.ItemFact(
            key=1,
            stretch=rules.StretchFact(slug="knees", name="Knees to chest", tags={"lumbar_flexion"}, min_mobility=1),
        )
        return {f.cause: f.message for f in rules.evaluate(facts, [item], onset + dt.timedelta(days=10))}

    odd = findings("anterior_approach")
    assert set(odd) == {"contraindication:1", "contraindication:2"}
    assert "procedure not recorded (anterior approach is not a procedure)" in odd["contraindication:1"]
    # A recorded procedure lifts the other procedures' rows, not the clinic's approach row (another kind).
    assert set(findings("lumbar_discectomy")) == {"contraindication:2"}
    assert set(findings("lumbar_fusion")) == {"contraindication:1", "contraindication:2"}
