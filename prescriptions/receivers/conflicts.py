"""Receivers: conflicts (patient facts changed → re-check upcoming sessions).

The patients app sends these signals after its transaction commits; receivers only enqueue (ids only).
"""

from django.dispatch import receiver

from clinic.enqueue import enqueue_after_commit
from patients import signals
from prescriptions.tasks.conflicts import recheck_patient_conflicts


@receiver(
    [signals.clearance_changed, signals.diagnosis_changed, signals.mobility_changed],
    dispatch_uid="prescriptions.conflicts.recheck_on_fact_change",
)
def recheck_on_fact_change(sender, *, patient_id: int, **kwargs) -> None:
    enqueue_after_commit(recheck_patient_conflicts, patient_id)
