"""The portal's "me" answer names each patient's clinic and its phone: the portal's stop message tells the patient
whom to call (issue 16, item 2)."""

from __future__ import annotations

from tests import factories


def test_me_names_each_patients_clinic_and_phone(as_user, clinic, patient, portal_user):
    clinic.phone = "+1 312 555 0142"
    clinic.save(update_fields=["phone"])

    response = as_user(portal_user).get("/api/v1/portal/me")

    assert response.status_code == 200
    (shown,) = response.json()["patients"]
    assert shown["clinic"] == {"name": clinic.name, "phone": "+1 312 555 0142"}


def test_a_guardian_sees_each_childs_own_clinic(as_user, patient, portal_user, other_clinic):
    elsewhere = factories.PatientFactory(clinic=other_clinic, last_name="Zed")
    factories.PortalAccessFactory(patient=elsewhere, user=portal_user)

    body = as_user(portal_user).get("/api/v1/portal/me").json()

    clinics = {row["id"]: row["clinic"] for row in body["patients"]}
    assert clinics == {
        patient.pk: {"name": patient.clinic.name, "phone": patient.clinic.phone},
        elsewhere.pk: {"name": other_clinic.name, "phone": other_clinic.phone},
    }


def test_me_reads_the_clinics_in_one_query_whatever_the_number_of_patients(as_user, portal_user, count_queries):
    client = as_user(portal_user)
    client.get("/api/v1/portal/me")  # warm: the first request of a process fills caches
    one = count_queries(lambda: client.get("/api/v1/portal/me"))
    for _ in range(3):
        child = factories.PatientFactory(clinic=factories.ClinicFactory())
        factories.PortalAccessFactory(patient=child, user=portal_user)

    assert count_queries(lambda: client.get("/api/v1/portal/me")) == one


def test_a_clinic_without_a_phone_is_a_blank_phone(as_user, clinic, portal_user):
    clinic.phone = ""
    clinic.save(update_fields=["phone"])

    (shown,) = as_user(portal_user).get("/api/v1/portal/me").json()["patients"]

    assert shown["clinic"]["phone"] == ""
