"""The demo clinic `make run` loads: each story as told, and loading twice adds nothing."""

import pytest

from patients.models import Patient
from prescriptions.demo import PATIENTS, load_demo
from prescriptions.models import GateEvaluation, GateOverride, Prescription


@pytest.mark.django_db
def test_demo_loads_six_stories_and_is_idempotent():
    lines = load_demo()
    assert len(lines) == len(PATIENTS) == 6
    assert Patient.objects.count() == 6
    assert len({p.timezone for p in Patient.objects.all()}) == 6
    statuses = dict(Prescription.objects.values_list("patient__mrn", "status"))
    assert statuses == {
        "DEMO-001": "active",
        "DEMO-002": "active",
        "DEMO-003": "draft",
        "DEMO-004": "draft",
        "DEMO-005": "active",
        "DEMO-006": "draft",
    }
    refused = GateEvaluation.objects.filter(passed=False)
    codes = {f["code"] for e in refused for span in e.findings[:1] for f in span["findings"]}
    assert {"clearance_expired", "clearance_insufficient_authority", "contraindicated"} <= codes
    assert set(GateOverride.objects.values_list("kind", flat=True)) == {"override", "acknowledgement"}

    counts = (Patient.objects.count(), Prescription.objects.count(), GateEvaluation.objects.count())
    again = load_demo()
    assert all("already loaded" in line for line in again)
    assert (Patient.objects.count(), Prescription.objects.count(), GateEvaluation.objects.count()) == counts


@pytest.mark.django_db
def test_the_neck_fusion_draft_is_refused_by_the_cervical_fusion_precautions():
    lines = load_demo()
    assert any("refused: contraindicated" in line for line in lines if line.startswith("Daniel Weber"))
    plan = Prescription.objects.get(patient__mrn="DEMO-006")
    [evaluation] = GateEvaluation.objects.filter(prescription=plan)
    [finding] = evaluation.findings[0]["findings"]
    assert (finding["code"], finding["stretch"]) == ("contraindicated", "cervical-rotation-stretch")
    assert "Z98.890" in finding["message"] and "cervical fusion; days 0 to 42 after onset" in finding["message"]
    assert not GateOverride.objects.filter(prescription=plan).exists()
