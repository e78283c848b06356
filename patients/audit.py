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

# A read that logs itself (issue 20): its one SELECT made to insert the access-log row in the same statement
# (``logged_read_sql``), with ``logged_read_params``. A data-modifying WITH runs exactly once and to completion
# whether or not the SELECT reads it, and one statement is atomic by itself: the rows the read returns and its log
# row commit together or not at all, with no transaction (BEGIN, COMMIT) of their own.
LOGGED_READ_WITH = (
    f"WITH access_logged AS (INSERT INTO {AccessLog._meta.db_table} (actor_id, patient_id, what) "
    "VALUES (%(log_actor)s, %(log_patient)s, %(log_what)s) RETURNING id) "
)

# Open task contexts by task id: task_prerun enters one, task_postrun exits it.
_task_contexts: dict[str, pghistory.context] = {}


def access_log_record(*, actor, patient_ids: Iterable[int], what: str) -> list[AccessLog]:
    """Log one read of each patient's data, in the caller's transaction so the read and its log commit together.

    ``actor`` is a user (or None for the system). Errors propagate: a read that cannot be logged must fail.
    """
    actor_id = _actor_id(actor)
    unique_ids = list(dict.fromkeys(int(pid) for pid in patient_ids if pid is not None))
    if not unique_ids:
        return []
    # One INSERT, atomic by itself: no savepoint of its own, so a failure aborts the caller's transaction too. Raw SQL,
    # compiled once (``INSERT_SQL``): every read of patient data makes it, the portal's hot path first (issue 20).
    with connection.cursor() as cursor:
        cursor.execute(INSERT_SQL, [actor_id, what, unique_ids])
        rows = cursor.fetchall()
    return [AccessLog(pk=pk, actor_id=actor_id, patient_id=pid, what=what, at=at) for pk, pid, at in rows]


def logged_read_sql(select_sql: str) -> str:
    """``select_sql`` (one SELECT with named parameters, no WITH of its own) made to log one read of one patient in
    the same statement: execute it with ``logged_read_params`` added to its parameters."""
    return LOGGED_READ_WITH + select_sql


def logged_read_params(*, actor, patient_id: int, what: str) -> dict[str, object]:
    """The parameters of ``logged_read_sql``'s log row: ``actor`` as ``access_log_record`` takes it."""
    return {"log_actor": _actor_id(actor), "log_patient": int(patient_id), "log_what": what}


def _actor_id(actor) -> int | None:
    """A user (or their id) as the log's actor; None for the system and for an anonymous user."""
    return getattr(actor, "pk", actor) if actor is not None and getattr(actor, "is_authenticated", True) else None


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
