"""Time zones come from the pinned tzdata package's list, not the host: region/city names and UTC only."""

from __future__ import annotations

from zoneinfo import ZoneInfo

import pytest
from django.core.exceptions import ValidationError

from clinic.models import ZONES, validate_timezone
from patients import services as patient_services
from patients.models import Patient
from tests.test_api_patients import NEW

REFUSED = ["localtime", "Factory", "posixrules", "EST5EDT", "CST6CDT", "MST7MDT", "PST8PDT", "EST", "MST", "HST"]


@pytest.mark.parametrize("zone", ["America/New_York", "Europe/Berlin", "Asia/Kolkata", "UTC", "Etc/UTC"])
def test_region_city_names_and_utc_are_accepted(zone):
    validate_timezone(zone)
    assert zone in ZONES and ZoneInfo(zone).key == zone  # listed, and the pinned tzdata resolves it


@pytest.mark.parametrize("zone", [*REFUSED, "Mars/Olympus", "", "Etc/GMT+5", "../etc/passwd", "/etc/localtime"])
def test_host_and_legacy_names_are_refused(zone):
    with pytest.raises(ValidationError):
        validate_timezone(zone)


def test_the_list_is_read_from_the_tzdata_package_not_the_host(monkeypatch):
    import zoneinfo

    monkeypatch.setattr(zoneinfo, "available_timezones", lambda: {"localtime", "EST5EDT"})
    monkeypatch.setattr(zoneinfo, "TZPATH", ())
    validate_timezone("America/Chicago")
    with pytest.raises(ValidationError):
        validate_timezone("localtime")
    assert len(ZONES) > 400 and not ZONES & set(REFUSED)


@pytest.mark.parametrize("zone", ["localtime", "Factory", "EST5EDT"])
def test_staff_cannot_give_a_patient_a_host_or_legacy_zone(as_user, front_desk, zone):
    response = as_user(front_desk).post("/api/v1/patients/", {**NEW, "timezone": zone})
    assert response.status_code == 400
    assert set(response.json()["errors"]) == {"timezone"}
    assert not Patient.objects.exists()


@pytest.mark.parametrize("zone", ["localtime", "Factory", "EST5EDT"])
def test_portal_preferences_refuse_a_host_or_legacy_zone(as_user, portal_user, patient, zone):
    response = as_user(portal_user).patch("/api/v1/portal/preferences", {"timezone": zone})
    assert response.status_code == 400
    assert set(response.json()["errors"]) == {"timezone"}
    patient.refresh_from_db()
    assert patient.timezone == "America/New_York"


def test_a_row_stored_with_a_legacy_zone_keeps_working(as_user, front_desk, patient):
    Patient.objects.filter(pk=patient.pk).update(timezone="EST5EDT")
    patient = Patient.objects.get(pk=patient.pk)
    assert patient.zone == ZoneInfo("EST5EDT") and patient.local_today()
    # Its other fields can still be changed; the zone itself only to a listed one.
    patient_services.patient_update(patient=patient, by=front_desk, phone="+15555550100")
    assert Patient.objects.get(pk=patient.pk).phone == "+15555550100"
    response = as_user(front_desk).patch(f"/api/v1/patients/{patient.pk}/", {"phone": "+15555550101"})
    assert response.status_code == 200, response.json()
    response = as_user(front_desk).patch(f"/api/v1/patients/{patient.pk}/", {"timezone": "PST8PDT"})
    assert response.status_code == 400
    assert Patient.objects.get(pk=patient.pk).timezone == "EST5EDT"


def test_a_stored_legacy_zone_can_be_sent_back_unchanged_through_the_api(as_user, therapist, patient, portal_user):
    Patient.objects.filter(pk=patient.pk).update(timezone="EST5EDT")
    staff = as_user(therapist).patch(f"/api/v1/patients/{patient.pk}/", {"timezone": "EST5EDT", "first_name": "Zed"})
    assert staff.status_code == 200, staff.json()
    portal = as_user(portal_user).get("/api/v1/portal/preferences").json()
    sent_back = as_user(portal_user).patch("/api/v1/portal/preferences", portal)
    assert sent_back.status_code == 200, sent_back.json()
    assert as_user(therapist).patch(f"/api/v1/patients/{patient.pk}/", {"timezone": "CST6CDT"}).status_code == 400
