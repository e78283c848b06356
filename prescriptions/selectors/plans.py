"""Reads for the staff prescription endpoints: scoped plans, a plan's latest gate evaluation, the dry run."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence

from django.db.models import Prefetch, QuerySet

from clinic.models import Stretch
from patients.models import Patient
from prescriptions.gate import rules
from prescriptions.gate.facts import gate_facts, stretch_fact, stretches_for_gate
from prescriptions.models import GateEvaluation, GateOverride, Prescription, PrescriptionItem


def clinic_prescriptions(*, clinic_id: int | None) -> QuerySet[Prescription]:
    """The clinic's plans with their items and each item's stretch: a constant number of queries per page."""
    return (
        Prescription.objects.filter(patient__clinic_id=clinic_id)
        .prefetch_related(Prefetch("items", PrescriptionItem.objects.select_related("stretch").order_by("order", "id")))
        .order_by("-created_at", "-id")
    )


def prescription_for_staff(*, clinic_id: int | None, pk: int) -> Prescription | None:
    """One of the clinic's plans with its items, overrides and ``latest_evaluation`` (None if never run)."""
    prescription = (
        clinic_prescriptions(clinic_id=clinic_id)
        .prefetch_related(Prefetch("overrides", GateOverride.objects.order_by("at", "id")))
        .filter(pk=pk)
        .first()
    )
    if prescription is not None:
        prescription.latest_evaluation = (
            GateEvaluation.objects.filter(prescription=prescription).order_by("-evaluated_at", "-id").first()
        )
    return prescription


def dry_run(*, patient: Patient, stretches: Sequence[Stretch], on_date: dt.date) -> list[rules.Finding]:
    """What the gate would say about these stretches for ``patient`` on ``on_date``; nothing is saved.

    Items are unsaved, so each finding's ``item`` (a plan item id) is None; its ``item_index`` is the stretch's
    place in ``stretches``, 0…n-1.
    """
    loaded = stretches_for_gate(s.pk for s in stretches)
    ordered = [loaded[s.pk] for s in stretches]
    facts = gate_facts(patient=patient, stretches=list(loaded.values()))
    items = [rules.ItemFact(key=None, stretch=stretch_fact(s)) for s in ordered]
    return rules.evaluate(facts, items, on_date)
