"""Celery tasks: reminders (thin: take ids, call a service, idempotent)."""

from __future__ import annotations

import time

from celery import shared_task

from clinic.enqueue import enqueue_after_commit
from prescriptions.services.reminders import reminders_dispatch, reminders_release_stale
from prescriptions.tasks.budget import run_budget
from prescriptions.tasks.conflicts import recheck_patient_conflicts

DISPATCH_BATCH = 100


@shared_task(name="prescriptions.dispatch_reminders", acks_late=True, ignore_result=True)
def dispatch_reminders() -> None:
    """Per minute (beat): hand back stale claims, then dispatch batches until the due rows run out or time does.

    Safe to run twice at once (claims skip locked rows) and to run again after a crash (stale claims
    are released with the same key).
    """
    deadline = time.monotonic() + run_budget()
    reminders_release_stale()
    while True:
        result = reminders_dispatch(batch=DISPATCH_BATCH, deadline=deadline)
        # Reminders the gate held: their re-check requests are in the outbox already (the drain's path); this
        # is the fast path that blocks and flags the sessions now.
        for patient_id in result.rechecks_requested:
            enqueue_after_commit(recheck_patient_conflicts, patient_id)
        if result.claimed < DISPATCH_BATCH or time.monotonic() >= deadline:
            return
