"""Recording re-check requests in the outbox tables (DESIGN §10: the database is the only queue that cannot
lose work).

A service that changes a gate fact calls `request` inside its own transaction: the request commits with the
change or not at all. The after-commit publish of a re-check task stays as the fast path; the per-minute drain
(``prescriptions.drain_rechecks``) finds whatever the fast path missed.
"""

from __future__ import annotations

from collections.abc import Iterable

from django.db import connection, models

REASON_MAX_LENGTH = 100


def request(model: type[models.Model], *, key: str, values: Iterable[int | None], reason: str) -> None:
    """Open (or re-open) the outbox row of each scope in ``values``, bumping its version, in one statement.

    ``model`` is a ``RecheckOutboxRow`` subclass, ``key`` its unique scope column (``patient_id``,
    ``clinic_id``). A row that was done gets a fresh ``requested_at``; an open one keeps its place in the queue.
    Rows are written in key order so two writers over overlapping scopes queue instead of deadlocking.
    """
    keys = sorted(set(values), key=lambda v: (v is not None, v or 0))
    if not keys:
        return
    table = connection.ops.quote_name(model._meta.db_table)
    column = connection.ops.quote_name(key)
    # A NULL scope (a global catalog row) is one row: its unique constraint treats NULLs as equal (NULLS NOT
    # DISTINCT), which ON CONFLICT can only target through the constraint itself.
    field = model._meta.get_field(key.removesuffix("_id"))
    if field.primary_key:
        conflict = f"ON CONFLICT ({column})"
    else:
        (constraint,) = (c for c in model._meta.constraints if getattr(c, "fields", None) == (field.name,))
        conflict = f"ON CONFLICT ON CONSTRAINT {connection.ops.quote_name(constraint.name)}"
    with connection.cursor() as cursor:
        cursor.execute(
            f"""
            INSERT INTO {table} ({column}, version, done, requested_at, reason, claimed_until)
            SELECT scope, 1, false, now(), %s, NULL FROM unnest(%s::bigint[]) WITH ORDINALITY AS k(scope, n)
            ORDER BY n
            {conflict} DO UPDATE SET
                version = {table}.version + 1,
                done = false,
                reason = EXCLUDED.reason,
                requested_at = CASE WHEN {table}.done THEN EXCLUDED.requested_at ELSE {table}.requested_at END,
                claimed_until = CASE WHEN {table}.done THEN NULL ELSE {table}.claimed_until END
            """,
            [reason[:REASON_MAX_LENGTH], keys],
        )
