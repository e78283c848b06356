"""Pain and red flags on a session log: what a log's ratings and answers signal (pure, like ``rules``).

Pain is the patient's NPRS rating, 0 (none) to 10 (worst imaginable). The thresholds follow the
pain-monitoring model used in rehabilitation (Thomée 1997: pain up to 5/10 during and after exercise is
acceptable, and it must have settled by the next day) and the NPRS's minimal clinically important change of
2 points. They are constants, each rule's source in ``RULE_SOURCES``, so a licensed PT can review and tune
them in one place. The red-flag questions are data (``prescriptions.RedFlagQuestion``, seeded by migration
0005 with their sources); ``red_flag_questions`` chooses a session's from the patient's diagnoses and the
plan's stretch regions, and ``red_flag_signals`` reads the answers.

Like the gate's rules, this module imports no Django: ``prescriptions.services.sessions`` loads the facts and
raises the flags.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date
from enum import StrEnum
from typing import Any

from patients.clearance import frozen_strings
from prescriptions.gate.rules import days_since_onset, in_window

PAIN_STOP_AT = 7
"""Pain before or after at or above this: the patient stops and calls the clinic; urgent, holds the plan."""
PAIN_ACCEPTABLE_MAX = 5
"""Pain after the session above this (and below ``PAIN_STOP_AT``): lower the dose of the stretch that hurt."""
PAIN_RISE_ALARM = 2
"""Pain after minus pain before at or above this: the session made things worse; flag it."""
PAIN_NOT_SETTLED_RISE = 2
"""Pain before this session at or above the previous session's pain before plus this: it had not settled."""
PAIN_TREND_LOGS = 3
"""Pain after strictly rising across this many consecutive logs (the new one included): flag the trend."""

PAIN_ESCALATION = "pain_escalation"
RED_FLAG_SYMPTOM = "red_flag_symptom"

PAIN_ADVICE = (
    "Stop these stretches and call your clinic before you do them again: your pain is too high to continue safely."
)
"""The instruction part of the advice when pain reaches ``PAIN_STOP_AT``."""


class SignalCode(StrEnum):
    PAIN_HIGH = "pain_high"
    PAIN_ABOVE_ACCEPTABLE = "pain_above_acceptable"
    PAIN_RISE = "pain_rise"
    PAIN_NOT_SETTLED = "pain_not_settled"
    PAIN_TREND = "pain_trend"
    RED_FLAG = "red_flag"
    RED_FLAG_WARNING = "red_flag_warning"


_THOMEE = (
    "Thomée R. A comprehensive treatment approach for patellofemoral pain syndrome in young women. "
    "Phys Ther 1997;77(12):1690-1703 (the pain-monitoring model)"
)
_NPRS_MCID = (
    "NPRS minimal clinically important change of 2 points: Farrar et al., Pain 2001;94(2):149-158; "
    "Childs et al., Spine 2005;30(11):1331-1334"
)
RULE_SOURCES: Mapping[SignalCode, str] = {
    SignalCode.PAIN_HIGH: "Limber stop rule (DESIGN §5): 7/10 or more before or after; inside the high-risk zone "
    f"(above 5/10) of {_THOMEE}",
    SignalCode.PAIN_ABOVE_ACCEPTABLE: f"{_THOMEE}: up to 5/10 during or after exercise is acceptable; above it, "
    "lower the load of the exercise that hurt",
    SignalCode.PAIN_RISE: _NPRS_MCID,
    SignalCode.PAIN_NOT_SETTLED: f"{_THOMEE}: pain after exercise must have settled by the next day (read here as "
    f"the next session's pain before); a rise of 2 as in the {_NPRS_MCID}",
    SignalCode.PAIN_TREND: f"Limber trend rule (DESIGN §5): pain after rising across {PAIN_TREND_LOGS} "
    "consecutive logs",
    SignalCode.RED_FLAG: "each question's own source (RedFlagQuestion.source)",
    SignalCode.RED_FLAG_WARNING: "each question's own source (RedFlagQuestion.source)",
}
"""Where each rule comes from: the pain rules' sources here, the red-flag questions' on each question."""


class Urgency(StrEnum):
    WARNING = "warning"
    URGENT = "urgent"


@dataclass(frozen=True)
class Signal:
    """One reason a session log must reach the clinic.

    ``flag_kind`` is the SafetyFlag kind it opens (``pain_escalation`` or ``red_flag_symptom``);
    ``stop`` says the patient should stop the stretches now (such a signal is always ``urgent``);
    ``evidence`` is what triggered it (the ratings, the pain-after series, or the red-flag questions
    answered yes); ``advice`` is what the patient is told about it, naming the rule that fired.
    """

    code: SignalCode
    flag_kind: str
    severity: Urgency
    stop: bool
    message: str
    evidence: tuple[Any, ...] = ()
    advice: str = ""

    def as_dict(self) -> dict[str, Any]:
        return {"code": self.code.value, "message": self.message, "evidence": list(self.evidence)}


def _pain_rating(name: str, value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= 10:
        raise ValueError(f"{name} must be a pain rating from 0 to 10, not {value!r}")
    return value


def _named(stretches: Sequence[str]) -> str:
    if not stretches:
        return "the stretch that hurt"
    if len(stretches) == 1:
        return stretches[0]
    return ", ".join(stretches[:-1]) + " and " + stretches[-1]


def pain_signals(
    pain_before: int,
    pain_after: int,
    recent_pain_after: Sequence[int] = (),
    *,
    previous_pain_before: int | None = None,
    hurt: Sequence[str] = (),
) -> list[Signal]:
    """What one session log's pain tells the clinic; an empty list means nothing to flag.

    ``recent_pain_after`` holds the pain-after ratings of the patient's earlier logs, oldest first
    (only the last ``PAIN_TREND_LOGS - 1`` matter); ``previous_pain_before`` the pain before of the
    patient's latest earlier log (None: no earlier log); ``hurt`` the names of the stretches the patient
    said hurt (for the messages).

    Signals come in this order, all ``pain_escalation``:
    1. ``pain_high`` (urgent, stop): pain before or after is ``PAIN_STOP_AT`` or more.
    2. ``pain_above_acceptable`` (warning): pain after is above ``PAIN_ACCEPTABLE_MAX`` and below
       ``PAIN_STOP_AT`` (6 by default): lower the dose of the stretch that hurt.
    3. ``pain_rise`` (warning): pain after − pain before is ``PAIN_RISE_ALARM`` or more.
    4. ``pain_not_settled`` (warning): pain before is the previous log's pain before plus
       ``PAIN_NOT_SETTLED_RISE`` or more: the last session's pain had not settled by this one.
    5. ``pain_trend`` (warning): pain after rose strictly across the last ``PAIN_TREND_LOGS`` logs.
    Every signal that tells the patient to stop is urgent: it holds their plan, so the clinic must hear of
    it as soon as the patient is told to call.
    """
    _pain_rating("pain_before", pain_before)
    _pain_rating("pain_after", pain_after)
    for index, value in enumerate(recent_pain_after):
        _pain_rating(f"recent_pain_after[{index}]", value)
    if previous_pain_before is not None:
        _pain_rating("previous_pain_before", previous_pain_before)
    if isinstance(hurt, str):
        raise TypeError("hurt must be a sequence of stretch names, not a string")

    signals: list[Signal] = []
    worst = max(pain_before, pain_after)
    if worst >= PAIN_STOP_AT:
        when = "before and after" if pain_before == pain_after else ("before" if pain_before > pain_after else "after")
        signals.append(
            Signal(
                SignalCode.PAIN_HIGH,
                PAIN_ESCALATION,
                Urgency.URGENT,
                stop=True,
                message=f"Pain rated {worst}/10 {when} the session.",
                evidence=(pain_before, pain_after),
                advice=f"Your pain was {worst}/10 {when} the session ({PAIN_STOP_AT} or more). {PAIN_ADVICE}",
            )
        )
    if PAIN_ACCEPTABLE_MAX < pain_after < PAIN_STOP_AT:
        signals.append(
            Signal(
                SignalCode.PAIN_ABOVE_ACCEPTABLE,
                PAIN_ESCALATION,
                Urgency.WARNING,
                stop=False,
                message=f"Pain {pain_after}/10 after the session, above the acceptable {PAIN_ACCEPTABLE_MAX}/10: "
                f"consider a lower dose of {_named(hurt) if hurt else 'the stretch that hurt (not named)'}.",
                evidence=(pain_before, pain_after, *hurt),
                advice=f"Your pain after the session was {pain_after}/10, above the {PAIN_ACCEPTABLE_MAX}/10 "
                f"your stretches should stay within. Next time do less of {_named(hurt)}: fewer repetitions, a "
                "shorter hold or a gentler stretch. Your clinic has been told and may change your plan.",
            )
        )
    rise = pain_after - pain_before
    if rise >= PAIN_RISE_ALARM:
        signals.append(
            Signal(
                SignalCode.PAIN_RISE,
                PAIN_ESCALATION,
                Urgency.WARNING,
                stop=False,
                message=f"Pain rose by {rise} during the session ({pain_before} → {pain_after}).",
                evidence=(pain_before, pain_after),
                advice=f"Your pain went up by {rise} points during the session ({pain_before} → {pain_after}). "
                "Your clinic has been told; next time go more gently, and stop if it goes up again.",
            )
        )
    if previous_pain_before is not None and pain_before - previous_pain_before >= PAIN_NOT_SETTLED_RISE:
        signals.append(
            Signal(
                SignalCode.PAIN_NOT_SETTLED,
                PAIN_ESCALATION,
                Urgency.WARNING,
                stop=False,
                message=f"Pain before the session was {pain_before}/10, {pain_before - previous_pain_before} more "
                f"than before the previous session ({previous_pain_before}/10): not settled by the next session.",
                evidence=(previous_pain_before, pain_before),
                advice=f"Your pain before this session ({pain_before}/10) was higher than before your last one "
                f"({previous_pain_before}/10): the pain from last time had not settled. Your clinic has been told; "
                "go more gently until it settles.",
            )
        )
    earlier = list(recent_pain_after)[len(recent_pain_after) - (PAIN_TREND_LOGS - 1) :]
    series = (*earlier, pain_after)
    if len(series) == PAIN_TREND_LOGS and all(a < b for a, b in zip(series, series[1:], strict=False)):
        arrows = " → ".join(str(value) for value in series)
        signals.append(
            Signal(
                SignalCode.PAIN_TREND,
                PAIN_ESCALATION,
                Urgency.WARNING,
                stop=False,
                message=f"Pain after the session rose across the last {PAIN_TREND_LOGS} logs: {arrows}.",
                evidence=series,
                advice=f"Your pain after your sessions has gone up {PAIN_TREND_LOGS} times in a row ({arrows}). "
                "Your clinic has been told and will review your plan.",
            )
        )
    return signals


# --- Which red-flag questions a session asks ----------------------------------------------------------------


@dataclass(frozen=True)
class AskedWith:
    """A question is asked of a patient with this diagnosis: ``code`` is an ICD-10-CM code or category (its
    subcodes match: ``Z96.64`` covers Z96.641 and Z96.642), ``until_day`` the last day since onset it is asked
    (inclusive; None: while the diagnosis is active). An unrecorded onset is inside every window."""

    code: str
    until_day: int | None = None

    def covers(self, diagnosis: Any, on_date: date) -> bool:
        if not diagnosis.active_on(on_date) or not diagnosis.code.startswith(self.code):
            return False
        return in_window(None, self.until_day, days_since_onset(diagnosis, on_date))


def asked_with(raw: Any) -> tuple[AskedWith, ...]:
    """A question's stored ``diagnoses`` (``[{"code": "Z98.890", "until_day": 90}, …]``) as values; ValueError
    naming what is wrong when it is not such a list."""
    if not isinstance(raw, list):
        raise ValueError('Give a list of {"code": …, "until_day": …} objects.')
    conditions = []
    for index, entry in enumerate(raw):
        if not isinstance(entry, dict) or not set(entry) <= {"code", "until_day"}:
            raise ValueError(f'Entry {index}: give an object with "code" and, optionally, "until_day".')
        code, until_day = entry.get("code"), entry.get("until_day")
        if not isinstance(code, str) or not code.strip() or code != code.strip():
            raise ValueError(f"Entry {index}: give an ICD-10-CM code or category, e.g. Z96.64.")
        if until_day is not None and (isinstance(until_day, bool) or not isinstance(until_day, int) or until_day < 0):
            raise ValueError(f"Entry {index}: until_day is a whole number of days since onset, or null.")
        conditions.append(AskedWith(code=code, until_day=until_day))
    return tuple(conditions)


@dataclass(frozen=True)
class DiagnosisDates:
    """What question selection reads of a patient's diagnosis (a ``DiagnosisFact`` fits too)."""

    code: str
    onset: date | None
    resolved: date | None

    def active_on(self, on_date: date) -> bool:
        return (self.onset is None or self.onset <= on_date) and (self.resolved is None or on_date < self.resolved)


@dataclass(frozen=True)
class RedFlagQuestionFact:
    """A red-flag question as data: asked of everyone when it names no plan region and no diagnosis, else of
    a session whose plan has a stretch in one of ``plan_regions`` or whose patient has a diagnosis one of
    ``diagnoses`` covers on the session's date. A yes raises a ``severity`` signal and gives ``advice``."""

    slug: str
    text: str
    symptom: str
    severity: Urgency
    advice: str
    plan_regions: frozenset[str] = frozenset()
    diagnoses: tuple[AskedWith, ...] = ()
    order: int = 0

    def __post_init__(self) -> None:
        object.__setattr__(self, "severity", Urgency(self.severity))
        object.__setattr__(self, "plan_regions", frozen_strings(self.plan_regions, "plan_regions"))
        object.__setattr__(self, "diagnoses", tuple(self.diagnoses))

    @property
    def asked_of_everyone(self) -> bool:
        return not self.plan_regions and not self.diagnoses


def red_flag_questions(
    questions: Iterable[RedFlagQuestionFact],
    *,
    diagnoses: Iterable[Any],
    plan_regions: Collection[str],
    on_date: date,
) -> tuple[RedFlagQuestionFact, ...]:
    """The questions a session on ``on_date`` asks, in (order, slug) order: everyone's, those of a region of the
    plan's stretches (``plan_regions``), and those of a diagnosis of the patient's (``diagnoses``: values
    with ``code``, ``onset`` and ``active_on(date)``, e.g. ``DiagnosisDates``) active on that date."""
    if isinstance(plan_regions, str):
        raise TypeError("plan_regions must be a collection of regions, not a string")
    regions = frozenset(plan_regions)
    diagnoses = tuple(diagnoses)
    chosen = [
        question
        for question in questions
        if question.asked_of_everyone
        or question.plan_regions & regions
        or any(condition.covers(diagnosis, on_date) for condition in question.diagnoses for diagnosis in diagnoses)
    ]
    return tuple(sorted(chosen, key=lambda question: (question.order, question.slug)))


NOT_ANSWERED = "Answer this question yes (true) or no (false): an unanswered question is never read as no."
NOT_ASKED = "Not a question of this session: answer exactly the session's red_flag_questions."
NOT_YES_OR_NO = "Answer yes (true) or no (false)."


def red_flag_answer_errors(questions: Sequence[RedFlagQuestionFact], answers: Mapping[str, Any]) -> dict[str, str]:
    """``{"answers.<slug>": message}`` for every question asked but not answered, answered with something other
    than true or false, or answered but not asked; empty when the answers fit the questions exactly."""
    errors: dict[str, str] = {}
    for question in questions:
        if question.slug not in answers:
            errors[f"answers.{question.slug}"] = NOT_ANSWERED
        elif not isinstance(answers[question.slug], bool):
            errors[f"answers.{question.slug}"] = NOT_YES_OR_NO
    asked = {question.slug for question in questions}
    for slug in answers:
        if slug not in asked:
            errors[f"answers.{slug}"] = NOT_ASKED
    return errors


def _distinct(texts: Iterable[str]) -> list[str]:
    return list(dict.fromkeys(text for text in texts if text))


def red_flag_signals(questions: Sequence[RedFlagQuestionFact], answers: Mapping[str, bool]) -> list[Signal]:
    """What the red-flag answers tell the clinic: one ``red_flag`` signal (urgent, stop) for every urgent
    question answered yes, then one ``red_flag_warning`` (warning) for every warning question answered yes;
    both open ``red_flag_symptom`` flags, and each carries the advice of its questions. The answers must fit
    the questions exactly (``red_flag_answer_errors``): an unanswered question is never a no."""
    errors = red_flag_answer_errors(questions, answers)
    if errors:
        raise ValueError("Red-flag answers do not fit the questions asked: " + ", ".join(sorted(errors)))
    yes = [question for question in questions if answers[question.slug]]
    signals = []
    for severity, code, label in (
        (Urgency.URGENT, SignalCode.RED_FLAG, "Red-flag symptom reported"),
        (Urgency.WARNING, SignalCode.RED_FLAG_WARNING, "Warning symptom reported"),
    ):
        reported = [question for question in yes if question.severity == severity]
        if reported:
            signals.append(
                Signal(
                    code,
                    RED_FLAG_SYMPTOM,
                    severity,
                    stop=severity == Urgency.URGENT,
                    message=f"{label}: {'; '.join(question.symptom for question in reported)}.",
                    evidence=tuple(question.slug for question in reported),
                    advice=" ".join(_distinct(question.advice for question in reported)),
                )
            )
    return signals


_ADVICE_RANK = {SignalCode.RED_FLAG: 0, SignalCode.PAIN_HIGH: 1, SignalCode.RED_FLAG_WARNING: 2}


def advice_rank(signal: Signal) -> int:
    """Sort key (stable sorts keep rule order within a rank): the urgent red flags first (seek care), then high
    pain (stop and call the clinic), then the warning symptoms, then the other pain warnings."""
    return _ADVICE_RANK.get(signal.code, 3)


def log_advice(signals: Iterable[Signal]) -> str | None:
    """What the patient is told right after logging: each fired rule's advice, in ``advice_rank`` order, each
    text once; ``None`` when nothing fired."""
    texts = _distinct(signal.advice for signal in sorted(signals, key=advice_rank))
    return " ".join(texts) or None
