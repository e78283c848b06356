"""Time rules for sessions and reminders: local wall-clock times in a patient's IANA zone.

This module is pure: it imports no Django and no models, only the standard library. It is the
single place the scheduling time rules live (DESIGN §3 and §5); the materializer, the reminder
planner, the missed-session sweep and the daily cap all call it. Every instant it returns is an
aware ``datetime`` in UTC.

Rules
-----
1. **Wall time → instant (RFC 5545, §3.3.5).** A local time that does not exist because the
   clocks jump forward (a DST *gap*) is read with the UTC offset in force *before* the gap, so it
   lands after the gap shifted forward by the gap's length (02:30 on 2027-03-14 in
   America/New_York is 03:30 EDT = 07:30 UTC). A local time that occurs twice because the clocks
   go back (a *fold*) means the *first* occurrence, i.e. the earlier instant (01:30 on 2027-11-07
   in New York is 01:30 EDT = 05:30 UTC). `to_utc` implements this without trusting the sign of
   the DST offset, so zones with negative DST (Europe/Dublin, Africa/Casablanca), 30-minute shifts
   (Australia/Lord_Howe) and odd offsets (Asia/Kathmandu, Pacific/Chatham) follow the same rule.
2. **Sessions.** A prescription yields one session per (local date whose ISO weekday is one of
   its days of week, local time), see `occurrences`; its instant is ``to_utc(date, time, zone)``.
3. **Local days.** A local day runs from ``to_utc(day, 00:00)`` up to (excluding)
   ``to_utc(day + 1, 00:00)``. Where midnight falls in a gap (America/Havana, America/Santiago on
   spring-forward days) the RFC rule yields the first instant of the day, because those gaps start
   exactly at midnight; where midnight repeats, the first occurrence starts the day.
4. **Log window.** A session may be logged from the start of its local date until the end of the
   next local day: ``[start of date, start of date + 2 days)``, see `log_window`. When it closes
   an unlogged session becomes ``missed``.
5. **Reminders.** Send time = ``scheduled_at - lead``. If the wall time of that instant falls in
   the patient's quiet hours ``[quiet_start, quiet_end)`` (which may wrap midnight, e.g.
   21:00–07:30; ``quiet_start == quiet_end`` or no quiet hours means none) it moves to the next
   time the wall clock reads ``quiet_end``, mapped with `to_utc`. A send time at or after the
   end of the log window cancels the reminder (`reminder_send_at` returns ``None``).
6. **Missed-session follow-up** at 09:00 local on the day after the session's date, see
   `follow_up_at`; per-patient daily caps count reminders within `local_day_bounds`.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

__all__ = [
    "follow_up_at",
    "local_day_bounds",
    "log_window",
    "occurrences",
    "reminder_send_at",
    "to_utc",
]

MIDNIGHT = time(0, 0)
FOLLOW_UP_TIME = time(9, 0)
ISO_WEEKDAYS = frozenset(range(1, 8))


def _naive_wall(local_date: date, local_time: time) -> datetime:
    if local_time.tzinfo is not None:
        raise ValueError(f"local_time must be a naive wall-clock time, got {local_time!r}")
    # datetime.combine copies the time's fold; the rule below must not depend on it.
    return datetime.combine(local_date, local_time).replace(fold=0)


def _wall_of(instant: datetime, zone: ZoneInfo) -> datetime:
    """The naive local wall-clock reading of an aware instant in ``zone``."""
    return instant.astimezone(zone).replace(tzinfo=None, fold=0)


def _candidate_offsets(wall: datetime, zone: ZoneInfo) -> list[timedelta]:
    """The UTC offsets in force on either side of ``wall`` (one value when no transition is near).

    PEP 495: for a repeated wall time fold=0/1 give the offsets of the first/second occurrence;
    for a wall time in a gap they give the offsets before/after the gap.
    """
    offsets = {wall.replace(tzinfo=zone, fold=fold).utcoffset() for fold in (0, 1)}
    if None in offsets:
        raise ValueError(f"{zone!r} gives no UTC offset for {wall.isoformat()}")
    return sorted(offsets)


def _instants_with_wall(wall: datetime, zone: ZoneInfo) -> list[datetime]:
    """Every UTC instant whose local wall time in ``zone`` is ``wall``, earliest first.

    Empty for a time in a gap, one instant normally, two for a time repeated by a fold.
    """
    found = set()
    for offset in _candidate_offsets(wall, zone):
        instant = (wall - offset).replace(tzinfo=UTC)
        if _wall_of(instant, zone) == wall:
            found.add(instant)
    return sorted(found)


def to_utc(local_date: date, local_time: time, zone: ZoneInfo) -> datetime:
    """Return the aware UTC instant at which the wall clock in ``zone`` reads ``local_date local_time``.

    RFC 5545 rule (module docstring, rule 1): a repeated wall time (fall back) means its first
    occurrence, the earlier instant; a wall time inside a gap (spring forward) is read with the
    offset in force before the gap, which lands it after the gap shifted forward by the gap's
    length. The ``fold`` attribute of ``local_time`` is ignored. ``local_time`` must be naive.

    >>> to_utc(date(2027, 3, 14), time(2, 30), ZoneInfo("America/New_York")).isoformat()
    '2027-03-14T07:30:00+00:00'
    >>> to_utc(date(2027, 11, 7), time(1, 30), ZoneInfo("America/New_York")).isoformat()
    '2027-11-07T05:30:00+00:00'
    """
    wall = _naive_wall(local_date, local_time)
    instants = _instants_with_wall(wall, zone)
    if instants:
        return instants[0]
    # A gap: the clocks jumped forward, so the offset before the gap is the smaller of the two.
    before_gap = _candidate_offsets(wall, zone)[0]
    return (wall - before_gap).replace(tzinfo=UTC)


def occurrences(
    start: date,
    end: date | None,
    days_of_week: Collection[int],
    times: Sequence[time],
    window_start: date,
    window_end: date,
) -> list[tuple[date, time]]:
    """Return every ``(local date, local time)`` of a weekly schedule inside a window, sorted.

    The dates run over ``[max(start, window_start), min(end, window_end)]``, both ends inclusive
    (``end=None`` means the plan is open-ended), keeping those whose ISO weekday (1 = Monday …
    7 = Sunday) is in ``days_of_week``; each kept date is paired with every time in ``times``.
    Duplicate times are listed once. An empty weekday set, no times or an empty range give ``[]``.
    Raises ``ValueError`` for a weekday outside 1–7 or an aware time. Turning a pair into an
    instant is `to_utc`'s job.
    """
    weekdays = set(days_of_week)
    if weekdays - ISO_WEEKDAYS:
        raise ValueError(f"days_of_week must be ISO weekdays 1-7, got {sorted(weekdays - ISO_WEEKDAYS)}")
    for local_time in times:
        if local_time.tzinfo is not None:
            raise ValueError(f"times must be naive wall-clock times, got {local_time!r}")
    day_times = sorted({local_time.replace(fold=0) for local_time in times})
    first = max(start, window_start)
    last = window_end if end is None else min(end, window_end)
    if not weekdays or not day_times or first > last:
        return []
    result: list[tuple[date, time]] = []
    day = first
    while day <= last:
        if day.isoweekday() in weekdays:
            result.extend((day, local_time) for local_time in day_times)
        day += timedelta(days=1)
    return result


def local_day_bounds(day: date, zone: ZoneInfo) -> tuple[datetime, datetime]:
    """Return ``(start, next_start)``: the local day ``day`` in ``zone`` as a half-open UTC range.

    Each bound is local midnight mapped with `to_utc`, so a day may be 23, 24 or 25 hours long (or
    23.5 / 24.5 on Lord Howe Island), and a midnight that falls in a gap starts the day at the end
    of the gap. Used for the per-patient daily reminder cap.
    """
    return to_utc(day, MIDNIGHT, zone), to_utc(day + timedelta(days=1), MIDNIGHT, zone)


LOG_WINDOW_DAYS = 2
"""A session may be logged on its own local date and the next: its log window spans this many local days."""


def log_window(local_date: date, zone: ZoneInfo) -> tuple[datetime, datetime]:
    """Return the half-open UTC range in which a session on ``local_date`` may be logged.

    From the start of its local date until the end of the next local day (``LOG_WINDOW_DAYS``):
    ``[to_utc(local_date, 00:00), to_utc(local_date + 2 days, 00:00))``. When it closes, an
    unlogged session is marked missed, and no reminder may be sent at or after its end.
    """
    return to_utc(local_date, MIDNIGHT, zone), to_utc(local_date + timedelta(days=LOG_WINDOW_DAYS), MIDNIGHT, zone)


def last_log_date(local_date: date) -> date:
    """The last local date on which a session on ``local_date`` may still be logged."""
    return local_date + timedelta(days=LOG_WINDOW_DAYS - 1)


def first_loggable_date(today: date) -> date:
    """The earliest session date whose log window is still open on the local date ``today``."""
    return today - timedelta(days=LOG_WINDOW_DAYS - 1)


def _in_quiet_hours(wall: time, quiet_start: time, quiet_end: time) -> bool:
    """Whether a wall time lies in ``[quiet_start, quiet_end)``, which wraps midnight when start > end."""
    if quiet_start < quiet_end:
        return quiet_start <= wall < quiet_end
    return wall >= quiet_start or wall < quiet_end


def reminder_send_at(
    scheduled_at: datetime,
    zone: ZoneInfo,
    lead: timedelta,
    quiet_start: time | None,
    quiet_end: time | None,
    log_window_end: datetime,
) -> datetime | None:
    """Return the aware UTC instant a session reminder should be sent, or ``None`` to cancel it.

    The send time is ``scheduled_at - lead``. If the patient's wall clock at that instant reads a
    time in the quiet hours ``[quiet_start, quiet_end)`` (start included, end excluded; they wrap
    midnight when start > end, e.g. 21:00–07:30), the send time moves to the next moment the wall
    clock reads ``quiet_end``: the same local date when the wall time is before ``quiet_end``, else
    the next date, mapped with `to_utc` (so a quiet end inside a gap is read RFC 5545 style). In
    the one case where that first occurrence is earlier than the original send time (the send
    time lies in the second pass of a repeated hour), the second occurrence is used, so a reminder
    never moves earlier. No quiet hours (both ``None``) or ``quiet_start == quiet_end`` mean none.

    Returns ``None`` when the resulting send time is at or after ``log_window_end`` (the session
    can no longer be logged, so the reminder is cancelled). Raises ``ValueError`` for a naive
    instant, a negative lead, or only one of ``quiet_start``/``quiet_end``.
    """
    if scheduled_at.utcoffset() is None or log_window_end.utcoffset() is None:
        raise ValueError("scheduled_at and log_window_end must be aware datetimes")
    if lead < timedelta(0):
        raise ValueError(f"lead must not be negative, got {lead}")
    if (quiet_start is None) != (quiet_end is None):
        raise ValueError("give both quiet_start and quiet_end, or neither")
    send_at = (scheduled_at - lead).astimezone(UTC)
    if quiet_start is not None and quiet_end is not None and quiet_start != quiet_end:
        local = send_at.astimezone(zone)
        wall = local.time().replace(fold=0)
        if _in_quiet_hours(wall, quiet_start, quiet_end):
            end_date = local.date() if wall < quiet_end else local.date() + timedelta(days=1)
            quiet_over = to_utc(end_date, quiet_end, zone)
            if quiet_over <= send_at:
                later = [i for i in _instants_with_wall(_naive_wall(end_date, quiet_end), zone) if i > send_at]
                quiet_over = later[0] if later else send_at
            send_at = quiet_over
    if send_at >= log_window_end:
        return None
    return send_at


def follow_up_at(local_date: date, zone: ZoneInfo, at: time = FOLLOW_UP_TIME) -> datetime:
    """Return the aware UTC instant of the missed-session follow-up for a session on ``local_date``.

    It is sent at ``at`` (09:00 by default) local time on the log window's last day (`last_log_date`: the next
    day), mapped with `to_utc`, which keeps it inside the session's log window.
    """
    return to_utc(last_log_date(local_date), at, zone)
