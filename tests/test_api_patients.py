"""Staff patient endpoints: scoping (other clinic → 404), roles (portal → 403), problems, query counts."""

from __future__ import annotations

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from patients.models import Patient
from tests import factories

NEW = {
    "mrn": "A-100",
    "first_name": "Rosa",
    "last_name": "Delgado",
    "date_of_birth": "1970-02-03",
    "timezone": "America/Chicago",
    "email": "rosa@example.test",
    "email_consent": True,
    "preferred_channel": "email",
}


@pytest.mark.parametrize("role", ["front_desk", "therapist", "clinic_admin"])
def test_staff_register_a_patient(request, as_user, clinic, role):
    response = as_user(request.getfixturevalue(role)).post("/api/v1/patients/", NEW)
    assert response.status_code == 201, response.json()
    body = response.json()
    assert body["mrn"] == "A-100" and body["email_consent_at"]
    assert Patient.objects.get(pk=body["id"]).clinic == clinic


def test_bad_input_is_a_problem_with_field_errors(as_user, front_desk):
    response = as_user(front_desk).post("/api/v1/patients/", {**NEW, "timezone": "Mars/Olympus", "mrn": ""})
    assert response.status_code == 400
    assert response["Content-Type"] == "application/problem+json"
    body = response.json()
    assert body["status"] == 400 and body["type"].endswith("/invalid")
    assert set(body["errors"]) == {"timezone", "mrn"}
    assert not Patient.objects.exists()


def test_duplicate_mrn_is_a_400_naming_the_conflict(as_user, front_desk, patient):
    response = as_user(front_desk).post("/api/v1/patients/", {**NEW, "mrn": patient.mrn})
    assert response.status_code == 400
    assert "MRN already exists" in str(response.json()["errors"])


def test_portal_users_and_anonymous_are_refused(as_user, portal_user, api):
    assert as_user(portal_user).get("/api/v1/patients/").status_code == 403
    api.force_authenticate(None)
    response = api.get("/api/v1/patients/")
    assert response.status_code == 401
    assert response.json()["title"] == "Not authenticated"


def test_other_clinics_patients_are_invisible(as_user, therapist, other_clinic):
    theirs = factories.PatientFactory(clinic=other_clinic)
    client = as_user(therapist)
    assert client.get(f"/api/v1/patients/{theirs.pk}/").status_code == 404
    assert client.patch(f"/api/v1/patients/{theirs.pk}/", {"first_name": "X"}).status_code == 404
    assert client.post(f"/api/v1/patients/{theirs.pk}/archive").status_code == 404
    assert client.get("/api/v1/patients/").json()["count"] == 0


def test_update_and_archive(as_user, front_desk, patient):
    client = as_user(front_desk)
    response = client.patch(f"/api/v1/patients/{patient.pk}/", {"timezone": "Europe/Paris"})
    assert response.status_code == 200 and response.json()["timezone"] == "Europe/Paris"
    assert client.post(f"/api/v1/patients/{patient.pk}/archive").status_code == 200
    again = client.post(f"/api/v1/patients/{patient.pk}/archive")
    assert again.status_code == 409 and again.json()["type"].endswith("/state-conflict")


def test_search_and_filter(as_user, front_desk, clinic):
    factories.PatientFactory(clinic=clinic, last_name="Okonkwo", mrn="Z-1")
    factories.PatientFactory(clinic=clinic, last_name="Smith", mrn="Z-2")
    client = as_user(front_desk)
    assert [p["mrn"] for p in client.get("/api/v1/patients/?search=okon").json()["results"]] == ["Z-1"]
    assert client.get("/api/v1/patients/?archived=true").json()["count"] == 0


def test_page_size_is_capped(as_user, front_desk):
    response = as_user(front_desk).get("/api/v1/patients/?page_size=1000")
    assert response.status_code == 200


@pytest.mark.parametrize("rows", [1, 12])
def test_list_runs_constant_queries(as_user, front_desk, clinic, rows):
    factories.PatientFactory.create_batch(rows, clinic=clinic)
    client = as_user(front_desk)
    with CaptureQueriesContext(connection) as queries:
        assert client.get("/api/v1/patients/").json()["count"] == rows
    # count + page + the access-log insert, whatever the number of rows (membership cached on the user)
    assert len(queries) == 3, [q["sql"] for q in queries]
