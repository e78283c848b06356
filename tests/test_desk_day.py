"""The desk's day on the admin index (issue 15, item 1): what staff of a clinic act on today, each line a link."""

from __future__ import annotations

import datetime as dt
import re

import pytest
from django.utils import timezone

from patients.models import AccessLog
from prescriptions.models import Reminder, SafetyFlag
from tests import factories

INDEX = "/admin/"


def today_session(patient, *, at=dt.time(9, 30), **fields):
    """A scheduled session on the patient's local today."""
    plan = factories.PrescriptionFactory(episode=factories.EpisodeFactory(patient=patient))
    return factories.SessionFactory(prescription=plan, local_date=patient.local_today(), local_time=at, **fields)


def section(html: str, name: str) -> str:
    match = re.search(rf'<section id="desk-{name}">(.*?)</section>', html, re.S)
    assert match, f"no {name} section"
    return match.group(1)


@pytest.fixture
def desk(staff_client, front_desk):
    return staff_client(front_desk)


def test_the_desk_sees_today_and_what_needs_doing(desk, clinic, therapist, mobility):
    maria = factories.PatientFactory(clinic=clinic, first_name="Maria", last_name="Lopez", timezone="America/New_York")
    today_session(maria, at=dt.time(7, 15))
    factories.MobilityAssessmentFactory(patient=maria, level=mobility(2))
    factories.ClearanceFactory(  # in force, ends in 3 days: expiring
        patient=maria, valid_from=maria.local_today() - dt.timedelta(days=30),
        valid_until=maria.local_today() + dt.timedelta(days=3),
    )  # fmt: skip
    james = factories.PatientFactory(clinic=clinic, first_name="James", last_name="Chen", timezone="Asia/Tokyo")
    warning = factories.SafetyFlagFactory(patient=james, severity=SafetyFlag.Severity.WARNING, summary="Pain rose")
    urgent = factories.SafetyFlagFactory(patient=james, severity=SafetyFlag.Severity.URGENT, summary="Red flag")
    factories.SafetyFlagFactory(patient=james, resolved=True, summary="Old and resolved")
    failed = factories.ReminderFactory(session=today_session(james), status=Reminder.Status.FAILED)

    html = desk.get(INDEX).content.decode()

    sessions = section(html, "sessions")
    assert "07:15" in sessions and "Lopez, Maria" in sessions and "America/New_York" in sessions
    flags = section(html, "flags")
    assert flags.index("Red flag") < flags.index("Pain rose")  # urgent first
    assert "Old and resolved" not in flags
    assert f"/admin/prescriptions/safetyflag/{urgent.pk}/change/" in flags
    assert f"/admin/prescriptions/safetyflag/{warning.pk}/change/" in flags
    clearances = section(html, "clearances")
    assert "Lopez, Maria" in clearances and "Ends" in clearances
    assert "Chen, James" in clearances and "none on file" in clearances
    assert f"/admin/patients/clearance/add/?patient={james.pk}" in clearances  # the desk records clearances
    mobility_section = section(html, "mobility")
    assert "Chen, James" in mobility_section and "Lopez, Maria" not in mobility_section
    reminders = section(html, "reminders")
    assert f"/admin/prescriptions/reminder/{failed.pk}/change/" in reminders and "Asia/Tokyo" in reminders


def test_another_clinics_patients_never_show(desk, other_clinic):
    other = factories.PatientFactory(clinic=other_clinic, last_name="Elsewhere")
    today_session(other)
    factories.SafetyFlagFactory(patient=other, severity=SafetyFlag.Severity.URGENT, summary="Not ours")

    html = desk.get(INDEX).content.decode()

    assert "Elsewhere" not in html and "Not ours" not in html
    assert "No sessions today." in html and "No open flags." in html


def test_archived_patients_and_other_days_are_left_out(desk, clinic):
    archived = factories.PatientFactory(clinic=clinic, last_name="Gone", archived_at=timezone.now())
    today_session(archived)
    tomorrow = factories.PatientFactory(clinic=clinic, last_name="Tomorrow")
    plan = factories.PrescriptionFactory(episode=factories.EpisodeFactory(patient=tomorrow))
    factories.SessionFactory(prescription=plan, local_date=tomorrow.local_today() + dt.timedelta(days=1))

    sessions = section(desk.get(INDEX).content.decode(), "sessions")

    assert "Gone" not in sessions and "Tomorrow" not in sessions


def test_showing_the_day_logs_each_patient_shown(desk, front_desk, clinic):
    shown = factories.PatientFactory(clinic=clinic)
    today_session(shown)
    before = AccessLog.objects.count()

    assert desk.get(INDEX).status_code == 200

    logged = AccessLog.objects.order_by("id")[before:]
    assert [(row.patient_id, row.actor_id, row.what) for row in logged] == [(shown.pk, front_desk.pk, "admin:desk-day")]


def test_a_clinic_admin_sees_no_link_their_role_cannot_use(staff_client, clinic_admin, clinic):
    factories.PatientFactory(clinic=clinic, last_name="Uncleared")
    html = staff_client(clinic_admin).get(INDEX).content.decode()
    clearances = section(html, "clearances")
    assert "Uncleared" in clearances
    assert "/admin/patients/clearance/add/" not in clearances  # only the desk and therapists record clearances


def test_a_superuser_without_a_clinic_sees_the_plain_index(client, django_user_model):
    client.force_login(django_user_model.objects.create_superuser("root-user", password="x"))
    html = client.get(INDEX).content.decode()
    assert 'id="desk-day"' not in html and "Site administration" not in html


def test_the_day_costs_the_same_queries_for_one_patient_or_many(desk, clinic, count_queries):
    def patient_with_everything(n):
        patient = factories.PatientFactory(clinic=clinic, last_name=f"P{n}")
        session = today_session(patient)
        factories.SafetyFlagFactory(patient=patient, severity=SafetyFlag.Severity.URGENT)
        factories.ReminderFactory(session=session, status=Reminder.Status.FAILED)

    patient_with_everything(0)
    one = count_queries(lambda: desk.get(INDEX))
    for n in range(1, 12):
        patient_with_everything(n)
    many = count_queries(lambda: desk.get(INDEX))

    assert many == one
