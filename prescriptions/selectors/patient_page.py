"""What the patient page in the admin shows of the prescriptions side (issue 15, item 3): the live program with its
dose progression (issue 17), the upcoming sessions and reminders, and the outcome measures charted with the ones
now due (issue 18; the portal's chart reads the same). Each read is one or a fixed few queries whatever the
patient's history."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal

from django.db.models import Prefetch, Q, QuerySet

from clinic.models import Instrument
from patients.models import Patient
from prescriptions import charts
from prescriptions.models import (
    GateOverride,
    MeasureDue,
    MeasureResponse,
    Prescription,
    PrescriptionItem,
    ProgressionStep,
    Reminder,
    Session,
)
from prescriptions.selectors import measures
from prescriptions.selectors.progression import Due, next_step_of

LIVE_STATUSES = (Prescription.Status.ACTIVE, Prescription.Status.PAUSED)


def live_program(*, patient_id: int) -> list[Prescription]:
    """The patient's active and paused plans, oldest first, each with its items (and stretch), its therapist, and its
    overrides and acknowledgements (with the item's stretch and who gave them), in the order they were given."""
    overrides = GateOverride.objects.select_related("by", "item__stretch").order_by("at", "id")
    return list(
        Prescription.objects.filter(patient_id=patient_id, status__in=LIVE_STATUSES)
        .select_related("therapist", "first_version", "patient")
        .prefetch_related(
            Prefetch("items", PrescriptionItem.objects.select_related("stretch").order_by("order", "id")),
            Prefetch("overrides", overrides),
        )
        .order_by("start_date", "id")
    )


@dataclass(frozen=True)
class PlanProgression:
    """A live plan's dose progression as the page shows it: the next step as things stand (None: no item progresses
    any more, or the plan ends first) and the lineage's latest step when it is held for the therapist."""

    next_step: Due | None
    held: ProgressionStep | None


def progression_of(*, plans: Sequence[Prescription]) -> dict[int, PlanProgression]:
    """Plan id → its progression, for the plans of ``live_program`` (items and first version loaded): one query,
    the latest step of every lineage, whatever the number of plans and steps."""
    lineages = [plan.lineage_id for plan in plans]
    latest = {
        step.first_version_id: step
        for step in ProgressionStep.objects.filter(first_version_id__in=lineages)
        .order_by("first_version_id", "-on_date", "-id")
        .distinct("first_version_id")
    }
    shown = {}
    for plan in plans:
        step = latest.get(plan.lineage_id)
        held = step if step is not None and step.status == ProgressionStep.Status.HELD else None
        last = step.on_date if step is not None else None
        upcoming = next_step_of(plan, items=list(plan.items.all()), last_step=last)
        shown[plan.pk] = PlanProgression(next_step=upcoming, held=held)
    return shown


def upcoming_sessions(*, patient_id: int, now: dt.datetime, limit: int) -> QuerySet[Session]:
    """The next ``limit`` sessions not cancelled, soonest first."""
    return (
        Session.objects.filter(prescription__patient_id=patient_id, scheduled_at__gte=now)
        .exclude(status=Session.Status.CANCELLED)
        .order_by("scheduled_at", "id")[:limit]
    )


def upcoming_reminders(*, patient_id: int, now: dt.datetime, limit: int) -> QuerySet[Reminder]:
    """The next ``limit`` reminders still to go out (pending, or being sent), soonest first: a session's or a due
    questionnaire's."""
    return Reminder.objects.filter(
        Q(session__prescription__patient_id=patient_id) | Q(measure_due__patient_id=patient_id),
        send_at__gte=now,
        status__in=[Reminder.Status.PENDING, Reminder.Status.SENDING],
    ).order_by("send_at", "id")[:limit]


@dataclass(frozen=True)
class OutcomeChart:
    """One instrument's scores over time, as the admin's patient page and the portal's chart show them: the
    responses of the latest episode that answered it (each episode has its own baseline), the chart, and the
    baseline, the latest response and the meaningful change in force."""

    instrument: Instrument
    responses: list[MeasureResponse]
    svg: str
    threshold: Decimal | None

    @property
    def baseline(self) -> MeasureResponse:
        return self.responses[0]

    @property
    def latest(self) -> MeasureResponse:
        return self.responses[-1]


def outcome_charts(*, patient: Patient, code: str | None = None) -> list[OutcomeChart]:
    """Each instrument the patient answered (only ``code``'s when given), charted: one query whatever the number
    of instruments and responses (``patient_outcomes``)."""
    shown = []
    for outcome in measures.patient_outcomes(patient):
        instrument = outcome.instrument
        if code is not None and instrument.code != code:
            continue
        episode_id = outcome.latest.episode_id
        responses = [response for response in outcome.responses if response.episode_id == episode_id]
        shown.append(_outcome_chart(patient, instrument, responses))
    return shown


def outcome_chart_empty(*, instrument: Instrument) -> str:
    """The chart of an instrument the patient has not answered yet."""
    low, high = charts.scale(instrument.code, instrument.items)
    return charts.outcome_chart_svg(
        title=_chart_title(instrument),
        points=[],
        low=low,
        high=high,
        higher_is_worse=instrument.higher_is_worse,
        baseline=None,
        threshold=None,
    )


def _outcome_chart(patient: Patient, instrument: Instrument, responses: list[MeasureResponse]) -> OutcomeChart:
    baseline = responses[0].score
    threshold = charts.meaningful_change(instrument.code, baseline)
    low, high = charts.scale(instrument.code, instrument.items)
    svg = charts.outcome_chart_svg(
        title=_chart_title(instrument),
        points=[(response.taken_at.astimezone(patient.zone).date(), response.score) for response in responses],
        low=low,
        high=high,
        higher_is_worse=instrument.higher_is_worse,
        baseline=baseline,
        threshold=threshold,
    )
    return OutcomeChart(instrument=instrument, responses=responses, svg=svg, threshold=threshold)


def _chart_title(instrument: Instrument) -> str:
    return f"{instrument.name} ({instrument.abbreviation})"


def measures_due(*, patient: Patient) -> list[MeasureDue]:
    """The patient's measures waiting for an answer, oldest first: one query."""
    return list(measures.patient_measures_due(patient))
