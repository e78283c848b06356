"""Audit for those who answer for it (issue 15, item 5): clinic admins browse their own clinic's change trail and
access log, read-only; the front desk and therapists do not; superusers see every clinic's."""

from __future__ import annotations

import datetime as dt

import pghistory
import pytest
from django.utils import timezone
from pghistory.models import Events

import patients.audit
from clinic.models import MovementTag
from patients.models import AccessLog, Clearance, ClearanceRestriction, Patient
from prescriptions.models import Prescription, Session
from tests import factories

EVENTS = "/admin/patients/changetrailentry/"
ACCESS_LOG = "/admin/patients/accesslog/"


def _patient_of_event(event) -> int | None:
    """Independently of the admin: the patient whose row an event names."""
    data = event.pgh_data
    if event.pgh_obj_model == "patients.Patient":
        return int(event.pgh_obj_id)
    if data.get("patient_id"):
        return data["patient_id"]
    if data.get("clearance_id"):
        return Clearance.objects.get(pk=data["clearance_id"]).patient_id
    if data.get("prescription_id"):
        return Prescription.objects.get(pk=data["prescription_id"]).patient_id
    if data.get("session_id"):
        return Session.objects.get(pk=data["session_id"]).prescription.patient_id
    return None


def _patient_with_history(clinic, therapist) -> Patient:
    """A patient with a row of every tracked kind: the patient, a clearance and its restriction, a plan with an
    item, a session with its log and reminder, a flag; changed by the therapist and by a task.

    Each step has its own context: a context stays attached until the transaction ends (one per request or task;
    the test's one transaction holds them all)."""
    with pghistory.context(url="/tests/setup"):
        patient = factories.PatientFactory(clinic=clinic)
        plan = factories.PrescriptionFactory(episode__patient=patient, therapist=therapist)
        factories.PrescriptionItemFactory(prescription=plan)
        session = factories.SessionFactory(prescription=plan)
        factories.ReminderFactory(session=session)
        factories.SessionLogFactory(session=factories.SessionFactory(prescription=plan, local_time=dt.time(9, 0)))
        factories.SafetyFlagFactory(patient=patient, prescription=plan)
    with pghistory.context(user=therapist.pk, url="/admin/"):
        Patient.objects.filter(pk=patient.pk).update(phone="555-0100")
        clearance = factories.ClearanceFactory(patient=patient, recorded_by=therapist)
        ClearanceRestriction.objects.create(clearance=clearance, tag=MovementTag.objects.order_by("pk").first())
    with pghistory.context(actor="system:tests.audit_trails"):
        Patient.objects.filter(pk=patient.pk).update(phone="555-0101")
    patients.audit.access_log_record(actor=therapist, patient_ids=[patient.pk], what="api:patient-detail")
    return patient


@pytest.fixture
def two_clinics(clinic, other_clinic, therapist, other_therapist):
    mine = [_patient_with_history(clinic, therapist) for _ in range(2)]
    theirs = _patient_with_history(other_clinic, other_therapist)
    return mine, theirs


@pytest.fixture
def superuser(db):
    return factories.UserFactory(is_staff=True, is_superuser=True)


def _shown(response) -> list:
    assert response.status_code == 200, response.status_code
    return list(response.context["cl"].result_list)


def _shown_patients(response) -> set[int]:
    return {_patient_of_event(row) for row in _shown(response)}


def test_a_clinic_admin_sees_every_kind_of_their_clinics_events_and_none_of_another(
    staff_client, clinic_admin, two_clinics
):
    mine, theirs = two_clinics
    client = staff_client(clinic_admin)

    rows = _shown(client.get(EVENTS))

    assert {_patient_of_event(row) for row in rows} == {p.pk for p in mine}
    expected = {
        (event.pgh_model, event.pgh_id)
        for event in Events.objects.all()
        if _patient_of_event(event) in {p.pk for p in mine}
    }
    assert {(row.pgh_model, row.pgh_id) for row in rows} == expected
    assert {row.pgh_obj_model for row in rows} == {
        "patients.Patient",
        "patients.Episode",
        "patients.Clearance",
        "patients.ClearanceRestriction",
        "prescriptions.Prescription",
        "prescriptions.PrescriptionItem",
        "prescriptions.Session",
        "prescriptions.SessionLog",
        "prescriptions.Reminder",
        "prescriptions.SafetyFlag",
    }
    assert all(row.event_patient_id == _patient_of_event(row) for row in rows)  # the page's column and log agree
    assert theirs.pk not in {row.event_patient_id for row in rows}


def test_a_clinic_admin_sees_their_clinics_access_log_only(staff_client, clinic_admin, two_clinics):
    mine, theirs = two_clinics
    rows = _shown(staff_client(clinic_admin).get(ACCESS_LOG))
    assert {row.patient_id for row in rows} == {p.pk for p in mine}
    assert AccessLog.objects.filter(patient=theirs).exists()


def test_a_superuser_sees_both_clinics(client, superuser, two_clinics):
    mine, theirs = two_clinics
    client.force_login(superuser)
    everyone = {p.pk for p in mine} | {theirs.pk}
    assert _shown_patients(client.get(EVENTS)) == everyone
    assert {row.patient_id for row in _shown(client.get(ACCESS_LOG))} == everyone


def test_filters_by_patient_actor_date_and_search(staff_client, clinic_admin, therapist, two_clinics):
    mine, theirs = two_clinics
    client = staff_client(clinic_admin)

    assert _shown_patients(client.get(EVENTS, {"patient": mine[0].pk})) == {mine[0].pk}
    assert {r.patient_id for r in _shown(client.get(ACCESS_LOG, {"patient": mine[0].pk}))} == {mine[0].pk}
    # Another clinic's patient: nothing, and the filter does not name them.
    for url in (EVENTS, ACCESS_LOG):
        response = client.get(url, {"patient": theirs.pk})
        assert _shown(response) == []
        assert theirs.last_name not in response.content.decode()

    by_therapist = _shown(client.get(EVENTS, {"actor": therapist.pk}))
    assert by_therapist and all(row.pgh_context["user"] == therapist.pk for row in by_therapist)
    assert {row.pgh_obj_model for row in by_therapist} == {
        "patients.Patient",
        "patients.Clearance",
        "patients.ClearanceRestriction",
    }
    by_system = _shown(client.get(EVENTS, {"actor": "system"}))
    assert {(row.pgh_obj_model, row.pgh_label) for row in by_system} == {("patients.Patient", "update")}
    assert len(by_system) == len(mine)
    assert {r.actor_id for r in _shown(client.get(ACCESS_LOG, {"actor": therapist.pk}))} == {therapist.pk}
    assert _shown(client.get(ACCESS_LOG, {"actor": "system"})) == []

    today = timezone.localdate()
    dated = {"pgh_created_at__year": today.year, "pgh_created_at__month": today.month, "pgh_created_at__day": today.day}
    assert _shown_patients(client.get(EVENTS, dated)) == {p.pk for p in mine}
    assert _shown(client.get(EVENTS, {**dated, "pgh_created_at__year": today.year - 1})) == []
    assert _shown(client.get(ACCESS_LOG, {"at__year": today.year - 1})) == []

    assert _shown_patients(client.get(EVENTS, {"q": mine[1].last_name})) >= {mine[1].pk}
    assert _shown_patients(client.get(EVENTS, {"q": mine[1].mrn})) == {mine[1].pk}
    assert _shown(client.get(EVENTS, {"q": theirs.mrn})) == []
    assert {r.patient_id for r in _shown(client.get(ACCESS_LOG, {"q": mine[1].mrn}))} == {mine[1].pk}


def test_the_trails_are_read_only(staff_client, clinic_admin, two_clinics):
    mine, theirs = two_clinics
    client = staff_client(clinic_admin)
    log = AccessLog.objects.filter(patient=mine[0]).first()
    event = Events.objects.filter(pgh_obj_model="patients.Patient", pgh_obj_id=str(mine[0].pk)).first()

    for url in (EVENTS, ACCESS_LOG):
        response = client.get(url)
        assert response.context["action_form"] is None  # no bulk actions
        assert client.get(f"{url}add/").status_code == 403
    for url in (f"{ACCESS_LOG}{log.pk}/", f"{EVENTS}{event.pk}/"):
        page = client.get(f"{url}change/")
        assert page.status_code == 200 and not page.context["has_change_permission"]
        assert client.post(f"{url}change/", {}).status_code == 403
        assert client.post(f"{url}delete/", {"post": "yes"}).status_code == 403
    assert AccessLog.objects.filter(pk=log.pk).exists()

    # Another clinic's row is not found (the admin's redirect), as if missing.
    other_event = Events.objects.filter(pgh_obj_model="patients.Patient", pgh_obj_id=str(theirs.pk)).first()
    other_log = AccessLog.objects.filter(patient=theirs).first()
    assert client.get(f"{EVENTS}{other_event.pk}/change/").status_code == 302
    assert client.get(f"{ACCESS_LOG}{other_log.pk}/change/").status_code == 302


@pytest.mark.parametrize("role", ["front_desk", "therapist"])
def test_front_desk_and_therapists_do_not_see_the_trails(staff_client, role, request, two_clinics):
    client = staff_client(request.getfixturevalue(role))
    for url in (EVENTS, ACCESS_LOG):
        assert client.get(url).status_code == 403
    mine, _ = two_clinics
    event = Events.objects.filter(pgh_obj_model="patients.Patient", pgh_obj_id=str(mine[0].pk)).first()
    assert client.get(f"{EVENTS}{event.pk}/change/").status_code == 403
    models = {m["object_name"] for app in client.get("/admin/").context["available_apps"] for m in app["models"]}
    assert "Patient" in models and not {"ChangeTrailEntry", "AccessLog"} & models


def test_the_clinic_admins_index_lists_the_trails(staff_client, clinic_admin, db):
    response = staff_client(clinic_admin).get("/admin/")
    models = {m["object_name"] for app in response.context["available_apps"] for m in app["models"]}
    assert {"ChangeTrailEntry", "AccessLog"} <= models
    page = response.content.decode()
    assert "Change trail" in page and "Pghistory" not in page and "Events" not in page  # in the clinic's words


def test_a_change_trail_page_is_a_logged_read_of_the_patients_it_shows(staff_client, clinic_admin, two_clinics):
    mine, theirs = two_clinics
    client = staff_client(clinic_admin)
    mark = AccessLog.objects.order_by("-id").values_list("id", flat=True).first()

    rows = _shown(client.get(EVENTS))
    logged = AccessLog.objects.filter(id__gt=mark)
    assert {(row.patient_id, row.actor_id, row.what) for row in logged} == {
        (p.pk, clinic_admin.pk, "admin:change-trail-list") for p in mine
    }
    assert {row.event_patient_id for row in rows} == {p.pk for p in mine}

    mark = logged.order_by("-id").values_list("id", flat=True).first()
    event = Events.objects.filter(pgh_obj_model="prescriptions.Reminder").order_by("pgh_id").first()
    client.get(f"{EVENTS}{event.pk}/change/")
    assert list(AccessLog.objects.filter(id__gt=mark).values_list("patient_id", "what")) == [
        (_patient_of_event(event), "admin:change-trail-change")
    ]

    mark = AccessLog.objects.order_by("-id").values_list("id", flat=True).first()
    _shown(client.get(ACCESS_LOG))
    assert not AccessLog.objects.filter(id__gt=mark).exists()  # the read log's own page is not logged


def test_the_change_trail_list_query_count_is_constant(staff_client, clinic_admin, clinic, therapist, count_queries):
    client = staff_client(clinic_admin)
    _patient_with_history(clinic, therapist)
    client.get(EVENTS)  # warm caches (content types, permissions)
    small = count_queries(lambda: client.get(EVENTS))
    small_log = count_queries(lambda: client.get(ACCESS_LOG))
    for _ in range(4):
        _patient_with_history(clinic, therapist)
    response = client.get(EVENTS)
    assert len(response.context["cl"].result_list) > 40
    assert count_queries(lambda: client.get(EVENTS)) == small
    assert count_queries(lambda: client.get(ACCESS_LOG)) == small_log
