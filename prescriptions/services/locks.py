"""Row locks the services share, always taken in the order of ``prescriptions.services`` (its docstring):
patient → plans (by id) → sessions (by id) → flags → reminders.
"""

from __future__ import annotations

from collections.abc import Iterable

from django.db.models import Q, QuerySet

from patients.models import Patient
from prescriptions.models import Prescription


def lock_patient_and_plans(*, patient_id: int, plan_ids: Iterable[int] = ()) -> None:
    """Lock the patient's row, then their active plans and ``plan_ids`` in id order, until the transaction ends.

    For work that spans the patient's plans (a session log, resolving a flag): the patient lock serializes it
    per patient, and the plan locks make it wait for (or hold off) every plan-scoped writer of those plans'
    sessions and flags — the re-check, transitions, the materializer.

    The patient row is taken ``FOR NO KEY UPDATE``: it excludes the other patient locks (``patients`` services
    take ``FOR UPDATE``) but not the key-share lock that inserting any row referencing the patient takes (a
    flag a re-check raises, an access-log row). A full ``FOR UPDATE`` would make a re-check that already holds
    a plan wait here for the patient while we wait for that plan: a deadlock.
    """
    list(Patient.objects.select_for_update(no_key=True).filter(pk=patient_id).values_list("pk", flat=True))
    list(
        Prescription.objects.select_for_update()
        .filter(Q(patient_id=patient_id, status=Prescription.Status.ACTIVE) | Q(pk__in=list(plan_ids)))
        .order_by("pk")
        .values_list("pk", flat=True)
    )


def in_id_order(rows: QuerySet) -> QuerySet:
    """``rows`` as a queryset whose rows are first locked in ascending id order (one statement with the UPDATE
    or SELECT that uses it), so two writers of overlapping rows queue instead of each holding what the other
    needs. Filters belong in ``rows``: they are re-checked on the row version a wait ends with."""
    return rows.model.objects.filter(pk__in=rows.select_for_update().order_by("pk").values("pk"))


def lock_active_plans(*, patient_id: int) -> None:
    """Lock the patient's active plans in id order — for plan-scoped work that touches all of them (re-planning
    a patient's reminders): inserting a reminder key-share-locks its session, which a writer holding the plan
    may be updating, so the plans come first here as for every writer of their sessions."""
    list(
        Prescription.objects.select_for_update()
        .filter(patient_id=patient_id, status=Prescription.Status.ACTIVE)
        .order_by("pk")
        .values_list("pk", flat=True)
    )
