"""Receivers: schedule (zone changes re-time future sessions; preference changes re-plan reminders).

The patient signals are sent after commit; receivers only enqueue (ids only).
"""

from __future__ import annotations

from django.dispatch import receiver

from clinic.enqueue import enqueue_after_commit
from patients.signals import patient_preferences_changed, patient_zone_changed
from prescriptions.tasks.schedule import refresh_reminders, retime_sessions


@receiver(patient_zone_changed, dispatch_uid="prescriptions.schedule.retime_on_zone_change")
def retime_on_zone_change(sender, patient_id: int, **kwargs) -> None:
    enqueue_after_commit(retime_sessions, patient_id)


@receiver(patient_preferences_changed, dispatch_uid="prescriptions.schedule.refresh_on_preferences_change")
def refresh_on_preferences_change(sender, patient_id: int, **kwargs) -> None:
    enqueue_after_commit(refresh_reminders, patient_id)
