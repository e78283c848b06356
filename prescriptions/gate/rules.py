"""The safety gate: decide whether a patient may do a set of stretches on a given date.

This module is pure: it imports no Django and no models, only the standard library. Callers
(the API dry run, activation, the on-change checks and the sweep) load everything dated about
the patient into a `Facts` value, describe the stretches as `ItemFact`s and call `evaluate()`.

Contract
--------
`evaluate(facts, items, on_date)` returns a list of `Finding`s; an empty list means the gate
passes. Findings come item by item, in the order the items were given, and within one item in
this order: the clearance-level finding, insufficient authority (by diagnosis code), mobility,
restricted movements (by tag), contraindications (by row id). The rules (DESIGN §4):

1. The *effective clearance* on D is, among the clearances whose validity covers D
   (``valid_from <= D <= valid_until``) and that were not revoked on or before D, the one
   recorded last (greatest ``(recorded_at, id)``). Its restrictions apply alone: a later
   clearance supersedes an earlier one, it never merges with it.
2. Without an effective clearance every item gets one blocking, non-overridable finding and
   nothing else is checked. The first of these that holds names the reason:
   ``clearance_revoked`` if a clearance covering D was revoked on or before D (the professional's
   explicit no, for every date it would still have covered; once its validity is over too, the
   expiry is the reason given); ``clearance_expired`` if a clearance ended before D (what left the
   gap); ``clearance_not_yet_valid`` if a clearance not revoked by D starts after D; else
   ``no_clearance``. A clearance on file that starts after D (the one starting first) is always
   told with its start date: as the reason, or after the revocation or expiry, where "record a new
   one" would be untrue.
3. ``clearance_insufficient_authority`` (block, never overridable) for each diagnosis active on D
   that the clearing profession may not clear on D (`allowed_professions`): its ``clearance_by``
   narrowed by every authority rule that applies on D — the strictest wins. A rule applies while D
   is in its window of days since the diagnosis's onset (inclusive; an unrecorded onset is inside)
   and, if it names another diagnosis, while one of that code is on record (active or not). The
   message names the rules that narrowed it; the cause is the clearance and the diagnosis code.
4. ``mobility_unknown`` (block, never overridable) without an assessment;
   ``mobility_below_minimum`` (block, overridable) when the level is below the stretch's minimum.
5. ``restricted_movement`` (block, never overridable) for each tag the clearance restricts and
   the stretch has.
6. A contraindication row applies when its diagnosis is active on D, its phase and qualifier are
   empty, equal to the diagnosis's or not recorded on the diagnosis (a qualifier of another kind —
   an approach recorded on a spinal surgery — counts as not recorded), D falls in its window of days
   since onset (inclusive; an unrecorded onset is inside), and it names one of the stretch's tags or
   the stretch itself. ``absolute`` → ``contraindicated`` (block, overridable with a reason);
   ``relative`` → ``caution`` (warn, must be acknowledged).

Unknown means the risky case (DESIGN §10): a fact the patient's record leaves empty never relaxes a
rule. A diagnosis without an onset is active from the start and inside every window; one without
a phase or a qualifier (surgical approach) meets every row that names one. The finding's message
then says what was not recorded and what was assumed ("surgical approach not recorded —
posterior-approach precautions applied"); recording the real value lifts it when it differs. The
cause stays the row (``contraindication:<id>``): the risk overridden is the row's, whether the fact
was recorded or assumed. When several diagnoses trigger one row, the one needing the fewest
assumptions (then the lowest id) is named.

``Finding.item`` is the plan item's id (what an override names; None for the unsaved items of a
dry run) and ``Finding.item_index`` the item's place in the ``items`` given, from 0.

Each finding carries a stable ``cause`` string naming what produced it, and ``Finding.key`` =
``(item, code, cause)`` is exactly what an override or acknowledgement covers: a new cause is
never covered by an old override, and a non-overridable finding is never covered at all
(`unresolved()`, `blocks()`).

Facts change only on a few dates, so `change_dates()` / `spans()` split a date range into spans
within which `evaluate()` yields the same findings (codes, severities, items and causes; the
``no_clearance`` message quotes the date evaluated, so only its wording varies; what a message
says was assumed is not dated, so it holds across the span). A caller evaluates once per span
instead of once per session. `facts_as_dict()` and `Finding.as_dict()` give JSON-safe snapshots
for storing in a GateEvaluation.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, timedelta
from enum import Enum, StrEnum
from typing import Any

from patients.clearance import (
    EXPIRING_WITHIN_DAYS,
    ClearanceFact,
    effective_clearance,
    frozen_strings,
    latest,
)


class Severity(StrEnum):
    BLOCK = "block"
    WARN = "warn"


class Code(StrEnum):
    NO_CLEARANCE = "no_clearance"
    CLEARANCE_EXPIRED = "clearance_expired"
    CLEARANCE_REVOKED = "clearance_revoked"
    CLEARANCE_NOT_YET_VALID = "clearance_not_yet_valid"
    CLEARANCE_INSUFFICIENT_AUTHORITY = "clearance_insufficient_authority"
    MOBILITY_UNKNOWN = "mobility_unknown"
    MOBILITY_BELOW_MINIMUM = "mobility_below_minimum"
    RESTRICTED_MOVEMENT = "restricted_movement"
    CONTRAINDICATED = "contraindicated"
    CAUTION = "caution"


ABSOLUTE = "absolute"
RELATIVE = "relative"

# The order professions are named in messages; unknown ones follow alphabetically.
_PROFESSION_ORDER = ("physician", "physical_therapist", "nurse_midwife", "athletic_trainer")


@dataclass(frozen=True)
class AuthorityRuleFact:
    """A catalog rule narrowing who may clear a diagnosis: while it applies, only ``professions`` may.

    It applies on D while D is in its window of days since the diagnosis's onset (inclusive; no window
    bound means open; an unrecorded onset is inside, the risky case) and, when ``with_code`` is set,
    while the patient has a diagnosis of that code on record, active or not.
    """

    id: int
    professions: frozenset[str]
    from_day: int | None
    until_day: int | None
    with_code: str | None
    rationale: str

    def __post_init__(self) -> None:
        object.__setattr__(self, "professions", frozen_strings(self.professions, "professions"))

    @property
    def has_window(self) -> bool:
        return self.from_day is not None or self.until_day is not None


@dataclass(frozen=True)
class DiagnosisFact:
    """A patient's diagnosis; active on D iff it started on or before D and was not resolved by D.

    ``clearance_by`` are the professions that may clear it in general, ``authority`` the catalog rules
    that narrow them (`allowed_professions`).
    """

    id: int
    code: str
    name: str
    phase: str
    qualifier: str
    onset: date | None
    resolved: date | None
    clearance_by: frozenset[str]
    authority: tuple[AuthorityRuleFact, ...] = ()

    def __post_init__(self) -> None:
        object.__setattr__(self, "clearance_by", frozen_strings(self.clearance_by, "clearance_by"))
        object.__setattr__(self, "authority", tuple(self.authority))

    def active_on(self, on_date: date) -> bool:
        return (self.onset is None or self.onset <= on_date) and (self.resolved is None or on_date < self.resolved)


@dataclass(frozen=True)
class ContraindicationFact:
    """A catalog row: this diagnosis (in this phase/qualifier/window) rules out a tag or a stretch."""

    id: int
    diagnosis_code: str
    tag: str | None
    stretch_slug: str | None
    phase: str
    qualifier: str
    from_day: int | None
    until_day: int | None
    severity: str
    rationale: str

    def __post_init__(self) -> None:
        if (self.tag is None) == (self.stretch_slug is None):
            raise ValueError(f"contraindication {self.id}: exactly one of tag / stretch_slug must be set")
        if self.severity not in (ABSOLUTE, RELATIVE):
            raise ValueError(f"contraindication {self.id}: unknown severity {self.severity!r}")

    @property
    def has_window(self) -> bool:
        return self.from_day is not None or self.until_day is not None


@dataclass(frozen=True)
class StretchFact:
    slug: str
    name: str
    tags: frozenset[str]
    min_mobility: int

    def __post_init__(self) -> None:
        object.__setattr__(self, "tags", frozen_strings(self.tags, "tags"))


@dataclass(frozen=True)
class ItemFact:
    """A prescription item: ``key`` is its id, None while unsaved (the dry run)."""

    key: int | None
    stretch: StretchFact


@dataclass(frozen=True)
class Facts:
    """Everything dated about one patient that the gate needs; the module picks what applies on D."""

    clearances: tuple[ClearanceFact, ...]
    diagnoses: tuple[DiagnosisFact, ...]
    mobility_level: int | None
    contraindications: tuple[ContraindicationFact, ...]

    def __post_init__(self) -> None:
        for name in ("clearances", "diagnoses", "contraindications"):
            object.__setattr__(self, name, tuple(getattr(self, name)))


@dataclass(frozen=True)
class Finding:
    """One reason the gate objects to one item on one date."""

    code: Code
    severity: Severity
    overridable: bool
    item: int | None
    """The plan item's id; None for an unsaved item (the dry run)."""
    item_index: int
    """The item's place among the items evaluated, from 0 (plan order, or the dry run's request order)."""
    stretch: str
    cause: str
    message: str

    @property
    def key(self) -> tuple[int | None, str, str]:
        """``(item, code, cause)``: exactly what an override or acknowledgement covers."""
        return (self.item, self.code.value, self.cause)

    def as_dict(self) -> dict[str, Any]:
        """A JSON-safe dict of every field, enums as their string values."""
        return {
            "code": self.code.value,
            "severity": self.severity.value,
            "overridable": self.overridable,
            "item": self.item,
            "item_index": self.item_index,
            "stretch": self.stretch,
            "cause": self.cause,
            "message": self.message,
        }


# ---------------------------------------------------------------------------------------------
# Clearance


def _missing_clearance(clearances: Sequence[ClearanceFact], on_date: date) -> tuple[Code, ClearanceFact | None]:
    """Why no clearance is in force: revoked beats expired beats not yet valid beats none.

    A revoked or expired reason names the latest recorded such clearance; a not-yet-valid one the
    clearance that starts first (`_next_clearance`).
    """
    revoked = latest(c for c in clearances if c.covers(on_date) and c.revoked_by(on_date))
    if revoked is not None:
        return Code.CLEARANCE_REVOKED, revoked
    expired = latest(c for c in clearances if c.valid_until < on_date)
    if expired is not None:
        return Code.CLEARANCE_EXPIRED, expired
    upcoming = _next_clearance(clearances, on_date)
    if upcoming is not None:
        return Code.CLEARANCE_NOT_YET_VALID, upcoming
    return Code.NO_CLEARANCE, None


def _next_clearance(clearances: Sequence[ClearanceFact], on_date: date) -> ClearanceFact | None:
    """The clearance on file that starts first after ``on_date`` and was not revoked by then (among those
    starting that day, the latest recorded), or None."""
    upcoming = [c for c in clearances if on_date < c.valid_from and not c.revoked_by(on_date)]
    if not upcoming:
        return None
    first_start = min(c.valid_from for c in upcoming)
    return latest(c for c in upcoming if c.valid_from == first_start)


def days_since_onset(diagnosis: DiagnosisFact, on_date: date) -> int | None:
    return None if diagnosis.onset is None else (on_date - diagnosis.onset).days


def in_window(from_day: int | None, until_day: int | None, day: int | None) -> bool:
    """Whether ``day`` since onset lies in the inclusive window; an unknown day (no onset) is inside."""
    return day is None or ((from_day is None or from_day <= day) and (until_day is None or day <= until_day))


def _window_holds(row: ContraindicationFact | AuthorityRuleFact, diagnosis: DiagnosisFact, on_date: date) -> bool:
    """A row or rule without a window always holds; with one, while ``on_date`` is in it (unknown onset: inside)."""
    return not row.has_window or in_window(row.from_day, row.until_day, days_since_onset(diagnosis, on_date))


def _rule_applies(rule: AuthorityRuleFact, diagnosis: DiagnosisFact, on_record: Collection[str], on_date: date) -> bool:
    if rule.with_code is not None and rule.with_code not in on_record:
        return False
    return _window_holds(rule, diagnosis, on_date)


def _authority(
    diagnosis: DiagnosisFact, diagnoses: Iterable[DiagnosisFact], on_date: date
) -> tuple[frozenset[str], list[AuthorityRuleFact]]:
    """(the professions that may clear ``diagnosis`` on ``on_date``, the applying rules that narrowed them)."""
    on_record = {d.code for d in diagnoses}
    allowed = diagnosis.clearance_by
    narrowing = []
    for rule in sorted(diagnosis.authority, key=lambda r: r.id):
        if _rule_applies(rule, diagnosis, on_record, on_date) and not allowed <= rule.professions:
            allowed &= rule.professions
            narrowing.append(rule)
    return allowed, narrowing


def allowed_professions(diagnosis: DiagnosisFact, diagnoses: Iterable[DiagnosisFact], on_date: date) -> frozenset[str]:
    """Who may clear ``diagnosis`` on ``on_date``: its ``clearance_by`` narrowed by every authority rule that
    applies on that date (the strictest wins). ``diagnoses`` are all of the patient's, for the rules that
    need another diagnosis on record (active or not)."""
    return _authority(diagnosis, diagnoses, on_date)[0]


class ClearanceState(StrEnum):
    """What a patient's clearance looks like on a date, as the patient list's badge shows it."""

    REVOKED = "revoked"
    EXPIRED = "expired"
    NOT_YET_VALID = "not_yet_valid"
    NONE = "none"
    INSUFFICIENT_AUTHORITY = "insufficient_authority"
    RESTRICTED = "restricted"
    EXPIRING = "expiring"
    CLEARED = "cleared"


_MISSING_STATES = {
    Code.CLEARANCE_REVOKED: ClearanceState.REVOKED,
    Code.CLEARANCE_EXPIRED: ClearanceState.EXPIRED,
    Code.CLEARANCE_NOT_YET_VALID: ClearanceState.NOT_YET_VALID,
    Code.NO_CLEARANCE: ClearanceState.NONE,
}


def clearance_states(
    clearances: Iterable[ClearanceFact], diagnoses: Iterable[DiagnosisFact], on_date: date
) -> tuple[ClearanceState, ...]:
    """The patient's clearance on ``on_date``: the state that matters most, then the lesser ones that apply.

    Without an effective clearance the first state is the gate's reason (`evaluate`): ``revoked``
    beats ``expired`` beats ``not_yet_valid`` (a clearance not revoked by D starts after D) beats
    ``none``; the other reasons that apply follow, in that order. With one in force:
    ``insufficient_authority`` (a diagnosis active on D that its profession may not clear on D,
    `allowed_professions`) beats
    ``restricted`` (restricted tags, or a restricted status) beats ``expiring`` (it ends within
    `EXPIRING_WITHIN_DAYS`), and ``cleared`` stands alone when none of them applies.
    """
    clearances = tuple(clearances)
    clearance = effective_clearance(clearances, on_date)
    if clearance is None:
        code, _ = _missing_clearance(clearances, on_date)
        first = _MISSING_STATES[code]
        applying = (
            (ClearanceState.REVOKED, any(c.covers(on_date) and c.revoked_by(on_date) for c in clearances)),
            (ClearanceState.EXPIRED, any(c.valid_until < on_date for c in clearances)),
            (ClearanceState.NOT_YET_VALID, _next_clearance(clearances, on_date) is not None),
        )
        return (first, *(state for state, applies in applying if applies and state is not first))

    diagnoses = tuple(diagnoses)
    states = []
    if any(
        d.active_on(on_date) and clearance.profession not in allowed_professions(d, diagnoses, on_date)
        for d in diagnoses
    ):
        states.append(ClearanceState.INSUFFICIENT_AUTHORITY)
    if clearance.restricted_tags or clearance.status == "restricted":
        states.append(ClearanceState.RESTRICTED)
    if (clearance.valid_until - on_date).days <= EXPIRING_WITHIN_DAYS:
        states.append(ClearanceState.EXPIRING)
    return tuple(states) or (ClearanceState.CLEARED,)


# ---------------------------------------------------------------------------------------------
# Wording


def _words(slug: str) -> str:
    return slug.replace("_", " ")


def _with_article(noun: str) -> str:
    return f"{'an' if noun[:1].lower() in 'aeiou' else 'a'} {noun}"


def _clearance_label(clearance: ClearanceFact) -> str:
    return f"clearance by {clearance.professional_name} ({_words(clearance.profession)})"


def _professions_phrase(professions: frozenset[str]) -> str:
    if not professions:
        return "which no profession may clear"
    ordered = sorted(
        professions,
        key=lambda p: (_PROFESSION_ORDER.index(p) if p in _PROFESSION_ORDER else len(_PROFESSION_ORDER), p),
    )
    return f"which only {' or '.join(_with_article(_words(p)) for p in ordered)} may clear"


def _window_phrase(row: ContraindicationFact | AuthorityRuleFact) -> str:
    if row.from_day is not None and row.until_day is not None:
        return f"days {row.from_day} to {row.until_day} after onset"
    if row.from_day is not None:
        return f"from day {row.from_day} after onset"
    return f"until day {row.until_day} after onset"


def _window_condition(row: ContraindicationFact | AuthorityRuleFact, diagnosis: DiagnosisFact) -> str:
    """The window as a finding states it: as it is, or, without an onset, what was assumed."""
    window = _window_phrase(row)
    return window if diagnosis.onset is not None else f"onset not recorded — assumed within {window}"


QUALIFIER_ASSUMED: Mapping[str, tuple[str, str]] = {
    "posterior_approach": ("surgical approach", "posterior-approach precautions applied"),
    "anterior_approach": ("surgical approach", "anterior-approach precautions applied"),
    "lateral_approach": ("surgical approach", "lateral-approach precautions applied"),
    # After spinal surgery (Z98.890) an unrecorded procedure meets every procedure's rows: the strictest.
    "lumbar_fusion": ("procedure", "lumbar fusion precautions applied"),
    "lumbar_discectomy": ("procedure", "lumbar discectomy precautions applied"),
    "cervical_fusion": ("procedure", "cervical fusion precautions applied"),
}
"""Qualifier slug → (the fact a diagnosis left unrecorded, what the gate assumed), for the message of a
row that applies because the qualifier is unknown. A slug missing here reads "qualifier not recorded"."""


def _qualifier_kind(qualifier: str) -> str | None:
    """What a qualifier says about a diagnosis (a surgical approach, a procedure); None for one not listed."""
    return QUALIFIER_ASSUMED[qualifier][0] if qualifier in QUALIFIER_ASSUMED else None


def _qualifier_recorded_for(row: ContraindicationFact, diagnosis: DiagnosisFact) -> bool:
    """Whether the diagnosis records a qualifier of the row's kind. Only such a record can lift the row: an
    approach recorded on a spinal surgery says nothing about which spinal procedure it was (unknown: the row
    applies), so a qualifier recorded on the wrong diagnosis never lifts every row of the right kind."""
    kind = _qualifier_kind(diagnosis.qualifier)
    return bool(diagnosis.qualifier) and kind is not None and kind == _qualifier_kind(row.qualifier)


def _qualifier_assumed(qualifier: str, diagnosis: DiagnosisFact) -> str:
    fact, assumed = QUALIFIER_ASSUMED.get(qualifier, ("qualifier", f"{_words(qualifier)} assumed"))
    other = f" ({_words(diagnosis.qualifier)} is not a {fact})" if diagnosis.qualifier else ""
    return f"{fact} not recorded{other} — {assumed}"


def _authority_message(
    clearance: ClearanceFact,
    diagnosis: DiagnosisFact,
    diagnoses: Sequence[DiagnosisFact],
    allowed: frozenset[str],
    narrowing: Sequence[AuthorityRuleFact],
) -> str:
    """Who may clear the diagnosis on the date and, for the rules that narrowed it, their conditions and reasons:
    "clearance by … does not cover Z96.641 …, which only a physician may clear (days 0 to 84 after onset): …"."""
    conditions = []
    for rule in narrowing:
        if rule.has_window:
            conditions.append(_window_condition(rule, diagnosis))
        if rule.with_code is not None:
            other = min((d for d in diagnoses if d.code == rule.with_code), key=lambda d: d.id)
            conditions.append(f"with {other.code} {other.name} on record")
    condition = f" ({'; '.join(conditions)})" if conditions else ""
    reasons = " ".join(rule.rationale for rule in narrowing if rule.rationale)
    reason = f": {reasons}" if reasons else "."
    return (
        f"{_clearance_label(clearance)} does not cover {diagnosis.code} {diagnosis.name}, "
        f"{_professions_phrase(allowed)}{condition}{reason}"
    )


def _contraindication_message(stretch: StretchFact, row: ContraindicationFact, diagnosis: DiagnosisFact) -> str:
    subject = _words(row.tag) if row.tag is not None else "this stretch"
    verb = "is contraindicated" if row.severity == ABSOLUTE else "calls for caution"
    conditions = []
    if row.phase:
        phase = f"{_words(row.phase)} phase"
        conditions.append(phase if diagnosis.phase else f"phase not recorded — {phase} assumed")
    if row.qualifier:
        recorded = _qualifier_recorded_for(row, diagnosis)
        conditions.append(_words(row.qualifier) if recorded else _qualifier_assumed(row.qualifier, diagnosis))
    if row.has_window:
        conditions.append(_window_condition(row, diagnosis))
    condition = f" ({'; '.join(conditions)})" if conditions else ""
    reason = f": {row.rationale}" if row.rationale else "."
    return f"{stretch.name}: {subject} {verb} with {diagnosis.code} {diagnosis.name}{condition}{reason}"


# ---------------------------------------------------------------------------------------------
# Evaluation


def _row_applies_to(row: ContraindicationFact, diagnosis: DiagnosisFact, on_date: date) -> bool:
    """An unrecorded phase, qualifier or onset never keeps a row from applying (the risky case)."""
    if row.diagnosis_code != diagnosis.code:
        return False
    if row.phase and diagnosis.phase and row.phase != diagnosis.phase:
        return False
    if row.qualifier and _qualifier_recorded_for(row, diagnosis) and row.qualifier != diagnosis.qualifier:
        return False
    return _window_holds(row, diagnosis, on_date)


def _applicable_rows(
    facts: Facts, active: Sequence[DiagnosisFact], on_date: date
) -> list[tuple[ContraindicationFact, DiagnosisFact]]:
    """Rows in force on the date, each with the active diagnosis that triggers it: the one whose record
    leaves the fewest of the row's conditions assumed, then the lowest id."""
    applicable = []
    for row in sorted(facts.contraindications, key=lambda r: r.id):
        candidates = [d for d in active if _row_applies_to(row, d, on_date)]
        if candidates:
            applicable.append((row, min(candidates, key=lambda d: (_assumptions(row, d), d.id))))
    return applicable


def _assumptions(row: ContraindicationFact, diagnosis: DiagnosisFact) -> int:
    """How many of the row's conditions the diagnosis leaves unrecorded (each assumed to hold)."""
    return (
        (bool(row.phase) and not diagnosis.phase)
        + (bool(row.qualifier) and not _qualifier_recorded_for(row, diagnosis))
        + (row.has_window and diagnosis.onset is None)
    )


def _starts_on(upcoming: ClearanceFact) -> str:
    return f"the {_clearance_label(upcoming)} starts on {upcoming.valid_from.isoformat()}"


def _clearance_level_finding(
    item: ItemFact,
    index: int,
    code: Code,
    clearance: ClearanceFact | None,
    upcoming: ClearanceFact | None,
    on_date: date,
) -> Finding:
    name = item.stretch.name
    # A clearance that starts later is news the reader needs: without it "record a new one" would be untrue.
    if upcoming is None:
        then = "; record a new one before prescribing."
    else:
        then = f" and {_starts_on(upcoming)}; start on or after that date, or record one that covers the gap."
    if code is Code.CLEARANCE_REVOKED and clearance is not None:
        message = f"{name}: the {_clearance_label(clearance)} was revoked on {clearance.revoked_on}{then}"
    elif code is Code.CLEARANCE_EXPIRED and clearance is not None:
        message = f"{name}: the {_clearance_label(clearance)} expired after {clearance.valid_until.isoformat()}{then}"
    elif code is Code.CLEARANCE_NOT_YET_VALID and clearance is not None:
        message = (
            f"{name}: {_starts_on(clearance)}; start on or after that date, or record one that covers the days "
            "before it."
        )
    else:
        message = f"{name}: no clearance on file for {on_date.isoformat()}; record one before prescribing."
    return Finding(
        code=code,
        severity=Severity.BLOCK,
        overridable=False,
        item=item.key,
        item_index=index,
        stretch=item.stretch.slug,
        cause=f"clearance:{clearance.id}" if clearance is not None else "clearance:none",
        message=message,
    )


def _finding(
    item: ItemFact, index: int, code: Code, severity: Severity, overridable: bool, cause: str, reason: str
) -> Finding:
    return Finding(
        code, severity, overridable, item.key, index, item.stretch.slug, cause, f"{item.stretch.name}: {reason}"
    )


def evaluate(facts: Facts, items: Sequence[ItemFact], on_date: date) -> list[Finding]:
    """Every finding the gate raises against ``items`` on ``on_date``; empty means all clear.

    Findings are grouped by item in the given order; within an item: clearance, authority,
    mobility, restricted movements, contraindications (see the module docstring for the rules).
    """
    clearance = effective_clearance(facts.clearances, on_date)
    if clearance is None:
        code, named = _missing_clearance(facts.clearances, on_date)
        upcoming = _next_clearance(facts.clearances, on_date)
        return [
            _clearance_level_finding(item, index, code, named, upcoming, on_date) for index, item in enumerate(items)
        ]

    active = [d for d in facts.diagnoses if d.active_on(on_date)]
    uncovered: dict[str, str] = {}  # code → message, for the lowest id of the code the profession may not clear
    for diagnosis in sorted(active, key=lambda d: (d.code, d.id)):
        if diagnosis.code in uncovered:
            continue
        allowed, narrowing = _authority(diagnosis, facts.diagnoses, on_date)
        if clearance.profession not in allowed:
            uncovered[diagnosis.code] = _authority_message(clearance, diagnosis, facts.diagnoses, allowed, narrowing)
    rows = _applicable_rows(facts, active, on_date)
    level = facts.mobility_level

    findings: list[Finding] = []
    for index, item in enumerate(items):
        stretch = item.stretch
        for code, reason in uncovered.items():
            findings.append(
                _finding(
                    item,
                    index,
                    Code.CLEARANCE_INSUFFICIENT_AUTHORITY,
                    Severity.BLOCK,
                    False,
                    f"clearance:{clearance.id}:diagnosis:{code}",
                    reason,
                )
            )

        if level is None:
            findings.append(
                _finding(
                    item,
                    index,
                    Code.MOBILITY_UNKNOWN,
                    Severity.BLOCK,
                    False,
                    "mobility:unknown",
                    "no mobility assessment on file; assess mobility before prescribing.",
                )
            )
        elif level < stretch.min_mobility:
            findings.append(
                _finding(
                    item,
                    index,
                    Code.MOBILITY_BELOW_MINIMUM,
                    Severity.BLOCK,
                    True,
                    f"mobility:{level}<min:{stretch.min_mobility}",
                    f"mobility level {level} is below this stretch's minimum of {stretch.min_mobility}.",
                )
            )

        for tag in sorted(clearance.restricted_tags & stretch.tags):
            findings.append(
                _finding(
                    item,
                    index,
                    Code.RESTRICTED_MOVEMENT,
                    Severity.BLOCK,
                    False,
                    f"clearance:{clearance.id}:tag:{tag}",
                    f"{_words(tag)} is restricted by the clearance from {clearance.professional_name} "
                    f"({_words(clearance.profession)}).",
                )
            )

        for row, diagnosis in rows:
            if not (row.tag in stretch.tags or row.stretch_slug == stretch.slug):
                continue
            absolute = row.severity == ABSOLUTE
            findings.append(
                Finding(
                    code=Code.CONTRAINDICATED if absolute else Code.CAUTION,
                    severity=Severity.BLOCK if absolute else Severity.WARN,
                    overridable=True,
                    item=item.key,
                    item_index=index,
                    stretch=stretch.slug,
                    cause=f"contraindication:{row.id}",
                    message=_contraindication_message(stretch, row, diagnosis),
                )
            )
    return findings


# ---------------------------------------------------------------------------------------------
# Overrides and acknowledgements


def unresolved(findings: Iterable[Finding], covered: Collection[tuple[int, str, str]]) -> list[Finding]:
    """The findings no override/acknowledgement covers.

    ``covered`` holds ``(item, code, cause)`` keys of recorded overrides and acknowledgements. A
    key covers only the finding with exactly that item, code and cause; a non-overridable finding
    is never covered.
    """
    return [f for f in findings if not (f.overridable and f.key in covered)]


def blocks(findings: Iterable[Finding], covered: Collection[tuple[int, str, str]]) -> bool:
    """True while anything is unresolved: a block not overridden or a warning not acknowledged."""
    return bool(unresolved(findings, covered))


# ---------------------------------------------------------------------------------------------
# Spans of unchanged facts


def _shift(day: date, days: int) -> date | None:
    try:
        return day + timedelta(days=days)
    except OverflowError:  # beyond date.min/max: such a change never happens
        return None


def change_dates(facts: Facts, start: date, end: date) -> list[date]:
    """Sorted distinct dates in ``[start, end]`` on which the findings of `evaluate()` may change.

    Always includes ``start`` (unless the range is empty, then ``[]``); then every clearance's
    ``valid_from``, ``valid_until`` + 1 day and ``revoked_on``; every diagnosis's ``onset`` and
    ``resolved``; for each windowed contraindication row and each diagnosis of its code with
    a known onset, ``onset + from_day`` and ``onset + until_day + 1``; and the same for each
    diagnosis with a known onset and each windowed authority rule of its own. (A rule's other
    diagnosis counts while on record, whatever its dates, so it adds no date.)
    """
    if start > end:
        return []
    dates: set[date | None] = {start}
    for clearance in facts.clearances:
        dates.update((clearance.valid_from, _shift(clearance.valid_until, 1), clearance.revoked_on))
    for diagnosis in facts.diagnoses:
        dates.update((diagnosis.onset, diagnosis.resolved))
        if diagnosis.onset is None:
            continue
        for rule in diagnosis.authority:
            if rule.from_day is not None:
                dates.add(_shift(diagnosis.onset, rule.from_day))
            if rule.until_day is not None:
                dates.add(_shift(diagnosis.onset, rule.until_day + 1))
    for row in facts.contraindications:
        for diagnosis in facts.diagnoses:
            if diagnosis.code != row.diagnosis_code or diagnosis.onset is None:
                continue
            if row.from_day is not None:
                dates.add(_shift(diagnosis.onset, row.from_day))
            if row.until_day is not None:
                dates.add(_shift(diagnosis.onset, row.until_day + 1))
    return sorted(d for d in dates if d is not None and start <= d <= end)


def spans(facts: Facts, start: date, end: date) -> list[tuple[date, date]]:
    """``[(span_start, span_end_inclusive), ...]`` covering ``[start, end]`` without gaps or overlap.

    Within one span `evaluate()` gives the same findings on every date, so evaluating the span's
    first date stands for all of it.
    """
    starts = change_dates(facts, start, end)
    if not starts:
        return []
    ends = [next_start - timedelta(days=1) for next_start in starts[1:]] + [end]
    return list(zip(starts, ends, strict=True))


# ---------------------------------------------------------------------------------------------
# Snapshots


def _jsonable(value: Any) -> Any:
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: _jsonable(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if isinstance(value, Enum):
        return value.value
    if isinstance(value, date):  # datetime too
        return value.isoformat()
    if isinstance(value, (set, frozenset)):
        return sorted(_jsonable(v) for v in value)
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    return value


def facts_as_dict(facts: Facts) -> dict[str, Any]:
    """A JSON-safe snapshot of ``facts`` (dates and datetimes as ISO 8601, sets as sorted lists)."""
    return _jsonable(facts)
