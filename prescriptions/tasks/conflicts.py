"""Celery tasks: conflicts (thin: take ids, call a service, idempotent).

The nightly sweep fans out one task per batch of ``SWEEP_BATCH_SIZE`` patient ids rather than one per
patient or one for everyone: a batch reads all its plans' facts in a fixed number of queries (so queries
grow with the number of batches, not of patients), finishes in about a second (far inside the task time
limit, where one task for 10,000 patients would not be), holds its plan-row locks only briefly, spreads
over the workers, and a failed batch is retried on its own (re-checks are idempotent).
"""

import time

from celery import shared_task

from clinic.enqueue import enqueue_after_commit
from prescriptions.models import GateEvaluation
from prescriptions.services import conflicts, outbox
from prescriptions.tasks.budget import run_budget

SWEEP_BATCH_SIZE = 250


@shared_task(name="prescriptions.recheck_patient_conflicts", acks_late=True, ignore_result=True)
def recheck_patient_conflicts(patient_id: int) -> None:
    """A gate fact of the patient changed (the fast path): re-check their active plans and close the outbox
    request the change recorded, unless another change overtook it."""
    outbox.patient_rechecks_run(patient_ids=[patient_id])


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


@shared_task(name="prescriptions.drain_rechecks", acks_late=True, ignore_result=True)
def drain_rechecks() -> None:
    """Per minute (beat), and the fast path of a catalog change: re-check every patient whose outbox request is
    open, oldest first, within the run's time budget. Safe to run twice at once (claims skip locked rows and are
    leased) and after a crash (an unclosed request stays open)."""
    outbox.rechecks_drain(deadline=time.monotonic() + run_budget())


@shared_task(name="prescriptions.escalate_conflict_flags", acks_late=True, ignore_result=True)
def escalate_conflict_flags() -> None:
    """Per minute (beat): conflict flags whose earliest held session now starts within 24 hours become urgent
    (one UPDATE; never lowered). A task of its own, so a failure here holds back no other per-minute work."""
    conflicts.conflict_flags_escalate()
