"""Celery tasks: dose progression (issue 17). Thin: find the plans with a step due, run each step's service."""

from __future__ import annotations

import logging
import time

from celery import shared_task

from prescriptions.selectors.progression import plans_due
from prescriptions.services.progression import progression_step_run

logger = logging.getLogger(__name__)

SWEEP_BUDGET_SECONDS = 40.0
"""Stop starting steps after this long; the next run (a quarter of an hour later) carries on."""


@shared_task(name="prescriptions.progression_sweep", acks_late=True, ignore_result=True)
def progression_sweep() -> None:
    """Every quarter of an hour: each active plan whose next dose step has come in its patient's zone."""
    started = time.monotonic()
    for prescription_id, _on_date in plans_due():
        if time.monotonic() - started > SWEEP_BUDGET_SECONDS:
            return
        try:
            progression_step_run(prescription_id=prescription_id)
        except Exception:  # noqa: BLE001 — one plan's failure must not stop the others' steps; it is retried next run
            logger.exception("Dose progression step of plan %s failed", prescription_id)


@shared_task(name="prescriptions.progression_step", acks_late=True, ignore_result=True)
def progression_step(prescription_id: int) -> None:
    """One plan's due step, if any (idempotent: a second run finds it done)."""
    progression_step_run(prescription_id=prescription_id)
