"""The admin as a front desk runs it, in a real browser at 1366×768 (issue 15, items 2 and 7): the front desk, the
clinic admin and another clinic's desk log in through the login form, do the desk's tasks and see what a person
sees. Each main page is saved as a screenshot (the folder is printed at the end of the run)."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import pytest
from django.db import connection
from django.utils import timezone
from playwright.sync_api import expect

from clinic.models import StaffMembership, Stretch
from patients.models import Clearance, Patient, PortalAccess
from prescriptions.models import Prescription, SafetyFlag
from tests import factories
from tests.browser import pages

pytestmark = pytest.mark.browser
pages.chromium_or_skip()

Role = StaffMembership.Role
PATIENTS = "/admin/patients/patient/"
FLAGS = "/admin/prescriptions/safetyflag/"


@dataclass
class Clinics:
    desk: object
    clinic_admin: object
    other_desk: object
    mara: Patient
    james: Patient
    archived: Patient
    elsewhere: Patient
    urgent: SafetyFlag


def _staff(clinic, role, first, last):
    user = factories.MembershipFactory(
        clinic=clinic, role=role, user__first_name=first, user__last_name=last, user__username=f"{first}.{last}".lower()
    ).user
    return pages.with_role_group(user)


def _next_session(patient, days: int) -> None:
    therapist = patient.primary_therapist
    plan = factories.PrescriptionFactory(
        episode__patient=patient,
        episode__primary_therapist=therapist,
        therapist=therapist,
        status=Prescription.Status.ACTIVE,
    )
    factories.PrescriptionItemFactory(prescription=plan)  # pelvic tilt
    factories.PrescriptionItemFactory(
        prescription=plan, stretch=Stretch.objects.get(clinic=None, slug="cat-cow"), hold_seconds=None, reps=8
    )
    factories.SessionFactory(prescription=plan, local_date=patient.local_today() + dt.timedelta(days=days))


@pytest.fixture
def clinics(catalog) -> Clinics:
    """A clinic's day, with long names and zones (the widest a row gets), and a second clinic with its own desk."""
    clinic = factories.ClinicFactory(name="Riverside Physio")
    therapist = _staff(clinic, Role.THERAPIST, "Adaeze", "Reyes-Oyelaran")
    today = timezone.localdate()

    mara = factories.PatientFactory(
        clinic=clinic, first_name="Mara", last_name="Okafor", mrn="RS-100231", primary_therapist=therapist
    )
    factories.ClearanceFactory(patient=mara, recorded_by=therapist)
    factories.PatientDiagnosisFactory(patient=mara, recorded_by=therapist)
    factories.MobilityAssessmentFactory(patient=mara, assessed_by=therapist)
    factories.PortalAccessFactory(patient=mara, user__username="mara.okafor")
    _next_session(mara, 1)  # a plan, its episode and a session: a patient page with every inline filled
    urgent = factories.SafetyFlagFactory(
        patient=mara,
        severity=SafetyFlag.Severity.URGENT,
        kind=SafetyFlag.Kind.RED_FLAG_SYMPTOM,
        summary="Numbness reported after the session log.",
    )

    james = factories.PatientFactory(
        clinic=clinic,
        first_name="Maximilian-Alexander",
        last_name="Castellanos-Whitaker",
        mrn="RS-100232",
        timezone="America/Argentina/Buenos_Aires",
        primary_therapist=therapist,
    )
    factories.ClearanceFactory(
        patient=james,
        recorded_by=therapist,
        status=Clearance.Status.RESTRICTED,
        valid_until=today + dt.timedelta(days=3),
    )  # restricted, and expiring: the badge with its lesser state beside it
    factories.SafetyFlagFactory(patient=james)
    factories.SafetyFlagFactory(patient=james, status=SafetyFlag.Status.ACKNOWLEDGED)
    _next_session(james, 2)

    aisha = factories.PatientFactory(clinic=clinic, first_name="Aisha", last_name="Patel", timezone="Europe/London")
    factories.ClearanceFactory(patient=aisha, recorded_by=therapist, valid_until=today - dt.timedelta(days=7))
    archived = factories.PatientFactory(
        clinic=clinic, first_name="Tom", last_name="Walker", timezone="Australia/Sydney", archived_at=timezone.now()
    )

    other = factories.ClinicFactory(name="Hillside Physio")
    elsewhere = factories.PatientFactory(clinic=other, first_name="Zed", last_name="Elsewhere", mrn="HS-1")
    # Planner statistics, as a production database has them from autovacuum (off on this machine): without them the
    # change trail's one query (a UNION over every event table, filtered through JSON keys) takes ~30 s here.
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE")
    return Clinics(
        desk=_staff(clinic, Role.FRONT_DESK, "Frida", "Desk"),
        clinic_admin=_staff(clinic, Role.CLINIC_ADMIN, "Carla", "Admin"),
        other_desk=_staff(other, Role.FRONT_DESK, "Otto", "Hillside"),
        mara=mara,
        james=james,
        archived=archived,
        elsewhere=elsewhere,
        urgent=urgent,
    )


def test_the_patient_list_fits_the_desks_screen(page, clinics, shots):
    pages.log_in(page, clinics.desk)
    page.goto(PATIENTS)
    shots.take(page, "front-desk-patient-list")

    table = page.locator("#result_list")
    headers = [text.strip() for text in table.locator("thead th").all_text_contents()][1:]  # after the checkbox
    assert headers == ["MRN", "Patient", "Clearance today", "Primary therapist", "Open flags", "Next session"]
    edges = pages.column_right_edges(page)
    assert edges["clearance_badge"] <= pages.WIDTH
    assert edges["open_flags"] <= pages.WIDTH
    assert max(edges.values()) <= min(edges["shown"], pages.WIDTH), edges  # every column, none clipped
    assert not pages.scrolls_sideways(page)

    james = table.locator("tr", has_text="Castellanos-Whitaker, Maximilian-Alexander")
    expect(james).to_contain_text("Restricted")
    expect(james).to_contain_text("expiring")
    expect(james).to_contain_text("Adaeze Reyes-Oyelaran")  # the therapist by name, not "adaeze.reyes-oyelaran"
    expect(james).to_contain_text("America/Argentina/Buenos_Aires")
    expect(james.locator("td.field-open_flags")).to_have_text("2")
    expect(table.locator("tr", has_text="Patel, Aisha")).to_contain_text("Expired")
    expect(table.locator("tr", has_text="Walker, Tom").locator(".patient-archived")).to_have_text("archived")
    expect(table.locator(".patient-archived")).to_have_count(1)
    expect(table).not_to_contain_text("Elsewhere")  # another clinic's patient

    page.get_by_role("textbox", name="Search").fill("RS-100231")  # the MRN
    page.keyboard.press("Enter")
    expect(table.locator("tbody tr")).to_have_count(1)
    expect(table).to_contain_text("Okafor, Mara")


def test_the_desk_reads_the_active_program_on_the_patient_page(page, clinics, shots):
    """What the patient was told to do, for the phone call (issue 15, item 3): read-only, times with their zone."""
    pages.log_in(page, clinics.desk)
    page.goto(PATIENTS)
    page.get_by_role("link", name="Okafor, Mara").click()
    program = page.locator(".live-program")
    expect(program).to_contain_text("Pelvic tilt")
    expect(program).to_contain_text("Cat")
    expect(program).to_contain_text(clinics.mara.timezone)
    expect(page.locator(".field-upcoming_sessions")).to_contain_text(f"Times in {clinics.mara.timezone}.")
    expect(page.locator("#header")).to_contain_text("Times in")  # the admin's own times: the clinic's zone
    shots.take(page, "front-desk-patient-program")
    box = program.bounding_box()
    assert box is not None and box["x"] + box["width"] <= pages.WIDTH
    assert not pages.scrolls_sideways(page)


def test_the_front_desk_registers_a_patient(page, clinics, shots):
    pages.log_in(page, clinics.desk)
    page.goto(PATIENTS)
    page.get_by_role("link", name="Add patient").click()
    page.get_by_label("MRN").fill("RS-200001")
    page.get_by_label("First name").fill("Ana")
    page.get_by_label("Last name").fill("Silva")
    page.get_by_label("Date of birth").fill("1990-04-02")
    page.get_by_label("Time zone").fill("America/Sao_Paulo")
    page.get_by_label("Primary therapist").select_option(label="Adaeze Reyes-Oyelaran")
    page.get_by_label("Email:", exact=True).fill("ana@example.test")
    page.get_by_label("Reminders by email").check()
    page.get_by_label("Preferred reminder channel").select_option(label="Email")
    shots.take(page, "front-desk-patient-add")
    page.get_by_role("button", name="Save", exact=True).click()

    expect(page.locator(".messagelist")).to_contain_text("was added successfully")
    expect(page.locator(".errornote")).to_have_count(0)
    shots.take(page, "front-desk-patient-added")
    patient = Patient.objects.get(mrn="RS-200001")
    assert patient.clinic_id == clinics.mara.clinic_id
    assert patient.primary_therapist_id == clinics.mara.primary_therapist_id
    assert patient.email_consent and patient.email_consent_at is not None
    page.goto(PATIENTS)
    expect(page.locator("#result_list tr", has_text="Silva, Ana")).to_contain_text("Adaeze Reyes-Oyelaran")


def test_the_front_desk_acknowledges_an_urgent_flag_from_the_flag_list(page, clinics, shots):
    pages.log_in(page, clinics.desk)
    page.goto(PATIENTS)
    page.locator("#result_list tr", has_text="Okafor, Mara").locator("td.field-open_flags a").click()
    row = page.locator("#result_list tbody tr", has_text="Numbness reported")
    expect(page.locator("#result_list tbody tr")).to_have_count(1)  # Mara's open flags only
    expect(row).to_contain_text("Urgent")
    shots.take(page, "front-desk-flags")
    edges = pages.column_right_edges(page)
    assert max(edges.values()) <= min(edges["shown"], pages.WIDTH), edges  # every column shown, none clipped
    assert not pages.scrolls_sideways(page)

    row.locator("input.action-select").check()
    page.locator("select[name=action]").select_option(label="Acknowledge selected flags")
    page.locator("button[name=index]").click()

    expect(page.locator(".messagelist")).to_contain_text("Acknowledged: 1.")
    expect(page.locator(".messagelist .error")).to_have_count(0)
    shots.take(page, "front-desk-flag-acknowledged")
    clinics.urgent.refresh_from_db()
    assert clinics.urgent.status == SafetyFlag.Status.ACKNOWLEDGED
    assert clinics.urgent.acknowledged_by_id == clinics.desk.pk


@pytest.mark.parametrize("role", ["desk", "clinic_admin"])
def test_no_visible_link_leads_to_a_refusal_or_an_error(page, clinics, shots, role):
    """Every link a person sees on the index, the patient list, a patient's page and the read-only detail pages of a
    clearance and a flag opens (no 403, 404 or 500): people are named as text, not linked to the user admin."""
    pages.log_in(page, getattr(clinics, role))
    clearance = Clearance.objects.filter(patient=clinics.mara).get()
    refused = {}
    for name, url in [
        ("index", "/admin/"),
        ("patient-list", PATIENTS),
        ("patient", f"{PATIENTS}{clinics.mara.pk}/change/"),
        ("clearance", f"/admin/patients/clearance/{clearance.pk}/change/"),
        ("flag", f"{FLAGS}{clinics.urgent.pk}/change/"),
    ]:
        page.goto(url)
        expect(page.locator("#content")).to_be_visible()
        shots.take(page, f"{role}-{name}")
        links = pages.visible_links(page)
        assert links, f"no links on {url}"
        refused.update(pages.refused_links(page, links))

    assert refused == {}


def test_another_clinics_desk_cannot_reach_the_patient(page, clinics, shots):
    pages.log_in(page, clinics.other_desk)
    page.goto(PATIENTS)
    table = page.locator("#result_list")
    expect(table).to_contain_text("Elsewhere, Zed")
    expect(table).not_to_contain_text("Okafor")
    page.get_by_role("textbox", name="Search").fill("Okafor")
    page.keyboard.press("Enter")
    expect(page.locator("#changelist")).to_contain_text("0 results")
    shots.take(page, "other-desk-patient-list")

    response = page.goto(f"{PATIENTS}{clinics.mara.pk}/change/")  # typed in: as if the patient did not exist
    assert response is not None and response.ok
    expect(page.locator(".messagelist")).to_contain_text("doesn’t exist")
    expect(page.locator("body")).not_to_contain_text("Okafor")
    shots.take(page, "other-desk-patient-not-found")
    portal = page.request.get(f"{PATIENTS}{clinics.mara.pk}/portal-login/")
    assert portal.status == 404
    assert "Okafor" not in portal.text()


def test_the_clinic_admin_sees_the_patient_list(page, clinics, shots):
    pages.log_in(page, clinics.clinic_admin)
    page.goto(PATIENTS)
    shots.take(page, "clinic-admin-patient-list")
    table = page.locator("#result_list")
    expect(table).to_contain_text("Okafor, Mara")
    expect(table).to_contain_text("Castellanos-Whitaker, Maximilian-Alexander")
    expect(table).not_to_contain_text("Elsewhere")
    assert not pages.scrolls_sideways(page)


def test_the_front_desk_records_a_restricted_clearance_from_the_patient_page(page, clinics, shots):
    """Patient list → patient → "Record clearance" → the short form → back on the patient: four clicks and a form."""
    pages.log_in(page, clinics.desk)
    page.goto(PATIENTS)
    page.get_by_role("link", name="Patel, Aisha").click()
    page.get_by_role("link", name="Record clearance").click()
    expect(page.locator("h1, h2").first).to_contain_text("Record a clearance for Aisha Patel")
    page.get_by_label("Cleared by").fill("Dr. Ama Mensah")
    page.get_by_label("Their profession:", exact=True).select_option(label="Physician")
    page.get_by_label("Status:", exact=True).select_option(value="restricted")
    today = timezone.localdate()
    page.get_by_label("Valid from").fill(today.isoformat())
    page.get_by_label("Valid until").fill((today + dt.timedelta(days=60)).isoformat())
    page.get_by_label("Lumbar flexion", exact=False).check()  # a labelled checkbox, not a ctrl-click list
    shots.take(page, "front-desk-record-clearance")
    page.get_by_role("button", name="Save", exact=True).click()

    expect(page.locator(".messagelist")).to_contain_text("Clearance recorded for Aisha Patel.")
    expect(page).to_have_url(f"{page.url.split('/admin/')[0]}/admin/patients/patient/{_pk(page)}/change/")
    expect(page.locator("body")).to_contain_text("Lumbar flexion")  # the patient page lists the restriction
    shots.take(page, "front-desk-clearance-recorded")
    clearance = Clearance.objects.filter(patient__last_name="Patel").latest("recorded_at")
    assert clearance.status == Clearance.Status.RESTRICTED and clearance.recorded_by_id == clinics.desk.pk
    assert list(clearance.restricted_tags.values_list("slug", flat=True)) == ["lumbar_flexion"]


def test_the_desk_finds_todays_sessions_and_urgent_flags_on_the_index(page, clinics, shots):
    plan = factories.PrescriptionFactory(
        episode__patient=clinics.mara, status=Prescription.Status.ACTIVE, therapist=clinics.mara.primary_therapist
    )
    factories.SessionFactory(prescription=plan, local_date=clinics.mara.local_today(), local_time=dt.time(7, 45))
    pages.log_in(page, clinics.desk)
    shots.take(page, "front-desk-index")

    sessions = page.locator("#desk-sessions")
    expect(sessions).to_contain_text("07:45")
    expect(sessions).to_contain_text("Okafor, Mara")
    flags = page.locator("#desk-flags tbody tr")
    expect(flags.first).to_contain_text("Urgent")  # urgent first
    expect(page.locator("#desk-day")).not_to_contain_text("Elsewhere")  # another clinic's patient
    box = page.locator("#desk-sessions").bounding_box()
    assert box is not None and box["x"] + box["width"] <= pages.WIDTH


def _pk(page) -> str:
    return page.url.rstrip("/").split("/")[-2]


def test_the_front_desk_creates_resets_and_revokes_a_portal_login(page, clinics, shots):
    """Patient page → "Create portal login" → the form → back; "Reset password" (shown once); "Revoke access"."""
    pages.log_in(page, clinics.desk)
    page.goto(PATIENTS)
    page.get_by_role("link", name="Castellanos-Whitaker, Maximilian-Alexander").click()
    page.get_by_role("link", name="Create portal login").click()
    form = page.locator("#portal_login_form")
    form.get_by_label("Username").fill("max.cw")
    form.get_by_label("Relationship").select_option(label="Self")
    form.get_by_label("Password:", exact=True).fill("a-Long-portal-passphrase-42")
    form.get_by_label("Password (again)").fill("a-Long-portal-passphrase-42")
    shots.take(page, "front-desk-portal-login")
    page.get_by_role("button", name="Create portal login").click()
    expect(page.locator(".errornote")).to_have_count(0)
    expect(page.locator("body")).to_contain_text("max.cw")

    page.get_by_role("link", name="Reset password").first.click()
    page.get_by_role("button", name="Reset password").click()
    password = page.locator("#temporary-password").inner_text().strip()
    shots.take(page, "front-desk-portal-password-reset")
    access = PortalAccess.objects.get(patient=clinics.james, user__username="max.cw")
    assert access.user.check_password(password)

    page.goto(f"{PATIENTS}{clinics.james.pk}/change/")
    page.get_by_role("link", name="Revoke access").first.click()
    page.get_by_label("Reason").fill("The patient moved to another clinic.")
    page.get_by_role("button", name="Revoke access").click()
    expect(page.locator(".errornote")).to_have_count(0)
    expect(page.locator("body")).to_contain_text("Revoked")
    shots.take(page, "front-desk-portal-access-revoked")
    access.refresh_from_db()
    assert access.revoked_at is not None and access.revoked_by_id == clinics.desk.pk
