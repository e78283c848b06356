"""Outcome measures (issue 18): scheduling what falls due, scoring a response, and a flag on meaningful worsening.

Scoring is ``clinic.scoring`` (pure, as published); this module only stores. A response answers one due measure,
once: a second answer to the same due measure is a 409 and raises nothing. A meaningful worsening from the episode's
baseline raises one ``outcome_worsening`` flag for the therapist per response (cause ``measure:<response id>``).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
from decimal import Decimal

from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import Min
from django.utils import timezone

from clinic import scoring
from clinic.errors import StateConflict
from clinic.models import Instrument
from clinic.policy import Action, require
from patients.models import Episode
from prescriptions.models import MeasureDue, MeasureResponse, SafetyFlag
from prescriptions.selectors import measures as selectors
from prescriptions.services import locks
from prescriptions.services.flagging import flag_raise
from prescriptions.services.schedule import measure_reminders_sync

Due = MeasureDue.Status
MAX_ACTIVITY_LENGTH = 120


@transaction.atomic
def measures_schedule(*, episode: Episode, today: dt.date | None = None) -> int:
    """Create the episode's due measures up to ``today`` (the patient's local date) for each instrument of its set.

    An instrument's occasions count from its first (the episode's first day, or the day an instrument was added to
    an episode that already has measures); a follow-up still unanswered when a later one of its instrument falls due
    is missed (the baseline waits: it is what the others are compared with, until a later occasion is answered
    first — ``measure_respond``); a due measure of an instrument no longer in the set is cancelled (and comes back if
    it is chosen again), as is one dated after the discharge. Idempotent; returns how many it created."""
    patient = episode.patient
    today = today or patient.local_today()
    codes = selectors.episode_instruments(episode)
    instruments = selectors.instruments_by_code(codes)
    starts = dict(
        MeasureDue.objects.filter(episode=episode)
        .values("instrument_id")
        .annotate(first=Min("due_on"))
        .values_list("instrument_id", "first")
    )
    # An instrument added to an episode that already has measures starts the day it is added; the first ones start
    # on the episode's first day.
    added_on = max(episode.opened_on, today) if starts and episode.is_open else episode.opened_on
    rows = [
        MeasureDue(
            episode=episode, patient=patient, instrument=instrument, due_on=date, occasion=occasion, status=Due.DUE
        )
        for instrument in instruments.values()
        for date, occasion in selectors.due_dates(episode, today, start=starts.get(instrument.pk, added_on))
    ]
    existing = set(MeasureDue.objects.filter(episode=episode).values_list("instrument_id", "due_on"))
    new = [row for row in rows if (row.instrument_id, row.due_on) not in existing]
    MeasureDue.objects.bulk_create(new, ignore_conflicts=True)
    now = timezone.now()
    mine = MeasureDue.objects.filter(episode=episode)
    mine.filter(status=Due.DUE).exclude(instrument__code__in=codes).update(status=Due.CANCELLED, updated_at=now)
    # An instrument chosen again: what it had due comes back (the missed rule below retires the older ones).
    mine.filter(status=Due.CANCELLED, instrument__code__in=codes).update(status=Due.DUE, updated_at=now)
    if episode.discharged_on is not None:
        mine.filter(status=Due.DUE, due_on__gt=episode.discharged_on).update(status=Due.CANCELLED, updated_at=now)
    for instrument in instruments.values():
        latest = mine.filter(instrument=instrument).order_by("-due_on").values("due_on")[:1]
        mine.filter(
            instrument=instrument, status=Due.DUE, occasion=MeasureDue.Occasion.FOLLOW_UP, due_on__lt=latest
        ).update(status=Due.MISSED, updated_at=now)
    measure_reminders_sync(episode_id=episode.pk)  # what fell due reaches the patient; what ended is not reminded
    return len(new)


@transaction.atomic
def episode_instruments_set(*, episode: Episode, codes: Sequence[str], by) -> Episode:
    """The therapist chooses the episode's instruments (an empty list: the default for its diagnoses); what is due
    follows at once."""
    require(Action.CHOOSE_MEASURES, by, episode.patient.clinic_id)
    if not episode.is_open:
        raise StateConflict("This episode is discharged; its measures are as they were.")
    known = set(Instrument.objects.filter(code__in=codes).values_list("code", flat=True))
    unknown = [code for code in codes if code not in known]
    if unknown:
        raise ValidationError({"instruments": f"No such instrument: {', '.join(unknown)}."})
    episode.instruments = list(dict.fromkeys(codes))
    episode.save(update_fields=["instruments", "updated_at"])
    measures_schedule(episode=episode)
    return episode


def _activities(baseline: MeasureResponse | None, given: Sequence[str] | None) -> list[str]:
    """The PSFS's activities: named at the episode's baseline (3 to 5, each up to 120 characters), and the same ones
    at every later response."""
    if baseline is not None:
        if given and [a.strip() for a in given] != baseline.activities:
            raise ValidationError({"activities": "Rate the same activities as at baseline."})
        return list(baseline.activities)
    names = [name.strip() for name in (given or []) if name and name.strip()]
    if len({name.casefold() for name in names}) != len(names):
        raise ValidationError({"activities": "Name each activity once."})
    low, high = scoring.PSFS_ACTIVITIES
    if not low <= len(names) <= high:
        raise ValidationError({"activities": f"Name {low} to {high} activities."})
    if any(len(name) > MAX_ACTIVITY_LENGTH for name in names):
        raise ValidationError({"activities": f"Keep each activity to {MAX_ACTIVITY_LENGTH} characters or fewer."})
    return names


def measure_respond(
    *,
    due: MeasureDue,
    answers: Mapping[str, int | None],
    by,
    via: str,
    activities: Sequence[str] | None = None,
    now: dt.datetime | None = None,
) -> MeasureResponse:
    """Score and store the answers to a due measure, compare with the episode's baseline for the instrument, and
    raise a flag when the change is a meaningful worsening. Staff entering answers taken in the clinic need
    ``Action.RECORD_MEASURE``; the portal's views scope the patient themselves. 409 unless the measure is due."""
    if via == MeasureResponse.Via.CLINIC:
        require(Action.RECORD_MEASURE, by, due.patient.clinic_id)
    now = now or timezone.now()
    with transaction.atomic():
        locks.patient(patient_id=due.patient_id)
        due = locks.rows(MeasureDue.objects.filter(pk=due.pk)).select_related("instrument", "episode", "patient").get()
        if due.patient.is_archived:
            raise StateConflict("This patient is archived.")
        if due.status != Due.DUE:
            raise StateConflict(f"This questionnaire is {due.get_status_display().lower()}, not waiting for answers.")
        same = MeasureDue.objects.filter(episode_id=due.episode_id, instrument_id=due.instrument_id)
        if same.filter(status=Due.DONE, due_on__gt=due.due_on).exists():
            raise StateConflict("A later questionnaire of this kind is answered already; this one can no longer be.")
        if not due.episode.is_open and due.occasion != MeasureDue.Occasion.DISCHARGE:
            raise StateConflict("This episode is discharged.")
        instrument = due.instrument
        items = [scoring.Item(id=i["id"], low=i["low"], high=i["high"]) for i in instrument.items]
        baseline = selectors.baseline_response(episode_id=due.episode_id, instrument_id=instrument.pk)
        named = _activities(baseline, activities) if instrument.code == scoring.PSFS else []
        try:
            result = scoring.score(instrument.code, items, answers, activities=len(named) or None)
        except scoring.ScoringError as exc:
            raise ValidationError(exc.errors) from exc
        response = MeasureResponse(
            due=due,
            episode=due.episode,
            patient=due.patient,
            instrument=instrument,
            answers={key: answers.get(key) for key in (item.id for item in items[: len(named) or None])},
            activities=named,
            score=result.value,
            percent=result.percent,
            baseline=baseline,
            taken_at=now,
            entered_by=by,
            via=via,
        )
        if baseline is not None:
            moved = scoring.change(
                instrument.code,
                scoring.Score(value=baseline.score, percent=baseline.percent, answered=0),
                result,
                baseline_answers=baseline.answers,
                current_answers=response.answers,
            )
            response.change = moved.delta
            response.improved, response.worsened, response.threshold = moved.improved, moved.worsened, moved.threshold
        response.save()
        due.status = Due.DONE
        due.save(update_fields=["status", "updated_at"])
        # An older occasion still waiting is missed: an answer never goes before one already given.
        same.filter(status=Due.DUE, due_on__lt=due.due_on).update(status=Due.MISSED, updated_at=now)
        # Its reminder is cancelled at once, or handed to another questionnaire of that day still waiting.
        measure_reminders_sync(episode_id=due.episode_id, now=now)
        if response.worsened:
            _flag_worsening(response, baseline)
    return response


def _flag_worsening(response: MeasureResponse, baseline: MeasureResponse) -> None:
    instrument = response.instrument
    flag_raise(
        patient=response.patient,
        kind=SafetyFlag.Kind.OUTCOME_WORSENING,
        cause_key=f"measure:{response.pk}",
        severity=SafetyFlag.Severity.WARNING,
        summary=f"{instrument.abbreviation} worsened meaningfully for {response.patient.full_name}: "
        f"{_number(baseline.score)} at baseline, {_number(response.score)} now ({response.threshold}).",
        details={
            "instrument": instrument.code,
            "baseline": str(baseline.score),
            "score": str(response.score),
            "change": str(response.change),
            "threshold": response.threshold,
            "taken_on": response.taken_at.date().isoformat(),
        },
    )


def _number(value: Decimal) -> str:
    return f"{value.normalize():f}" if value == value.to_integral() else f"{value:f}"
