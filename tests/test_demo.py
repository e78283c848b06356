"""The demo clinic `make run` loads: each story as told, and loading twice adds nothing."""

import pytest

from patients.models import Patient
from prescriptions.demo import PATIENTS, load_demo
from prescriptions.models import GateEvaluation, GateOverride, Prescription


@pytest.mark.django_db
def test_demo_loads_five_stories_and_is_idempotent():
    lines = load_demo()
    assert len(lines) == len(PATIENTS) == 5
    assert Patient.objects.count() == 5
    assert len({p.timezone for p in Patient.objects.all()}) == 5
    statuses = dict(Prescription.objects.values_list("patient__mrn", "status"))
    assert statuses == {
        "DEMO-001": "active",
        "DEMO-002": "active",
        "DEMO-003": "draft",
        "DEMO-004": "draft",
        "DEMO-005": "active",
    }
    refused = GateEvaluation.objects.filter(passed=False)
    codes = {f["code"] for e in refused for span in e.findings[:1] for f in span["findings"]}
    assert {"clearance_expired", "clearance_insufficient_authority"} <= codes
    assert set(GateOverride.objects.values_list("kind", flat=True)) == {"override", "acknowledgement"}

    counts = (Patient.objects.count(), Prescription.objects.count(), GateEvaluation.objects.count())
    again = load_demo()
    assert all("already loaded" in line for line in again)
    assert (Patient.objects.count(), Prescription.objects.count(), GateEvaluation.objects.count()) == counts
