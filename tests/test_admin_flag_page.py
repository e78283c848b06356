"""The flag page in a person's words (issue 15, item 4): readable lines, no cause key or raw JSON, no link to a
page the role may not open."""

from __future__ import annotations

import re

from prescriptions.models import SafetyFlag
from prescriptions.selectors.flags import flag_readout
from tests import factories


def test_a_pain_flag_reads_as_lines(staff_client, front_desk, patient):
    plan = factories.PrescriptionFactory(episode=factories.EpisodeFactory(patient=patient))
    held = factories.SessionFactory(prescription=plan)
    flag = factories.SafetyFlagFactory(
        patient=patient,
        prescription=plan,
        kind=SafetyFlag.Kind.PAIN_ESCALATION,
        severity=SafetyFlag.Severity.URGENT,
        cause_key="log:1",
        summary="Pain 8/10 after the session.",
        details={
            "log": 1, "session": held.pk, "local_date": "2026-12-01", "pain_before": 3, "pain_after": 8,
            "hurt_items": [5], "signals": [{"code": "pain_high", "message": "Pain reached 8/10.", "evidence": [8]}],
        },
        acknowledged_by=front_desk,
    )  # fmt: skip
    flag.sessions.add(held)

    html = staff_client(front_desk).get(f"/admin/prescriptions/safetyflag/{flag.pk}/change/").content.decode()

    assert "Pain before: 3/10, after: 8/10 (session of 2026-12-01)." in html
    assert "The patient said 1 stretch hurt." in html and "Pain reached 8/10." in html
    assert patient.timezone in html  # times in the patient's zone, named
    assert "log:1" not in html and "Cause key" not in html and '"signals"' not in html
    assert not re.search(r'href="/admin/(auth/user|prescriptions/prescription)/', html)  # pages the desk cannot open


def test_the_readout_of_a_conflict_and_of_an_expiring_clearance():
    conflict = {
        "prescription": 5, "from": "2026-12-01", "until": "2026-12-20", "sessions": [1, 2],
        "findings": [{"message": "Lumbar flexion is restricted by the clearance."}],
    }  # fmt: skip
    assert flag_readout(conflict) == [
        "Affects sessions from 2026-12-01 through 2026-12-20.",
        "Lumbar flexion is restricted by the clearance.",
    ]
    assert flag_readout({"clearance": 3, "valid_until": "2026-12-05", "days_left": 5}) == [
        "The clearance ends on 2026-12-05 (5 days left)."
    ]
    assert flag_readout({"unknown": {"raw": 1}}) == []
