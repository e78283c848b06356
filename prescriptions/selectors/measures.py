"""Reads for outcome measures (issue 18): an episode's instruments, what is due, a patient's scores over time."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass

from django.db.models import Exists, OuterRef, Q, QuerySet
from django.utils import timezone

from clinic import scoring
from clinic.models import Instrument, InstrumentWording
from patients.models import Episode, Patient, PatientDiagnosis
from prescriptions.models import MeasureDue, MeasureResponse

FOLLOW_UP_DAYS = 14
"""Measures fall due at the episode's start, every this many days after, and at discharge."""


def episode_instruments(episode: Episode) -> list[str]:
    """The instrument codes the episode uses: the therapist's choice, else the default for the body regions of the
    diagnoses recorded for the episode (or, when none names it, the patient's diagnoses active on its first day)."""
    if episode.instruments:
        return list(episode.instruments)
    diagnoses = PatientDiagnosis.objects.filter(patient_id=episode.patient_id).select_related("diagnosis")
    own = [d for d in diagnoses if d.episode_id == episode.pk]
    chosen = own or [d for d in diagnoses if d.episode_id is None and d.is_active_on(episode.opened_on)]
    return scoring.default_instruments([d.diagnosis.body_region for d in chosen])


def due_dates(episode: Episode, today: dt.date, *, start: dt.date | None = None) -> list[tuple[dt.date, str]]:
    """(date, occasion) of every occasion of an instrument up to ``today``: its first (baseline: ``start``, by default
    the episode's first day; an instrument chosen later starts the day it was chosen), every ``FOLLOW_UP_DAYS`` days
    after while the episode is open (follow-up), and the discharge day (discharge, replacing a follow-up on it)."""
    start = start or episode.opened_on
    discharged = episode.discharged_on
    dates = [(start, MeasureDue.Occasion.BASELINE)] if discharged is None or start < discharged else []
    day = start + dt.timedelta(days=FOLLOW_UP_DAYS)
    while day <= today and (discharged is None or day < discharged):
        dates.append((day, MeasureDue.Occasion.FOLLOW_UP))
        day += dt.timedelta(days=FOLLOW_UP_DAYS)
    if discharged is not None and discharged <= today and discharged > episode.opened_on:
        dates.append((discharged, MeasureDue.Occasion.DISCHARGE))
    return [(date, occasion) for date, occasion in dates if date <= today]


def instruments_by_code(codes: Sequence[str]) -> dict[str, Instrument]:
    return {instrument.code: instrument for instrument in Instrument.objects.filter(code__in=codes)}


def wording_for(*, clinic_id: int, instruments: Sequence[Instrument]) -> dict[int, dict]:
    """Instrument id → the wording the clinic may show: shipped for a free instrument, the clinic's loaded text for a
    licensed one (absent when the clinic has loaded none: it cannot be offered to the patient yet)."""
    wording = {instrument.pk: instrument.wording for instrument in instruments if not instrument.licensed}
    licensed = [instrument.pk for instrument in instruments if instrument.licensed]
    if licensed:
        wording |= dict(
            InstrumentWording.objects.filter(clinic_id=clinic_id, instrument_id__in=licensed).values_list(
                "instrument_id", "wording"
            )
        )
    return wording


def patient_measures_due(patient: Patient) -> QuerySet[MeasureDue]:
    """The patient's measures waiting for an answer (of open episodes, and a discharge measure), oldest first, with
    their instrument."""
    return (
        MeasureDue.objects.filter(patient=patient, status=MeasureDue.Status.DUE)
        .filter(Q(episode__discharged_on__isnull=True) | Q(occasion=MeasureDue.Occasion.DISCHARGE))
        .select_related("instrument", "episode")
        .order_by("due_on", "instrument__code", "id")
    )


def baseline_response(*, episode_id: int, instrument_id: int) -> MeasureResponse | None:
    """The episode's first answered occasion of the instrument (by its date): what every later one is compared with.
    (An occasion older than one already due cannot be answered any more: it is missed.)"""
    return (
        MeasureResponse.objects.filter(episode_id=episode_id, instrument_id=instrument_id)
        .order_by("due__due_on", "taken_at", "id")
        .first()
    )


@dataclass(frozen=True)
class InstrumentOutcome:
    instrument: Instrument
    responses: list[MeasureResponse]

    @property
    def latest(self) -> MeasureResponse | None:
        return self.responses[-1] if self.responses else None


def patient_outcomes(patient: Patient, *, episode: Episode | None = None) -> list[InstrumentOutcome]:
    """Each instrument the patient answered, with its responses in order (score, change from baseline, crossed
    threshold): two queries whatever the history."""
    responses = MeasureResponse.objects.filter(patient=patient).select_related("instrument", "due")
    if episode is not None:
        responses = responses.filter(episode=episode)
    grouped: dict[int, InstrumentOutcome] = {}
    for response in responses.order_by("instrument__code", "taken_at", "id"):
        grouped.setdefault(
            response.instrument_id, InstrumentOutcome(instrument=response.instrument, responses=[])
        ).responses.append(response)
    return list(grouped.values())


def episodes_needing_measures(*, limit: int) -> QuerySet[Episode]:
    """Episodes whose measures may need scheduling now, so that the hourly sweep's work is bounded by what is due
    (not by the number of episodes): open ones with no occasion in the last ``FOLLOW_UP_DAYS`` - 1 days (a day of
    slack for the patients' zones), and those discharged within the last follow-up period without their discharge
    measure. Archived patients' are left out."""
    today = timezone.now().date()
    recent = MeasureDue.objects.filter(
        episode=OuterRef("pk"), due_on__gte=today - dt.timedelta(days=FOLLOW_UP_DAYS - 1)
    )
    discharge = MeasureDue.objects.filter(episode=OuterRef("pk"), occasion=MeasureDue.Occasion.DISCHARGE)
    return Episode.objects.filter(
        (Q(discharged_on__isnull=True) & ~Exists(recent))
        | (Q(discharged_on__gte=today - dt.timedelta(days=FOLLOW_UP_DAYS)) & ~Exists(discharge)),
        patient__archived_at__isnull=True,
    ).order_by("pk")[:limit]
