"""What the printable program shows (issue 16, item 3): one template, rendered to HTML for the portal's print page
and to PDF for the two download endpoints.

``printable_plan`` finds the plan a caller may print (one query, scoped by the caller's patients or clinic);
``program`` gathers everything the template prints in three more, whatever the number of stretches: the items with
their stretches, and for the "When to stop" box the active red-flag questions and the patient's diagnoses.

The box repeats the API's own words, never re-typed: each red-flag question's ``advice`` (what the portal's log
answer says on a yes), grouped by advice, and for pain ``pain.PAIN_ADVICE`` at ``pain.PAIN_STOP_AT`` or more —
urgent symptoms first, then high pain, then the warning symptoms (``pain.advice_rank``'s order).
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from django.db.models import QuerySet
from django.utils import timezone

from patients.models import Patient
from prescriptions.gate import pain
from prescriptions.models import Prescription, PrescriptionItem
from prescriptions.selectors.red_flags import SessionQuestions

PROGRAM_TEMPLATE = "program/program.html"
PROGRAM_STYLESHEET = "portal/program.css"  # a static file: linked by the print page, given to WeasyPrint by path

Status = Prescription.Status
LIVE = (Status.ACTIVE, Status.PAUSED)
PRINTABLE = (*LIVE, Status.COMPLETED)
"""Plans a patient may print: the live ones, and completed ones for their own record. A draft has not passed the
safety gate and a cancelled plan was never (or is no longer) to be followed: neither is printed (404)."""

PAIN_WHEN = f"Pain of {pain.PAIN_STOP_AT}/10 or more, before or after a session"
"""The "when" of the box's pain entry: the API's ``pain_high`` rule (``pain.pain_signals``)."""


def _printable(plans: QuerySet[Prescription], *, pk: int, statuses: Sequence[str]) -> Prescription | None:
    return plans.filter(pk=pk, status__in=statuses).select_related("patient__clinic", "therapist").first()


def portal_printable_plan(*, patients: Iterable[Patient], pk: int) -> Prescription | None:
    """Plan ``pk`` if it is a printable plan of one of ``patients`` (the portal user's granted patients in care,
    ``patients.selectors.granted_patients``), else None: one query."""
    ids = [patient.pk for patient in patients]
    return _printable(Prescription.objects.filter(patient_id__in=ids), pk=pk, statuses=PRINTABLE)


def staff_printable_plan(*, clinic_id: int | None, pk: int, statuses: Sequence[str] = PRINTABLE) -> Prescription | None:
    """Plan ``pk`` if it is one of the clinic's plans in ``statuses``, else None: one query."""
    return _printable(Prescription.objects.filter(patient__clinic_id=clinic_id), pk=pk, statuses=statuses)


@dataclass(frozen=True)
class StopRule:
    """One entry of the "When to stop" box: what the patient notices, and what the API tells them to do then."""

    when: tuple[str, ...]
    advice: str
    urgent: bool


def stop_rules(questions: Iterable[pain.RedFlagQuestionFact]) -> list[StopRule]:
    """The box's entries: the urgent symptoms (grouped by their advice, in question order), high pain, then the
    warning symptoms; every advice the very text the portal's log answer gives."""

    def grouped(severity: pain.Urgency) -> list[StopRule]:
        by_advice: dict[str, list[str]] = {}
        for question in questions:
            if question.severity == severity:
                by_advice.setdefault(question.advice, []).append(question.symptom)
        urgent = severity == pain.Urgency.URGENT
        return [StopRule(tuple(symptoms), advice, urgent) for advice, symptoms in by_advice.items()]

    questions = list(questions)
    return [
        *grouped(pain.Urgency.URGENT),
        StopRule((PAIN_WHEN,), pain.PAIN_ADVICE, urgent=True),
        *grouped(pain.Urgency.WARNING),
    ]


def _day(day: dt.date | None) -> str:
    return f"{day:%A} {day.day} {day:%B %Y}" if day else ""


def _person(user) -> str:
    return user.get_full_name() or user.get_username()


def program(*, plan: Prescription, now: dt.datetime | None = None) -> dict[str, Any]:
    """Everything the program prints, as plain values (dates already in words, in the patient's zone): three
    queries whatever the number of stretches. ``plan`` comes from ``portal_printable_plan`` or
    ``staff_printable_plan`` (its patient, clinic and therapist loaded)."""
    patient, clinic = plan.patient, plan.patient.clinic
    printed_at = (now or timezone.now()).astimezone(patient.zone)
    items = list(PrescriptionItem.objects.filter(prescription=plan).select_related("stretch").order_by("order", "id"))
    # The questions a session of this plan asks on the day printed (or on its first day, if it starts later).
    on_date = max(printed_at.date(), plan.start_date)
    regions = {plan.pk: frozenset(item.stretch.body_region for item in items)}
    questions = SessionQuestions.load(patient_ids=[patient.pk], regions=regions).facts(
        patient_id=patient.pk, plan_id=plan.pk, on_date=on_date
    )
    zone = patient.timezone
    return {
        "clinic": {
            "name": clinic.name,
            "phone": clinic.phone,
            "phone_uri": "tel:" + re.sub(r"[^\d+]", "", clinic.phone),
            "address": clinic.address.splitlines(),
        },
        "patient": {"id": patient.pk, "name": patient.full_name},
        "plan": {
            "id": plan.pk,
            "amends": plan.supersedes_id,
            "version": plan.version,
            "status": plan.status,
            "status_label": plan.get_status_display(),
            "paused": plan.status == Status.PAUSED,
            "completed": plan.status == Status.COMPLETED,
            "start_date": _day(plan.start_date),
            "end_date": _day(plan.end_date),
            "ended": _day(plan.ended_at.astimezone(patient.zone).date()) if plan.ended_at else "",
            "schedule": plan.schedule_text,
            "therapist": _person(plan.therapist),
            "notes": plan.notes,
        },
        "zone": zone,
        "items": [
            {
                "number": number,
                "name": item.stretch.name,
                "steps": list(item.stretch.steps),
                "dose": item.dosage,
                "progression": item.progression_text,
                "side": "" if item.side == PrescriptionItem.Side.NONE else item.get_side_display(),
                "notes": item.notes,
            }
            for number, item in enumerate(items, start=1)
        ],
        "stop_rules": stop_rules(questions),
        "printed_on": f"{_day(printed_at.date())}, {printed_at:%H:%M} ({zone})",
        "filename": f"program-plan-{plan.pk}.pdf",
    }
