"""Reads for protocol templates (issue 17): which templates suit a patient, and what the gate would say of each."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from django.db.models import Prefetch

from clinic.models import ProtocolTemplate, ProtocolTemplateItem
from patients.models import Patient
from prescriptions.gate import rules
from prescriptions.gate.facts import diagnoses_of, gate_facts, stretch_fact


@dataclass(frozen=True)
class Suggestion:
    """A template that targets one of the patient's active diagnoses, with the gate's findings for the patient on a
    date (its items unsaved: each finding's ``item`` is None, ``item_index`` the template item's place, from 0)."""

    template: ProtocolTemplate
    diagnoses: tuple[str, ...]
    """The codes of the patient's active diagnoses it targets (in a matching phase)."""
    findings: tuple[rules.Finding, ...]

    @property
    def blocking(self) -> int:
        return sum(1 for finding in self.findings if finding.severity == rules.Severity.BLOCK)

    @property
    def warnings(self) -> int:
        return sum(1 for finding in self.findings if finding.severity == rules.Severity.WARN)


def templates_for_gate(clinic_id: int | None):
    """The templates a clinic can see with their diagnoses and items, each item's stretch ready for ``stretch_fact``
    (a constant number of queries however many)."""
    items = ProtocolTemplateItem.objects.select_related("stretch__min_mobility").prefetch_related("stretch__tags")
    return ProtocolTemplate.objects.visible_to(clinic_id).prefetch_related(
        "diagnoses", Prefetch("items", items.order_by("order", "id"))
    )


def _phase_matches(template_phase: str, diagnosis_phase: str) -> bool:
    """A template for any phase suits every diagnosis; one for a phase suits a diagnosis in that phase, or whose
    phase is not recorded (the gate then assumes the risky case for it, so the findings still tell)."""
    return not template_phase or not diagnosis_phase or template_phase == diagnosis_phase


def template_suggestions(*, patient: Patient, on_date: dt.date) -> list[Suggestion]:
    """The templates visible to the patient's clinic that target any of the patient's diagnoses active on
    ``on_date`` (in a matching phase), each with the findings the gate would raise for the patient on that date:
    fewest blocking first, then fewest findings, then by name. One load of the gate's facts for every template's
    stretches, then the pure evaluation per template: constant queries however many templates."""
    active = [d for d in diagnoses_of([patient.pk], authority=False).get(patient.pk, ()) if d.active_on(on_date)]
    if not active:
        return []
    codes = {d.code for d in active}
    candidates = []
    for template in templates_for_gate(patient.clinic_id).filter(diagnoses__code__in=codes).distinct():
        targeted = {d.code for d in template.diagnoses.all()}
        matched = sorted({d.code for d in active if d.code in targeted and _phase_matches(template.phase, d.phase)})
        if matched:
            candidates.append((template, tuple(matched)))
    if not candidates:
        return []
    stretches = {item.stretch.pk: item.stretch for template, _ in candidates for item in template.items.all()}
    facts = gate_facts(patient=patient, stretches=stretches.values())
    suggestions = [
        Suggestion(
            template=template,
            diagnoses=matched,
            findings=tuple(
                rules.evaluate(
                    facts,
                    [rules.ItemFact(key=None, stretch=stretch_fact(item.stretch)) for item in template.items.all()],
                    on_date,
                )
            ),
        )
        for template, matched in candidates
    ]
    return sorted(suggestions, key=lambda s: (s.blocking, len(s.findings), s.template.name, s.template.pk))
