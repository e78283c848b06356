"""Time rules for sessions and reminders (prescriptions/scheduling.py): pure functions, no database.

The RFC 5545 expectations are checked against an oracle built only from UTC → local conversions
(which are never ambiguous) and from DST transitions this file finds itself by scanning the zone,
so the tests do not take zoneinfo's ``fold`` handling on trust.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest
from hypothesis import event, given, settings
from hypothesis import strategies as st

from prescriptions.scheduling import (
    follow_up_at,
    local_day_bounds,
    log_window,
    occurrences,
    reminder_send_at,
    to_utc,
)

NY = ZoneInfo("America/New_York")
LONDON = ZoneInfo("Europe/London")
LORD_HOWE = ZoneInfo("Australia/Lord_Howe")
H = timedelta(hours=1)
MINUTE = timedelta(minutes=1)
SECOND = timedelta(seconds=1)
LEAD = timedelta(minutes=15)

# Diverse zones: positive and negative DST (Dublin, Casablanca), 30-minute (Lord Howe) and 2-hour
# (Troll) shifts, odd offsets (Kathmandu +5:45, Chatham +12:45/+13:45, Marquesas -9:30, St John's
# -3:30/-2:30, Tehran +3:30), transitions at midnight (Havana, Santiago, Asuncion until 2024),
# rule changes (Nuuk 2023, Asuncion 2024, Apia 2021), the date line (Kiritimati +14).
ZONES = (
    "America/New_York",
    "Europe/London",
    "Europe/Dublin",
    "Africa/Casablanca",
    "Australia/Lord_Howe",
    "Australia/Adelaide",
    "Asia/Kathmandu",
    "Asia/Kolkata",
    "Asia/Tehran",
    "Asia/Gaza",
    "Pacific/Chatham",
    "Pacific/Marquesas",
    "Pacific/Kiritimati",
    "Pacific/Apia",
    "America/Santiago",
    "America/Havana",
    "America/Asuncion",
    "America/St_Johns",
    "America/Nuuk",
    "Antarctica/Troll",
)
YEARS = range(2020, 2036)


def utc(*args: int) -> datetime:
    return datetime(*args, tzinfo=UTC)


def wall_of(instant: datetime, zone: ZoneInfo) -> datetime:
    """What the zone's wall clock reads at an instant (naive)."""
    return instant.astimezone(zone).replace(tzinfo=None, fold=0)


def offset_at(instant: datetime, zone: ZoneInfo) -> timedelta:
    return instant.astimezone(zone).utcoffset()


@dataclass(frozen=True)
class Transition:
    at: datetime  # the first UTC instant with the new offset
    before: timedelta
    after: timedelta

    @property
    def is_gap(self) -> bool:
        return self.after > self.before

    @property
    def wall_before(self) -> datetime:
        """The wall clock reading (old offset) at which the clocks are changed."""
        return (self.at + self.before).replace(tzinfo=None)

    @property
    def wall_after(self) -> datetime:
        """The wall clock reading (new offset) right after the change."""
        return (self.at + self.after).replace(tzinfo=None)


@functools.cache
def transitions(zone_name: str, year: int) -> tuple[Transition, ...]:
    """Every UTC offset change of a zone during a (UTC) year, found by scanning and bisecting."""
    zone = ZoneInfo(zone_name)
    step = 12 * 3600
    start = int(datetime(year, 1, 1, tzinfo=UTC).timestamp())
    stop = int(datetime(year + 1, 1, 1, tzinfo=UTC).timestamp())

    def offset(ts: int) -> timedelta:
        return offset_at(datetime.fromtimestamp(ts, UTC), zone)

    found = []
    for lo in range(start, stop, step):
        hi = lo + step
        before, after = offset(lo), offset(hi)
        if before == after:
            continue
        while hi - lo > 1:
            mid = (lo + hi) // 2
            if offset(mid) == before:
                lo = mid
            else:
                hi = mid
        found.append(Transition(datetime.fromtimestamp(hi, UTC), before, offset(hi)))
    return tuple(found)


def all_transitions(zone_name: str) -> list[Transition]:
    return [t for year in YEARS for t in transitions(zone_name, year)]


def rfc5545_oracle(wall: datetime, zone: ZoneInfo) -> tuple[str, datetime, list[datetime]]:
    """The RFC 5545 instant of a wall time, from UTC → local conversions and scanned transitions.

    Returns (kind, expected instant, every instant whose wall time is ``wall``), kind being
    ``plain``, ``repeated`` or ``gap``.
    """
    # Offsets run from -12:00 to +14:00, so any instant with this wall time lies in this range.
    offsets = set()
    probe = (wall - timedelta(hours=15)).replace(tzinfo=UTC)
    while probe <= (wall + timedelta(hours=13)).replace(tzinfo=UTC):
        offsets.add(offset_at(probe, zone))
        probe += timedelta(minutes=15)
    matches = sorted(
        {(wall - o).replace(tzinfo=UTC) for o in offsets if wall_of((wall - o).replace(tzinfo=UTC), zone) == wall}
    )
    if matches:
        return ("repeated" if len(matches) > 1 else "plain"), matches[0], matches
    gaps = [
        t
        for year in (wall.year - 1, wall.year, wall.year + 1)
        for t in transitions(zone.key, year)
        if t.is_gap and t.wall_before <= wall < t.wall_after
    ]
    assert len(gaps) == 1, f"{wall} in {zone.key}: no instant and no single gap {gaps}"
    return "gap", (wall - gaps[0].before).replace(tzinfo=UTC), []


def in_quiet(wall: time, start: time, end: time) -> bool:
    if start < end:
        return start <= wall < end
    return wall >= start or wall < end


# --- to_utc: the RFC 5545 rule ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("zone", "local", "expected"),
    [
        # New York spring forward 2027-03-14: 02:00-02:59 EST do not exist, read with EST (-5).
        ("America/New_York", datetime(2027, 3, 14, 1, 59), utc(2027, 3, 14, 6, 59)),
        ("America/New_York", datetime(2027, 3, 14, 2, 0), utc(2027, 3, 14, 7, 0)),
        ("America/New_York", datetime(2027, 3, 14, 2, 30), utc(2027, 3, 14, 7, 30)),
        ("America/New_York", datetime(2027, 3, 14, 2, 59), utc(2027, 3, 14, 7, 59)),
        ("America/New_York", datetime(2027, 3, 14, 3, 0), utc(2027, 3, 14, 7, 0)),
        # New York fall back 2027-11-07: 01:00-01:59 twice, the first (EDT, -4) wins.
        ("America/New_York", datetime(2027, 11, 7, 0, 59), utc(2027, 11, 7, 4, 59)),
        ("America/New_York", datetime(2027, 11, 7, 1, 0), utc(2027, 11, 7, 5, 0)),
        ("America/New_York", datetime(2027, 11, 7, 1, 30), utc(2027, 11, 7, 5, 30)),
        ("America/New_York", datetime(2027, 11, 7, 1, 59), utc(2027, 11, 7, 5, 59)),
        ("America/New_York", datetime(2027, 11, 7, 2, 0), utc(2027, 11, 7, 7, 0)),
        # London: 01:30 on 2027-03-28 is in the gap (read as GMT); on 2027-10-31 it repeats (BST first).
        ("Europe/London", datetime(2027, 3, 28, 0, 59), utc(2027, 3, 28, 0, 59)),
        ("Europe/London", datetime(2027, 3, 28, 1, 30), utc(2027, 3, 28, 1, 30)),
        ("Europe/London", datetime(2027, 3, 28, 2, 0), utc(2027, 3, 28, 1, 0)),
        ("Europe/London", datetime(2027, 10, 31, 1, 30), utc(2027, 10, 31, 0, 30)),
        ("Europe/London", datetime(2027, 10, 31, 2, 0), utc(2027, 10, 31, 2, 0)),
        # Dublin models summer as standard time and winter as negative DST: same instants as London.
        ("Europe/Dublin", datetime(2027, 3, 28, 1, 30), utc(2027, 3, 28, 1, 30)),
        ("Europe/Dublin", datetime(2027, 10, 31, 1, 30), utc(2027, 10, 31, 0, 30)),
        # Odd fixed offsets.
        ("Asia/Kathmandu", datetime(2027, 6, 1, 8, 0), utc(2027, 6, 1, 2, 15)),
        ("Pacific/Marquesas", datetime(2027, 6, 1, 8, 0), utc(2027, 6, 1, 17, 30)),
        ("Pacific/Kiritimati", datetime(2027, 6, 1, 8, 0), utc(2027, 5, 31, 18, 0)),
    ],
    ids=lambda v: v.isoformat() if isinstance(v, datetime) else v,
)
def test_to_utc_dst_table(zone, local, expected):
    result = to_utc(local.date(), local.time(), ZoneInfo(zone))
    assert result == expected
    assert result.tzinfo is UTC


def test_new_york_gap_time_is_read_with_the_offset_before_the_gap():
    result = to_utc(date(2027, 3, 14), time(2, 30), NY)
    assert result.astimezone(NY).isoformat() == "2027-03-14T03:30:00-04:00"


def test_new_york_repeated_time_means_the_first_occurrence():
    result = to_utc(date(2027, 11, 7), time(1, 30), NY)
    assert result.astimezone(NY).isoformat() == "2027-11-07T01:30:00-04:00"
    assert result + H == datetime(2027, 11, 7, 1, 30, tzinfo=NY, fold=1).astimezone(UTC)


def test_the_fold_attribute_of_the_time_is_ignored():
    assert to_utc(date(2027, 11, 7), time(1, 30, fold=1), NY) == utc(2027, 11, 7, 5, 30)
    assert to_utc(date(2027, 3, 14), time(2, 30, fold=1), NY) == utc(2027, 3, 14, 7, 30)


def test_an_aware_time_is_refused():
    with pytest.raises(ValueError, match="naive"):
        to_utc(date(2027, 6, 1), time(8, 0, tzinfo=UTC), NY)


def test_seconds_and_microseconds_are_kept():
    assert to_utc(date(2027, 6, 1), time(8, 0, 5, 123), NY) == datetime(2027, 6, 1, 12, 0, 5, 123, tzinfo=UTC)


def test_lord_howe_half_hour_shift_follows_the_rule():
    found = transitions("Australia/Lord_Howe", 2027)
    assert len(found) == 2
    (back,) = [t for t in found if not t.is_gap]
    (forward,) = [t for t in found if t.is_gap]
    # tzdata: back to +10:30 on the first Sunday in April and forward to +11 on the first Sunday in
    # October, both at 02:00 wall time; each shift is 30 minutes.
    assert back.before - back.after == forward.after - forward.before == timedelta(minutes=30)
    assert back.wall_before.month == 4 and back.wall_before.day <= 7 and back.wall_before.isoweekday() == 7
    assert forward.wall_before.month == 10 and forward.wall_before.day <= 7 and forward.wall_before.isoweekday() == 7
    assert back.wall_before.time() == forward.wall_before.time() == time(2, 0)

    # Gap: 02:00-02:29 do not exist; 02:15 is read with +10:30, i.e. 02:45 +11.
    day = forward.wall_before.date()
    gap_time = to_utc(day, time(2, 15), LORD_HOWE)
    assert gap_time == forward.at + 15 * MINUTE
    assert wall_of(gap_time, LORD_HOWE) == datetime.combine(day, time(2, 45))
    assert to_utc(day, time(2, 30), LORD_HOWE) == forward.at
    assert to_utc(day, time(1, 59), LORD_HOWE) == forward.at - MINUTE

    # Fold: 01:30-01:59 happen twice; 01:45 means the first (+11), 30 minutes before the second.
    day = back.wall_before.date()
    repeated = to_utc(day, time(1, 45), LORD_HOWE)
    assert repeated == back.at - 15 * MINUTE
    assert repeated.astimezone(LORD_HOWE).utcoffset() == back.before == timedelta(hours=11)
    second = back.at + 15 * MINUTE
    assert wall_of(second, LORD_HOWE) == wall_of(repeated, LORD_HOWE)
    assert to_utc(day, time(2, 0), LORD_HOWE) == back.at + 30 * MINUTE


@pytest.mark.parametrize("zone_name", ZONES)
def test_every_transition_2020_2035_follows_the_rule(zone_name):
    """Deterministic sweep: the edges and middle of every gap and fold of every sampled zone."""
    zone = ZoneInfo(zone_name)
    for t in all_transitions(zone_name):
        low, high = sorted((t.wall_before, t.wall_after))
        walls = [low - SECOND, low, low + (high - low) / 2, high - SECOND, high]
        for wall in walls:
            kind, expected, _ = rfc5545_oracle(wall, zone)
            assert to_utc(wall.date(), wall.time(), zone) == expected, (zone_name, t, wall, kind)
        if t.is_gap:
            # The first wall time of a gap lands exactly on the transition.
            assert to_utc(low.date(), low.time(), zone) == t.at
        else:
            # The first wall time of a fold means its first occurrence, a full shift before the transition.
            assert to_utc(low.date(), low.time(), zone) == t.at - (t.before - t.after)


def test_a_zone_change_gives_different_instants_for_the_same_wall_time():
    day, at = date(2027, 6, 1), time(8, 0)
    instants = {name: to_utc(day, at, ZoneInfo(name)) for name in ("America/New_York", "America/Los_Angeles")}
    assert instants == {"America/New_York": utc(2027, 6, 1, 12), "America/Los_Angeles": utc(2027, 6, 1, 15)}
    for name, instant in instants.items():
        assert wall_of(instant, ZoneInfo(name)) == datetime.combine(day, at)
    # Between the US and the EU switch dates the difference between two zones is not the usual one.
    assert to_utc(date(2027, 3, 20), at, LONDON) - to_utc(date(2027, 3, 20), at, NY) == timedelta(hours=-4)
    assert to_utc(date(2027, 4, 20), at, LONDON) - to_utc(date(2027, 4, 20), at, NY) == timedelta(hours=-5)


@st.composite
def zone_and_wall(draw) -> tuple[ZoneInfo, datetime]:
    """A zone and a wall time: either anywhere in 2020-2035 or within two hours of a transition."""
    zone_name = draw(st.sampled_from(ZONES))
    near = draw(st.booleans())
    if near:
        candidates = transitions(zone_name, draw(st.sampled_from(YEARS)))
        if candidates:
            t = draw(st.sampled_from(candidates))
            seconds = draw(st.integers(-2 * 3600, 2 * 3600))
            base = min(t.wall_before, t.wall_after)
            wall = base + timedelta(seconds=seconds, microseconds=draw(st.sampled_from([0, 0, 1, 999_999])))
            return ZoneInfo(zone_name), wall
    day = draw(st.dates(min_value=date(2020, 1, 1), max_value=date(2035, 12, 31)))
    return ZoneInfo(zone_name), datetime.combine(day, draw(st.times()))


@settings(max_examples=400, deadline=None, database=None)
@given(zone_and_wall())
def test_to_utc_property_rfc5545(case):
    zone, wall = case
    result = to_utc(wall.date(), wall.time(), zone)
    assert result.tzinfo is UTC
    assert result.utcoffset() == timedelta(0)
    kind, expected, matches = rfc5545_oracle(wall.replace(fold=0), zone)
    event(kind)
    assert result == expected
    if kind == "plain":
        assert wall_of(result, zone) == wall
    elif kind == "repeated":
        assert wall_of(result, zone) == wall
        assert result == min(matches) < max(matches)
    else:
        # A gap: read with the offset before it, i.e. the wall time moved forward by the gap's length.
        gap = offset_at(result, zone) - offset_at(result - timedelta(days=1), zone)
        assert gap > timedelta(0)
        assert wall_of(result, zone) == wall + gap


# --- occurrences --------------------------------------------------------------------------------

MON, TUE, WED, THU, FRI, SAT, SUN = range(1, 8)
T0730, T0800, T1800 = time(7, 30), time(8, 0), time(18, 0)


@pytest.mark.parametrize(
    ("start", "end", "days", "times", "window", "expected_dates"),
    [
        pytest.param(
            date(2027, 3, 1),
            None,
            {MON, WED, FRI},
            [T0800],
            (date(2027, 3, 1), date(2027, 3, 14)),
            [date(2027, 3, d) for d in (1, 3, 5, 8, 10, 12)],
            id="weekdays",
        ),
        pytest.param(
            date(2027, 3, 1),
            None,
            {SAT, SUN},
            [T0800],
            (date(2027, 3, 1), date(2027, 3, 14)),
            [date(2027, 3, d) for d in (6, 7, 13, 14)],
            id="weekend-window-end-inclusive",
        ),
        pytest.param(
            date(2027, 3, 4),
            date(2027, 3, 9),
            set(range(1, 8)),
            [T0800],
            (date(2027, 3, 1), date(2027, 3, 14)),
            [date(2027, 3, d) for d in range(4, 10)],
            id="clipped-to-start-and-end",
        ),
        pytest.param(
            date(2027, 2, 1),
            date(2027, 12, 31),
            set(range(1, 8)),
            [T0800],
            (date(2027, 3, 13), date(2027, 3, 15)),
            [date(2027, 3, 13), date(2027, 3, 14), date(2027, 3, 15)],
            id="clipped-to-window",
        ),
        pytest.param(
            date(2027, 3, 10),
            date(2027, 3, 10),
            {WED},
            [T0800],
            (date(2027, 3, 1), date(2027, 3, 14)),
            [date(2027, 3, 10)],
            id="single-day-plan",
        ),
        pytest.param(
            date(2027, 3, 1),
            None,
            (),
            [T0800],
            (date(2027, 3, 1), date(2027, 3, 14)),
            [],
            id="no-weekdays",
        ),
        pytest.param(date(2027, 3, 1), None, {MON}, [], (date(2027, 3, 1), date(2027, 3, 14)), [], id="no-times"),
        pytest.param(
            date(2027, 3, 1),
            date(2027, 3, 5),
            set(range(1, 8)),
            [T0800],
            (date(2027, 3, 6), date(2027, 3, 14)),
            [],
            id="plan-ended-before-window",
        ),
        pytest.param(
            date(2027, 4, 1),
            None,
            set(range(1, 8)),
            [T0800],
            (date(2027, 3, 1), date(2027, 3, 14)),
            [],
            id="plan-starts-after-window",
        ),
        pytest.param(
            date(2027, 3, 1),
            None,
            {TUE, THU},
            [T0800],
            (date(2027, 3, 1), date(2027, 3, 1)),
            [],
            id="one-day-window-other-weekday",
        ),
    ],
)
def test_occurrences(start, end, days, times, window, expected_dates):
    result = occurrences(start, end, days, times, *window)
    assert result == [(d, T0800) for d in expected_dates]


def test_occurrences_multiple_times_per_day_are_sorted_and_deduplicated():
    result = occurrences(date(2027, 3, 1), None, [TUE, MON], [T1800, T0730, T1800], date(2027, 3, 1), date(2027, 3, 9))
    assert result == [
        (date(2027, 3, 1), T0730),
        (date(2027, 3, 1), T1800),
        (date(2027, 3, 2), T0730),
        (date(2027, 3, 2), T1800),
        (date(2027, 3, 8), T0730),
        (date(2027, 3, 8), T1800),
        (date(2027, 3, 9), T0730),
        (date(2027, 3, 9), T1800),
    ]


def test_occurrences_weekdays_are_iso():
    result = occurrences(date(2027, 1, 1), None, [SUN], [T0800], date(2027, 3, 1), date(2027, 3, 31))
    assert [d for d, _ in result] == [date(2027, 3, d) for d in (7, 14, 21, 28)]
    assert all(d.isoweekday() == 7 for d, _ in result)


@pytest.mark.parametrize("bad", [0, 8, -1])
def test_occurrences_refuse_weekdays_outside_iso_range(bad):
    with pytest.raises(ValueError, match="ISO weekdays"):
        occurrences(date(2027, 3, 1), None, [MON, bad], [T0800], date(2027, 3, 1), date(2027, 3, 14))


def test_occurrences_refuse_aware_times():
    with pytest.raises(ValueError, match="naive"):
        occurrences(date(2027, 3, 1), None, [MON], [time(8, tzinfo=UTC)], date(2027, 3, 1), date(2027, 3, 14))


def test_occurrences_on_a_dst_day_keep_local_order_even_where_instants_swap():
    """02:30 and 03:00 on a spring-forward day: 02:30 is read as 03:30 EDT, after 03:00 EDT."""
    day = date(2027, 3, 14)
    result = occurrences(day, day, [SUN], [time(3, 0), time(2, 30)], day, day)
    assert result == [(day, time(2, 30)), (day, time(3, 0))]
    assert to_utc(day, time(2, 30), NY) > to_utc(day, time(3, 0), NY)


# --- local days and the log window --------------------------------------------------------------


@pytest.mark.parametrize(
    ("zone", "day", "start", "length"),
    [
        ("America/New_York", date(2027, 6, 1), utc(2027, 6, 1, 4), 24 * H),
        ("America/New_York", date(2027, 3, 14), utc(2027, 3, 14, 5), 23 * H),
        ("America/New_York", date(2027, 11, 7), utc(2027, 11, 7, 4), 25 * H),
        ("Europe/London", date(2027, 3, 28), utc(2027, 3, 28, 0), 23 * H),
        ("Europe/London", date(2027, 10, 31), utc(2027, 10, 30, 23), 25 * H),
        ("Asia/Kathmandu", date(2027, 6, 1), utc(2027, 5, 31, 18, 15), 24 * H),
    ],
)
def test_local_day_bounds(zone, day, start, length):
    lo, hi = local_day_bounds(day, ZoneInfo(zone))
    assert (lo, hi - lo) == (start, length)
    assert lo.tzinfo is UTC and hi.tzinfo is UTC


def test_lord_howe_days_are_23_and_a_half_or_24_and_a_half_hours():
    lengths = {}
    for t in transitions("Australia/Lord_Howe", 2027):
        lo, hi = local_day_bounds(t.wall_before.date(), LORD_HOWE)
        lengths["gap" if t.is_gap else "fold"] = hi - lo
    assert lengths == {"gap": timedelta(hours=23, minutes=30), "fold": timedelta(hours=24, minutes=30)}


@pytest.mark.parametrize("zone_name", ZONES)
def test_day_bounds_are_the_first_instants_of_the_day_on_every_transition_day(zone_name):
    """Including zones whose midnight does not exist on spring-forward days (Havana, Santiago)."""
    zone = ZoneInfo(zone_name)
    for t in all_transitions(zone_name):
        for day in {t.wall_before.date(), t.wall_after.date()}:
            lo, hi = local_day_bounds(day, zone)
            assert wall_of(lo, zone).date() == day
            assert wall_of(lo - timedelta(microseconds=1), zone).date() == day - timedelta(days=1)
            assert wall_of(hi, zone).date() == day + timedelta(days=1)
            assert wall_of(hi - timedelta(microseconds=1), zone).date() == day


@pytest.mark.parametrize("zone_name", ["America/Havana", "America/Santiago"])
def test_a_midnight_in_a_gap_starts_the_day_at_the_end_of_the_gap(zone_name):
    zone = ZoneInfo(zone_name)
    gaps = [t for t in transitions(zone_name, 2027) if t.is_gap]
    assert gaps
    for t in gaps:
        assert t.wall_before.time() == time(0, 0)  # the clocks jump from 00:00 to 01:00
        day = t.wall_before.date()
        assert local_day_bounds(day, zone)[0] == t.at == to_utc(day, time(0, 0), zone)
        assert wall_of(t.at, zone) == datetime.combine(day, time(1, 0))
        assert log_window(day, zone)[0] == t.at
        assert log_window(day - timedelta(days=2), zone)[1] == t.at


@pytest.mark.parametrize(
    ("zone", "day", "start", "end"),
    [
        ("America/New_York", date(2027, 6, 1), utc(2027, 6, 1, 4), utc(2027, 6, 3, 4)),
        ("America/New_York", date(2027, 3, 13), utc(2027, 3, 13, 5), utc(2027, 3, 15, 4)),
        ("America/New_York", date(2027, 3, 14), utc(2027, 3, 14, 5), utc(2027, 3, 16, 4)),
        ("America/New_York", date(2027, 11, 6), utc(2027, 11, 6, 4), utc(2027, 11, 8, 5)),
        ("Europe/London", date(2027, 3, 27), utc(2027, 3, 27, 0), utc(2027, 3, 28, 23)),
        ("Asia/Kathmandu", date(2027, 1, 31), utc(2027, 1, 30, 18, 15), utc(2027, 2, 1, 18, 15)),
    ],
)
def test_log_window(zone, day, start, end):
    zone = ZoneInfo(zone)
    assert log_window(day, zone) == (start, end)
    assert log_window(day, zone) == (local_day_bounds(day, zone)[0], local_day_bounds(day + timedelta(days=1), zone)[1])


def test_log_window_edges_half_open():
    start, end = log_window(date(2027, 6, 1), NY)
    assert wall_of(start, NY) == datetime(2027, 6, 1, 0, 0)
    assert wall_of(end - timedelta(microseconds=1), NY) == datetime(2027, 6, 2, 23, 59, 59, 999_999)
    assert wall_of(end, NY) == datetime(2027, 6, 3, 0, 0)


# --- reminders ----------------------------------------------------------------------------------

QUIET_NIGHT = (time(21, 0), time(7, 30))  # wraps midnight
QUIET_NOON = (time(12, 0), time(14, 0))
NONE = (None, None)
DAY = date(2027, 6, 1)  # EDT, UTC-4


def ny(day: date, hour: int, minute: int = 0) -> datetime:
    return to_utc(day, time(hour, minute), NY)


@pytest.mark.parametrize(
    ("session", "lead", "quiet", "expected"),
    [
        pytest.param((DAY, 8, 0), LEAD, NONE, (DAY, 7, 45), id="plain-lead"),
        pytest.param((DAY, 8, 0), timedelta(0), NONE, (DAY, 8, 0), id="zero-lead"),
        pytest.param((DAY, 8, 0), LEAD, (time(7, 30), time(7, 30)), (DAY, 7, 45), id="start-equals-end-is-none"),
        pytest.param((DAY, 7, 30), LEAD, (time(7, 0), time(7, 0)), (DAY, 7, 15), id="start-equals-end-at-send"),
        pytest.param((DAY, 7, 40), LEAD, QUIET_NIGHT, (DAY, 7, 30), id="wrap-early-morning-moves-to-end"),
        pytest.param((DAY, 7, 45), LEAD, QUIET_NIGHT, (DAY, 7, 30), id="wrap-exactly-at-end-is-outside"),
        pytest.param((DAY, 6, 0), LEAD, QUIET_NIGHT, (DAY, 7, 30), id="wrap-moves-past-the-session-time"),
        pytest.param((DAY, 21, 10), LEAD, QUIET_NIGHT, (DAY, 20, 55), id="wrap-before-start"),
        pytest.param((DAY, 21, 15), LEAD, QUIET_NIGHT, (date(2027, 6, 2), 7, 30), id="wrap-exactly-at-start"),
        pytest.param((DAY, 23, 0), LEAD, QUIET_NIGHT, (date(2027, 6, 2), 7, 30), id="wrap-late-evening"),
        pytest.param((DAY, 0, 10), LEAD, QUIET_NIGHT, (DAY, 7, 30), id="wrap-send-on-previous-date"),
        pytest.param((DAY, 12, 30), LEAD, QUIET_NOON, (DAY, 14, 0), id="no-wrap-inside"),
        pytest.param((DAY, 12, 10), LEAD, QUIET_NOON, (DAY, 11, 55), id="no-wrap-before"),
        pytest.param((DAY, 12, 15), LEAD, QUIET_NOON, (DAY, 14, 0), id="no-wrap-at-start"),
        pytest.param((DAY, 14, 15), LEAD, QUIET_NOON, (DAY, 14, 0), id="no-wrap-at-end"),
        pytest.param((DAY, 9, 0), 2 * H, QUIET_NIGHT, (DAY, 7, 30), id="long-lead-into-quiet"),
    ],
)
def test_reminder_send_at(session, lead, quiet, expected):
    scheduled_at = ny(*session)
    window_end = log_window(session[0], NY)[1]
    result = reminder_send_at(scheduled_at, NY, lead, *quiet, window_end)
    assert result == ny(*expected)
    assert result.tzinfo is UTC


def test_reminder_moved_to_or_past_the_end_of_the_log_window_is_cancelled():
    scheduled_at = ny(DAY, 23, 0)  # send 22:45 is quiet, moves to 07:30 the next day
    moved = ny(date(2027, 6, 2), 7, 30)
    assert reminder_send_at(scheduled_at, NY, LEAD, *QUIET_NIGHT, moved + MINUTE) == moved
    assert reminder_send_at(scheduled_at, NY, LEAD, *QUIET_NIGHT, moved) is None
    assert reminder_send_at(scheduled_at, NY, LEAD, *QUIET_NIGHT, moved - MINUTE) is None


def test_reminder_without_quiet_hours_past_the_window_is_cancelled():
    scheduled_at = ny(DAY, 8, 0)
    assert reminder_send_at(scheduled_at, NY, LEAD, None, None, ny(DAY, 7, 45)) is None
    assert reminder_send_at(scheduled_at, NY, LEAD, None, None, ny(DAY, 7, 46)) == ny(DAY, 7, 45)


def test_reminder_quiet_end_in_a_dst_gap_maps_with_to_utc():
    day = date(2027, 3, 14)
    scheduled_at = to_utc(day, time(1, 50), NY)  # send 01:35 EST, inside 01:00-02:30
    result = reminder_send_at(scheduled_at, NY, LEAD, time(1, 0), time(2, 30), log_window(day, NY)[1])
    assert result == to_utc(day, time(2, 30), NY) == utc(2027, 3, 14, 7, 30)
    assert result.astimezone(NY).isoformat() == "2027-03-14T03:30:00-04:00"


def test_reminder_quiet_end_in_a_repeated_hour_is_its_first_occurrence():
    day = date(2027, 11, 7)
    scheduled_at = to_utc(day, time(1, 30), NY)  # 01:30 EDT; send 01:15 EDT, inside 22:00-01:30
    result = reminder_send_at(scheduled_at, NY, LEAD, time(22, 0), time(1, 30), log_window(day, NY)[1])
    assert result == utc(2027, 11, 7, 5, 30)


def test_reminder_in_the_second_pass_of_a_repeated_hour_never_moves_earlier():
    day = date(2027, 11, 7)
    scheduled_at = to_utc(day, time(2, 0), NY)  # 02:00 EST = 07:00Z; send 06:15Z = 01:15 EST (2nd pass)
    result = reminder_send_at(scheduled_at, NY, 45 * MINUTE, time(22, 0), time(1, 30), log_window(day, NY)[1])
    assert result == utc(2027, 11, 7, 6, 30)  # 01:30 EST, the second 01:30
    assert wall_of(result, NY) == datetime(2027, 11, 7, 1, 30)


def test_reminder_in_another_zone_uses_that_zones_wall_clock():
    zone = ZoneInfo("Asia/Kathmandu")
    scheduled_at = to_utc(DAY, time(7, 0), zone)
    result = reminder_send_at(scheduled_at, zone, LEAD, *QUIET_NIGHT, log_window(DAY, zone)[1])
    assert result == to_utc(DAY, time(7, 30), zone) == utc(2027, 6, 1, 1, 45)


@pytest.mark.parametrize(
    ("scheduled_at", "lead", "quiet", "match"),
    [
        (datetime(2027, 6, 1, 8), LEAD, NONE, "aware"),
        (utc(2027, 6, 1, 8), -MINUTE, NONE, "negative"),
        (utc(2027, 6, 1, 8), LEAD, (time(21, 0), None), "both"),
        (utc(2027, 6, 1, 8), LEAD, (None, time(7, 30)), "both"),
    ],
)
def test_reminder_send_at_refuses_bad_arguments(scheduled_at, lead, quiet, match):
    with pytest.raises(ValueError, match=match):
        reminder_send_at(scheduled_at, NY, lead, *quiet, utc(2027, 6, 3))


quarter_hours = st.builds(time, st.integers(0, 23), st.sampled_from([0, 15, 30, 45]))


@settings(max_examples=300, deadline=None, database=None)
@given(
    case=zone_and_wall(),
    lead_minutes=st.integers(0, 180),
    quiet=st.one_of(st.just(NONE), st.tuples(quarter_hours, quarter_hours)),
)
def test_reminder_property(case, lead_minutes, quiet):
    """With the real log window a reminder is never cancelled, never earlier than the lead and never in quiet hours."""
    zone, wall = case
    day = wall.date()
    scheduled_at = to_utc(day, wall.time(), zone)
    plain = scheduled_at - timedelta(minutes=lead_minutes)
    window_end = log_window(day, zone)[1]
    result = reminder_send_at(scheduled_at, zone, timedelta(minutes=lead_minutes), *quiet, window_end)
    assert result is not None
    assert result.tzinfo is UTC
    assert plain <= result < window_end
    start, end = quiet
    if start is None or start == end or not in_quiet(wall_of(plain, zone).time(), start, end):
        assert result == plain
        return
    event("moved")
    assert result - plain <= timedelta(hours=25)
    kind, _, _ = rfc5545_oracle(datetime.combine(wall_of(result, zone).date(), end), zone)
    if kind == "gap":
        assert wall_of(result, zone).time() > end
    else:
        assert wall_of(result, zone).time() == end
        # No earlier instant after the plain send time had the quiet-end wall time.
        probe = result - MINUTE
        while probe > plain:
            assert wall_of(probe, zone).time() != end
            probe -= MINUTE


# --- the missed-session follow-up ---------------------------------------------------------------


@pytest.mark.parametrize(
    ("zone", "day", "at", "expected"),
    [
        ("America/New_York", date(2027, 6, 1), time(9, 0), utc(2027, 6, 2, 13)),
        ("America/New_York", date(2027, 3, 13), time(9, 0), utc(2027, 3, 14, 13)),  # next day is EDT
        ("America/New_York", date(2027, 11, 6), time(9, 0), utc(2027, 11, 7, 14)),  # next day is EST
        ("America/New_York", date(2027, 6, 1), time(10, 30), utc(2027, 6, 2, 14, 30)),
        ("Asia/Kathmandu", date(2027, 12, 31), time(9, 0), utc(2028, 1, 1, 3, 15)),
    ],
)
def test_follow_up_at(zone, day, at, expected):
    zone = ZoneInfo(zone)
    assert follow_up_at(day, zone, at) == expected
    start, end = log_window(day, zone)
    assert start < expected < end


def test_follow_up_defaults_to_nine_local_the_next_day():
    result = follow_up_at(date(2027, 6, 1), LONDON)
    assert result == utc(2027, 6, 2, 8)
    assert wall_of(result, LONDON) == datetime(2027, 6, 2, 9, 0)
