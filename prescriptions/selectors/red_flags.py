"""Which red-flag questions each session asks (issue #12, part 3).

The choice is ``pain.red_flag_questions`` (pure) over three reads: the active questions, the patients'
diagnoses and the plans' stretch regions. ``SessionQuestions`` reads each once for a whole page of sessions
(three queries, or two when the caller already has the regions), so showing the questions with every session
adds a fixed number of queries however many sessions there are.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from prescriptions.gate import pain, rules
from prescriptions.gate.facts import diagnoses_of
from prescriptions.models import PrescriptionItem, RedFlagQuestion, Session

QUESTION_FIELDS = ("slug", "text", "symptom", "severity", "advice", "plan_regions", "diagnoses", "order")


def question_fact(row: Iterable[Any]) -> pain.RedFlagQuestionFact:
    """A question's ``QUESTION_FIELDS`` values as a fact; its ``diagnoses`` parsed (or JSON text, as the portal's
    statement reads them).

    A question whose ``diagnoses`` cannot be read (the admin validates them; raw SQL might not) is asked of
    everyone: an unreadable rule never drops a question (unknown means the risky case).
    """
    values = dict(zip(QUESTION_FIELDS, row, strict=True))
    try:
        raw = values["diagnoses"]
        values["diagnoses"] = pain.asked_with(json.loads(raw) if isinstance(raw, str) else raw)
    except (TypeError, ValueError, RecursionError):
        values["diagnoses"], values["plan_regions"] = (), ()
    return pain.RedFlagQuestionFact(**values)


def question_facts() -> tuple[pain.RedFlagQuestionFact, ...]:
    """The active questions as plain values (one query)."""
    rows = RedFlagQuestion.objects.filter(active=True).order_by("order", "slug").values_list(*QUESTION_FIELDS)
    return tuple(question_fact(row) for row in rows)


def regions_by_plan(plan_ids: Iterable[int]) -> dict[int, frozenset[str]]:
    """The body regions of each plan's stretches (one query)."""
    found: dict[int, set[str]] = {}
    rows = (
        PrescriptionItem.objects.filter(prescription_id__in=set(plan_ids))
        .order_by()
        .values_list("prescription_id", "stretch__body_region")
        .distinct()
    )
    for plan_id, region in rows:
        found.setdefault(plan_id, set()).add(region)
    return {plan_id: frozenset(regions) for plan_id, regions in found.items()}


def question_out(question: pain.RedFlagQuestionFact) -> dict[str, str]:
    """A question as the portal shows it."""
    return {"slug": question.slug, "text": question.text}


@dataclass
class SessionQuestions:
    """The questions of any session of the loaded patients and plans, chosen in memory."""

    questions: tuple[pain.RedFlagQuestionFact, ...]
    diagnoses: Mapping[int, tuple[rules.DiagnosisFact, ...]]
    regions: Mapping[int, frozenset[str]]
    _shown: dict[tuple[int, int, dt.date], list[dict[str, str]]] = field(default_factory=dict, repr=False)

    @classmethod
    def load(
        cls,
        *,
        patient_ids: Iterable[int],
        plan_ids: Iterable[int] = (),
        regions: Mapping[int, frozenset[str]] | None = None,
    ) -> SessionQuestions:
        """Read what the choice needs: pass ``regions`` when the caller has read the plans' stretches already."""
        return cls(
            questions=question_facts(),
            diagnoses=diagnoses_of(patient_ids, authority=False),
            regions=regions if regions is not None else regions_by_plan(plan_ids),
        )

    def facts(self, *, patient_id: int, plan_id: int, on_date: dt.date) -> tuple[pain.RedFlagQuestionFact, ...]:
        return pain.red_flag_questions(
            self.questions,
            diagnoses=self.diagnoses.get(patient_id, ()),
            plan_regions=self.regions.get(plan_id, frozenset()),
            on_date=on_date,
        )

    def shown(self, *, patient_id: int, plan_id: int, on_date: dt.date) -> list[dict[str, str]]:
        """The questions as the portal shows them; one list per (patient, plan, date), shared by its sessions."""
        key = (patient_id, plan_id, on_date)
        if key not in self._shown:
            self._shown[key] = [
                question_out(q) for q in self.facts(patient_id=patient_id, plan_id=plan_id, on_date=on_date)
            ]
        return self._shown[key]


def with_questions(sessions: Iterable[Any]) -> list[Any]:
    """Set ``red_flag_questions`` on each session (annotated with ``patient_id``, as ``portal_sessions`` does)."""
    sessions = list(sessions)
    if not sessions:
        return sessions
    chosen = SessionQuestions.load(
        patient_ids={s.patient_id for s in sessions}, plan_ids={s.prescription_id for s in sessions}
    )
    for session in sessions:
        session.red_flag_questions = chosen.shown(
            patient_id=session.patient_id, plan_id=session.prescription_id, on_date=session.local_date
        )
    return sessions


def session_questions(session: Session) -> tuple[pain.RedFlagQuestionFact, ...]:
    """The questions a log of ``session`` must answer (three queries)."""
    patient_id = session.prescription.patient_id
    return SessionQuestions.load(patient_ids=[patient_id], plan_ids=[session.prescription_id]).facts(
        patient_id=patient_id, plan_id=session.prescription_id, on_date=session.local_date
    )
