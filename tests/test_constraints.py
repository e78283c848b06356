"""Invariants the database holds by itself: rows written past the services' validation are still refused."""

from __future__ import annotations

import datetime as dt
import re
from contextlib import contextmanager

import pytest
from django.db import DatabaseError, IntegrityError, ProgrammingError, connection, transaction
from django.db.models import ProtectedError

from clinic.models import Contraindication, Diagnosis, MovementTag, Stretch
from patients.models import Clearance, Episode, MobilityAssessment, Patient, PatientDiagnosis
from prescriptions.models import Prescription, Reminder, SafetyFlag, Session, SessionLog
from tests import factories

pytestmark = pytest.mark.django_db

DAY = dt.date(2025, 3, 10)


@contextmanager
def refused_by(constraint: str):
    """The block must fail with an IntegrityError naming ``constraint``; its savepoint is rolled back."""
    with pytest.raises(IntegrityError, match=re.escape(constraint)), transaction.atomic():
        yield


@contextmanager
def refused_by_trigger(table: str):
    with (
        pytest.raises(ProgrammingError, match=re.escape(f"pgtrigger: Cannot delete rows from {table} table")),
        transaction.atomic(),
    ):
        yield


# --- Patients and staff ---------------------------------------------------------------------------


def test_mrn_is_unique_within_a_clinic(clinic, other_clinic):
    factories.PatientFactory(clinic=clinic, mrn="A-100")

    with refused_by("patient_mrn_unique_per_clinic"):
        factories.PatientFactory(clinic=clinic, mrn="A-100")

    factories.PatientFactory(clinic=other_clinic, mrn="A-100")
    assert Patient.objects.filter(mrn="A-100").count() == 2


def test_mrn_uniqueness_holds_for_bulk_create(clinic):
    with refused_by("patient_mrn_unique_per_clinic"):
        Patient.objects.bulk_create(
            [
                factories.PatientFactory.build(clinic=clinic, mrn="B-1"),
                factories.PatientFactory.build(clinic=clinic, mrn="B-1"),
            ]
        )
    assert not Patient.objects.filter(mrn="B-1").exists()


def test_a_user_has_at_most_one_staff_membership(therapist, other_clinic):
    with refused_by("user_id"):
        factories.MembershipFactory(user=therapist, clinic=other_clinic, role="front_desk")


def test_quiet_hours_are_both_or_neither(clinic):
    with refused_by("patient_quiet_hours_both_or_neither"):
        factories.PatientFactory(clinic=clinic, quiet_hours_start=dt.time(21, 0))


def test_given_consent_carries_its_timestamp(clinic):
    with refused_by("patient_email_consent_timestamped"):
        factories.PatientFactory(clinic=clinic, email_consent=True, email_consent_at=None)


def test_episode_cannot_be_discharged_before_it_opened(patient):
    with refused_by("episode_discharge_after_open"):
        factories.EpisodeFactory(patient=patient, opened_on=DAY, discharged_on=DAY - dt.timedelta(days=1))


# --- Session logs ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("field", "value", "constraint"),
    [
        ("pain_before", 11, "log_pain_before_0_10"),
        ("pain_before", -1, "pain_before"),
        ("pain_after", 11, "log_pain_after_0_10"),
        ("pain_after", -1, "pain_after"),
        ("difficulty", 0, "log_difficulty_1_5"),
        ("difficulty", 6, "log_difficulty_1_5"),
    ],
)
def test_session_log_scores_stay_on_their_scales(field, value, constraint):
    session = factories.SessionFactory()

    with refused_by(constraint):
        factories.SessionLogFactory(session=session, **{field: value})

    assert not SessionLog.objects.filter(session=session).exists()


@pytest.mark.parametrize(
    "scores",
    [
        {"pain_before": 0, "pain_after": 10, "difficulty": 1},
        {"pain_before": 10, "pain_after": 0, "difficulty": 5},
        {"pain_before": 5, "pain_after": 5, "difficulty": None},
    ],
)
def test_session_log_scale_ends_are_accepted(scores):
    log = factories.SessionLogFactory(**scores)
    assert SessionLog.objects.filter(pk=log.pk, **scores).exists()


# --- Prescription items ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("field", "value", "constraint"),
    [
        ("reps", 0, "item_reps_positive"),
        ("reps", 101, "item_reps_positive"),
        ("sets", 0, "item_sets_positive"),
        ("sets", 21, "item_sets_positive"),
        ("hold_seconds", 0, "item_hold_positive"),
        ("hold_seconds", 301, "item_hold_positive"),
    ],
)
def test_item_dosage_is_positive_and_bounded(field, value, constraint):
    prescription = factories.PrescriptionFactory()

    with refused_by(constraint):
        factories.PrescriptionItemFactory(prescription=prescription, **{field: value})

    assert not prescription.items.exists()


def test_item_without_hold_is_allowed_for_dynamic_dosage():
    item = factories.PrescriptionItemFactory(hold_seconds=None, reps=10, sets=1)
    assert item.pk is not None


def test_item_order_is_unique_within_a_plan():
    prescription = factories.PrescriptionFactory()
    factories.PrescriptionItemFactory(prescription=prescription, order=1)

    with refused_by("item_order_unique"):
        factories.PrescriptionItemFactory(prescription=prescription, order=1)


# --- Clearances -----------------------------------------------------------------------------------


def test_clearance_cannot_end_before_it_starts(patient):
    with refused_by("clearance_valid_until_after_from"):
        factories.ClearanceFactory(patient=patient, valid_from=DAY, valid_until=DAY - dt.timedelta(days=1))

    same_day = factories.ClearanceFactory(patient=patient, valid_from=DAY, valid_until=DAY)
    assert list(Clearance.objects.filter(patient=patient)) == [same_day]


def test_clearance_revocation_names_who_and_why(patient):
    with refused_by("clearance_revocation_complete"):
        factories.ClearanceFactory(patient=patient, revoked_at=dt.datetime(2025, 3, 10, tzinfo=dt.UTC))


# --- Prescriptions --------------------------------------------------------------------------------


def test_prescription_cannot_end_before_it_starts():
    with refused_by("prescription_end_after_start"):
        factories.PrescriptionFactory(start_date=DAY, end_date=DAY - dt.timedelta(days=1))

    assert factories.PrescriptionFactory(start_date=DAY, end_date=DAY).pk is not None


@pytest.mark.parametrize("days", [[], [0], [8], [1, 8], [0, 1, 2]])
def test_prescription_days_of_week_are_iso_weekdays_and_not_empty(days):
    with refused_by("prescription_days_of_week_valid"):
        factories.PrescriptionFactory(days_of_week=days)


def test_prescription_needs_a_time_of_day():
    with refused_by("prescription_has_times"):
        factories.PrescriptionFactory(times=[])


def test_a_plan_has_one_live_amendment():
    original = factories.PrescriptionFactory(status=Prescription.Status.ACTIVE)
    factories.PrescriptionFactory(episode=original.episode, supersedes=original)

    with refused_by("prescription_one_live_amendment"):
        factories.PrescriptionFactory(episode=original.episode, supersedes=original)


def test_a_cancelled_amendment_makes_room_for_another():
    original = factories.PrescriptionFactory(status=Prescription.Status.ACTIVE)
    factories.PrescriptionFactory(episode=original.episode, supersedes=original, status=Prescription.Status.CANCELLED)
    factories.PrescriptionFactory(episode=original.episode, supersedes=original, status=Prescription.Status.CANCELLED)

    live = factories.PrescriptionFactory(episode=original.episode, supersedes=original)

    assert original.amendments.count() == 3
    assert original.amendments.exclude(status="cancelled").get() == live


# --- Sessions and reminders -----------------------------------------------------------------------


def test_one_session_per_plan_date_and_time():
    session = factories.SessionFactory()

    with refused_by("session_unique_per_slot"):
        factories.SessionFactory(
            prescription=session.prescription, local_date=session.local_date, local_time=session.local_time
        )

    factories.SessionFactory(prescription=session.prescription, local_date=session.local_date, local_time=dt.time(18))
    factories.SessionFactory(prescription=session.prescription, local_date=session.local_date + dt.timedelta(days=1))
    assert session.prescription.sessions.count() == 3


def test_one_session_per_slot_holds_for_bulk_create():
    session = factories.SessionFactory()

    with refused_by("session_unique_per_slot"):
        Session.objects.bulk_create(
            [
                factories.SessionFactory.build(
                    prescription=session.prescription, local_date=session.local_date, local_time=session.local_time
                )
            ]
        )


def test_one_reminder_per_session_and_purpose():
    reminder = factories.ReminderFactory()

    with refused_by("reminder_one_per_session_purpose"):
        factories.ReminderFactory(session=reminder.session, purpose=Reminder.Purpose.SESSION)

    factories.ReminderFactory(session=reminder.session, purpose=Reminder.Purpose.MISSED_FOLLOW_UP)
    assert reminder.session.reminders.count() == 2


def test_reminder_idempotency_keys_are_unique():
    reminder = factories.ReminderFactory()

    with refused_by("idempotency_key"):
        factories.ReminderFactory(idempotency_key=reminder.idempotency_key)


def test_a_sent_reminder_records_when():
    with refused_by("reminder_sent_has_time"):
        factories.ReminderFactory(status=Reminder.Status.SENT, sent_at=None)


# --- Safety flags ---------------------------------------------------------------------------------


@pytest.mark.parametrize("first_status", [SafetyFlag.Status.OPEN, SafetyFlag.Status.ACKNOWLEDGED])
def test_one_unresolved_flag_per_patient_kind_and_cause(patient, first_status):
    factories.SafetyFlagFactory(
        patient=patient, kind="contraindication", cause_key="prescription:1", status=first_status
    )

    with refused_by("flag_one_unresolved_per_cause"):
        factories.SafetyFlagFactory(patient=patient, kind="contraindication", cause_key="prescription:1")


def test_a_resolved_flag_does_not_block_a_new_open_one(patient):
    factories.SafetyFlagFactory(patient=patient, kind="mobility", cause_key="prescription:7", resolved=True)
    factories.SafetyFlagFactory(patient=patient, kind="mobility", cause_key="prescription:7", resolved=True)

    reopened = factories.SafetyFlagFactory(patient=patient, kind="mobility", cause_key="prescription:7")

    assert patient.safety_flags.filter(cause_key="prescription:7").count() == 3
    assert reopened.is_unresolved


def test_same_cause_of_another_kind_or_patient_is_a_separate_flag(patient):
    factories.SafetyFlagFactory(patient=patient, kind="contraindication", cause_key="prescription:3")
    factories.SafetyFlagFactory(patient=patient, kind="mobility", cause_key="prescription:3")
    factories.SafetyFlagFactory(kind="contraindication", cause_key="prescription:3")

    assert SafetyFlag.objects.filter(cause_key="prescription:3").count() == 3


def test_clearance_expiring_is_flagged_once_per_clearance_ever(patient):
    factories.SafetyFlagFactory(patient=patient, kind="clearance_expiring", cause_key="clearance:5", resolved=True)

    with refused_by("flag_clearance_expiring_once"):
        factories.SafetyFlagFactory(patient=patient, kind="clearance_expiring", cause_key="clearance:5")

    factories.SafetyFlagFactory(patient=patient, kind="clearance_expiring", cause_key="clearance:6")


def test_a_resolved_flag_records_when_and_why(patient):
    with refused_by("flag_resolution_recorded"):
        factories.SafetyFlagFactory(patient=patient, status=SafetyFlag.Status.RESOLVED)


# --- Catalog --------------------------------------------------------------------------------------


def test_a_static_stretch_needs_a_hold(clinic):
    with refused_by("stretch_static_has_hold"):
        factories.StretchFactory(clinic=clinic, kind=Stretch.Kind.STATIC, default_hold_seconds=None)

    dynamic = factories.StretchFactory(clinic=clinic, kind=Stretch.Kind.DYNAMIC, default_hold_seconds=None)
    assert dynamic.pk is not None


@pytest.mark.parametrize(("with_tag", "with_stretch"), [(True, True), (False, False)])
def test_a_contraindication_names_exactly_one_of_tag_or_stretch(with_tag, with_stretch):
    with refused_by("contraindication_tag_xor_stretch"):
        Contraindication.objects.create(
            diagnosis=Diagnosis.objects.get(code="M81.0"),
            tag=MovementTag.objects.get(slug="lumbar_flexion") if with_tag else None,
            stretch=Stretch.objects.get(clinic=None, slug="pelvic-tilt") if with_stretch else None,
            severity=Contraindication.Severity.ABSOLUTE,
            rationale="Test row.",
        )


def test_global_stretch_slugs_are_unique_even_though_clinic_is_null():
    factories.StretchFactory(clinic=None, slug="wall-angel")

    with refused_by("stretch_slug_per_clinic"):
        factories.StretchFactory(clinic=None, slug="wall-angel")


def test_a_global_row_cannot_reuse_a_seeded_slug():
    with refused_by("stretch_slug_per_clinic"):
        factories.StretchFactory(clinic=None, slug="pelvic-tilt")


def test_clinic_stretch_slugs_are_unique_per_clinic_only(clinic, other_clinic):
    factories.StretchFactory(clinic=clinic, slug="pelvic-tilt")
    factories.StretchFactory(clinic=other_clinic, slug="pelvic-tilt")

    with refused_by("stretch_slug_per_clinic"):
        factories.StretchFactory(clinic=clinic, slug="pelvic-tilt")

    assert Stretch.objects.filter(slug="pelvic-tilt").count() == 3


# --- Deletion: PROTECT in the ORM, triggers in the database ----------------------------------------


def test_orm_refuses_to_delete_a_patient_with_a_prescription(patient):
    factories.PrescriptionFactory(episode__patient=patient)

    with pytest.raises(ProtectedError), transaction.atomic():
        Patient.objects.filter(pk=patient.pk).delete()

    assert Patient.objects.filter(pk=patient.pk).exists()


def test_orm_refuses_to_delete_an_episode_with_a_prescription():
    prescription = factories.PrescriptionFactory()

    with pytest.raises(ProtectedError), transaction.atomic():
        prescription.episode.delete()


def test_orm_refuses_to_delete_a_clinic_with_patients(patient):
    with pytest.raises(ProtectedError), transaction.atomic():
        patient.clinic.delete()


def _patient_row():
    return factories.PatientFactory()


@pytest.mark.parametrize(
    ("make", "model", "table"),
    [
        (_patient_row, Patient, "patients_patient"),
        (lambda: factories.EpisodeFactory(), Episode, "patients_episode"),
        (lambda: factories.ClearanceFactory(), Clearance, "patients_clearance"),
        (lambda: factories.MobilityAssessmentFactory(), MobilityAssessment, "patients_mobilityassessment"),
        (lambda: factories.PatientDiagnosisFactory(), PatientDiagnosis, "patients_patientdiagnosis"),
        (lambda: factories.PrescriptionFactory(), Prescription, "prescriptions_prescription"),
        (lambda: factories.SessionFactory(), Session, "prescriptions_session"),
        (lambda: factories.SessionLogFactory(), SessionLog, "prescriptions_sessionlog"),
        (lambda: factories.ReminderFactory(), Reminder, "prescriptions_reminder"),
        (lambda: factories.SafetyFlagFactory(), SafetyFlag, "prescriptions_safetyflag"),
    ],
    ids=lambda v: v if isinstance(v, str) else None,
)
def test_clinical_rows_without_dependants_are_still_never_deleted(make, model, table):
    row = make()

    with refused_by_trigger(table):
        model.objects.filter(pk=row.pk).delete()
    with refused_by_trigger(table), connection.cursor() as cursor:
        cursor.execute(f"DELETE FROM {model._meta.db_table} WHERE id = %s", [row.pk])  # noqa: S608

    assert model.objects.filter(pk=row.pk).exists()


def test_a_recorded_clearances_restrictions_are_never_deleted(patient):
    clearance = factories.ClearanceFactory(patient=patient, status=Clearance.Status.RESTRICTED)
    clearance.restricted_tags.set([MovementTag.objects.get(slug="lumbar_flexion")])
    through = Clearance.restricted_tags.through._meta.db_table

    with pytest.raises(DatabaseError), transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(f"DELETE FROM {through} WHERE clearance_id = %s", [clearance.pk])  # noqa: S608

    assert clearance.restricted_tags.count() == 1
