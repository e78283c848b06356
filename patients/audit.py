"""Audit trail helpers (DESIGN §7): who read which patient's data, and who changed it.

Changes are recorded by django-pghistory's database triggers; this module sets the actor where no
request sets it (Celery tasks) and writes the read log.
"""

from __future__ import annotations

from collections.abc import Iterable

import pghistory
import pghistory.runtime
from django.db import connection

from patients.models import AccessLog

INSERT_SQL = (
    f"INSERT INTO {AccessLog._meta.db_table} (actor_id, patient_id, what) "
    "SELECT %s, patient_id, %s FROM unnest(%s::bigint[]) WITH ORDINALITY AS p(patient_id, n) ORDER BY n "
    "RETURNING id, patient_id, at"
)

# Open task contexts by task id: task_prerun enters one, task_postrun exits it.
_task_contexts: dict[str, pghistory.context] = {}


def access_log_record(*, actor, patient_ids: Iterable[int], what: str) -> list[AccessLog]:
    """Log one read of each patient's data, in the caller's transaction so the read and its log commit together.

    ``actor`` is a user (or None for the system). Errors propagate: a read that cannot be logged must fail.
    """
    actor_id = getattr(actor, "pk", actor) if actor is not None and getattr(actor, "is_authenticated", True) else None
    unique_ids = list(dict.fromkeys(int(pid) for pid in patient_ids if pid is not None))
    if not unique_ids:
        return []
    # One INSERT, atomic by itself: no savepoint of its own, so a failure aborts the caller's transaction too. Raw SQL,
    # compiled once (``INSERT_SQL``): every read of patient data makes it, the portal's hot path first (issue 20).
    with connection.cursor() as cursor:
        cursor.execute(INSERT_SQL, [actor_id, what, unique_ids])
        rows = cursor.fetchall()
    return [AccessLog(pk=pk, actor_id=actor_id, patient_id=pid, what=what, at=at) for pk, pid, at in rows]


def log_admin_read(request, patient_id: int, what: str = "admin:patient-change") -> None:
    """For admin views that show one patient's data: call from the view before rendering (e.g. change_view)."""
    access_log_record(actor=request.user, patient_ids=[patient_id], what=what)


def task_context_enter(sender=None, task_id=None, task=None, **kwargs) -> None:
    """celery ``task_prerun``: changes a task makes are attributed to ``system:<task name>``."""
    if hasattr(pghistory.runtime._tracker, "value"):
        # Run eagerly inside a request or another task: its changes belong to that actor, whose context
        # metadata would otherwise be overwritten for every event already recorded under it.
        return
    name = getattr(task, "name", None) or getattr(sender, "name", "unknown")
    ctx = pghistory.context(actor=f"system:{name}")
    ctx.__enter__()
    _task_contexts[task_id] = ctx


def task_context_exit(sender=None, task_id=None, **kwargs) -> None:
    """celery ``task_postrun``: close the context ``task_context_enter`` opened."""
    ctx = _task_contexts.pop(task_id, None)
    if ctx is not None:
        ctx.__exit__(None, None, None)
