"""The one locking API of the prescriptions services: every row lock a service takes on a patient, a plan, a session
or a flag is taken here, in the lock order of ``prescriptions.services`` (its docstring):

    patient → plans (by id) → sessions (by id) → flags (by id) → reminders

Use the function that names what the work spans:

- ``patient_and_plan`` — a plan transition (activate, pause, amend …): the patient, then the plan.
- ``patient_and_plans`` — work across a patient's plans (logging a session, resolving a flag by hand): the patient,
  then their active plans and the plans named, in id order.
- ``plan`` / ``plans`` / ``active_plans`` / ``live_plans`` — plan-scoped work (the re-check, the materializer,
  re-timing, re-planning reminders): the plans only, in id order.
- ``session`` / ``flag`` — one row below the plans, for a caller that holds what comes before it (or needs only it).
- ``rows`` / ``in_id_order`` — many rows of one kind (a plan's sessions, their reminders), in id order; the latter
  in the same statement as the UPDATE that uses it.
- ``claim`` — a queue claim (``SKIP LOCKED``): never waits, so outside the order.
- ``dispatching_patients`` — the reminder dispatcher's per-patient advisory locks (outside any transaction).

The patient row is always locked ``FOR NO KEY UPDATE``: it excludes the other patient locks (the ``patients``
services take ``FOR UPDATE``, the first lock of the order) but not the key-share lock that inserting any row
referencing the patient takes (a flag a re-check raises, an access-log row). A full ``FOR UPDATE`` would make a
re-check that already holds a plan wait for the patient while we wait for that plan: a deadlock.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Iterator
from contextlib import contextmanager

from django.db import connection
from django.db.models import Q, QuerySet

from patients.models import Patient
from prescriptions.models import Prescription, SafetyFlag, Session

PATIENT_LOCK_NAMESPACE = 0x4C4D  # "LM": the first key of the dispatcher's per-patient advisory lock


def patient(*, patient_id: int) -> None:
    """Lock the patient's row (``FOR NO KEY UPDATE``) until the transaction ends."""
    list(Patient.objects.select_for_update(no_key=True).filter(pk=patient_id).values_list("pk", flat=True))


def patient_and_plans(*, patient_id: int, plan_ids: Iterable[int] = ()) -> None:
    """Lock the patient's row, then their active plans and ``plan_ids`` in id order, until the transaction ends.

    For work that spans the patient's plans (a session log, resolving a flag): the patient lock serializes it
    per patient, and the plan locks make it wait for (or hold off) every plan-scoped writer of those plans'
    sessions and flags — the re-check, transitions, the materializer.
    """
    patient(patient_id=patient_id)
    list(
        Prescription.objects.select_for_update()
        .filter(Q(patient_id=patient_id, status=Prescription.Status.ACTIVE) | Q(pk__in=list(plan_ids)))
        .order_by("pk")
        .values_list("pk", flat=True)
    )


def patient_and_plan(*, prescription_id: int) -> Prescription:
    """The plan, locked, with its patient locked first (and selected).

    The patient lock keeps a transition and the patient's archiving apart (an archived patient has no live plan).
    """
    patient_id = Prescription.objects.values_list("patient_id", flat=True).get(pk=prescription_id)
    patient(patient_id=patient_id)
    return plan(prescription_id=prescription_id)


def plan(*, prescription_id: int, queryset: QuerySet | None = None) -> Prescription:
    """The plan's row locked (its row only), its patient selected; ``Prescription.DoesNotExist`` if it is gone."""
    return plans(queryset if queryset is not None else Prescription.objects.all()).get(pk=prescription_id)


def plans(queryset: QuerySet) -> QuerySet:
    """``queryset`` of plans locked for update (their rows only, in id order), each with its patient selected."""
    return queryset.select_for_update(of=("self",)).select_related("patient").order_by("pk")


def active_plans(*, patient_id: int) -> None:
    """Lock the patient's active plans in id order — for plan-scoped work that touches all of them (re-planning
    a patient's reminders): inserting a reminder key-share-locks its session, which a writer holding the plan
    may be updating, so the plans come first here as for every writer of their sessions."""
    list(
        Prescription.objects.select_for_update()
        .filter(patient_id=patient_id, status=Prescription.Status.ACTIVE)
        .order_by("pk")
        .values_list("pk", flat=True)
    )


def live_plans(*, patient_id: int) -> None:
    """Lock the patient's live plans (draft, active, paused) in id order: a zone change re-times their sessions."""
    list(
        Prescription.objects.select_for_update()
        .filter(patient_id=patient_id)
        .live()
        .order_by("pk")
        .values_list("pk", flat=True)
    )


def session(*, session_id: int) -> Session:
    """The session's row locked (its row only), with its plan and patient selected."""
    return Session.objects.select_for_update(of=("self",)).select_related("prescription__patient").get(pk=session_id)


def flag(*, flag_id: int) -> SafetyFlag:
    """The flag's row locked."""
    return SafetyFlag.objects.select_for_update().get(pk=flag_id)


def rows(queryset: QuerySet) -> QuerySet:
    """``queryset``'s rows locked for update (their own rows only, not those of joined tables), in id order."""
    return queryset.select_for_update(of=("self",)).order_by("pk")


def claim(queryset: QuerySet) -> QuerySet:
    """``queryset``'s rows that no one else holds, locked (``SKIP LOCKED``): a queue claim that never waits, so it
    stands outside the lock order (the dispatcher's due reminders, the outbox, the flags to escalate)."""
    return queryset.select_for_update(skip_locked=True)


def in_id_order(rows: QuerySet) -> QuerySet:
    """``rows`` as a queryset whose rows are first locked in ascending id order (one statement with the UPDATE
    or SELECT that uses it), so two writers of overlapping rows queue instead of each holding what the other
    needs. Filters belong in ``rows``: they are re-checked on the row version a wait ends with."""
    return rows.model.objects.filter(pk__in=rows.select_for_update().order_by("pk").values("pk"))


@contextmanager
def dispatching_patients(patient_ids: Collection[int]) -> Iterator[set[int]]:
    """Try to take each patient's dispatcher advisory lock (session-level); yields the patients whose lock was free.

    Dispatchers hold a patient's lock from counting the day's sends until the batch is done, so the daily
    cap holds when two dispatchers race over one patient's reminders. Never waits (no deadlock, no
    convoy): a patient whose lock is taken is left to the next claim. The locks live outside any
    transaction and go with the connection if the dispatcher dies. They order with nothing else: no row lock
    is ever waited for while one is wanted.
    """
    ids = sorted(patient_ids)
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT pid FROM unnest(%s::bigint[]) AS pid WHERE pg_try_advisory_lock(%s, (pid & 2147483647)::int)",
            [ids, PATIENT_LOCK_NAMESPACE],
        )
        locked = {row[0] for row in cursor.fetchall()}
    try:
        yield locked
    finally:
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT pg_advisory_unlock(%s, (pid & 2147483647)::int) FROM unnest(%s::bigint[]) AS pid",
                [PATIENT_LOCK_NAMESPACE, sorted(locked)],
            )
