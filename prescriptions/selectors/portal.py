"""Reads for the patient portal: only the patients a PortalAccess row grants the user (self, guardian, caregiver).

``portal_plans`` is the portal's hot path: a fixed number of queries (plans, items with their stretches,
the week's sessions, and for the sessions' red-flag questions the questions and the patient's diagnoses)
whatever the number of plans, items and sessions, returned as plain dicts so no serializer walks model
instances.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from django.db.models import F, QuerySet

from patients.models import Patient
from prescriptions.models import Prescription, PrescriptionItem, Session
from prescriptions.selectors.red_flags import SessionQuestions

PLAN_DAYS = 7
"""The plans view shows sessions from the patient's local today through the next six days."""


def portal_patients(*, user) -> QuerySet[Patient]:
    """The patients ``user`` may see in the portal: live grants only (archived patients are gone from the portal)."""
    # One filter() call: the live grant and the user are the same row of the join.
    return Patient.objects.filter(
        portal_access__user=user, portal_access__revoked_at__isnull=True, archived_at__isnull=True
    )


def portal_sessions(*, user) -> QuerySet[Session]:
    """Sessions of the user's patients, each annotated with ``patient_id``, in time order."""
    return (
        Session.objects.filter(prescription__patient__in=portal_patients(user=user))
        .annotate(patient_id=F("prescription__patient_id"))
        .order_by("scheduled_at", "id")
    )


PLAN_FIELDS = ("id", "version", "start_date", "end_date", "days_of_week", "times", "notes")
ITEM_FIELDS = ("id", "prescription_id", "order", "hold_seconds", "reps", "sets", "side", "notes")
RULE_FIELDS = (
    "progress_every_weeks",
    "progress_hold_seconds",
    "progress_reps",
    "progress_sets",
    "progress_max_hold_seconds",
    "progress_max_reps",
    "progress_max_sets",
)
STRETCH_FIELDS = ("slug", "name", "steps", "position", "kind")
SESSION_FIELDS = ("id", "prescription_id", "local_date", "local_time", "scheduled_at", "status")


def _progression_text(rule: tuple) -> str:
    """An item's progression rule in words (``DosedItem.progression_text``), "" without one; a model instance is
    built only for an item with a rule."""
    if rule[0] is None:
        return ""
    return PrescriptionItem(**dict(zip(RULE_FIELDS, rule, strict=True))).progression_text


def portal_plans(*, patient: Patient, today: dt.date | None = None) -> dict[str, Any]:
    """The patient's active plans (each with its version) with their items (each with its progression rule in words)
    and the sessions of the next ``PLAN_DAYS`` local days, each session with the red-flag questions its log asks.

    Five queries whatever the sizes — the plans, their items joined to their stretches (the stretches' regions
    choose the questions), the week's sessions, the active red-flag questions and the patient's diagnoses (when
    there is a session) — read as ``.values()`` rows: no model instances are built for a response that is plain
    data (but for an item with a progression rule, to word it).
    """
    today = today or patient.local_today()
    last_day = today + dt.timedelta(days=PLAN_DAYS - 1)
    plans = list(
        Prescription.objects.active().filter(patient=patient).order_by("start_date", "id").values(*PLAN_FIELDS)
    )
    by_id: dict[int, dict[str, Any]] = {}
    for plan in plans:
        plan["items"], plan["sessions"] = [], []
        by_id[plan["id"]] = plan
    if by_id:
        stretch_columns = [f"stretch__{name}" for name in STRETCH_FIELDS]
        items = (
            PrescriptionItem.objects.filter(prescription_id__in=by_id)
            .order_by("order", "id")
            .values_list(*ITEM_FIELDS, *RULE_FIELDS, *stretch_columns, "stretch__body_region")
        )
        width, rule_end = len(ITEM_FIELDS), len(ITEM_FIELDS) + len(RULE_FIELDS)
        regions = {plan_id: set() for plan_id in by_id}
        for row in items:
            item = dict(zip(ITEM_FIELDS, row[:width], strict=True))
            item["progression_text"] = _progression_text(row[width:rule_end])
            item["stretch"] = dict(zip(STRETCH_FIELDS, row[rule_end:-1], strict=True))
            regions[item["prescription_id"]].add(row[-1])
            by_id[item.pop("prescription_id")]["items"].append(item)
        sessions = list(
            Session.objects.filter(prescription_id__in=by_id, local_date__range=(today, last_day))
            .order_by("scheduled_at", "id")
            .values_list(*SESSION_FIELDS)
        )
        if sessions:
            questions = SessionQuestions.load(
                patient_ids=[patient.pk], regions={plan_id: frozenset(found) for plan_id, found in regions.items()}
            )
        for row in sessions:
            session = dict(zip(SESSION_FIELDS, row, strict=True))
            plan_id = session.pop("prescription_id")
            session["red_flag_questions"] = questions.shown(
                patient_id=patient.pk, plan_id=plan_id, on_date=session["local_date"]
            )
            by_id[plan_id]["sessions"].append(session)
    return {
        "patient": {
            "id": patient.pk,
            "first_name": patient.first_name,
            "last_name": patient.last_name,
            "timezone": patient.timezone,
        },
        "local_today": today,
        "plans": plans,
    }
