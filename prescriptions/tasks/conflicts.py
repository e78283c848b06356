"""Celery tasks: conflicts (thin: take ids, call a service, idempotent).

The nightly sweep fans out one task per batch of ``SWEEP_BATCH_SIZE`` patient ids rather than one per
patient or one for everyone: a batch reads all its plans' facts in a fixed number of queries (so queries
grow with the number of batches, not of patients), finishes in about a second (far inside the task time
limit, where one task for 10,000 patients would not be), holds its plan-row locks only briefly, spreads
over the workers, and a failed batch is retried on its own (re-checks are idempotent).
"""

from celery import shared_task

from clinic.enqueue import enqueue_after_commit
from prescriptions.models import GateEvaluation
from prescriptions.services import conflicts

SWEEP_BATCH_SIZE = 250


@shared_task(name="prescriptions.recheck_patient_conflicts", acks_late=True, ignore_result=True)
def recheck_patient_conflicts(patient_id: int) -> None:
    """A clearance, diagnosis or mobility fact of the patient changed: re-check their active plans."""
    conflicts.patient_recheck(patient_id=patient_id)


@shared_task(name="prescriptions.recheck_conflicts_batch", acks_late=True, ignore_result=True)
def recheck_conflicts_batch(*patient_ids: int) -> None:
    """The nightly re-check of a batch of patients' active plans."""
    conflicts.patients_recheck(patient_ids=patient_ids, purpose=GateEvaluation.Purpose.SWEEP)


@shared_task(name="prescriptions.sweep_conflicts", acks_late=True, ignore_result=True)
def sweep_conflicts() -> None:
    """Nightly (beat): re-check every patient with an active plan, in batches, and open clearance_expiring."""
    for patient_ids in conflicts.sweep_batches(size=SWEEP_BATCH_SIZE):
        enqueue_after_commit(recheck_conflicts_batch, *patient_ids)
    conflicts.clearance_expiring_scan()
