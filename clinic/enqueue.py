"""The one way to enqueue a Celery task (DESIGN §5).

It runs after the surrounding transaction commits (so the worker sees committed rows), publishes
with short broker timeouts and bounded retries, and swallows a broker outage with a log line: the
database is the source of truth and the per-minute sweeps catch up. A request or a service never
fails, or hangs, because Redis is down.
"""

from __future__ import annotations

import logging
from typing import Any

from celery import current_app
from django.db import transaction

logger = logging.getLogger(__name__)

PUBLISH_RETRY_POLICY = {"max_retries": 1, "interval_start": 0, "interval_step": 0.2, "interval_max": 0.5}


def _task(task: Any) -> Any:
    """A task object, or the registered task of that name: a service enqueues by name (``"prescriptions.…"``) so
    that it never imports a task module (tasks import services, never the other way round)."""
    if isinstance(task, str):
        return current_app.tasks[task]
    return task


def publish(task: Any, *args: int | str) -> bool:
    """Publish now; return False (and log) instead of raising when the broker is unreachable."""
    task = _task(task)
    try:
        task.apply_async(args=args, retry=True, retry_policy=PUBLISH_RETRY_POLICY)
    except Exception:  # noqa: BLE001 — any broker/transport failure must not reach the caller
        logger.warning("Broker unavailable; %s%r left for the sweep to catch up", task.name, args, exc_info=True)
        return False
    return True


def enqueue_after_commit(task: Any, *args: int | str) -> None:
    """Enqueue ``task(*args)`` once the current transaction commits: ``task`` is a task or a registered task's name.
    Arguments are ids only."""
    for arg in args:
        if not isinstance(arg, int | str):
            raise TypeError(f"Task arguments are ids only, got {type(arg).__name__}.")
    transaction.on_commit(lambda: publish(task, *args), robust=True)
