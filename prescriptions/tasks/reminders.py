"""Celery tasks: reminders (thin: take ids, call a service, idempotent)."""

from __future__ import annotations

import time

from celery import shared_task

from prescriptions.services.reminders import reminders_dispatch, reminders_release_stale
from prescriptions.tasks.budget import run_budget

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
        if result.claimed < DISPATCH_BATCH or time.monotonic() >= deadline:
            return
