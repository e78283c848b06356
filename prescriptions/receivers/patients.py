"""Receivers: the patients app asks before archiving a patient (``patients.signals.patient_archiving``)."""

from django.dispatch import receiver

from clinic.errors import StateConflict
from patients import signals
from prescriptions.models import Prescription

LIVE_PLAN = "This patient has an active or paused plan; complete or cancel it before archiving."


@receiver(signals.patient_archiving, dispatch_uid="prescriptions.patients.refuse_archiving_with_a_live_plan")
def refuse_archiving_with_a_live_plan(sender, *, patient_id: int, **kwargs) -> None:
    """Sent inside the archiving transaction with the patient locked: plan transitions lock the patient first, so
    no plan can become active between this check and the archiving."""
    live = (Prescription.Status.ACTIVE, Prescription.Status.PAUSED)
    if Prescription.objects.filter(patient_id=patient_id, status__in=live).exists():
        raise StateConflict(LIVE_PLAN)
