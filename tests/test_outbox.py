"""The re-check outbox (DESIGN §10): every gate-fact change records a request in its own transaction; the
per-minute drain re-checks and closes it only if no change overtook it; a broker outage delays nothing past
the next run."""

from __future__ import annotations

import datetime as dt
import threading
import time

import pytest
from django.conf import settings
from django.core.exceptions import PermissionDenied
from django.db import transaction
from django.utils import timezone

from clinic import services as clinic_services
from clinic.models import CatalogRecheckRequest, Diagnosis, MovementTag
from config.celery import app
from patients import services as patient_services
from patients.models import Patient, RecheckRequest
from prescriptions import services
from prescriptions.models import Reminder, SafetyFlag, Session
from prescriptions.services import ItemIn, outbox
from prescriptions.services.schedule import sessions_materialize
from prescriptions.tasks import conflicts as conflict_tasks
from tests import factories
from tests.broker import broker_unreachable
from tests.threads import OnItsOwnConnection

EVERY_DAY = [1, 2, 3, 4, 5, 6, 7]


def active_plan(patient, therapist, stretch, slug: str = "pelvic-tilt"):
    s = stretch(slug)
    draft = services.prescription_create(
        episode=patient.episodes.first(),
        by=therapist,
        start_date=patient.local_today(),
        days_of_week=EVERY_DAY,
        times=[dt.time(23, 59)],
        items=[ItemIn(stretch=s, reps=s.default_reps, sets=s.default_sets, hold_seconds=s.default_hold_seconds)],
    )
    return services.prescription_activate(prescription=draft, by=therapist)


def request_of(patient) -> RecheckRequest:
    return RecheckRequest.objects.get(patient=patient)


@pytest.fixture(autouse=True)
def _catalog_requests_done(db):
    """Close the global request the release's migration leaves open, so each test sees only its own."""
    CatalogRecheckRequest.objects.update(done=True)


# --- Every gate-fact write records a request in its own transaction ----------------------------------------


def _record_clearance(patient, therapist, mobility):
    patient_services.clearance_record(
        patient=patient,
        by=therapist,
        professional_name="Dr Reyes",
        profession="physician",
        status="cleared",
        valid_from=patient.local_today(),
        valid_until=patient.local_today() + dt.timedelta(days=30),
    )


def _revoke(patient, therapist, mobility):
    patient_services.clearance_revoke(clearance=patient.clearances.get(), by=therapist, reason="Withdrawn")


def _add_diagnosis(patient, therapist, mobility):
    patient_services.patient_diagnosis_add(patient=patient, by=therapist, diagnosis=Diagnosis.objects.get(code="M81.0"))


def _change_diagnosis(patient, therapist, mobility):
    row = factories.PatientDiagnosisFactory(patient=patient)  # written directly: no request yet
    patient_services.patient_diagnosis_update(patient_diagnosis=row, by=therapist, resolved_date=patient.local_today())


def _assess(patient, therapist, mobility):
    patient_services.mobility_assess(patient=patient, by=therapist, level=mobility(1))


def _move_zone(patient, therapist, mobility):
    patient_services.patient_update(patient=patient, by=therapist, timezone="Pacific/Auckland")


@pytest.mark.parametrize(
    "change",
    [_record_clearance, _revoke, _add_diagnosis, _change_diagnosis, _assess, _move_zone],
    ids=lambda f: f.__name__,
)
def test_every_gate_fact_change_records_a_request_in_its_transaction(cleared_patient, therapist, mobility, change):
    assert (request_of(cleared_patient).version, request_of(cleared_patient).done) == (0, True)
    change(cleared_patient, therapist, mobility)
    request = request_of(cleared_patient)
    assert not request.done and request.version == 1 and request.reason


def test_a_change_that_is_no_gate_fact_records_nothing(cleared_patient, therapist):
    patient_services.patient_update(patient=cleared_patient, by=therapist, first_name="Renamed")
    assert (request_of(cleared_patient).version, request_of(cleared_patient).done) == (0, True)


def test_the_request_is_part_of_the_callers_transaction(cleared_patient, therapist, mobility):
    def assess_then_fail():
        with transaction.atomic():
            _assess(cleared_patient, therapist, mobility)
            raise RuntimeError("the surrounding work failed")

    with pytest.raises(RuntimeError):
        assess_then_fail()
    assert (request_of(cleared_patient).version, request_of(cleared_patient).done) == (0, True)


def test_writes_coalesce_per_patient_and_a_closed_request_reopens(cleared_patient, therapist, mobility):
    _assess(cleared_patient, therapist, mobility)
    _assess(cleared_patient, therapist, mobility)
    request = request_of(cleared_patient)
    assert (request.version, request.done) == (2, False)
    first_requested = request.requested_at

    outbox.patient_rechecks_run(patient_ids=[cleared_patient.pk])
    request.refresh_from_db()
    assert request.done and request.claimed_until is None

    _assess(cleared_patient, therapist, mobility)
    request.refresh_from_db()
    assert (request.version, request.done) == (3, False)
    assert request.requested_at >= first_requested


def test_a_change_during_the_recheck_leaves_the_request_open(cleared_patient, therapist, mobility):
    _assess(cleared_patient, therapist, mobility)
    seen = {cleared_patient.pk: request_of(cleared_patient).version}
    _assess(cleared_patient, therapist, mobility)  # lands while the drainer re-checks with the old facts

    closed, left_open = outbox._close([cleared_patient.pk], seen, keep_open=(), release=True)

    assert (closed, left_open) == (0, 1)
    assert not request_of(cleared_patient).done


def test_the_fast_path_task_rechecks_and_closes_the_request(cleared_patient, therapist, stretch):
    plan = active_plan(cleared_patient, therapist, stretch)
    sessions_materialize(prescription_id=plan.pk)
    _revoke(cleared_patient, therapist, None)

    conflict_tasks.recheck_patient_conflicts(cleared_patient.pk)

    assert request_of(cleared_patient).done
    assert not plan.sessions.filter(status=Session.Status.SCHEDULED).exists()
    assert SafetyFlag.objects.filter(prescription=plan, kind=SafetyFlag.Kind.CLEARANCE_CONFLICT).count() == 1


# --- Claims, leases and the drain ----------------------------------------------------------------------------


def test_claims_are_leased_so_a_second_drainer_skips_them_until_the_lease_lapses(clinic):
    patients = factories.PatientFactory.create_batch(3, clinic=clinic)
    patient_services.recheck_request(patient_ids=[p.pk for p in patients], reason="test")
    now = timezone.now()

    first = outbox._claim(now=now, batch=2)
    second = outbox._claim(now=now, batch=2)
    assert len(first) == 2 and len(second) == 1 and not set(first) & set(second)
    assert outbox._claim(now=now, batch=2) == []

    # The first drainer died holding its claims: they come back once the lease lapses.
    later = now + outbox.lease() + dt.timedelta(seconds=1)
    assert sorted(outbox._claim(now=later, batch=10)) == sorted(first + second)


def test_the_drain_takes_the_oldest_requests_first_and_stops_at_its_deadline(clinic):
    older, newer = factories.PatientFactory.create_batch(2, clinic=clinic)
    patient_services.recheck_request(patient_ids=[older.pk], reason="test")
    RecheckRequest.objects.filter(patient=older).update(requested_at=timezone.now() - dt.timedelta(minutes=5))
    patient_services.recheck_request(patient_ids=[newer.pk], reason="test")

    assert outbox._claim(now=timezone.now(), batch=1) == [older.pk]
    RecheckRequest.objects.update(claimed_until=None)

    expired = outbox.rechecks_drain(deadline=0.0)  # a monotonic time long past
    assert expired.claimed == 0 and RecheckRequest.objects.filter(done=False).count() == 2

    drained = outbox.rechecks_drain(batch=1)
    assert drained.closed == 2 and not RecheckRequest.objects.filter(done=False).exists()


def test_a_patient_whose_plan_failed_to_recheck_stays_open(cleared_patient, therapist, stretch, monkeypatch):
    plan = active_plan(cleared_patient, therapist, stretch)
    _revoke(cleared_patient, therapist, None)

    def broken(check, unblock):
        raise RuntimeError("boom")

    monkeypatch.setattr("prescriptions.services.conflicts._apply_flags", broken)
    run = outbox.patient_rechecks_run(patient_ids=[cleared_patient.pk])

    assert run.closed == 0 and run.reopened == 1
    request = request_of(cleared_patient)
    assert not request.done and request.claimed_until is None
    assert plan.pk not in {r.prescription_id for r in run.results}


# --- Catalog changes ----------------------------------------------------------------------------------------


def test_a_clinic_contraindication_reaches_that_clinics_active_patients_only(
    cleared_patient, therapist, clinic_admin, stretch, other_clinic
):
    active_plan(cleared_patient, therapist, stretch)
    idle = factories.PatientFactory(clinic=cleared_patient.clinic)  # no active plan: nothing to re-check
    elsewhere = factories.PatientFactory(clinic=other_clinic)
    RecheckRequest.objects.all().delete()

    clinic_services.contraindication_create(
        clinic=cleared_patient.clinic,
        by=clinic_admin,
        diagnosis=Diagnosis.objects.get(code="M54.50"),
        tag=MovementTag.objects.get(slug="lumbar_flexion"),
        severity="relative",
        rationale="Clinic protocol.",
    )
    request = CatalogRecheckRequest.objects.get(clinic=cleared_patient.clinic)
    assert not request.done

    assert outbox.catalog_rechecks_expand() == 1
    assert set(RecheckRequest.objects.filter(done=False).values_list("patient_id", flat=True)) == {cleared_patient.pk}
    assert not RecheckRequest.objects.filter(patient__in=[idle, elsewhere], done=False).exists()
    request.refresh_from_db()
    assert request.done


def test_an_admin_edit_of_a_global_diagnosis_is_rechecked_for_every_clinic(
    cleared_patient, therapist, stretch, client, django_user_model
):
    """A superuser narrows who may clear M54.50 in the admin: the physician-cleared patient's plan is held by
    the next drain, with no task needed."""
    plan = active_plan(cleared_patient, therapist, stretch)
    sessions_materialize(prescription_id=plan.pk)
    factories.PatientDiagnosisFactory(patient=cleared_patient, diagnosis=Diagnosis.objects.get(code="M54.50"))
    cleared_patient.clearances.update(profession="physical_therapist")
    superuser = django_user_model.objects.create_superuser("root", "root@example.test", "pw-unused-1")
    client.force_login(superuser)
    diagnosis = Diagnosis.objects.get(code="M54.50")

    response = client.post(
        f"/admin/clinic/diagnosis/{diagnosis.pk}/change/",
        {
            "code": diagnosis.code,
            "name": diagnosis.name,
            "body_region": diagnosis.body_region,
            "clearance_by": "physician",
            "source": diagnosis.source,
            "review_note": diagnosis.review_note,
        },
    )
    assert response.status_code == 302, response.content[:2000]
    assert CatalogRecheckRequest.objects.get(clinic=None).done is False

    outbox.rechecks_drain()

    assert not plan.sessions.filter(status=Session.Status.SCHEDULED).exists()
    flag = SafetyFlag.objects.get(prescription=plan, kind=SafetyFlag.Kind.CLEARANCE_CONFLICT)
    assert "clearance_insufficient_authority" in {f["code"] for f in flag.details["findings"]}


def test_only_a_superuser_changes_the_global_catalog(clinic_admin):
    tag = MovementTag.objects.get(slug="prone")
    tag.name = "Lying face down"
    with pytest.raises(PermissionDenied):
        clinic_services.catalog_row_save(row=tag, by=clinic_admin)
    assert not CatalogRecheckRequest.objects.filter(done=False).exists()


# --- A broker outage converges within a minute ---------------------------------------------------------------


def test_the_beat_drains_the_outbox_every_minute():
    entries = [
        entry for entry in settings.CELERY_BEAT_SCHEDULE.values() if entry["task"] == "prescriptions.drain_rechecks"
    ]
    assert len(entries) == 1 and entries[0]["schedule"] <= 60


@pytest.mark.django_db(transaction=True)
def test_a_revocation_during_a_broker_outage_converges_at_the_next_per_minute_runs(
    catalog, cleared_patient, therapist, stretch
):
    """The broker is down (a closed port) when the clearance is revoked: the fast path is lost. With the broker
    back, one run of each beat task scheduled every minute or more often holds every upcoming session, cancels
    their reminders and opens exactly one flag."""
    cleared_patient.email_consent, cleared_patient.email_consent_at = True, timezone.now()
    cleared_patient.preferred_channel = "email"
    cleared_patient.save()
    with broker_unreachable():
        plan = active_plan(cleared_patient, therapist, stretch)
        sessions_materialize(prescription_id=plan.pk)
        upcoming = plan.sessions.filter(status=Session.Status.SCHEDULED)
        assert upcoming.exists()
        assert Reminder.objects.filter(session__prescription=plan, status=Reminder.Status.PENDING).exists()

        _revoke(cleared_patient, therapist, None)

        assert upcoming.exists(), "nothing ran: the fast path was lost with the broker"
        assert not SafetyFlag.objects.filter(prescription=plan).exists()

    per_minute = [
        entry["task"]
        for entry in settings.CELERY_BEAT_SCHEDULE.values()
        if isinstance(entry["schedule"], int | float) and entry["schedule"] <= 60
    ]
    for name in per_minute:
        app.tasks[name]()  # what a worker runs when beat publishes it

    assert not plan.sessions.filter(status=Session.Status.SCHEDULED).exists()
    assert plan.sessions.filter(status=Session.Status.BLOCKED).exists()
    assert not Reminder.objects.filter(session__prescription=plan, status=Reminder.Status.PENDING).exists()
    open_flags = SafetyFlag.objects.filter(patient=cleared_patient).exclude(status=SafetyFlag.Status.RESOLVED)
    assert open_flags.count() == 1
    assert open_flags.get().kind == SafetyFlag.Kind.CLEARANCE_CONFLICT
    assert request_of(cleared_patient).done


@pytest.mark.django_db(transaction=True)
def test_a_first_request_beside_a_writer_holding_the_patient_never_deadlocks(catalog, clinic):
    """A writer holds the patient FOR UPDATE (as ``_live`` does) while another records a request without that
    lock (a revocation, the dispatcher); then the first records its own. With an INSERT the second's foreign-key
    check would wait for the patient while the first waits for the second's row: a deadlock. The row exists
    from the patient's creation, so both are UPDATEs and simply queue."""
    patient = factories.PatientFactory(clinic=clinic)
    holding, recorded = threading.Event(), threading.Event()

    def writer_holding_the_patient():
        with transaction.atomic():
            Patient.objects.select_for_update().get(pk=patient.pk)
            holding.set()
            recorded.wait(10)
            time.sleep(0.3)  # the other transaction is committing now
            patient_services.recheck_request(patient_ids=[patient.pk], reason="holding the patient")

    def writer_without_the_lock():
        holding.wait(10)
        with transaction.atomic():
            patient_services.recheck_request(patient_ids=[patient.pk], reason="no patient lock")
            recorded.set()

    threads = [OnItsOwnConnection(writer_holding_the_patient), OnItsOwnConnection(writer_without_the_lock)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.outcome()  # re-raises a DeadlockDetected
    assert (request_of(patient).version, request_of(patient).done) == (2, False)


def test_the_fast_path_leaves_a_running_drainers_lease_alone(cleared_patient, therapist, mobility):
    _assess(cleared_patient, therapist, mobility)
    assert outbox._claim(now=timezone.now(), batch=10) == [cleared_patient.pk]  # a drainer is working on it
    seen = {cleared_patient.pk: request_of(cleared_patient).version}
    _assess(cleared_patient, therapist, mobility)  # lands while the fast path re-checks

    assert outbox._close([cleared_patient.pk], seen, keep_open=(), release=False) == (0, 1)
    assert request_of(cleared_patient).claimed_until is not None  # the drainer's lease is the drainer's to lift

    assert outbox._close([cleared_patient.pk], seen, keep_open=(), release=True) == (0, 1)
    assert request_of(cleared_patient).claimed_until is None


def test_a_batch_that_fails_as_a_whole_is_retried_patient_by_patient(clinic, monkeypatch):
    """One broken patient must not hold back the rest of the batch, run after run (claims go oldest first)."""
    broken, fine = factories.PatientFactory.create_batch(2, clinic=clinic)
    patient_services.recheck_request(patient_ids=[broken.pk, fine.pk], reason="test")
    real = outbox.patients_recheck

    def failing_for_broken(*, patient_ids, **kwargs):
        if broken.pk in patient_ids:
            raise RuntimeError("a broken patient")
        return real(patient_ids=patient_ids, **kwargs)

    monkeypatch.setattr(outbox, "patients_recheck", failing_for_broken)
    drained = outbox.rechecks_drain()

    assert (drained.claimed, drained.closed, drained.reopened) == (2, 1, 1)
    assert request_of(fine).done
    assert not request_of(broken).done and request_of(broken).claimed_until is None


def test_moving_a_catalog_row_between_scopes_rechecks_both(clinic, other_clinic, clinic_admin, django_user_model):
    row = clinic_services.contraindication_create(
        clinic=clinic,
        by=clinic_admin,
        diagnosis=Diagnosis.objects.get(code="M54.50"),
        tag=MovementTag.objects.get(slug="lumbar_flexion"),
        severity="relative",
        rationale="Clinic protocol.",
    )
    CatalogRecheckRequest.objects.update(done=True)

    row.clinic = other_clinic  # a clinic admin may not hand their row to another clinic
    with pytest.raises(PermissionDenied):
        clinic_services.catalog_row_save(row=row, by=clinic_admin)

    superuser = django_user_model.objects.create_superuser("root", "root@example.test", "pw-unused-1")
    row.clinic = None  # made global by a superuser: every clinic, and the clinic it left
    clinic_services.catalog_row_save(row=row, by=superuser)
    assert set(CatalogRecheckRequest.objects.filter(done=False).values_list("clinic_id", flat=True)) == {
        None,
        clinic.pk,
    }
