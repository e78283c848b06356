"""Celery tasks: reminders (thin: take ids, call a service, idempotent)."""

from __future__ import annotations

import time

from celery import current_app, shared_task

from prescriptions.services.reminders import reminders_dispatch, reminders_release_stale

DISPATCH_BATCH = 100
SOFT_LIMIT_MARGIN = 10.0
"""Seconds kept free before the task's soft time limit: the batch in flight finishes, the rest is handed back."""


def dispatch_budget() -> float:
    """How long one run may keep claiming batches: a margin under the soft time limit."""
    soft_limit = current_app.conf.task_soft_time_limit or current_app.conf.task_time_limit or 60
    return max(float(soft_limit) - SOFT_LIMIT_MARGIN, 1.0)


@shared_task(name="prescriptions.dispatch_reminders", acks_late=True, ignore_result=True)
def dispatch_reminders() -> None:
    """Per minute (beat): hand back stale claims, then dispatch batches until the due rows run out or time does.

    Safe to run twice at once (claims skip locked rows) and to run again after a crash (stale claims
    are released with the same key).
    """
    deadline = time.monotonic() + dispatch_budget()
    reminders_release_stale()
    while True:
        result = reminders_dispatch(batch=DISPATCH_BATCH, deadline=deadline)
        if result.claimed < DISPATCH_BATCH or time.monotonic() >= deadline:
            return
