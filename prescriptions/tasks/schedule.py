"""Celery tasks: schedule (thin: take ids, call a service, idempotent)."""

from __future__ import annotations

import logging
import time

from celery import shared_task

from prescriptions.models import Prescription
from prescriptions.services.conflicts import prescription_recheck
from prescriptions.services.schedule import (
    patients_with_stale_session_times,
    prescriptions_to_materialize,
    reminders_refresh_for_patient,
    sessions_mark_missed,
    sessions_materialize,
    sessions_retime_for_patient,
)

logger = logging.getLogger(__name__)

SWEEP_BATCH = 1000
#: Stop starting new plans after this long, well inside the task's soft time limit; the next run
#: (a minute later) continues with what is still behind.
SWEEP_BUDGET_SECONDS = 40.0


def _materialize_and_recheck(prescription_id: int, *, recheck_always: bool = False) -> int:
    """Materialize, then let the conflict engine block sessions on dates that fail the safety gate (after new
    sessions, or always when the plan just went live: sessions revived by a resume need it too)."""
    created = sessions_materialize(prescription_id=prescription_id)
    if created or (recheck_always and Prescription.objects.active().filter(pk=prescription_id).exists()):
        prescription_recheck(prescription_id=prescription_id)
    return created


@shared_task(name="prescriptions.materialize_sessions", acks_late=True, ignore_result=True)
def materialize_sessions(prescription_id: int) -> None:
    """After activation or resume: sessions up to the horizon, their reminders, then the conflict re-check."""
    _materialize_and_recheck(prescription_id, recheck_always=True)


@shared_task(name="prescriptions.sweep_materialize", acks_late=True, ignore_result=True)
def sweep_materialize() -> None:
    """Per minute: every active plan whose sessions lag today + horizon, and every patient whose upcoming
    sessions do not match their zone — the catch-up after a dropped enqueue or a broker outage."""
    started = time.monotonic()
    for prescription_id in prescriptions_to_materialize(limit=SWEEP_BATCH):
        if time.monotonic() - started > SWEEP_BUDGET_SECONDS:
            return
        _materialize_and_recheck(prescription_id)
    for patient_id in patients_with_stale_session_times():
        if time.monotonic() - started > SWEEP_BUDGET_SECONDS:
            return
        sessions_retime_for_patient(patient_id=patient_id)


@shared_task(name="prescriptions.sweep_missed_sessions", acks_late=True, ignore_result=True)
def sweep_missed_sessions() -> None:
    """Scheduled sessions whose log window closed become missed."""
    sessions_mark_missed()


@shared_task(name="prescriptions.retime_sessions", acks_late=True, ignore_result=True)
def retime_sessions(patient_id: int) -> None:
    """The patient's zone changed: future sessions and their reminders get the new instants."""
    sessions_retime_for_patient(patient_id=patient_id)


@shared_task(name="prescriptions.refresh_reminders", acks_late=True, ignore_result=True)
def refresh_reminders(patient_id: int) -> None:
    """The patient's contact, consent, channel or quiet hours changed: re-plan their reminders."""
    reminders_refresh_for_patient(patient_id=patient_id)
