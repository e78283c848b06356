"""Receivers: conflicts (patient facts or the catalog changed → re-check upcoming sessions).

The patients app sends these signals after its transaction commits; receivers only enqueue (ids only).
"""

from django.dispatch import receiver

from clinic import signals as catalog_signals
from clinic.enqueue import enqueue_after_commit
from patients import signals
from prescriptions.tasks.conflicts import drain_rechecks, recheck_patient_conflicts


@receiver(
    [signals.clearance_changed, signals.diagnosis_changed, signals.mobility_changed, signals.patient_zone_changed],
    dispatch_uid="prescriptions.conflicts.recheck_on_fact_change",
)
def recheck_on_fact_change(sender, *, patient_id: int, **kwargs) -> None:
    enqueue_after_commit(recheck_patient_conflicts, patient_id)


@receiver(catalog_signals.catalog_changed, dispatch_uid="prescriptions.conflicts.drain_on_catalog_change")
def drain_on_catalog_change(sender, **kwargs) -> None:
    # The outbox already holds the request (recorded with the change); draining now is the fast path.
    enqueue_after_commit(drain_rechecks)
