"""The front desk's patient list (issue 15, item 2): six columns that fit 1366 px, the archived badge only where it
applies, therapists by their full names, the next session at the patient's local time with the zone named, and one
query count whatever the list's size. tests/test_browser_admin.py measures the width in a real browser."""

from __future__ import annotations

import datetime as dt
import re
from html import unescape
from zoneinfo import ZoneInfo

from django.contrib.admin.templatetags.admin_list import result_headers
from django.utils import timezone

from patients.models import PortalAccess
from prescriptions.models import Prescription, SafetyFlag, Session
from tests import factories

PATIENTS = "/admin/patients/patient/"
FLAGS = "/admin/prescriptions/safetyflag/"


def therapist_named(clinic, first: str, last: str):
    membership = factories.MembershipFactory(clinic=clinic, user__first_name=first, user__last_name=last)
    return membership.user


def row_of(content: str, patient) -> list[str]:
    """The cells of ``patient``'s row in the list, as text (tags dropped, spaces collapsed), after the checkbox."""
    for row in re.findall(r"<tr>(.*?)</tr>", content, flags=re.S):
        if f'value="{patient.pk}"' in row:
            cells = re.findall(r"<t[dh][^>]*>(.*?)</t[dh]>", row, flags=re.S)
            cells = [re.sub(r"<[^>]+>", " ", cell.replace("<wbr>", "")) for cell in cells]  # <wbr>: a place to wrap
            return [" ".join(unescape(cell).split()) for cell in cells][1:]
    raise AssertionError(f"{patient} is not listed")


def session_at(patient, day: dt.date, at: dt.time = dt.time(8, 0), **kwargs) -> Session:
    plan = kwargs.pop("prescription", None) or factories.PrescriptionFactory(
        episode__patient=patient, status=Prescription.Status.ACTIVE
    )
    return factories.SessionFactory(prescription=plan, local_date=day, local_time=at, **kwargs)


def test_the_columns_are_the_desks_six(staff_client, front_desk, clinic):
    response = staff_client(front_desk).get(PATIENTS)

    headers = [header["text"] for header in result_headers(response.context["cl"])][1:]  # after the checkbox
    assert [str(h) for h in headers] == [
        "MRN",
        "Patient",
        "Clearance today",
        "Primary therapist",
        "Open flags",
        "Next session",
    ]


def test_a_row_reads_as_the_desk_says_it(staff_client, front_desk, clinic):
    therapist = therapist_named(clinic, "Ada", "Reyes")
    patient = factories.PatientFactory(
        clinic=clinic,
        first_name="Mara",
        last_name="Okafor",
        mrn="A-1001",
        primary_therapist=therapist,
        phone="+1 555 0100",
        email="mara@example.test",
    )
    unassigned = factories.PatientFactory(clinic=clinic, last_name="Nobody")

    content = staff_client(front_desk).get(PATIENTS).content.decode()

    # No clearance on file, no flag (nothing, rather than a 0 on every row), no session booked.
    assert row_of(content, patient) == ["A-1001", "Okafor, Mara", "None", "Ada Reyes", "", "-"]
    assert therapist.username not in content
    assert "mara@example.test" not in content and "555 0100" not in content  # searched, not shown
    assert "icon-yes.svg" not in content and "icon-no.svg" not in content  # no ✓/✗ column on every row
    assert row_of(content, unassigned)[3] == "-"  # no therapist: the admin's empty mark


def test_email_and_phone_find_the_patient(staff_client, front_desk, clinic):
    mara = factories.PatientFactory(clinic=clinic, phone="+1 555 0100", email="mara.o@example.test")
    factories.PatientFactory(clinic=clinic, phone="+1 555 0199", email="someone@example.test")
    client = staff_client(front_desk)

    def found(query):
        return {p.pk for p in client.get(PATIENTS, {"q": query}).context["cl"].result_list}

    assert found("mara.o@example") == {mara.pk}
    assert found("555 0100") == {mara.pk}


def test_archived_is_a_badge_beside_the_name_only_when_archived(staff_client, front_desk, clinic):
    archived = factories.PatientFactory(clinic=clinic, last_name="Gone", archived_at=timezone.now())
    current = factories.PatientFactory(clinic=clinic, last_name="Here")

    content = staff_client(front_desk).get(PATIENTS).content.decode()

    assert row_of(content, archived)[1] == f"Gone, {archived.first_name} archived"
    assert row_of(content, current)[1] == f"Here, {current.first_name}"
    assert content.count('class="patient-archived"') == 1


def test_the_therapist_is_called_by_full_name_in_the_column_the_filter_and_the_form(
    staff_client, front_desk, clinic, other_clinic
):
    therapist = therapist_named(clinic, "Ada", "Reyes")
    elsewhere = therapist_named(other_clinic, "Olu", "Elsewhere")
    factories.PatientFactory(clinic=clinic, primary_therapist=therapist)
    client = staff_client(front_desk)

    page = client.get(PATIENTS)
    filters = {spec.title: spec for spec in page.context["cl"].filter_specs}
    assert "Ada Reyes" in dict(filters["primary therapist"].lookup_choices).values()
    form = client.get(f"{PATIENTS}add/").context["adminform"].form
    choices = {label for value, label in form.fields["primary_therapist"].choices if value}
    assert choices == {"Ada Reyes"}  # their clinic's therapists only, by name
    assert elsewhere.get_full_name() not in page.content.decode()


def test_the_next_session_is_the_next_scheduled_one_of_a_live_plan_in_the_patients_zone(
    staff_client, front_desk, clinic
):
    patient = factories.PatientFactory(clinic=clinic, timezone="Asia/Tokyo")
    today = patient.local_today()
    plan = factories.PrescriptionFactory(episode__patient=patient, status=Prescription.Status.ACTIVE)
    session_at(patient, today - dt.timedelta(days=1), prescription=plan)  # past
    session_at(patient, today + dt.timedelta(days=1), prescription=plan, status=Session.Status.CANCELLED)
    session_at(patient, today + dt.timedelta(days=2), prescription=plan, status=Session.Status.BLOCKED)
    draft = factories.PrescriptionFactory(episode__patient=patient, status=Prescription.Status.DRAFT)
    session_at(patient, today + dt.timedelta(days=3), prescription=draft)
    next_one = session_at(patient, today + dt.timedelta(days=4), dt.time(7, 30), prescription=plan)
    session_at(patient, today + dt.timedelta(days=5), prescription=plan)
    nothing_booked = factories.PatientFactory(clinic=clinic)

    response = staff_client(front_desk).get(PATIENTS)
    rows = {p.pk: p for p in response.context["cl"].result_list}
    content = response.content.decode()

    assert rows[patient.pk].next_session_at == next_one.scheduled_at
    local = next_one.scheduled_at.astimezone(ZoneInfo("Asia/Tokyo"))
    assert local.hour == 7 and local.minute == 30  # the clinic's zone (New York) would say otherwise
    year = "" if local.year == today.year else f" {local.year}"  # named only when it is not this year
    assert row_of(content, patient)[-1] == f"{local:%a} {local.day} {local:%b}{year} 07:30 Asia/Tokyo"
    assert rows[nothing_booked.pk].next_session_at is None
    assert row_of(content, nothing_booked)[-1] == "-"


def test_the_open_flag_count_links_to_the_patients_unresolved_flags(staff_client, front_desk, clinic):
    patient = factories.PatientFactory(clinic=clinic)
    open_flag = factories.SafetyFlagFactory(patient=patient)
    acknowledged = factories.SafetyFlagFactory(patient=patient, status=SafetyFlag.Status.ACKNOWLEDGED)
    factories.SafetyFlagFactory(patient=patient, resolved=True)
    someone_else = factories.SafetyFlagFactory(patient=factories.PatientFactory(clinic=clinic))
    quiet = factories.PatientFactory(clinic=clinic)
    client = staff_client(front_desk)

    content = client.get(PATIENTS).content.decode()
    link = re.search(rf'<a href="({FLAGS}\?[^"]+)"[^>]*>2</a>', content)

    assert link is not None
    flags = client.get(unescape(link.group(1)))
    assert flags.status_code == 200
    assert {f.pk for f in flags.context["cl"].result_list} == {open_flag.pk, acknowledged.pk}
    assert someone_else.pk not in {f.pk for f in flags.context["cl"].result_list}
    assert row_of(content, patient)[4] == "2"
    assert row_of(content, quiet)[4] == ""  # nothing to say: no "0" on every quiet row


def test_the_list_costs_the_same_queries_for_one_patient_or_many(staff_client, front_desk, clinic, count_queries):
    client = staff_client(front_desk)

    def add_patient(n):
        therapist = therapist_named(clinic, f"First{n}", f"Last{n}")
        patient = factories.PatientFactory(
            clinic=clinic, primary_therapist=therapist, archived_at=timezone.now() if n % 3 == 0 else None
        )
        factories.ClearanceFactory(patient=patient, recorded_by=therapist)
        factories.SafetyFlagFactory(patient=patient)
        session_at(patient, patient.local_today() + dt.timedelta(days=1))

    add_patient(1)
    client.get(PATIENTS)  # warm caches (content types, permissions)
    one = count_queries(lambda: client.get(PATIENTS))
    for n in range(2, 12):
        add_patient(n)
    many = count_queries(lambda: client.get(PATIENTS))

    assert one == many
    assert len(client.get(PATIENTS).context["cl"].result_list) == 11


def test_portal_logins_are_called_so_on_the_index(staff_client, front_desk):
    assert PortalAccess._meta.verbose_name_plural == "portal logins"
    response = staff_client(front_desk).get("/admin/")
    names = {model["name"] for app in response.context["app_list"] for model in app["models"]}
    assert "Portal logins" in names
    assert "accesss" not in response.content.decode().lower()


def test_the_patient_page_names_people_without_links_staff_may_not_follow(
    staff_client, front_desk, clinic_admin, clinic
):
    """A read-only user field would link to the user admin (a 403 for staff): the inlines name people as text."""
    therapist = therapist_named(clinic, "Ada", "Reyes")
    patient = factories.PatientFactory(clinic=clinic, primary_therapist=therapist)
    factories.EpisodeFactory(patient=patient, primary_therapist=therapist)
    factories.MobilityAssessmentFactory(patient=patient, assessed_by=therapist)
    factories.PortalAccessFactory(patient=patient, user__username="mara.portal")
    factories.PrescriptionFactory(episode__patient=patient, therapist=therapist)

    for user in (front_desk, clinic_admin):
        content = staff_client(user).get(f"{PATIENTS}{patient.pk}/change/").content.decode()
        assert "/admin/auth/user/" not in content
        assert content.count("Ada Reyes") >= 3  # the form's select, the episode, the assessment (and the plan)
        assert "mara.portal" in content
