"""Recording a clearance from the patient's page (issue 15, item 3): a short form for this patient, restricted
movements as labelled checkboxes, then back to the patient."""

from __future__ import annotations

import datetime as dt
from html import escape

import pytest
from django.utils import timezone

from clinic.models import MovementTag
from patients.models import AccessLog, Clearance
from tests import factories

ADD = "/admin/patients/clearance/add/"


def letter(**overrides) -> dict[str, str]:
    today = timezone.localdate()
    return {
        "professional_name": "Dr. Lee",
        "profession": "physician",
        "status": "restricted",
        "valid_from": today.isoformat(),
        "valid_until": (today + dt.timedelta(days=90)).isoformat(),
        **overrides,
    }


def test_the_patient_page_offers_record_clearance_to_the_desk(staff_client, front_desk, clinic_admin, patient):
    page = staff_client(front_desk).get(f"/admin/patients/patient/{patient.pk}/change/")
    assert f'href="{ADD}?patient={patient.pk}"'.encode() in page.content


def test_a_clinic_admin_gets_no_button_their_role_would_be_refused(staff_client, clinic_admin, patient):
    client = staff_client(clinic_admin)
    page = client.get(f"/admin/patients/patient/{patient.pk}/change/")
    assert page.status_code == 200
    assert f"{ADD}?patient=".encode() not in page.content
    assert client.get(f"{ADD}?patient={patient.pk}").status_code == 403


def test_the_desk_records_a_restricted_clearance_for_this_patient_and_returns_to_them(
    staff_client, front_desk, patient
):
    client = staff_client(front_desk)
    flexion = MovementTag.objects.get(slug="lumbar_flexion")
    rotation = MovementTag.objects.get(slug="spinal_rotation")

    page = client.get(f"{ADD}?patient={patient.pk}")
    html = page.content.decode()
    assert f"Record a clearance for {patient.full_name}" in html
    assert (
        'type="checkbox"' in html and escape(f"{flexion.name} — {flexion.description}") in html
    )  # labelled, no ctrl-click
    assert 'type="hidden" name="patient"' in html
    assert AccessLog.objects.filter(patient=patient, what="admin:clearance-record").count() == 1

    response = client.post(
        f"{ADD}?patient={patient.pk}",
        {"patient": patient.pk, **letter(), "restricted_movements": [flexion.pk, rotation.pk]},
    )

    assert response.status_code == 302
    assert response["Location"] == f"/admin/patients/patient/{patient.pk}/change/"
    clearance = Clearance.objects.get(patient=patient)
    assert set(clearance.restricted_tags.all()) == {flexion, rotation} and clearance.recorded_by == front_desk
    patient_page = client.get(response["Location"]).content.decode()
    assert "Clearance recorded for" in patient_page
    assert f"{flexion.name}, {rotation.name}" in patient_page or f"{rotation.name}, {flexion.name}" in patient_page


def test_a_refusal_stays_on_the_form_for_the_same_patient(staff_client, front_desk, patient):
    client = staff_client(front_desk)
    response = client.post(
        f"{ADD}?patient={patient.pk}", {"patient": patient.pk, **letter(status="restricted", valid_until="1899-01-01")}
    )
    assert response.status_code == 200
    assert response.context["adminform"].form.errors
    assert not Clearance.objects.filter(patient=patient).exists()


@pytest.mark.parametrize("value", ["other-clinic", "archived", "999999999", "abc"])
def test_another_clinics_archived_or_unknown_patient_is_not_found(
    staff_client, front_desk, clinic, other_clinic, value
):
    named = {
        "other-clinic": lambda: factories.PatientFactory(clinic=other_clinic, last_name="Elsewhere").pk,
        "archived": lambda: factories.PatientFactory(clinic=clinic, archived_at=timezone.now()).pk,
    }.get(value, lambda: value)()
    response = staff_client(front_desk).get(f"{ADD}?patient={named}")
    assert response.status_code == 404
    assert b"Elsewhere" not in response.content
