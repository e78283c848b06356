"""The patient page as the desk's workspace (issue 15, item 3): the live program read-only for every staff role, and
the upcoming sessions and reminders at the patient's local time with the zone named."""

from __future__ import annotations

import datetime as dt
import re

import pytest
from django.utils import timezone

from patients.models import AccessLog
from prescriptions.models import GateOverride, Prescription, Reminder
from tests import factories

PATIENTS = "/admin/patients/patient/"


def text(response) -> str:
    """The page as a person reads it: tags dropped, whitespace collapsed."""
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", response.content.decode()))


@pytest.fixture
def program(patient, therapist):
    """An active plan (Mon, Wed, Fri at 07:30 and 18:00) with two stretches and an acknowledged caution, plus a draft
    and a cancelled plan that the page must not show."""
    patient.timezone = "America/Chicago"
    patient.save(update_fields=["timezone"])
    episode = factories.EpisodeFactory(patient=patient, primary_therapist=therapist)
    plan = factories.PrescriptionFactory(
        episode=episode,
        therapist=therapist,
        status=Prescription.Status.ACTIVE,
        days_of_week=[5, 1, 3],
        times=[dt.time(18, 0), dt.time(7, 30)],
    )
    tilt = factories.PrescriptionItemFactory(prescription=plan, hold_seconds=5, reps=10, sets=2)
    factories.PrescriptionItemFactory(
        prescription=plan,
        stretch=factories.StretchFactory(clinic=None, name="Knee to chest"),
        side="left",
        hold_seconds=None,
        reps=3,
    )
    factories.GateOverrideFactory(item=tilt, cause="contraindication:99", reason="Reviewed with the patient.")
    for status in (Prescription.Status.DRAFT, Prescription.Status.CANCELLED):
        other = factories.PrescriptionFactory(episode=episode, therapist=therapist, status=status)
        factories.PrescriptionItemFactory(
            prescription=other, stretch=factories.StretchFactory(clinic=None, name=f"Not live {status}")
        )
    return plan


@pytest.mark.parametrize("role", ["front_desk", "therapist", "clinic_admin"])
def test_every_staff_role_reads_the_live_program_on_the_patient_page(request, staff_client, patient, program, role):
    user = request.getfixturevalue(role)
    page = text(staff_client(user).get(f"{PATIENTS}{patient.pk}/change/"))

    assert "Active program" in page
    assert "Active plan by" in page
    assert "Mon, Wed, Fri at 07:30 and 18:00 (America/Chicago)" in page
    assert "Pelvic tilt hold 5 s × 10 reps, 2 sets" in page
    assert "Knee to chest 3 reps Left" in page
    assert "Acknowledgement of “caution” on Pelvic tilt: Reviewed with the patient." in page
    assert "Not live" not in page  # drafts and cancelled plans are not the program
    assert "contraindication:99" not in page  # no internal cause keys
    assert AccessLog.objects.filter(actor=user, patient=patient).exists()  # a patient read, logged as ever


def test_the_desk_still_has_no_plan_pages(staff_client, front_desk, patient, program):
    """The program is a read-only summary on the patient page; the plan pages stay VIEW_PLANS."""
    client = staff_client(front_desk)
    assert client.get(f"/admin/prescriptions/prescription/{program.pk}/change/").status_code == 403
    page = client.get(f"{PATIENTS}{patient.pk}/change/").content.decode()
    assert f"/admin/prescriptions/prescription/{program.pk}/" not in page


def test_an_override_names_its_kind_and_a_patient_without_a_live_plan_says_so(
    staff_client, front_desk, patient, program, therapist
):
    item = program.items.first()
    factories.GateOverrideFactory(item=item, kind=GateOverride.Kind.OVERRIDE, code="restricted_movement")
    client = staff_client(front_desk)
    assert "Override of “restricted movement” on Pelvic tilt" in text(client.get(f"{PATIENTS}{patient.pk}/change/"))

    newcomer = factories.PatientFactory(clinic=patient.clinic)
    page = text(client.get(f"{PATIENTS}{newcomer.pk}/change/"))
    assert "No active plan." in page
    assert "None scheduled" in page and "None to send" in page


def test_upcoming_sessions_and_reminders_are_in_the_patients_zone_and_name_it(
    staff_client, front_desk, patient, program
):
    day = timezone.now().astimezone(patient.zone).date() + dt.timedelta(days=3)
    session = factories.SessionFactory(prescription=program, local_date=day, local_time=dt.time(7, 30))
    factories.ReminderFactory(session=session, channel="sms")
    factories.ReminderFactory(
        session=session, status=Reminder.Status.SENT, sent_at=timezone.now(), purpose=Reminder.Purpose.MISSED_FOLLOW_UP
    )
    page = text(staff_client(front_desk).get(f"{PATIENTS}{patient.pk}/change/"))

    when = f"{day:%a} {day.day} {day:%b %Y}"
    assert f"{when} 07:30 — Scheduled" in page
    assert f"{when} 07:15 — Before the session by sms" in page
    assert "Missed-session follow-up" not in page  # sent already: not upcoming
    assert page.count("Times in America/Chicago.") == 2
