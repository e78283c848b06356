"""Celery tasks: outcome measures (issue 18). Thin: schedule what falls due, per episode."""

from __future__ import annotations

import logging
import time

from celery import shared_task

from prescriptions.selectors.measures import episodes_needing_measures
from prescriptions.services.measures import measures_schedule

logger = logging.getLogger(__name__)

SWEEP_BATCH = 2000
SWEEP_BUDGET_SECONDS = 40.0


@shared_task(name="prescriptions.measures_schedule_sweep", acks_late=True, ignore_result=True)
def measures_schedule_sweep() -> None:
    """Hourly: the due measures of the episodes with an occasion coming up or a discharge measure missing, by their
    patients' local dates (a run that stops early leaves the rest selected for the next)."""
    started = time.monotonic()
    for episode in episodes_needing_measures(limit=SWEEP_BATCH).select_related("patient"):
        if time.monotonic() - started > SWEEP_BUDGET_SECONDS:
            return
        try:
            measures_schedule(episode=episode)
        except Exception:  # noqa: BLE001 — one episode's failure must not stop the others; retried next run
            logger.exception("Scheduling the measures of episode %s failed", episode.pk)
