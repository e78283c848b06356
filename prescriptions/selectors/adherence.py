"""Adherence of one patient over a window of local dates: session counts, the pain trend and the outcome measures,
aggregated in SQL.

Five queries whatever the window holds: the status counts, the per-day pain averages, the first- and last-third pain
averages, the outcome measures' counts, and each instrument's latest response.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from django.core.exceptions import ValidationError
from django.db.models import Avg, Count, F, Q
from django.utils import timezone

from patients.models import Patient
from prescriptions.models import MeasureDue, MeasureResponse, Session, SessionLog

DEFAULT_WINDOW_DAYS = 28
MAX_WINDOW_DAYS = 366
# A change of at least one NPRS point between the first and the last third of the logs is a trend.
TREND_THRESHOLD = 1.0

Status = Session.Status
COUNTED = ("completed", "missed", "skipped", "blocked", "cancelled")


class Trend:
    IMPROVING = "improving"
    STABLE = "stable"
    WORSENING = "worsening"
    CHOICES = (IMPROVING, STABLE, WORSENING)


@dataclass(frozen=True)
class PainDay:
    date: dt.date
    logs: int
    pain_before: float
    pain_after: float


@dataclass(frozen=True)
class AdherenceMeasures:
    """The outcome measures of the window: how many fell due in it (by local date) and are still ``due``, were
    answered (``done``) or ``missed``; and each instrument's latest response taken by the window's last day."""

    due: int
    done: int
    missed: int
    latest: list[MeasureResponse]


@dataclass(frozen=True)
class Adherence:
    patient_id: int
    start: dt.date
    end: dt.date
    scheduled: int
    completed: int
    missed: int
    skipped: int
    blocked: int
    cancelled: int
    completion_rate: float | None
    pain_days: list[PainDay]
    first_third_pain: float | None
    last_third_pain: float | None
    trend: str | None
    measures: AdherenceMeasures


def adherence_window(*, patient: Patient, start: dt.date | None, end: dt.date | None) -> tuple[dt.date, dt.date]:
    """The window asked for, defaulting to the last 28 days up to the patient's local today; inclusive."""
    if end is None:
        end = patient.local_today()
    if start is None:
        start = max(end, dt.date.min + dt.timedelta(days=DEFAULT_WINDOW_DAYS - 1)) - dt.timedelta(
            days=DEFAULT_WINDOW_DAYS - 1
        )
    if start > end:
        raise ValidationError({"to": "The window ends before it starts."})
    if (end - start).days + 1 > MAX_WINDOW_DAYS:
        raise ValidationError({"from": f"A window spans at most {MAX_WINDOW_DAYS} days."})
    return start, end


def _trend(first: float | None, last: float | None) -> str | None:
    if first is None or last is None:
        return None
    if last - first <= -TREND_THRESHOLD:
        return Trend.IMPROVING
    if last - first >= TREND_THRESHOLD:
        return Trend.WORSENING
    return Trend.STABLE


def _rounded(value: float | None, places: int = 2) -> float | None:
    return None if value is None else round(value, places)


def patient_adherence(*, patient: Patient, start: dt.date, end: dt.date, now: dt.datetime | None = None) -> Adherence:
    """Counts of the patient's sessions whose local date lies in [start, end], and the pain logged for them.

    ``scheduled`` counts the sessions that were due: completed, missed or skipped ones, and scheduled ones
    whose time has come. Blocked and cancelled sessions were never due. The completion rate is completed /
    (completed + missed + skipped), None when that is 0. Pain is grouped by the session's local date; the
    trend compares the mean NPRS ((before + after) / 2) of the first third of the logs with the last third
    (in session order), None with fewer than three logs.
    """
    now = now or timezone.now()
    sessions = Session.objects.filter(prescription__patient=patient, local_date__range=(start, end))
    due = Q(status__in=[Status.COMPLETED, Status.MISSED, Status.SKIPPED]) | Q(
        status=Status.SCHEDULED, scheduled_at__lte=now
    )
    counts = sessions.aggregate(
        scheduled=Count("pk", filter=due),
        **{status: Count("pk", filter=Q(status=status)) for status in COUNTED},
    )
    closed = counts["completed"] + counts["missed"] + counts["skipped"]

    logs = SessionLog.objects.filter(session__prescription__patient=patient, session__local_date__range=(start, end))
    days = [
        PainDay(
            date=row["session__local_date"],
            logs=row["logs"],
            pain_before=round(row["pain_before"], 2),
            pain_after=round(row["pain_after"], 2),
        )
        for row in logs.values("session__local_date")
        .annotate(logs=Count("pk"), pain_before=Avg("pain_before"), pain_after=Avg("pain_after"))
        .order_by("session__local_date")
    ]

    logged = sum(day.logs for day in days)
    third = max(logged // 3, 1)  # the query runs even for fewer than three logs: a constant count of queries
    in_order = ("session__local_date", "logged_at", "pk")
    first_ids = logs.order_by(*in_order).values("pk")[:third]
    last_ids = logs.order_by(*(f"-{field}" for field in in_order)).values("pk")[:third]
    both = F("pain_before") + F("pain_after")
    thirds = logs.aggregate(first=Avg(both, filter=Q(pk__in=first_ids)), last=Avg(both, filter=Q(pk__in=last_ids)))
    first = thirds["first"] / 2 if logged >= 3 and thirds["first"] is not None else None
    last = thirds["last"] / 2 if logged >= 3 and thirds["last"] is not None else None

    return Adherence(
        patient_id=patient.pk,
        start=start,
        end=end,
        scheduled=counts["scheduled"],
        completed=counts["completed"],
        missed=counts["missed"],
        skipped=counts["skipped"],
        blocked=counts["blocked"],
        cancelled=counts["cancelled"],
        completion_rate=round(counts["completed"] / closed, 3) if closed else None,
        pain_days=days,
        first_third_pain=_rounded(first),
        last_third_pain=_rounded(last),
        trend=_trend(first, last),
        measures=adherence_measures(patient=patient, start=start, end=end),
    )


def adherence_measures(*, patient: Patient, start: dt.date, end: dt.date) -> AdherenceMeasures:
    """The window's outcome measures in two queries: the counts of those due on its dates, by status; and, per
    instrument, the latest response taken before the end of its last day in the patient's zone (with its change from
    the episode's baseline and whether it crossed the instrument's meaningful change)."""
    Due = MeasureDue.Status
    counts = MeasureDue.objects.filter(patient=patient, due_on__range=(start, end)).aggregate(
        **{status: Count("pk", filter=Q(status=status)) for status in (Due.DUE, Due.DONE, Due.MISSED)}
    )
    responses = MeasureResponse.objects.filter(patient=patient)
    if end < dt.date.max:
        responses = responses.filter(taken_at__lt=patient.start_of_local_day(end + dt.timedelta(days=1)))
    latest = (
        responses.select_related("instrument", "due")
        .order_by("instrument_id", "-taken_at", "-id")
        .distinct("instrument_id")
    )
    return AdherenceMeasures(
        due=counts[Due.DUE],
        done=counts[Due.DONE],
        missed=counts[Due.MISSED],
        latest=sorted(latest, key=lambda response: response.instrument.code),
    )
