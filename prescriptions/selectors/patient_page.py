"""What the patient page in the admin shows of the prescriptions side (issue 15, item 3): the live program, and the
upcoming sessions and reminders. Each read is one or a fixed few queries whatever the patient's history."""

from __future__ import annotations

import datetime as dt

from django.db.models import Prefetch, QuerySet

from prescriptions.models import GateOverride, Prescription, PrescriptionItem, Reminder, Session

LIVE_STATUSES = (Prescription.Status.ACTIVE, Prescription.Status.PAUSED)


def live_program(*, patient_id: int) -> list[Prescription]:
    """The patient's active and paused plans, oldest first, each with its items (and stretch), its therapist, and its
    overrides and acknowledgements (with the item's stretch and who gave them), in the order they were given."""
    overrides = GateOverride.objects.select_related("by", "item__stretch").order_by("at", "id")
    return list(
        Prescription.objects.filter(patient_id=patient_id, status__in=LIVE_STATUSES)
        .select_related("therapist")
        .prefetch_related(
            Prefetch("items", PrescriptionItem.objects.select_related("stretch").order_by("order", "id")),
            Prefetch("overrides", overrides),
        )
        .order_by("start_date", "id")
    )


def upcoming_sessions(*, patient_id: int, now: dt.datetime, limit: int) -> QuerySet[Session]:
    """The next ``limit`` sessions not cancelled, soonest first."""
    return (
        Session.objects.filter(prescription__patient_id=patient_id, scheduled_at__gte=now)
        .exclude(status=Session.Status.CANCELLED)
        .order_by("scheduled_at", "id")[:limit]
    )


def upcoming_reminders(*, patient_id: int, now: dt.datetime, limit: int) -> QuerySet[Reminder]:
    """The next ``limit`` reminders still to go out (pending, or being sent), soonest first."""
    return Reminder.objects.filter(
        session__prescription__patient_id=patient_id,
        send_at__gte=now,
        status__in=[Reminder.Status.PENDING, Reminder.Status.SENDING],
    ).order_by("send_at", "id")[:limit]
