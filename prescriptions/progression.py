"""Dose progression (issue 17), pure: when a step falls due, the dose it gives, and whether the patient is ready.

A rule says: every N weeks, counted from the start date of the plan's first version, add to the hold, the
repetitions and the sets, up to a maximum. A step goes ahead by itself only when the gate passes the new version
(checked by the service) and the patient is ready (``readiness``):

- (b) no symptom or gate flag is open;
- (c) pain is not rising: the mean pain-after of the last ``RECENT_LOGS`` logs since the first ``BASELINE_DAYS`` days
  is not ``PAIN_RISE`` points or more above the mean of the first ``BASELINE_DAYS`` days' logs;
- (d) adherence over the last ``ADHERENCE_DAYS`` days before the step (or since the start, if sooner) is at least
  the clinic's minimum.

Missing data holds a step rather than passing it (unknown means the risky case): no log in the first week, fewer
than ``RECENT_LOGS`` logs since, or no session due in the adherence window. A rule that steps every week therefore
always waits for the therapist at its first step: there is no log after the first week yet.

Sources (a licensed physical therapist reviews these values like any catalog row): ACSM's Guidelines for Exercise
Testing and Prescription (progress flexibility dose gradually, within 10–30 s holds, 30–60 s for older adults,
2–4 repetitions); a 2-point change on the 0–10 NPRS is its minimal clinically important difference (Childs et al.,
Spine 2005;30(11):1331–4), so a rise of 2 points is a real worsening, not noise.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass
from fractions import Fraction
from statistics import fmean

PAIN_RISE = 2.0
RECENT_LOGS = 3
BASELINE_DAYS = 7
ADHERENCE_DAYS = 14
SOURCE = (
    "ACSM's Guidelines for Exercise Testing and Prescription (gradual progression of flexibility dose); NPRS minimal"
    " clinically important difference of 2 points (Childs et al., Spine 2005;30(11):1331-4)"
)

# The conditions that hold a step (``ProgressionStep.Condition`` stores the same words).
GATE = "gate"
OPEN_FLAG = "open_flag"
PAIN_RISING = "pain_rising"
LOW_ADHERENCE = "low_adherence"
MISSING_DATA = "missing_data"
AMENDMENT_IN_PROGRESS = "amendment_in_progress"
OUT_OF_BOUNDS = "out_of_bounds"


@dataclass(frozen=True)
class Dose:
    hold_seconds: int | None
    reps: int
    sets: int


@dataclass(frozen=True)
class Rule:
    """A rule with its maxima resolved (the rule's own, else the stretch's bounds)."""

    every_weeks: int
    hold_seconds: int
    reps: int
    sets: int
    max_hold_seconds: int
    max_reps: int
    max_sets: int


def progressed(dose: Dose, rule: Rule) -> Dose:
    """The dose one step later: each increment added, none past its maximum (nor lowered if already past it)."""

    def grow(value: int, step: int, cap: int) -> int:
        return max(value, min(value + step, cap))

    hold = dose.hold_seconds
    if hold is not None and rule.hold_seconds:
        hold = grow(hold, rule.hold_seconds, rule.max_hold_seconds)
    return Dose(
        hold_seconds=hold,
        reps=grow(dose.reps, rule.reps, rule.max_reps),
        sets=grow(dose.sets, rule.sets, rule.max_sets),
    )


def last_step_date(*, start: dt.date, every_weeks: int, today: dt.date) -> dt.date | None:
    """The latest date of the rule's grid (``start`` + k × ``every_weeks`` weeks, k ≥ 1) on or before ``today``."""
    steps = (today - start).days // (7 * every_weeks)
    return start + dt.timedelta(weeks=steps * every_weeks) if steps >= 1 else None


def next_step_date(*, start: dt.date, every_weeks: int, after: dt.date) -> dt.date:
    """The first date of the rule's grid after ``after``."""
    steps = max((after - start).days // (7 * every_weeks) + 1, 1)
    return start + dt.timedelta(weeks=steps * every_weeks)


def due_date(*, start: dt.date, every_weeks: int, today: dt.date, last_step: dt.date | None) -> dt.date | None:
    """The step date due by ``today`` and after the lineage's last step (``last_step``), or None. Missed grid dates
    (workers down for weeks) collapse into the latest one: a dose never jumps two steps at once."""
    date = last_step_date(start=start, every_weeks=every_weeks, today=today)
    if date is None or (last_step is not None and date <= last_step):
        return None
    return date


@dataclass(frozen=True)
class Log:
    date: dt.date
    pain_after: int


@dataclass(frozen=True)
class Readiness:
    held_because: list[str]
    evidence: dict

    @property
    def ready(self) -> bool:
        return not self.held_because


def adherence_window(*, start: dt.date, on_date: dt.date) -> tuple[dt.date, dt.date]:
    """The days before the step whose sessions count: the last ``ADHERENCE_DAYS``, or since the start if sooner."""
    return max(start, on_date - dt.timedelta(days=ADHERENCE_DAYS)), on_date - dt.timedelta(days=1)


def readiness(
    *,
    start: dt.date,
    on_date: dt.date,
    logs: Sequence[Log],
    sessions_due: int,
    sessions_done: int,
    open_flags: Sequence[str],
    min_adherence: int,
) -> Readiness:
    """Whether a step on ``on_date`` may go ahead by itself for a plan started on ``start``: conditions (b)–(d) and
    missing data. ``logs``: the lineage's session logs before ``on_date``, oldest first; ``sessions_due`` /
    ``sessions_done``: the sessions due and done in ``adherence_window``; ``open_flags``: the open symptom and gate
    flags (a word each); ``min_adherence``: the clinic's minimum, per cent."""
    held: list[str] = []
    baseline_end = start + dt.timedelta(days=BASELINE_DAYS)
    baseline = [log.pain_after for log in logs if start <= log.date < baseline_end]
    recent = [log.pain_after for log in logs if baseline_end <= log.date < on_date][-RECENT_LOGS:]
    first, last = adherence_window(start=start, on_date=on_date)
    percent = round(100 * sessions_done / sessions_due) if sessions_due else None
    evidence = {
        "open_flags": list(open_flags),
        "baseline": {"from": start.isoformat(), "logs": len(baseline), "pain_after": _mean(baseline)},
        "recent": {"logs": len(recent), "pain_after": _mean(recent)},
        "adherence": {
            "from": first.isoformat(),
            "to": last.isoformat(),
            "due": sessions_due,
            "done": sessions_done,
            "percent": percent,
            "minimum": min_adherence,
        },
    }
    if open_flags:
        held.append(OPEN_FLAG)
    if not baseline or len(recent) < RECENT_LOGS or not sessions_due:
        held.append(MISSING_DATA)
    # In exact fractions: float means of [3, 4, 4] and [1, 2, 2] differ by 1.9999999999999998.
    if baseline and len(recent) >= RECENT_LOGS and _exact_mean(recent) - _exact_mean(baseline) >= PAIN_RISE:
        held.append(PAIN_RISING)
    if sessions_due and sessions_done * 100 < min_adherence * sessions_due:
        held.append(LOW_ADHERENCE)
    return Readiness(held_because=held, evidence=evidence)


def _exact_mean(values: Sequence[int]) -> Fraction:
    return Fraction(sum(values), len(values))


def _mean(values: Sequence[int]) -> float | None:
    return round(fmean(values), 2) if values else None
