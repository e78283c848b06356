"""Outcome measures (issue 18), pure: scoring as published and the meaningful change of each instrument.

An instrument's items (ids and answer ranges) are data (``clinic.Instrument``, seeded by migration); its scoring and
thresholds are here, keyed by the instrument's ``code``. No wording: the ODI and NDI texts are copyrighted and loaded
by each clinic under its licence; the NPRS and PSFS wording ships with the seed.

| code | score | no score when | meaningful change |
|---|---|---|---|
| nprs | the rating, 0–10 | — | 2 points |
| psfs | the mean of 3–5 activities rated 0–10 | fewer than 3 or more than 5 activities | 2 (mean); 3 (one) |
| odi | sum ÷ (5 × sections answered) × 100 | more than 2 sections missing | 10 points, or 30 % of the baseline |
| ndi | raw 0–50 (a missing item counts as the answered items' mean); percent = raw × 2 | more than 2 missing | 5 raw |

Sources: NPRS — Childs JD et al., Spine 2005;30(11):1331–4 (MCID 2 points). PSFS — Stratford P et al., Physiother
Can 1995;47:258–63; Abbott JH & Schmitt J, JOSPT 2014;44(8):560–4 (2 points on the mean, 3 on one activity). ODI —
Fairbank JCT & Pynsent PB, Spine 2000;25(22):2940–53 (scoring with missing sections); Ostelo RWJG et al., Spine
2008;33(1):90–4 (10 points or 30 %). NDI — Vernon H & Mior S, JMPT 1991;14(7):409–15; Vernon H, JMPT
2008;31(7):491–502 (missing items; MCID 5 points of 50).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal
from fractions import Fraction

NPRS, PSFS, ODI, NDI = "nprs", "psfs", "odi", "ndi"
CODES = (NPRS, PSFS, ODI, NDI)
HIGHER_IS_WORSE = {NPRS: True, PSFS: False, ODI: True, NDI: True}
PSFS_ACTIVITIES = (3, 5)
MAX_MISSING = {ODI: 2, NDI: 2}


DEFAULT_SETS = {
    "lumbar": (ODI, PSFS, NPRS),
    "spine": (ODI, PSFS, NPRS),
    "trunk": (ODI, PSFS, NPRS),
    "cervical": (NDI, PSFS, NPRS),
}
OTHER_REGIONS = (PSFS, NPRS)


def default_instruments(regions: Sequence[str]) -> list[str]:
    """An episode's instruments when the therapist chose none, from its diagnoses' body regions: the back → ODI +
    PSFS + NPRS; the neck → NDI + PSFS + NPRS; anything else (hip, knee…) or nothing recorded → PSFS + NPRS. Several
    regions: every instrument any of them calls for, in this order."""
    wanted = {code for region in regions for code in DEFAULT_SETS.get(region, OTHER_REGIONS)} or set(OTHER_REGIONS)
    return [code for code in (ODI, NDI, PSFS, NPRS) if code in wanted]


class ScoringError(ValueError):
    """The answers cannot be scored: ``errors`` maps a field (``answers``, ``answers.<item>``, ``activities``) to
    what is wrong."""

    def __init__(self, errors: dict[str, str]) -> None:
        super().__init__("; ".join(errors.values()))
        self.errors = errors


@dataclass(frozen=True)
class Item:
    id: str
    low: int
    high: int


@dataclass(frozen=True)
class Score:
    """``value``: the instrument's score (NPRS rating, PSFS mean, ODI per cent, NDI raw 0–50); ``percent`` for the
    NDI (raw × 2) and the ODI (the score itself); ``answered``: how many items had an answer."""

    value: Decimal
    percent: Decimal | None
    answered: int


def _round(value: Fraction) -> Decimal:
    return (Decimal(value.numerator) / Decimal(value.denominator)).quantize(Decimal("0.1"), rounding=ROUND_HALF_UP)


def _answers(items: Sequence[Item], answers: Mapping[str, int | None], *, required: bool) -> dict[str, int | None]:
    """The answers checked against the items: known ids only, integers in range; a missing or null answer is None
    (refused when ``required``)."""
    errors: dict[str, str] = {}
    ids = {item.id for item in items}
    for key in answers:
        if key not in ids:
            errors[f"answers.{key}"] = "No such item in this questionnaire."
    checked: dict[str, int | None] = {}
    for item in items:
        value = answers.get(item.id)
        if value is None:
            if required:
                errors[f"answers.{item.id}"] = "Answer this item."
            checked[item.id] = None
        elif isinstance(value, bool) or not isinstance(value, int) or not item.low <= value <= item.high:
            errors[f"answers.{item.id}"] = f"Answer with a whole number from {item.low} to {item.high}."
        else:
            checked[item.id] = value
    if errors:
        raise ScoringError(errors)
    return checked


def score(
    code: str, items: Sequence[Item], answers: Mapping[str, int | None], *, activities: int | None = None
) -> Score:
    """Score ``answers`` (item id → answer) to ``code``'s items. For the PSFS, ``activities`` is how many activities
    the patient named at baseline (3–5): exactly the first that many items are rated."""
    if code == NPRS:
        checked = _answers(items, answers, required=True)
        (rating,) = checked.values()
        return Score(value=Decimal(rating), percent=None, answered=1)
    if code == PSFS:
        low, high = PSFS_ACTIVITIES
        if activities is None or not low <= activities <= high:
            raise ScoringError({"activities": f"Name {low} to {high} activities."})
        rated = items[:activities]
        extra = [key for key in answers if key not in {item.id for item in rated}]
        if extra:
            raise ScoringError({f"answers.{key}": "Rate only the activities named at baseline." for key in extra})
        checked = _answers(rated, answers, required=True)
        return Score(value=_round(Fraction(sum(checked.values()), activities)), percent=None, answered=activities)
    if code in (ODI, NDI):
        checked = _answers(items, answers, required=False)
        given = [value for value in checked.values() if value is not None]
        missing = len(items) - len(given)
        if missing > MAX_MISSING[code]:
            raise ScoringError(
                {"answers": f"Answer at least {len(items) - MAX_MISSING[code]} of the {len(items)} sections to score."}
            )
        if code == ODI:
            percent = _round(Fraction(sum(given) * 100, 5 * len(given)))
            return Score(value=percent, percent=percent, answered=len(given))
        raw = Fraction(sum(given)) + missing * Fraction(sum(given), len(given))
        return Score(value=_round(raw), percent=_round(raw * 2), answered=len(given))
    raise ScoringError({"instrument": f"No scoring for {code!r}."})


MEANINGFUL_POINTS = {NPRS: Decimal(2), PSFS: Decimal(2), NDI: Decimal(5), ODI: Decimal(10)}
"""The meaningful change of each score (the PSFS: on its mean; the ODI: or 30 % of the baseline, if less)."""
ODI_SHARE = Decimal("0.3")


def meaningful_threshold(code: str, baseline: Decimal) -> Decimal:
    """How far from ``baseline`` a score must move to be a meaningful change: the instrument's points, and for the ODI
    30 % of the baseline when that is less ("whichever is met first"; a baseline of 0 keeps the 10 points)."""
    points = MEANINGFUL_POINTS[code]
    if code == ODI and baseline > 0:
        return min(points, baseline * ODI_SHARE)
    return points


@dataclass(frozen=True)
class Change:
    """From baseline to now: ``delta`` (current − baseline, in the score's units), and whether it is a meaningful
    improvement or worsening (the same thresholds both ways); ``threshold`` says which rule was met."""

    delta: Decimal
    improved: bool
    worsened: bool
    threshold: str


def change(
    code: str,
    baseline: Score,
    current: Score,
    *,
    baseline_answers: Mapping[str, int | None] | None = None,
    current_answers: Mapping[str, int | None] | None = None,
) -> Change:
    """Whether ``current`` moved meaningfully from ``baseline``. For the PSFS, the answers give the per-activity rule
    (3 points on any one activity)."""
    delta = current.value - baseline.value
    size = abs(delta)
    meaningful, threshold = False, ""
    if code == NPRS:
        meaningful, threshold = size >= MEANINGFUL_POINTS[NPRS], "2 points"
    elif code == NDI:
        meaningful, threshold = size >= MEANINGFUL_POINTS[NDI], "5 points of 50"
    elif code == ODI:
        meaningful = size > 0 and size >= meaningful_threshold(ODI, baseline.value)
        # The rule met first for this baseline: 30 % of it is the smaller threshold below a baseline of 33.3.
        share_first = meaningful_threshold(ODI, baseline.value) < MEANINGFUL_POINTS[ODI]
        threshold = "30 % of the baseline" if share_first else "10 points"
    elif code == PSFS:
        if size >= MEANINGFUL_POINTS[PSFS]:
            meaningful, threshold = True, "2 points on the mean"
        elif baseline_answers and current_answers:
            moved = [
                current_answers[key] - baseline_answers[key]
                for key in baseline_answers
                if baseline_answers[key] is not None and current_answers.get(key) is not None
            ]
            worse = [m for m in moved if m <= -3]
            better = [m for m in moved if m >= 3]
            if worse or better:
                # One activity 3 points worse is a worsening even when the mean moved less (and vice versa).
                direction = -1 if worse and (not better or delta <= 0) else 1
                return Change(
                    delta=delta,
                    improved=direction > 0,
                    worsened=direction < 0,
                    threshold="3 points on one activity",
                )
        threshold = threshold or "2 points on the mean"
    if not meaningful or delta == 0:
        return Change(delta=delta, improved=False, worsened=False, threshold=threshold)
    worse = (delta > 0) == HIGHER_IS_WORSE[code]
    return Change(delta=delta, improved=not worse, worsened=worse, threshold=threshold)
