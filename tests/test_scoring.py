"""Outcome measures' pure scoring (issue 18, ``clinic.scoring``), table-tested against worked examples computed by hand
from the published rules:

- NPRS: the rating 0–10; meaningful change 2 points (Childs et al. 2005).
- PSFS: the mean of the 3–5 activities named at baseline, each 0–10; 2 points on the mean, 3 on one activity
  (Stratford et al. 1995; Abbott & Schmitt 2014).
- ODI: sum ÷ (5 × sections answered) × 100, not scored with more than 2 sections missing (Fairbank & Pynsent 2000:
  one section missing and a sum of 16 → 16 / 45 × 100 = 35.6 %); 10 points or 30 % of the baseline, whichever is
  met first (Ostelo et al. 2008).
- NDI: raw 0–50, a missing item counting as the mean of the answered ones (so raw = sum × 10 / answered), percent =
  raw × 2, not scored with more than 2 items missing; 5 raw points (Vernon 2008).

Scores are rounded to one decimal, half up (2.25 → 2.3, never the banker's 2.2).
"""

from __future__ import annotations

from decimal import Decimal

import pytest

from clinic import scoring
from clinic.scoring import NDI, NPRS, ODI, PSFS, Item, Score, ScoringError

ODI_IDS = [
    "pain_intensity",
    "personal_care",
    "lifting",
    "walking",
    "sitting",
    "standing",
    "sleeping",
    "sex_life",
    "social_life",
    "travelling",
]
NDI_IDS = [
    "pain_intensity",
    "personal_care",
    "lifting",
    "reading",
    "headaches",
    "concentration",
    "work",
    "driving",
    "sleeping",
    "recreation",
]
# The items as clinic/migrations/0013_seed_instruments.py seeds them (ids and ranges are data; no database here).
ITEMS = {
    NPRS: [Item("pain", 0, 10)],
    PSFS: [Item(f"activity_{n}", 0, 10) for n in range(1, 6)],
    ODI: [Item(item, 0, 5) for item in ODI_IDS],
    NDI: [Item(item, 0, 5) for item in NDI_IDS],
}


def answers(code: str, *values: int | None) -> dict[str, int | None]:
    """``values`` in item order: ``None`` is an item left unanswered (sent as null)."""
    return {item.id: value for item, value in zip(ITEMS[code], values, strict=False)}


def score(code: str, *values: int | None, activities: int | None = None) -> Score:
    return scoring.score(code, ITEMS[code], answers(code, *values), activities=activities)


def refusal(code: str, given: dict, *, activities: int | None = None) -> dict[str, str]:
    with pytest.raises(ScoringError) as refused:
        scoring.score(code, ITEMS[code], given, activities=activities)
    return refused.value.errors


def d(value: str) -> Decimal:
    return Decimal(value)


# --- NPRS -----------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("rating", [0, 1, 7, 10])
def test_nprs_is_the_rating(rating):
    assert score(NPRS, rating) == Score(value=Decimal(rating), percent=None, answered=1)


@pytest.mark.parametrize("given", [{}, {"pain": None}], ids=["absent", "null"])
def test_nprs_needs_its_rating(given):
    assert set(refusal(NPRS, given)) == {"answers.pain"}


@pytest.mark.parametrize("rating", [-1, 11, "5", 5.0, True], ids=["below", "above", "text", "float", "bool"])
def test_nprs_refuses_a_rating_that_is_not_a_whole_number_from_0_to_10(rating):
    assert refusal(NPRS, {"pain": rating}) == {"answers.pain": "Answer with a whole number from 0 to 10."}


def test_an_unknown_item_is_refused_by_its_id():
    assert set(refusal(NPRS, {"pain": 3, "mood": 2})) == {"answers.mood"}


def test_an_instrument_without_scoring_is_refused():
    with pytest.raises(ScoringError) as refused:
        scoring.score("sf36", [], {})
    assert set(refused.value.errors) == {"instrument"}


# --- PSFS -----------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("ratings", "mean"),
    [
        ((7, 4, 5), "5.3"),  # 16 / 3 = 5.333…
        ((2, 3, 3), "2.7"),  # 8 / 3 = 2.666…
        ((10, 10, 10), "10.0"),
        ((0, 0, 0), "0.0"),
        ((2, 2, 2, 3), "2.3"),  # 9 / 4 = 2.25: half up, not 2.2
        ((2, 3, 3, 3), "2.8"),  # 11 / 4 = 2.75
        ((1, 1, 1, 2), "1.3"),  # 5 / 4 = 1.25: half up, not 1.2
        ((2, 3, 4, 5, 6), "4.0"),  # 20 / 5
        ((1, 2, 2, 2, 2), "1.8"),  # 9 / 5
    ],
)
def test_psfs_is_the_mean_of_the_activities_named(ratings, mean):
    result = score(PSFS, *ratings, activities=len(ratings))
    assert result == Score(value=d(mean), percent=None, answered=len(ratings))


@pytest.mark.parametrize("named", [None, 0, 2, 6])
def test_psfs_needs_3_to_5_activities(named):
    ratings = answers(PSFS, 5, 5, 5, 5, 5)
    assert refusal(PSFS, ratings, activities=named) == {"activities": "Name 3 to 5 activities."}


def test_psfs_rates_only_the_activities_named():
    assert set(refusal(PSFS, answers(PSFS, 5, 5, 5, 5), activities=3)) == {"answers.activity_4"}


def test_psfs_rates_every_activity_named():
    assert set(refusal(PSFS, answers(PSFS, 5, None, 5), activities=3)) == {"answers.activity_2"}
    assert set(refusal(PSFS, {"activity_1": 5, "activity_3": 5}, activities=3)) == {"answers.activity_2"}


def test_psfs_ratings_are_0_to_10():
    assert set(refusal(PSFS, answers(PSFS, 5, 11, 5), activities=3)) == {"answers.activity_2"}


# --- ODI ------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("sections", "percent", "answered"),
    [
        ((2, 2, 2, 2, 2, 2, 2, 2, 2, 2), "40.0", 10),  # 20 / 50
        ((0, 0, 0, 0, 0, 0, 0, 0, 0, 0), "0.0", 10),
        ((5, 5, 5, 5, 5, 5, 5, 5, 5, 5), "100.0", 10),
        ((1, 2, 3, 4, 5, 0, 1, 2, 3, 4), "50.0", 10),  # 25 / 50
        # The published worked example: one section missing, a sum of 16 → 16 / 45 × 100 = 35.555… → 35.6.
        ((2, 2, 2, 2, 2, 2, 2, 1, 1, None), "35.6", 9),
        ((None, 4, 2, 2, 2, 2, 2, 1, 1, 0), "35.6", 9),
        ((2, 2, 2, 2, 2, 2, 2, 2, None, None), "40.0", 8),  # two missing: 16 / 40
        ((1, 0, 0, 0, 0, 0, 0, 0, 0, None), "2.2", 9),  # 1 / 45 = 2.222…
        ((3, 3, 3, 3, 3, 3, 3, 2, None, None), "57.5", 8),  # 23 / 40
    ],
)
def test_odi_is_the_sum_over_five_times_the_sections_answered(sections, percent, answered):
    result = score(ODI, *sections)
    assert result == Score(value=d(percent), percent=d(percent), answered=answered)


def test_odi_with_one_section_missing_and_a_sum_of_16_is_35_6_whether_null_or_absent():
    null = answers(ODI, 2, 2, 2, 2, 2, 2, 2, 1, 1, None)
    absent = {key: value for key, value in null.items() if value is not None}
    assert scoring.score(ODI, ITEMS[ODI], null).value == d("35.6")
    assert scoring.score(ODI, ITEMS[ODI], absent).value == d("35.6")


def test_odi_with_three_sections_missing_is_not_scored():
    assert refusal(ODI, answers(ODI, 2, 2, 2, 2, 2, 2, 2, None, None, None)) == {
        "answers": "Answer at least 8 of the 10 sections to score."
    }


def test_odi_sections_are_0_to_5():
    assert refusal(ODI, answers(ODI, 2, 6, 2, 2, 2, 2, 2, 2, 2, 2)) == {
        "answers.personal_care": "Answer with a whole number from 0 to 5."
    }


# --- NDI ------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("items", "raw", "percent", "answered"),
    [
        ((2, 3, 2, 3, 2, 3, 2, 3, 2, 1), "23.0", "46.0", 10),
        ((0, 0, 0, 0, 0, 0, 0, 0, 0, 0), "0.0", "0.0", 10),
        ((5, 5, 5, 5, 5, 5, 5, 5, 5, 5), "50.0", "100.0", 10),
        # One missing: it counts as the mean of the nine answered (18 / 9 = 2) → 18 + 2 = 20.
        ((2, 2, 2, 2, 2, 2, 2, 2, 2, None), "20.0", "40.0", 9),
        # One missing, mean 16 / 9 = 1.777… → raw 17.777… → 17.8; percent 35.555… → 35.6.
        ((2, 2, 2, 2, 2, 2, 2, 1, 1, None), "17.8", "35.6", 9),
        # Two missing, mean 13 / 8 = 1.625 → raw 13 + 3.25 = 16.25 → 16.3 (half up); percent 32.5 exactly.
        ((None, 2, 2, 2, 2, 2, 1, 1, 1, None), "16.3", "32.5", 8),
    ],
)
def test_ndi_is_raw_0_to_50_a_missing_item_counting_as_the_mean_of_the_answered(items, raw, percent, answered):
    assert score(NDI, *items) == Score(value=d(raw), percent=d(percent), answered=answered)


def test_ndi_with_three_items_missing_is_not_scored():
    assert set(refusal(NDI, answers(NDI, 2, 2, 2, 2, 2, 2, 2, None, None, None))) == {"answers"}
    assert set(refusal(NDI, {"pain_intensity": 3})) == {"answers"}


def test_ndi_items_are_0_to_5():
    assert set(refusal(NDI, answers(NDI, 2, 2, 2, 2, 2, 2, 2, 2, 2, -1))) == {"answers.recreation"}


# --- Meaningful change: the same threshold both ways ----------------------------------------------------------


def s(value: str) -> Score:
    return Score(value=d(value), percent=None, answered=0)


def moved(code: str, baseline: str, current: str, **answers_given) -> tuple[str, bool, bool, str]:
    result = scoring.change(code, s(baseline), s(current), **answers_given)
    return str(result.delta), result.improved, result.worsened, result.threshold


IMPROVED, WORSENED, NEITHER = (True, False), (False, True), (False, False)


@pytest.mark.parametrize(
    ("baseline", "current", "delta", "direction"),
    [
        ("6", "4", "-2", IMPROVED),
        ("6", "8", "2", WORSENED),
        ("6", "5", "-1", NEITHER),
        ("6", "7", "1", NEITHER),
        ("6", "6", "0", NEITHER),
        ("10", "0", "-10", IMPROVED),
    ],
)
def test_nprs_changes_meaningfully_by_2_points(baseline, current, delta, direction):
    assert moved(NPRS, baseline, current) == (delta, *direction, "2 points")


@pytest.mark.parametrize(
    ("baseline", "current", "delta", "direction"),
    [
        ("20.0", "15.0", "-5.0", IMPROVED),
        ("20.0", "25.0", "5.0", WORSENED),
        ("20.0", "15.1", "-4.9", NEITHER),
        ("20.0", "24.9", "4.9", NEITHER),
        ("16.3", "21.3", "5.0", WORSENED),
    ],
)
def test_ndi_changes_meaningfully_by_5_raw_points(baseline, current, delta, direction):
    assert moved(NDI, baseline, current) == (delta, *direction, "5 points of 50")


@pytest.mark.parametrize(
    ("baseline", "current", "direction", "threshold"),
    [
        # Baseline 20: 30 % is 6 points, met before 10.
        ("20.0", "14.0", IMPROVED, "30 % of the baseline"),
        ("20.0", "26.0", WORSENED, "30 % of the baseline"),
        ("20.0", "14.1", NEITHER, "30 % of the baseline"),
        ("20.0", "25.9", NEITHER, "30 % of the baseline"),
        # Baseline 30: 30 % is 9 points.
        ("30.0", "21.0", IMPROVED, "30 % of the baseline"),
        # Baseline 60: 30 % is 18 points, so 10 points is met first.
        ("60.0", "50.0", IMPROVED, "10 points"),
        ("60.0", "70.0", WORSENED, "10 points"),
        ("60.0", "50.1", NEITHER, None),
        ("60.0", "69.9", NEITHER, None),
        # Baseline 35.6 (the worked example): 30 % is 10.68, so 10 points first.
        ("35.6", "25.6", IMPROVED, "10 points"),
        ("35.6", "45.6", WORSENED, "10 points"),
        # Baseline 0: 30 % of nothing is no change; 10 points still counts.
        ("0.0", "6.0", NEITHER, None),
        ("0.0", "10.0", WORSENED, "10 points"),
    ],
)
def test_odi_changes_meaningfully_by_10_points_or_30_percent_of_the_baseline_whichever_first(
    baseline, current, direction, threshold
):
    delta, improved, worsened, named = moved(ODI, baseline, current)
    assert Decimal(delta) == d(current) - d(baseline)
    assert (improved, worsened) == direction
    if threshold is not None:
        assert named == threshold


@pytest.mark.parametrize(
    ("baseline", "current", "threshold"),
    [("20.0", "8.0", "30 % of the baseline"), ("60.0", "65.0", "10 points"), ("20.0", "32.0", "30 % of the baseline")],
)
def test_odi_names_the_threshold_met_first_for_its_baseline(baseline, current, threshold):
    assert moved(ODI, baseline, current)[3] == threshold


def psfs(*ratings: int) -> dict[str, int]:
    return {f"activity_{n}": rating for n, rating in enumerate(ratings, start=1)}


@pytest.mark.parametrize(
    ("baseline", "current", "direction"),
    [
        ("4.0", "6.0", IMPROVED),  # higher is better
        ("4.0", "2.0", WORSENED),
        ("4.0", "5.9", NEITHER),
        ("4.0", "2.1", NEITHER),
        ("2.7", "4.7", IMPROVED),
    ],
)
def test_psfs_mean_changes_meaningfully_by_2_points(baseline, current, direction):
    assert moved(PSFS, baseline, current)[1:] == (*direction, "2 points on the mean")


@pytest.mark.parametrize(
    ("before", "after", "direction"),
    [
        ((4, 4, 4), (7, 4, 4), IMPROVED),  # mean +1.0, one activity +3
        ((4, 4, 4), (1, 4, 4), WORSENED),  # mean −1.0, one activity −3
        ((4, 4, 4, 4, 4), (4, 4, 4, 4, 8), IMPROVED),  # mean +0.8
        ((6, 6, 6, 6), (6, 6, 6, 3), WORSENED),  # mean −0.8 (5.3 after rounding)
    ],
)
def test_psfs_one_activity_changes_meaningfully_by_3_points(before, after, direction):
    baseline = scoring.score(PSFS, ITEMS[PSFS], psfs(*before), activities=len(before))
    current = scoring.score(PSFS, ITEMS[PSFS], psfs(*after), activities=len(after))
    result = scoring.change(PSFS, baseline, current, baseline_answers=psfs(*before), current_answers=psfs(*after))
    assert (result.improved, result.worsened, result.threshold) == (*direction, "3 points on one activity")


@pytest.mark.parametrize(
    ("before", "after"),
    [((4, 4, 4), (6, 6, 5)), ((4, 4, 4), (2, 2, 3)), ((5, 5, 5, 5), (7, 7, 5, 5))],
    ids=["mean +1.7", "mean −1.7", "two activities +2"],
)
def test_psfs_changes_under_both_thresholds_are_not_meaningful(before, after):
    baseline = scoring.score(PSFS, ITEMS[PSFS], psfs(*before), activities=len(before))
    current = scoring.score(PSFS, ITEMS[PSFS], psfs(*after), activities=len(after))
    result = scoring.change(PSFS, baseline, current, baseline_answers=psfs(*before), current_answers=psfs(*after))
    assert (result.improved, result.worsened) == NEITHER


def test_psfs_one_activity_rule_needs_the_answers():
    """Without the answers only the mean can be judged: +1.0 is not meaningful."""
    assert moved(PSFS, "4.0", "5.0")[1:3] == NEITHER


# --- The default set from the diagnoses' body regions ---------------------------------------------------------


@pytest.mark.parametrize(
    ("regions", "instruments"),
    [
        ([], [PSFS, NPRS]),
        ([""], [PSFS, NPRS]),
        (["lumbar"], [ODI, PSFS, NPRS]),
        (["spine"], [ODI, PSFS, NPRS]),
        (["trunk"], [ODI, PSFS, NPRS]),
        (["cervical"], [NDI, PSFS, NPRS]),
        (["hip"], [PSFS, NPRS]),
        (["knee"], [PSFS, NPRS]),
        (["thoracic"], [PSFS, NPRS]),  # not one of the back regions (lumbar, spine, trunk): "others"
        (["lumbar", "lumbar"], [ODI, PSFS, NPRS]),
        (["hip", "lumbar"], [ODI, PSFS, NPRS]),
        (["knee", "cervical"], [NDI, PSFS, NPRS]),
        (["cervical", "lumbar"], [ODI, NDI, PSFS, NPRS]),
        (["hip", "cervical", "spine", "knee"], [ODI, NDI, PSFS, NPRS]),
    ],
)
def test_default_instruments_follow_the_body_regions(regions, instruments):
    assert scoring.default_instruments(regions) == instruments
