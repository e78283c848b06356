"""The admin prints times in the clinic's zone and names it (issue 15, item 4); the API stays in UTC."""

from __future__ import annotations

import datetime as dt

from django.utils import timezone

from patients.models import Patient

PATIENTS = "/admin/patients/patient/"


def test_admin_times_are_the_clinics_and_the_header_names_the_zone(staff_client, front_desk, clinic, patient):
    clinic.timezone = "America/Chicago"
    clinic.save(update_fields=["timezone"])
    at = dt.datetime(2026, 7, 1, 15, 30, tzinfo=dt.UTC)  # 10:30 in Chicago (CDT)
    Patient.objects.filter(pk=patient.pk).update(created_at=at, email_consent=True, email_consent_at=at)

    page = staff_client(front_desk).get(f"{PATIENTS}{patient.pk}/change/").content.decode()

    assert "Times in America/Chicago." in page
    assert "July 1, 2026, 10:30 a.m." in page
    assert "Given July 1, 2026, 10:30 a.m." in page  # the consent, in the clinic's words and time
    assert "Not recorded" in page  # text consent: never given nor withdrawn
    assert "3:30 p.m." not in page
    assert timezone.get_current_timezone_name() == "UTC"  # the request's zone did not leak


def test_the_api_still_answers_in_utc(as_user, front_desk, clinic, patient):
    clinic.timezone = "America/Chicago"
    clinic.save(update_fields=["timezone"])
    Patient.objects.filter(pk=patient.pk).update(created_at=dt.datetime(2026, 7, 1, 15, 30, tzinfo=dt.UTC))
    body = as_user(front_desk).get(f"/api/v1/patients/{patient.pk}/").json()
    assert body["created_at"].startswith("2026-07-01T15:30:00") and body["created_at"].endswith("Z")


def test_a_superuser_sees_server_time_named(client, django_user_model, patient):
    root = django_user_model.objects.create_superuser("root-time", password="x-very-long-pass-91")
    client.force_login(root)
    assert "Times in UTC." in client.get(f"{PATIENTS}{patient.pk}/change/").content.decode()
