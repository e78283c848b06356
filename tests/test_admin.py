"""The admin as the front desk and therapists use it: real views, logged-in users of each role."""

from __future__ import annotations

import datetime as dt

from django.contrib.auth.models import Group
from django.contrib.messages import get_messages
from django.utils import timezone

from patients.models import Clearance, Patient
from prescriptions.models import Reminder, SafetyFlag
from tests import factories

PATIENTS = "/admin/patients/patient/"
FLAGS = "/admin/prescriptions/safetyflag/"


def inline_management(response) -> dict[str, str]:
    """The inline formsets' management forms, as the browser would post them back."""
    data = {}
    for inline in response.context["inline_admin_formsets"]:
        formset = inline.formset
        for name in formset.management_form.fields:
            data[f"{formset.prefix}-{name}"] = formset.management_form[name].value()
    return data


def patient_form(**overrides) -> dict[str, str]:
    data = {
        "mrn": "A-1001",
        "first_name": "Mara",
        "last_name": "Okafor",
        "date_of_birth": "1985-03-02",
        "timezone": "America/New_York",
        "primary_therapist": "",
        "email": "mara@example.test",
        "phone": "",
        "preferred_channel": "email",
        "email_consent": "on",
        "quiet_hours_start": "",
        "quiet_hours_end": "",
    }
    data.update(overrides)
    return {k: v for k, v in data.items() if v is not None}


def messages_of(response) -> list[str]:
    return [str(m) for m in get_messages(response.wsgi_request)]


def run_action(client, url, action, rows, **extra):
    data = {"action": action, "_selected_action": [str(r.pk) for r in rows], "index": "0", **extra}
    return client.post(url, data, follow=True)


# --- Patients -----------------------------------------------------------------------------------------


def test_front_desk_registers_a_patient_through_the_service(staff_client, front_desk, clinic):
    client = staff_client(front_desk)
    page = client.get(f"{PATIENTS}add/")
    assert page.status_code == 200
    assert "clinic" not in page.context["adminform"].form.fields

    response = client.post(f"{PATIENTS}add/", {**patient_form(), **inline_management(page)})

    assert response.status_code == 302, response.context["adminform"].form.errors if response.context else ""
    patient = Patient.objects.get(mrn="A-1001")
    assert patient.clinic == clinic
    assert patient.email_consent and patient.email_consent_at is not None  # stamped by patient_create


def test_the_add_page_shows_only_what_registration_needs(staff_client, front_desk):
    """No empty inline tables, no read-only rows without a value yet (issue 15, item 4); the change page keeps them."""
    client = staff_client(front_desk)
    page = client.get(f"{PATIENTS}add/")

    assert page.status_code == 200
    assert page.context["inline_admin_formsets"] == []
    assert "TOTAL_FORMS" not in page.content.decode()
    assert list(page.context["adminform"].readonly_fields) == []
    assert 'class="readonly"' not in page.content.decode()
    assert not {"created_at", "updated_at", "email_consent_at", "upcoming_sessions"} & set(
        page.context["adminform"].form.fields
    )


def test_the_change_page_keeps_its_inlines_and_read_only_fields(staff_client, front_desk, patient):
    page = staff_client(front_desk).get(f"{PATIENTS}{patient.pk}/change/")

    assert page.status_code == 200
    assert len(page.context["inline_admin_formsets"]) == 6  # clearances … portal logins, flags (plans: no view)
    readonly = set(page.context["adminform"].readonly_fields)
    assert {"created_at", "updated_at", "email_consent_recorded", "upcoming_sessions", "live_program"} <= readonly


def test_service_refusal_is_shown_on_the_form_and_nothing_is_saved(staff_client, front_desk):
    client = staff_client(front_desk)
    page = client.get(f"{PATIENTS}add/")

    # The model form accepts SMS without consent; the service refuses it.
    response = client.post(
        f"{PATIENTS}add/", {**patient_form(preferred_channel="sms", email_consent=None), **inline_management(page)}
    )

    assert response.status_code == 200
    assert "preferred_channel" in response.context["adminform"].form.errors
    assert not Patient.objects.filter(mrn="A-1001").exists()


def test_front_desk_edits_contact(staff_client, front_desk, patient):
    client = staff_client(front_desk)
    url = f"{PATIENTS}{patient.pk}/change/"
    page = client.get(url)
    assert page.status_code == 200
    data = patient_form(
        mrn=patient.mrn,
        first_name=patient.first_name,
        last_name=patient.last_name,
        date_of_birth=patient.date_of_birth.isoformat(),
        email=patient.email,
        email_consent=None,
        preferred_channel="none",
        phone="+1 555 0100",
    )

    response = client.post(url, {**data, **inline_management(page)})

    assert response.status_code == 302
    patient.refresh_from_db()
    assert patient.phone == "+1 555 0100"
    assert patient.email_consent_at is None  # consent untouched, so not stamped


def test_front_desk_archives_via_the_action_and_nobody_deletes(staff_client, front_desk, patient):
    client = staff_client(front_desk)
    page = client.get(PATIENTS)
    assert "delete_selected" not in dict(page.context["action_form"].fields["action"].choices)

    response = run_action(client, PATIENTS, "archive", [patient])

    assert response.status_code == 200
    patient.refresh_from_db()
    assert patient.is_archived
    again = run_action(client, PATIENTS, "archive", [patient])
    assert any("already archived" in m for m in messages_of(again))
    assert client.post(f"{PATIENTS}{patient.pk}/delete/").status_code == 403


def test_patient_list_shows_clearance_badge_and_open_flags(staff_client, front_desk, clinic, therapist):
    cleared = factories.PatientFactory(clinic=clinic, last_name="Cleared")
    factories.ClearanceFactory(patient=cleared, recorded_by=therapist)
    expiring = factories.PatientFactory(clinic=clinic, last_name="Expiring")
    factories.ClearanceFactory(
        patient=expiring, recorded_by=therapist, valid_until=timezone.localdate() + dt.timedelta(days=3)
    )
    revoked = factories.PatientFactory(clinic=clinic, last_name="Revoked")
    factories.ClearanceFactory(
        patient=revoked,
        recorded_by=therapist,
        revoked_at=timezone.now() - dt.timedelta(days=1),
        revoked_by=therapist,
        revoke_reason="Letter withdrawn",
    )
    nothing = factories.PatientFactory(clinic=clinic, last_name="Nothing")
    factories.SafetyFlagFactory(patient=nothing)
    factories.SafetyFlagFactory(patient=nothing)
    factories.SafetyFlagFactory(patient=nothing, resolved=True)
    client = staff_client(front_desk)

    rows = {p.pk: p for p in client.get(PATIENTS).context["cl"].result_list}

    assert rows[cleared.pk].clearance_states[0] == "cleared"
    assert rows[expiring.pk].clearance_states[0] == "expiring"
    assert rows[revoked.pk].clearance_states[0] == "revoked"
    assert rows[nothing.pk].clearance_states[0] == "none"
    assert rows[nothing.pk].open_flag_count == 2
    assert rows[cleared.pk].open_flag_count == 0

    def listed(query):
        return {p.pk for p in client.get(f"{PATIENTS}?{query}").context["cl"].result_list}

    assert listed("clearance=expiring") == {expiring.pk}
    assert listed("clearance=revoked") == {revoked.pk}
    assert listed("open_flags=yes") == {nothing.pk}
    assert listed("q=Expiring") == {expiring.pk}


def test_patient_list_query_count_is_constant(staff_client, front_desk, clinic, therapist, count_queries):
    client = staff_client(front_desk)

    def add_patients(n):
        for _ in range(n):
            patient = factories.PatientFactory(clinic=clinic, primary_therapist=therapist)
            factories.ClearanceFactory(patient=patient, recorded_by=therapist)
            factories.SafetyFlagFactory(patient=patient)

    add_patients(2)
    client.get(PATIENTS)  # warm caches (content types, permissions)
    small = count_queries(lambda: client.get(PATIENTS))
    add_patients(10)
    large = count_queries(lambda: client.get(PATIENTS))

    assert small == large


def test_other_clinics_patient_is_invisible(staff_client, front_desk, other_clinic):
    theirs = factories.PatientFactory(clinic=other_clinic, last_name="Elsewhere")
    client = staff_client(front_desk)

    assert theirs.pk not in {p.pk for p in client.get(PATIENTS).context["cl"].result_list}
    response = client.get(f"{PATIENTS}{theirs.pk}/change/")
    assert response.status_code == 302  # Django's "doesn't exist" redirect, same as a missing row
    assert run_action(client, PATIENTS, "archive", [theirs]).status_code == 200
    theirs.refresh_from_db()
    assert not theirs.is_archived


# --- Clearances -----------------------------------------------------------------------------------------


def test_front_desk_records_and_revokes_a_clearance(staff_client, front_desk, patient, other_clinic):
    client = staff_client(front_desk)
    page = client.get("/admin/patients/clearance/add/")
    assert set(page.context["adminform"].form.fields["patient"].queryset) == {patient}
    today = timezone.localdate()

    response = client.post(
        "/admin/patients/clearance/add/",
        {
            "patient": patient.pk,
            "professional_name": "Dr. Lee",
            "profession": "physician",
            "status": "cleared",
            "valid_from": today.isoformat(),
            "valid_until": (today + dt.timedelta(days=90)).isoformat(),
        },
    )

    assert response.status_code == 302
    clearance = Clearance.objects.get(patient=patient)
    assert clearance.recorded_by == front_desk

    response = run_action(client, "/admin/patients/clearance/", "revoke", [clearance], reason="Letter withdrawn")
    clearance.refresh_from_db()
    assert clearance.is_revoked and clearance.revoke_reason == "Letter withdrawn"


# --- Plans, flags and reminders ---------------------------------------------------------------------------


def test_front_desk_cannot_see_prescriptions(staff_client, front_desk, therapist):
    client = staff_client(front_desk)
    assert client.get("/admin/prescriptions/prescription/").status_code == 403


def test_therapist_sees_prescriptions_of_their_clinic(staff_client, therapist):
    client = staff_client(therapist)
    assert client.get("/admin/prescriptions/prescription/").status_code == 200


def test_therapist_resolves_a_flag(staff_client, therapist, patient):
    flag = factories.SafetyFlagFactory(patient=patient)
    client = staff_client(therapist)

    run_action(client, FLAGS, "resolve", [flag], reason="Plan changed; stretch removed.")

    flag.refresh_from_db()
    assert flag.status == SafetyFlag.Status.RESOLVED
    assert flag.resolved_by == therapist and flag.resolution == "Plan changed; stretch removed."


def test_front_desk_acknowledges_but_cannot_resolve(staff_client, front_desk, patient):
    flag = factories.SafetyFlagFactory(patient=patient)
    client = staff_client(front_desk)

    refused = run_action(client, FLAGS, "resolve", [flag])
    assert refused.status_code == 200
    assert any("Only a therapist may do this" in m for m in messages_of(refused))
    flag.refresh_from_db()
    assert flag.status == SafetyFlag.Status.OPEN

    run_action(client, FLAGS, "acknowledge", [flag])
    flag.refresh_from_db()
    assert flag.status == SafetyFlag.Status.ACKNOWLEDGED and flag.acknowledged_by == front_desk
    twice = run_action(client, FLAGS, "acknowledge", [flag])
    assert any("Only an open flag" in m for m in messages_of(twice))


def test_other_clinics_flags_are_invisible(staff_client, other_therapist, patient):
    flag = factories.SafetyFlagFactory(patient=patient)
    client = staff_client(other_therapist)

    assert list(client.get(FLAGS).context["cl"].result_list) == []
    assert client.get(f"{FLAGS}{flag.pk}/change/").status_code == 302
    run_action(client, FLAGS, "resolve", [flag])
    flag.refresh_from_db()
    assert flag.status == SafetyFlag.Status.OPEN


def test_front_desk_retries_a_failed_reminder(staff_client, front_desk, clinic):
    reminder = factories.ReminderFactory(
        session__prescription__episode__patient__clinic=clinic, status=Reminder.Status.FAILED, attempts=5
    )
    client = staff_client(front_desk)

    run_action(client, "/admin/prescriptions/reminder/", "retry", [reminder])

    reminder.refresh_from_db()
    assert reminder.status == Reminder.Status.PENDING and reminder.attempts == 0


# --- Change pages, assembled across apps ------------------------------------------------------------------


def test_change_page_inlines_follow_the_role(staff_client, therapist, front_desk, cleared_patient):
    prescription = factories.PrescriptionFactory(episode=cleared_patient.episodes.first(), therapist=therapist)
    factories.SessionFactory(prescription=prescription, local_date=timezone.localdate() + dt.timedelta(days=2))
    factories.SafetyFlagFactory(patient=cleared_patient)
    url = f"{PATIENTS}{cleared_patient.pk}/change/"

    as_therapist = staff_client(therapist).get(url)
    inlines = {i.opts.model._meta.model_name for i in as_therapist.context["inline_admin_formsets"]}
    assert {"clearance", "episode", "patientdiagnosis", "mobilityassessment", "prescription", "safetyflag"} <= inlines
    assert "Upcoming sessions" in as_therapist.content.decode()

    as_front_desk = staff_client(front_desk).get(url)
    inlines = {i.opts.model._meta.model_name for i in as_front_desk.context["inline_admin_formsets"]}
    assert "prescription" not in inlines  # minimum necessary: no view of the plan
    assert "clearance" in inlines


def test_change_passes_only_changed_fields_to_the_service(staff_client, front_desk, patient, monkeypatch):
    from patients import services

    seen = {}
    real = services.patient_update

    def spy(*, patient, by, **fields):
        seen.update(fields)
        return real(patient=patient, by=by, **fields)

    monkeypatch.setattr(services, "patient_update", spy)
    client = staff_client(front_desk)
    url = f"{PATIENTS}{patient.pk}/change/"
    page = client.get(url)
    data = patient_form(
        mrn=patient.mrn,
        first_name=patient.first_name,
        last_name="Renamed",
        date_of_birth=patient.date_of_birth.isoformat(),
        email=patient.email,
        email_consent=None,
        preferred_channel="none",
    )

    assert client.post(url, {**data, **inline_management(page)}).status_code == 302
    assert seen == {"last_name": "Renamed"}


def test_archived_patient_edit_is_refused_on_the_form(staff_client, front_desk, patient):
    patient.archived_at = timezone.now()
    patient.save(update_fields=["archived_at"])
    client = staff_client(front_desk)
    url = f"{PATIENTS}{patient.pk}/change/"
    page = client.get(url)
    data = patient_form(
        mrn=patient.mrn,
        first_name=patient.first_name,
        last_name=patient.last_name,
        date_of_birth=patient.date_of_birth.isoformat(),
        email=patient.email,
        email_consent=None,
        preferred_channel="none",
        phone="+1 555 0199",
    )

    response = client.post(url, {**data, **inline_management(page)})

    assert response.status_code == 200
    assert "archived" in str(response.context["adminform"].form.non_field_errors())
    patient.refresh_from_db()
    assert patient.phone == ""


def test_flag_and_reminder_lists_query_count_is_constant(staff_client, therapist, clinic, count_queries):
    client = staff_client(therapist)

    def add(n):
        for _ in range(n):
            patient = factories.PatientFactory(clinic=clinic)
            factories.SafetyFlagFactory(patient=patient)
            factories.ReminderFactory(session__prescription__episode__patient=patient)

    add(2)
    for url in (FLAGS, "/admin/prescriptions/reminder/"):
        client.get(url)
    small = [count_queries(lambda u=url: client.get(u)) for url in (FLAGS, "/admin/prescriptions/reminder/")]
    add(10)
    large = [count_queries(lambda u=url: client.get(u)) for url in (FLAGS, "/admin/prescriptions/reminder/")]

    assert small == large


def test_clinic_admin_sees_only_their_clinics_staff(staff_client, clinic_admin, therapist, other_therapist):
    client = staff_client(clinic_admin)

    listed = {m.user_id for m in client.get("/admin/clinic/staffmembership/").context["cl"].result_list}

    assert therapist.pk in listed and other_therapist.pk not in listed
    assert client.get(f"/admin/clinic/clinic/{other_therapist.membership.clinic_id}/change/").status_code == 302


# --- Reads are logged --------------------------------------------------------------------------------------


def test_admin_reads_of_patient_data_are_logged(staff_client, front_desk, patient, other_patient):
    from patients.models import AccessLog

    client = staff_client(front_desk)

    client.get(f"{PATIENTS}{patient.pk}/change/")
    assert list(AccessLog.objects.values_list("actor_id", "patient_id", "what")) == [
        (front_desk.pk, patient.pk, "admin:patient-change")
    ]

    before = AccessLog.objects.count()
    client.get(PATIENTS)
    listed = set(AccessLog.objects.order_by("id")[before:].values_list("patient_id", flat=True))
    assert listed == {patient.pk, other_patient.pk}


# --- Catalog ------------------------------------------------------------------------------------------------


def test_clinic_admin_edits_own_catalog_rows_only(staff_client, clinic_admin, clinic, other_clinic, stretch):
    own = factories.StretchFactory(clinic=clinic)
    theirs = factories.StretchFactory(clinic=other_clinic)
    global_row = stretch("pelvic-tilt")
    client = staff_client(clinic_admin)

    listed = {s.pk for s in client.get("/admin/clinic/stretch/?all=").context["cl"].queryset}
    assert own.pk in listed and global_row.pk in listed and theirs.pk not in listed
    assert client.get(f"/admin/clinic/stretch/{theirs.pk}/change/").status_code == 302
    global_page = client.get(f"/admin/clinic/stretch/{global_row.pk}/change/")
    assert global_page.status_code == 200 and not global_page.context["has_change_permission"]
    add_form = client.get("/admin/clinic/stretch/add/").context["adminform"].form
    assert list(add_form.fields["clinic"].queryset) == [clinic] and add_form.fields["clinic"].required


def test_superuser_sees_every_clinic_and_picks_the_clinic_on_add(client, patient, other_clinic):
    theirs = factories.PatientFactory(clinic=other_clinic)
    client.force_login(factories.UserFactory(is_staff=True, is_superuser=True))

    listed = {p.pk for p in client.get(PATIENTS).context["cl"].result_list}

    assert {patient.pk, theirs.pk} <= listed
    assert "clinic" in client.get(f"{PATIENTS}add/").context["adminform"].form.fields


def test_a_membership_never_moves_to_another_login(client, clinic_admin, therapist, other_therapist):
    """The change page changes the role and profession only: no user to pick at all, this clinic's or another's
    (the add page creates the user: tests/test_clinic_create.py); the member is named as text, not linked to the
    user admin, which is the superuser's."""
    Group.objects.get(name="clinic_admin").user_set.add(clinic_admin)
    client.force_login(clinic_admin)
    response = client.get(f"/admin/clinic/staffmembership/{therapist.membership.pk}/change/")
    assert response.status_code == 200
    assert set(response.context["adminform"].form.fields) == {"role", "profession"}
    html = response.content.decode()
    assert therapist.get_username() in html and "/admin/auth/user/" not in html
    assert other_therapist.get_username() not in html


def test_the_clearance_add_page_lists_no_patients(staff_client, front_desk, clinic):
    """A drop-down of every patient's name and MRN would be a read of them all that no access log names."""
    patient = factories.PatientFactory(clinic=clinic, last_name="Zabriskie", mrn="MRN-LISTED")
    page = staff_client(front_desk).get("/admin/patients/clearance/add/")
    assert page.status_code == 200
    assert b"Zabriskie" not in page.content and b"MRN-LISTED" not in page.content
    assert b'name="patient"' in page.content  # chosen by id, through the logged patient list
    assert patient.pk


# --- Time zones: typed with suggestions of the canonical zones --------------------------------------------


def test_the_patient_form_suggests_the_canonical_zones(staff_client, front_desk):
    from clinic.models import ZONES

    html = staff_client(front_desk).get(f"{PATIENTS}add/").content.decode()

    assert 'list="id_timezone_zones"' in html and '<datalist id="id_timezone_zones">' in html
    assert '<option value="America/Sao_Paulo">' in html
    assert html.count("<option value=") >= len(ZONES)
    assert '<option value="EST5EDT">' not in html  # refused names are not offered


def test_the_admin_refuses_a_zone_outside_the_list(staff_client, front_desk):
    client = staff_client(front_desk)
    response = client.post(f"{PATIENTS}add/", patient_form(timezone="EST5EDT"))

    assert response.status_code == 200
    assert "timezone" in response.context["adminform"].form.errors
    assert not Patient.objects.filter(mrn="A-1001").exists()


def test_a_stored_legacy_zone_round_trips_unchanged_through_the_admin(staff_client, front_desk, patient):
    Patient.objects.filter(pk=patient.pk).update(timezone="EST5EDT")
    client = staff_client(front_desk)
    url = f"{PATIENTS}{patient.pk}/change/"
    page = client.get(url)
    assert 'value="EST5EDT"' in page.content.decode()  # shown as stored
    data = patient_form(
        mrn=patient.mrn,
        first_name="Zed",
        last_name=patient.last_name,
        date_of_birth=patient.date_of_birth.isoformat(),
        email=patient.email,
        timezone=page.context["adminform"].form["timezone"].value(),
        email_consent=None,
        preferred_channel="none",
    )

    response = client.post(url, {**data, **inline_management(page)})

    assert response.status_code == 302, response.context["adminform"].form.errors if response.context else ""
    patient.refresh_from_db()
    assert (patient.first_name, patient.timezone) == ("Zed", "EST5EDT")
    data["timezone"] = "PST8PDT"
    refused = client.post(url, {**data, **inline_management(page)})
    assert refused.status_code == 200 and "timezone" in refused.context["adminform"].form.errors


def test_the_clinic_form_suggests_the_canonical_zones(staff_client, clinic_admin, clinic):
    html = staff_client(clinic_admin).get(f"/admin/clinic/clinic/{clinic.pk}/change/").content.decode()

    assert '<datalist id="id_timezone_zones">' in html and '<option value="Europe/Berlin">' in html
