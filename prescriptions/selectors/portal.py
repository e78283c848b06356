"""Reads for the patient portal: only the patients a PortalAccess row grants the user (self, guardian, caregiver).

``portal_plans`` is the portal's hot path: a fixed number of queries (plans, items with their stretches,
the week's sessions) whatever the number of plans, items and sessions, returned as plain dicts so no
serializer walks model instances.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from django.db.models import F, Prefetch, QuerySet

from patients.models import Patient, PortalAccess
from prescriptions.models import Prescription, PrescriptionItem, Session

PLAN_DAYS = 7
"""The plans view shows sessions from the patient's local today through the next six days."""


def portal_patients(*, user) -> QuerySet[Patient]:
    """The patients ``user`` may see in the portal (archived ones are gone from the portal)."""
    return Patient.objects.filter(portal_access__user=user, archived_at__isnull=True)


def portal_accesses(*, user) -> QuerySet[PortalAccess]:
    """The user's grants to patients still in care, with the patient, in name order."""
    return (
        PortalAccess.objects.filter(user=user, patient__archived_at__isnull=True)
        .select_related("patient")
        .order_by("patient__last_name", "patient__first_name", "patient_id")
    )


def portal_sessions(*, user) -> QuerySet[Session]:
    """Sessions of the user's patients, each annotated with ``patient_id``, in time order."""
    return (
        Session.objects.filter(prescription__patient__in=portal_patients(user=user))
        .annotate(patient_id=F("prescription__patient_id"))
        .order_by("scheduled_at", "id")
    )


def _session(session: Session) -> dict[str, Any]:
    return {
        "id": session.pk,
        "local_date": session.local_date,
        "local_time": session.local_time,
        "scheduled_at": session.scheduled_at,
        "status": session.status,
    }


def _item(item: PrescriptionItem) -> dict[str, Any]:
    stretch = item.stretch
    return {
        "id": item.pk,
        "order": item.order,
        "hold_seconds": item.hold_seconds,
        "reps": item.reps,
        "sets": item.sets,
        "side": item.side,
        "notes": item.notes,
        "stretch": {
            "slug": stretch.slug,
            "name": stretch.name,
            "steps": list(stretch.steps),
            "position": stretch.position,
            "kind": stretch.kind,
        },
    }


def portal_plans(*, patient: Patient, today: dt.date | None = None) -> dict[str, Any]:
    """The patient's active plans with their items and the sessions of the next ``PLAN_DAYS`` local days.

    Three queries whatever the sizes: the plans, their items with stretches, and the week's sessions.
    """
    today = today or patient.local_today()
    last_day = today + dt.timedelta(days=PLAN_DAYS - 1)
    items = (
        PrescriptionItem.objects.select_related("stretch")
        .only(
            "id",
            "prescription_id",
            "order",
            "hold_seconds",
            "reps",
            "sets",
            "side",
            "notes",
            "stretch__slug",
            "stretch__name",
            "stretch__steps",
            "stretch__position",
            "stretch__kind",
        )  # fmt: skip
        .order_by("order", "id")
    )
    sessions = (
        Session.objects.filter(local_date__range=(today, last_day))
        .only("id", "prescription_id", "local_date", "local_time", "scheduled_at", "status")
        .order_by("scheduled_at", "id")
    )
    plans = (
        Prescription.objects.active()
        .filter(patient=patient)
        .only("id", "patient_id", "start_date", "end_date", "days_of_week", "times", "notes")
        .order_by("start_date", "id")
        .prefetch_related(
            Prefetch("items", queryset=items, to_attr="portal_items"),
            Prefetch("sessions", queryset=sessions, to_attr="portal_sessions"),
        )
    )
    return {
        "patient": {
            "id": patient.pk,
            "first_name": patient.first_name,
            "last_name": patient.last_name,
            "timezone": patient.timezone,
        },
        "local_today": today,
        "plans": [
            {
                "id": plan.pk,
                "start_date": plan.start_date,
                "end_date": plan.end_date,
                "days_of_week": list(plan.days_of_week),
                "times": list(plan.times),
                "notes": plan.notes,
                "items": [_item(item) for item in plan.portal_items],
                "sessions": [_session(session) for session in plan.portal_sessions],
            }
            for plan in plans
        ],
    }
