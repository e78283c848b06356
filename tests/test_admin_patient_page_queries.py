"""The patient page (the change page) costs the same queries with one clearance, session and flag as with many
(issue 15, done-when): the inlines load their related rows in batches."""

from __future__ import annotations

import datetime as dt

import pytest

from clinic.models import MovementTag
from prescriptions.models import Prescription
from tests import factories

PATIENTS = "/admin/patients/patient/"


def add_rows(patient, therapist, n: int) -> None:
    """One more of everything the patient page lists: a clearance with a restriction, an episode with its active plan
    (an item, an acknowledgement, a session and its reminder), a diagnosis, a mobility assessment, a portal login
    and a flag."""
    clearance = factories.ClearanceFactory(patient=patient, recorded_by=therapist)
    clearance.restricted_tags.set(MovementTag.objects.all()[:1])
    episode = factories.EpisodeFactory(patient=patient, primary_therapist=therapist, title=f"Episode {n}")
    plan = factories.PrescriptionFactory(episode=episode, therapist=therapist, status=Prescription.Status.ACTIVE)
    item = factories.PrescriptionItemFactory(prescription=plan)
    factories.GateOverrideFactory(item=item)
    session = factories.SessionFactory(prescription=plan, local_date=patient.local_today() + dt.timedelta(days=n))
    factories.ReminderFactory(session=session)
    factories.PatientDiagnosisFactory(patient=patient, recorded_by=therapist)
    factories.MobilityAssessmentFactory(patient=patient, assessed_by=therapist)
    factories.PortalAccessFactory(patient=patient, relationship="guardian")
    factories.SafetyFlagFactory(patient=patient)


@pytest.mark.parametrize("role", ["front_desk", "therapist"])
def test_the_patient_page_costs_the_same_queries_for_one_row_or_many(
    request, staff_client, patient, therapist, mobility, count_queries, role
):
    client = staff_client(request.getfixturevalue(role))
    url = f"{PATIENTS}{patient.pk}/change/"
    add_rows(patient, therapist, 1)
    assert client.get(url).status_code == 200  # warm caches (content types, permissions)
    one = count_queries(lambda: client.get(url))
    for n in range(2, 9):
        add_rows(patient, therapist, n)
    page = client.get(url)
    many = count_queries(lambda: client.get(url))

    assert one == many
    shown = {
        inline.opts.model._meta.model_name: len(inline.formset.forms)
        for inline in page.context["inline_admin_formsets"]
    }
    assert shown["clearance"] == shown["safetyflag"] == shown["episode"] == 8
    assert page.content.decode().count('class="live-program"') == 8
