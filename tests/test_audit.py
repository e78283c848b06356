"""Audit trail (DESIGN §7): changes with actor and before/after, reads logged in the read's transaction."""

from __future__ import annotations

import pghistory
import pytest
from celery import shared_task
from django.apps import apps
from django.db import DatabaseError, connection, transaction
from pghistory.models import Events

import patients.audit
from patients.models import AccessLog, Patient
from tests import factories


def patient_events(patient):
    return apps.get_model("patients", "PatientEvent").objects.filter(pgh_obj_id=patient.pk).order_by("pgh_id")


@shared_task(name="tests.audit_rename_patient")
def rename_patient(patient_id: int) -> None:
    Patient.objects.filter(pk=patient_id).update(first_name="Tasked")


def test_api_update_records_actor_and_before_after(as_user, therapist, patient):
    before = patient.first_name
    response = as_user(therapist).patch(f"/api/v1/patients/{patient.pk}/", {"first_name": "Renamed"})
    assert response.status_code == 200, response.json()

    insert, update = patient_events(patient)
    assert (insert.pgh_label, update.pgh_label) == ("insert", "update")
    assert (insert.first_name, update.first_name) == (before, "Renamed")
    assert update.pgh_context.metadata["user"] == therapist.pk
    assert update.pgh_context.metadata["url"] == f"/api/v1/patients/{patient.pk}/"
    diff = Events.objects.tracks(patient).get(pgh_label="update").pgh_diff
    assert diff["first_name"] == [before, "Renamed"]


def test_task_writes_are_attributed_to_the_task(patient):
    rename_patient.apply(args=[patient.pk])

    update = patient_events(patient).get(pgh_label="update")
    assert update.first_name == "Tasked"
    assert update.pgh_context.metadata["actor"] == "system:tests.audit_rename_patient"


def test_task_run_eagerly_inside_a_request_keeps_the_requests_actor(therapist, patient):
    with pghistory.context(user=therapist.pk):
        rename_patient.apply(args=[patient.pk])

    metadata = patient_events(patient).get(pgh_label="update").pgh_context.metadata
    assert metadata == {"user": therapist.pk}


def test_bulk_update_is_captured(clinic):
    rows = factories.PatientFactory.create_batch(3, clinic=clinic)
    Patient.objects.filter(clinic=clinic).update(timezone="Europe/Berlin")

    for row in rows:
        assert patient_events(row).filter(pgh_label="update", timezone="Europe/Berlin").count() == 1


def test_delete_is_captured(therapist, patient):
    access = factories.PortalAccessFactory(patient=patient)
    access_id = access.pk
    access.delete()

    event_model = apps.get_model("patients", "PortalAccessEvent")
    assert list(
        event_model.objects.filter(pgh_obj_id=access_id).order_by("pgh_id").values_list("pgh_label", flat=True)
    ) == [
        "insert",
        "delete",
    ]


def test_api_detail_read_is_logged(as_user, therapist, patient):
    assert as_user(therapist).get(f"/api/v1/patients/{patient.pk}/").status_code == 200

    log = AccessLog.objects.get()
    assert (log.actor, log.patient, log.what) == (therapist, patient, "api:patient-detail")


def test_api_list_read_logs_each_patient_on_the_page(as_user, therapist, patient, other_patient, other_clinic):
    factories.PatientFactory(clinic=other_clinic)  # not shown, not logged
    assert as_user(therapist).get("/api/v1/patients/").status_code == 200

    assert set(AccessLog.objects.values_list("patient_id", "what")) == {
        (patient.pk, "api:patient-list"),
        (other_patient.pk, "api:patient-list"),
    }


def test_portal_reads_are_logged(as_user, portal_user, patient):
    assert as_user(portal_user).get("/api/v1/portal/me").status_code == 200
    assert as_user(portal_user).get("/api/v1/portal/plans").status_code == 200

    assert list(AccessLog.objects.order_by("id").values_list("actor_id", "patient_id", "what")) == [
        (portal_user.pk, patient.pk, "api:portal-me"),
        (portal_user.pk, patient.pk, "api:portal-plans"),
    ]


def test_staff_and_portal_lists_log_the_patients_they_show(as_user, therapist, portal_user, patient, other_patient):
    session = factories.SessionFactory(prescription__episode__patient=patient)
    factories.SafetyFlagFactory(patient=patient, prescription=session.prescription)
    rx = session.prescription
    staff = as_user(therapist)
    for url in ("/api/v1/sessions/", "/api/v1/flags/", "/api/v1/prescriptions/", f"/api/v1/prescriptions/{rx.pk}/"):
        assert staff.get(url).status_code == 200, url
    assert as_user(portal_user).get("/api/v1/portal/sessions/").status_code == 200

    assert list(AccessLog.objects.order_by("id").values_list("patient_id", "what")) == [
        (patient.pk, "api:session-list"),
        (patient.pk, "api:flag-list"),
        (patient.pk, "api:prescription-list"),
        (patient.pk, "api:prescription-detail"),
        (patient.pk, "api:portal-session-list"),
    ]


def test_refused_read_is_not_logged(as_user, other_therapist, patient):
    assert as_user(other_therapist).get(f"/api/v1/patients/{patient.pk}/").status_code == 404
    assert not AccessLog.objects.exists()


def test_read_log_is_written_inside_the_reads_transaction(monkeypatch, as_user, therapist, patient):
    depth_outside = len(connection.atomic_blocks)
    seen = []
    real = patients.audit.access_log_record

    def spy(**kwargs):
        seen.append(len(connection.atomic_blocks))
        return real(**kwargs)

    monkeypatch.setattr(patients.audit, "access_log_record", spy)
    assert as_user(therapist).get(f"/api/v1/patients/{patient.pk}/").status_code == 200
    assert seen and seen[0] > depth_outside  # inside the view's own atomic block


def test_a_read_that_cannot_be_logged_fails_and_leaves_no_row(monkeypatch, as_user, therapist, patient):
    real = patients.audit.access_log_record

    def write_then_fail(**kwargs):
        real(**kwargs)
        raise RuntimeError("log storage unavailable")

    monkeypatch.setattr(patients.audit, "access_log_record", write_then_fail)
    with pytest.raises(RuntimeError), transaction.atomic():  # stands for the request's own transaction
        as_user(therapist).get(f"/api/v1/patients/{patient.pk}/")
    assert not AccessLog.objects.exists()  # rolled back with the read: no response went out without its log


def test_access_log_is_append_only(therapist, patient):
    patients.audit.access_log_record(actor=therapist, patient_ids=[patient.pk], what="api:patient-detail")
    log = AccessLog.objects.get()

    for attempt in (
        lambda: AccessLog.objects.filter(pk=log.pk).update(what="edited"),
        lambda: log.delete(),
        lambda: connection.cursor().execute("UPDATE patients_accesslog SET what = 'x' WHERE id = %s", [log.pk]),
        lambda: connection.cursor().execute("DELETE FROM patients_accesslog WHERE id = %s", [log.pk]),
    ):
        with pytest.raises(DatabaseError), transaction.atomic():
            attempt()
    assert AccessLog.objects.get().what == "api:patient-detail"


def test_log_admin_read_helper(rf, therapist, patient):
    request = rf.get("/admin/patients/patient/")
    request.user = therapist
    patients.audit.log_admin_read(request, patient.pk)
    assert AccessLog.objects.get().what == "admin:patient-change"


@pytest.fixture
def superuser_client(client, db):
    user = factories.UserFactory(is_staff=True, is_superuser=True)
    client.force_login(user)
    return client


def test_admin_trail_pages_load_filtered_by_patient(superuser_client, as_user, therapist, patient, other_patient):
    as_user(therapist).patch(f"/api/v1/patients/{patient.pk}/", {"first_name": "Renamed"})
    as_user(therapist).get(f"/api/v1/patients/{patient.pk}/")
    factories.ClearanceFactory(patient=patient, recorded_by=therapist)

    page = superuser_client.get(f"/admin/patients/changetrailentry/?patient={patient.pk}")
    assert page.status_code == 200
    shown = {(row.pgh_obj_model, row.pgh_label) for row in page.context["cl"].result_list}
    assert {("patients.Patient", "update"), ("patients.Clearance", "insert")} <= shown
    assert all(
        row.pgh_obj_id != str(other_patient.pk) or row.pgh_obj_model != "patients.Patient"
        for row in page.context["cl"].result_list
    )
    assert superuser_client.get("/admin/patients/changetrailentry/").status_code == 200

    # The API read, then the reads the two change-trail pages logged (issue 15: the change trail shows patient data).
    page = superuser_client.get(f"/admin/patients/accesslog/?patient={patient.pk}")
    assert page.status_code == 200
    assert [(row.patient_id, row.what) for row in page.context["cl"].result_list] == [
        (patient.pk, "admin:change-trail-list"),
        (patient.pk, "admin:change-trail-list"),
        (patient.pk, "api:patient-detail"),
    ]
    other = superuser_client.get(f"/admin/patients/accesslog/?patient={other_patient.pk}").context["cl"].result_list
    assert [row.what for row in other] == ["admin:change-trail-list"]  # shown by the unfiltered change trail only


def test_admin_trails_are_read_only(superuser_client, therapist, patient):
    patients.audit.access_log_record(actor=therapist, patient_ids=[patient.pk], what="api:patient-detail")
    log = AccessLog.objects.get()
    assert superuser_client.get("/admin/patients/accesslog/add/").status_code == 403
    assert superuser_client.post(f"/admin/patients/accesslog/{log.pk}/delete/").status_code == 403
    page = superuser_client.get(f"/admin/patients/accesslog/{log.pk}/change/")
    assert page.status_code == 200 and not page.context["has_change_permission"]
