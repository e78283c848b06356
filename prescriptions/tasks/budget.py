"""How long one run of a per-minute task may keep taking work."""

from __future__ import annotations

from celery import current_app

SOFT_LIMIT_MARGIN = 10.0
"""Seconds kept free before the task's soft time limit: the batch in flight finishes, the rest waits for a later run."""


def run_budget() -> float:
    """Seconds a run may keep claiming batches: a margin under the soft time limit."""
    soft_limit = current_app.conf.task_soft_time_limit or current_app.conf.task_time_limit or 60
    return max(float(soft_limit) - SOFT_LIMIT_MARGIN, 1.0)
