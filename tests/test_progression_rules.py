"""Dose progression's pure rules (issue 17, ``prescriptions.progression``): the dose a step gives, when a step falls
due on a rule's grid, and whether the patient is ready for it (conditions (b)–(d) and missing data)."""

from __future__ import annotations

import datetime as dt

import pytest

from prescriptions import progression
from prescriptions.progression import Dose, Log, Rule

START = dt.date(2026, 3, 2)  # a Monday
DAY = dt.timedelta(days=1)
WEEK = dt.timedelta(weeks=1)


def rule(**change) -> Rule:
    """Every 2 weeks +5 s hold, up to 60 s, 4 reps, 3 sets (the static stretches' bounds)."""
    fields = {
        "every_weeks": 2,
        "hold_seconds": 5,
        "reps": 0,
        "sets": 0,
        "max_hold_seconds": 60,
        "max_reps": 4,
        "max_sets": 3,
    }
    return Rule(**{**fields, **change})


# --- The dose one step later ----------------------------------------------------------------------------


def test_a_step_adds_each_increment():
    assert progression.progressed(Dose(20, 2, 1), rule(reps=1, sets=1)) == Dose(25, 3, 2)


def test_a_step_stops_at_each_maximum():
    assert progression.progressed(Dose(58, 4, 3), rule(reps=1, sets=1)) == Dose(60, 4, 3)
    assert progression.progressed(Dose(60, 4, 3), rule(reps=1, sets=1)) == Dose(60, 4, 3)


def test_a_step_never_lowers_a_dose_already_past_its_maximum():
    """A therapist may prescribe past the rule's own maximum (the rule caps what it adds, not what was given)."""
    capped = rule(max_hold_seconds=30, reps=1, max_reps=3)
    assert progression.progressed(Dose(45, 5, 1), capped) == Dose(45, 5, 1)


def test_an_item_without_a_hold_keeps_none_and_grows_its_reps():
    assert progression.progressed(Dose(None, 10, 1), rule(hold_seconds=5, reps=2, max_reps=15)) == Dose(None, 12, 1)


def test_increments_of_zero_change_nothing():
    assert progression.progressed(Dose(20, 3, 1), rule(hold_seconds=0, reps=1)) == Dose(20, 4, 1)
    assert progression.progressed(Dose(20, 3, 1), rule(hold_seconds=0, reps=0, sets=0)) == Dose(20, 3, 1)


# --- The grid: start + k × N weeks, k ≥ 1 ----------------------------------------------------------------


@pytest.mark.parametrize(
    ("today", "expected"),
    [
        (START, None),  # the start itself is not a step
        (START + 2 * WEEK - DAY, None),  # the day before the first grid date
        (START + 2 * WEEK, START + 2 * WEEK),  # on it
        (START + 4 * WEEK - DAY, START + 2 * WEEK),  # between grid dates: the latest one passed
        (START + 4 * WEEK, START + 4 * WEEK),
    ],
)
def test_due_date_is_the_latest_grid_date_by_today(today, expected):
    assert progression.due_date(start=START, every_weeks=2, today=today, last_step=None) == expected


def test_missed_grid_dates_collapse_into_the_latest():
    """Workers down for five weeks: one step on the latest grid date, not three in a row."""
    today = START + 7 * WEEK + 3 * DAY
    assert progression.due_date(start=START, every_weeks=2, today=today, last_step=START + 2 * WEEK) == START + 6 * WEEK


def test_a_grid_date_on_or_before_the_last_step_is_not_due_again():
    step = START + 2 * WEEK
    assert progression.due_date(start=START, every_weeks=2, today=step, last_step=step) is None
    assert progression.due_date(start=START, every_weeks=2, today=step + 13 * DAY, last_step=step) is None
    assert progression.due_date(start=START, every_weeks=2, today=step + 2 * WEEK, last_step=step) == step + 2 * WEEK


def test_a_last_step_between_grid_dates_counts_only_later_ones():
    """``last_step`` may be a version's start date (an amendment at week 5): week 4 is behind it, week 6 is not."""
    since = START + 5 * WEEK
    assert progression.due_date(start=START, every_weeks=2, today=since, last_step=since) is None
    assert progression.due_date(start=START, every_weeks=2, today=START + 6 * WEEK, last_step=since) == (
        START + 6 * WEEK
    )


def test_a_weekly_rule_steps_every_seven_days():
    assert progression.due_date(start=START, every_weeks=1, today=START + WEEK, last_step=None) == START + WEEK
    assert progression.last_step_date(start=START, every_weeks=1, today=START + 6 * DAY) is None


@pytest.mark.parametrize(
    ("after", "expected"),
    [
        (START - 10 * DAY, START + 2 * WEEK),  # before the start: the first grid date (k ≥ 1)
        (START, START + 2 * WEEK),
        (START + 2 * WEEK - DAY, START + 2 * WEEK),
        (START + 2 * WEEK, START + 4 * WEEK),  # strictly after
        (START + 3 * WEEK, START + 4 * WEEK),
    ],
)
def test_next_step_date_is_the_first_grid_date_after(after, expected):
    assert progression.next_step_date(start=START, every_weeks=2, after=after) == expected


def test_adherence_window_is_the_last_fourteen_days_or_since_the_start():
    step = START + 2 * WEEK
    assert progression.adherence_window(start=START, on_date=step) == (START, step - DAY)
    later = START + 6 * WEEK
    assert progression.adherence_window(start=START, on_date=later) == (later - 14 * DAY, later - DAY)
    assert progression.adherence_window(start=START, on_date=START + WEEK) == (START, START + 6 * DAY)


# --- Readiness --------------------------------------------------------------------------------------------

STEP = START + 2 * WEEK


def logs(first_week: list[int], since: list[int]) -> list[Log]:
    """Logs with these pains after: one a day from the start, then one a day from day 7."""
    return [
        *(Log(date=START + index * DAY, pain_after=pain) for index, pain in enumerate(first_week)),
        *(Log(date=START + (7 + index) * DAY, pain_after=pain) for index, pain in enumerate(since)),
    ]


def ready(**change) -> progression.Readiness:
    """A patient who logged every day at pain 2, did 14 of 14 sessions, with no flag open (changes apply)."""
    given = {
        "start": START,
        "on_date": STEP,
        "logs": logs([2] * 7, [2] * 7),
        "sessions_due": 14,
        "sessions_done": 14,
        "open_flags": [],
        "min_adherence": 60,
    }
    return progression.readiness(**{**given, **change})


def test_a_steady_adherent_patient_is_ready_and_the_evidence_says_why():
    result = ready()
    assert result.ready
    assert result.held_because == []
    assert result.evidence == {
        "open_flags": [],
        "baseline": {"from": "2026-03-02", "logs": 7, "pain_after": 2.0},
        "recent": {"logs": 3, "pain_after": 2.0},
        "adherence": {
            "from": "2026-03-02",
            "to": "2026-03-15",
            "due": 14,
            "done": 14,
            "percent": 100,
            "minimum": 60,
        },
    }


def test_an_open_flag_holds():
    result = ready(open_flags=["red_flag_symptom#7"])
    assert result.held_because == [progression.OPEN_FLAG]
    assert result.evidence["open_flags"] == ["red_flag_symptom#7"]


@pytest.mark.parametrize(
    ("since", "held"),
    [
        ([2, 2, 2, 2, 4, 4, 4], [progression.PAIN_RISING]),  # exactly +2: the NPRS's minimal important change
        ([2, 2, 2, 2, 4, 4, 3], []),  # +1.67
        ([9, 9, 9, 9, 2, 2, 2], []),  # only the last three logs count
        ([5, 5, 5], [progression.PAIN_RISING]),
    ],
)
def test_pain_rising_by_two_points_or_more_holds(since, held):
    result = ready(logs=logs([1, 2, 3, 2, 1, 2, 3], since))  # baseline mean exactly 2
    assert result.held_because == held


def test_pain_falling_never_holds():
    assert ready(logs=logs([6] * 7, [1, 1, 1])).ready


def test_exactly_two_points_above_a_fractional_baseline_holds():
    """A Monday, Wednesday, Friday plan logs three times in its first week: means in thirds."""
    result = ready(logs=logs([1, 1, 2], [3, 3, 4]))
    assert result.evidence["baseline"]["pain_after"] == 1.33
    assert result.evidence["recent"]["pain_after"] == 3.33
    assert result.held_because == [progression.PAIN_RISING]


@pytest.mark.parametrize(("first_week", "since"), [([1, 2, 2], [3, 4, 4]), ([2, 2, 3], [4, 4, 5])])
def test_exactly_two_points_is_held_whatever_the_floating_point_rounding(first_week, since):
    result = ready(logs=logs(first_week, since))
    assert result.held_because == [progression.PAIN_RISING]


@pytest.mark.parametrize(
    ("due", "done", "minimum", "held", "percent"),
    [
        (10, 6, 60, [], 60),  # exactly 60 %: goes ahead
        (5, 3, 60, [], 60),
        (14, 8, 60, [progression.LOW_ADHERENCE], 57),  # 57.1 %
        (7, 4, 58, [progression.LOW_ADHERENCE], 57),  # 57.14 % < 58 although it rounds to 57
        (7, 4, 57, [], 57),
        (14, 5, 60, [progression.LOW_ADHERENCE], 36),
        (14, 5, 30, [], 36),  # a clinic with a lower minimum
        (14, 0, 0, [], 0),
        (14, 14, 100, [], 100),
        (14, 13, 100, [progression.LOW_ADHERENCE], 93),
    ],
)
def test_adherence_below_the_clinics_minimum_holds(due, done, minimum, held, percent):
    result = ready(sessions_due=due, sessions_done=done, min_adherence=minimum)
    assert result.held_because == held
    assert result.evidence["adherence"]["percent"] == percent
    assert result.evidence["adherence"]["minimum"] == minimum


@pytest.mark.parametrize(
    "change",
    [
        pytest.param({"logs": logs([], [2] * 7)}, id="no log in the first week"),
        pytest.param({"logs": logs([2] * 7, [2, 2])}, id="two logs since"),
        pytest.param({"logs": logs([2] * 7, [])}, id="no log since"),
        pytest.param({"logs": []}, id="no log at all"),
        pytest.param({"sessions_due": 0, "sessions_done": 0}, id="no session due in the window"),
    ],
)
def test_missing_data_holds(change):
    result = ready(**change)
    assert result.held_because == [progression.MISSING_DATA]


def test_no_session_due_has_no_percentage():
    assert ready(sessions_due=0, sessions_done=0).evidence["adherence"]["percent"] is None


def test_logs_outside_the_windows_do_not_count():
    """Before the start (another plan's), and on or after the step's date (not yet known when it runs)."""
    outside = [Log(date=START - DAY, pain_after=9), *logs([2] * 7, [2, 2]), Log(date=STEP, pain_after=2)]
    result = ready(logs=outside)
    assert result.evidence["baseline"] == {"from": "2026-03-02", "logs": 7, "pain_after": 2.0}
    assert result.evidence["recent"] == {"logs": 2, "pain_after": 2.0}
    assert result.held_because == [progression.MISSING_DATA]


def test_the_first_step_of_a_weekly_rule_always_waits_for_the_therapist():
    """At day 7 nothing has been logged after the first week yet: unknown is the risky case."""
    result = ready(on_date=START + WEEK, logs=logs([2] * 7, []), sessions_due=7, sessions_done=7)
    assert result.held_because == [progression.MISSING_DATA]


def test_every_condition_that_applies_is_named_in_order():
    result = ready(
        open_flags=["pain_escalation#3"],
        logs=logs([1] * 7, [5, 5, 5]),
        sessions_due=14,
        sessions_done=2,
    )
    assert result.held_because == [progression.OPEN_FLAG, progression.PAIN_RISING, progression.LOW_ADHERENCE]
    missing = ready(open_flags=["mobility#1"], logs=[], sessions_due=14, sessions_done=2)
    assert missing.held_because == [progression.OPEN_FLAG, progression.MISSING_DATA, progression.LOW_ADHERENCE]


def test_pain_is_not_judged_on_missing_data():
    """Two recent logs far above the baseline hold for missing data, not rising pain (fewer than three)."""
    assert ready(logs=logs([1] * 7, [8, 8])).held_because == [progression.MISSING_DATA]
