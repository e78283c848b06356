"""Holes a review of the front-desk work found (issue 15): another clinic's patient named by the clearance form's
raw-id label, patients named in JSON by the admin's autocomplete, flagged patients listed by name in the flags
filter, archived patients' flags on the desk's day, and a role changed without its group."""

from __future__ import annotations

import datetime as dt

import pytest
from django.contrib.auth.models import Group
from django.core.exceptions import PermissionDenied, ValidationError
from django.utils import timezone

from clinic import services as clinic_services
from clinic.models import StaffMembership
from prescriptions.models import SafetyFlag
from tests import factories

Role = StaffMembership.Role


def test_the_clearance_form_never_names_the_patient_an_id_points_to(staff_client, front_desk, clinic, other_clinic):
    elsewhere = factories.PatientFactory(clinic=other_clinic, first_name="Zed", last_name="Elsewhere", mrn="HS-77")
    ours = factories.PatientFactory(clinic=clinic, first_name="Ona", last_name="Ours", mrn="RS-77")
    today = timezone.localdate()
    letter = {
        "professional_name": "Dr. Lee", "profession": "physician", "status": "cleared",
        "valid_from": today.isoformat(), "valid_until": (today + dt.timedelta(days=30)).isoformat(),
    }  # fmt: skip
    client = staff_client(front_desk)
    for patient in (elsewhere, ours):
        response = client.post("/admin/patients/clearance/add/", {"patient": patient.pk, **letter, "notes": "x" * 3})
        html = response.content.decode()
        assert patient.last_name not in html and patient.mrn not in html


def test_the_admins_autocomplete_is_refused(staff_client, front_desk, clinic):
    factories.PatientFactory(clinic=clinic, last_name="Searchable")
    response = staff_client(front_desk).get(
        "/admin/autocomplete/",
        {"app_label": "patients", "model_name": "clearance", "field_name": "patient", "term": "S"},
    )
    assert response.status_code == 403 and b"Searchable" not in response.content


def test_the_flags_list_filters_by_patient_id_and_lists_no_flagged_names(staff_client, front_desk, clinic):
    shown = factories.PatientFactory(clinic=clinic, last_name="Shown")
    hidden = factories.PatientFactory(clinic=clinic, last_name="Hidden", mrn="RS-HIDDEN")
    factories.SafetyFlagFactory(patient=shown, summary="Shown's flag")
    factories.SafetyFlagFactory(patient=hidden, summary="Hidden's flag")

    html = staff_client(front_desk).get("/admin/prescriptions/safetyflag/", {"patient": shown.pk}).content.decode()

    assert "Shown&#x27;s flag" in html and "Hidden&#x27;s flag" not in html
    assert "Hidden" not in html and "RS-HIDDEN" not in html  # no sidebar of every flagged patient's name


def test_the_open_flags_link_of_the_patient_list_opens_that_patients_flags(staff_client, front_desk, clinic):
    patient = factories.PatientFactory(clinic=clinic)
    factories.SafetyFlagFactory(patient=patient, severity=SafetyFlag.Severity.URGENT)
    client = staff_client(front_desk)
    html = client.get("/admin/patients/patient/").content.decode()
    link = html.split('class="field-open_flags"><a href="')[1].split('"')[0].replace("&amp;", "&")
    assert client.get(link).status_code == 200


def test_the_desk_leaves_out_archived_patients_flags(staff_client, front_desk, clinic):
    archived = factories.PatientFactory(clinic=clinic, archived_at=timezone.now())
    factories.SafetyFlagFactory(patient=archived, severity=SafetyFlag.Severity.URGENT, summary="Archived's flag")
    html = staff_client(front_desk).get("/admin/").content.decode()
    assert "Archived&#x27;s flag" not in html and "No open flags." in html


@pytest.mark.django_db
def test_a_role_change_moves_the_group_with_it(clinic, clinic_admin):
    member = factories.MembershipFactory(clinic=clinic, role=Role.CLINIC_ADMIN).user
    member.groups.add(Group.objects.get(name=Role.CLINIC_ADMIN))

    clinic_services.staff_role_change(membership=member.membership, by=clinic_admin, role=Role.FRONT_DESK)

    member.refresh_from_db()
    assert member.membership.role == Role.FRONT_DESK
    assert list(member.groups.values_list("name", flat=True)) == [Role.FRONT_DESK]


@pytest.mark.django_db
def test_nobody_changes_their_own_role_and_only_a_clinic_admin_changes_roles(clinic, clinic_admin, front_desk):
    with pytest.raises(ValidationError) as refused:
        clinic_services.staff_role_change(membership=clinic_admin.membership, by=clinic_admin, role=Role.THERAPIST)
    assert set(refused.value.message_dict) == {"role"}
    with pytest.raises(PermissionDenied):
        clinic_services.staff_role_change(membership=front_desk.membership, by=front_desk, role=Role.CLINIC_ADMIN)
    front_desk.membership.refresh_from_db()
    assert front_desk.membership.role == Role.FRONT_DESK


def test_the_membership_page_changes_the_role_through_the_service(staff_client, clinic_admin, front_desk):
    front_desk.groups.add(Group.objects.get(name=Role.FRONT_DESK))
    client = staff_client(clinic_admin)
    url = f"/admin/clinic/staffmembership/{front_desk.membership.pk}/change/"
    assert b'name="user"' not in client.get(url).content  # the login and clinic are not editable

    response = client.post(url, {"role": Role.THERAPIST, "profession": "physical_therapist"})

    assert response.status_code == 302
    front_desk.refresh_from_db()
    assert front_desk.membership.role == Role.THERAPIST
    assert list(front_desk.groups.values_list("name", flat=True)) == [Role.THERAPIST]
