"""Reads for the conflict re-check: the gate's facts for many plans at once, in a fixed number of queries.

`gate_facts_for_plans` gives, for every prescription, exactly what ``selectors.gate.gate_facts`` and
``item_facts(prescription_items_for_gate(...))`` give for it one at a time (same values, same order), but
with one query per kind of row for the whole batch instead of ~8 per plan: that is what lets the nightly
sweep over thousands of patients run a number of queries that grows with the number of batches, not with
the number of patients.
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from zoneinfo import ZoneInfo

from django.db.models import Q, QuerySet

from clinic.models import Contraindication, Stretch
from patients.models import Clearance, ClearanceRestriction, MobilityAssessment, PatientDiagnosis
from prescriptions import safety
from prescriptions.models import GateEvaluation, GateOverride, Prescription, PrescriptionItem, SafetyFlag, Session
from prescriptions.selectors.gate import authority_rules, in_clinic_window, precaution_days, stretch_fact

Status = Prescription.Status
UPCOMING = (Session.Status.SCHEDULED, Session.Status.BLOCKED)


@dataclass(frozen=True)
class UpcomingSession:
    id: int
    local_date: dt.date
    status: str
    scheduled_at: dt.datetime
    """The instant it starts (UTC): how soon a session a conflict holds begins sets the flag's urgency."""


def active_plan_patient_ids() -> QuerySet:
    """Ids of the patients with at least one active plan, ascending (for batching)."""
    return (
        Prescription.objects.filter(status=Status.ACTIVE)
        .order_by("patient_id")
        .values_list("patient_id", flat=True)
        .distinct()
    )


def clearance_facts_for_patients(zones: dict[int, ZoneInfo]) -> dict[int, tuple[safety.ClearanceFact, ...]]:
    """Every clearance of the patients in ``zones`` (patient id → zone), as gate facts (2 queries).

    Ordered by (recorded_at, id) like ``gate_facts``; the revocation date is the patient's local date.
    """
    restricted: dict[int, set[str]] = defaultdict(set)
    for clearance_id, slug in ClearanceRestriction.objects.filter(clearance__patient_id__in=zones).values_list(
        "clearance_id", "tag__slug"
    ):
        restricted[clearance_id].add(slug)
    by_patient: dict[int, list[safety.ClearanceFact]] = defaultdict(list)
    rows = (
        Clearance.objects.filter(patient_id__in=zones)
        .order_by("patient_id", "recorded_at", "id")
        .values_list(
            "id",
            "patient_id",
            "professional_name",
            "profession",
            "status",
            "valid_from",
            "valid_until",
            "recorded_at",
            "revoked_at",
        )
    )
    for pk, patient_id, name, profession, status, valid_from, valid_until, recorded_at, revoked_at in rows:
        by_patient[patient_id].append(
            safety.ClearanceFact(
                id=pk,
                professional_name=name,
                profession=profession,
                status=status,
                restricted_tags=frozenset(restricted.get(pk, ())),
                valid_from=valid_from,
                valid_until=valid_until,
                recorded_at=recorded_at,
                revoked_on=revoked_at.astimezone(zones[patient_id]).date() if revoked_at else None,
            )
        )
    return {patient_id: tuple(by_patient.get(patient_id, ())) for patient_id in zones}


def _diagnosis_facts(patient_ids: Iterable[int]) -> dict[int, list[safety.DiagnosisFact]]:
    """Each patient's diagnoses by id, with the authority rules of their codes (2 queries; 1 without diagnoses)."""
    by_patient: dict[int, list[safety.DiagnosisFact]] = defaultdict(list)
    rows = list(
        PatientDiagnosis.objects.filter(patient_id__in=patient_ids)
        .order_by("id")
        .values_list(
            "id",
            "patient_id",
            "diagnosis__code",
            "diagnosis__name",
            "phase",
            "qualifier",
            "onset_date",
            "resolved_date",
            "diagnosis__clearance_by",
        )
    )
    rules = authority_rules(row[2] for row in rows)
    for pk, patient_id, code, name, phase, qualifier, onset, resolved, clearance_by in rows:
        by_patient[patient_id].append(
            safety.DiagnosisFact(
                id=pk,
                code=code,
                name=name,
                phase=phase,
                qualifier=qualifier,
                onset=onset,
                resolved=resolved,
                clearance_by=frozenset(clearance_by),
                authority=rules.get(code, ()),
            )
        )
    return by_patient


def _mobility_levels(patient_ids: Iterable[int]) -> dict[int, int]:
    """The level of each patient's latest assessment (by assessed time, then id), one DISTINCT ON query."""
    return dict(
        MobilityAssessment.objects.filter(patient_id__in=patient_ids)
        .order_by("patient_id", "-assessed_at", "-id")
        .distinct("patient_id")
        .values_list("patient_id", "level__level")
    )


@dataclass(frozen=True)
class _Row:
    fact: safety.ContraindicationFact
    clinic_id: int | None
    stretch_id: int | None
    precaution_window: str


def _contraindication_rows(clinic_ids: set[int], codes: set[str]) -> list[_Row]:
    rows = (
        Contraindication.objects.filter(Q(clinic__isnull=True) | Q(clinic_id__in=clinic_ids))
        .filter(diagnosis__code__in=codes)
        .order_by("id")
        .values_list(
            "id",
            "clinic_id",
            "diagnosis__code",
            "tag__slug",
            "stretch_id",
            "stretch__slug",
            "phase",
            "qualifier",
            "from_day",
            "until_day",
            "severity",
            "rationale",
            "precaution_window",
        )
    )
    return [
        _Row(
            fact=safety.ContraindicationFact(
                id=pk,
                diagnosis_code=code,
                tag=tag,
                stretch_slug=stretch_slug,
                phase=phase,
                qualifier=qualifier,
                from_day=from_day,
                until_day=until_day,
                severity=severity,
                rationale=rationale,
            ),
            clinic_id=clinic_id,
            stretch_id=stretch_id,
            precaution_window=window,
        )
        for (
            pk,
            clinic_id,
            code,
            tag,
            stretch_id,
            stretch_slug,
            phase,
            qualifier,
            from_day,
            until_day,
            severity,
            rationale,
            window,
        ) in rows
    ]


def gate_facts_for_plans(
    prescriptions: Sequence[Prescription],
) -> dict[int, tuple[list[safety.ItemFact], safety.Facts]]:
    """prescription id → (item facts in item order, the patient's gate facts), in 9 queries for any number (fewer
    when none has a diagnosis; one more when a contraindication row has a surgical precaution window a clinic may
    set).

    ``prescriptions`` need ``patient`` selected. The values equal those of ``gate_facts`` and
    ``item_facts(prescription_items_for_gate(...))`` for each plan.
    """
    if not prescriptions:
        return {}
    plan_ids = [p.pk for p in prescriptions]
    zones = {p.patient_id: p.patient.zone for p in prescriptions}

    items_by_plan: dict[int, list[tuple[int, int]]] = defaultdict(list)
    for item_id, plan_id, stretch_id in (
        PrescriptionItem.objects.filter(prescription_id__in=plan_ids)
        .order_by("prescription_id", "order", "id")
        .values_list("id", "prescription_id", "stretch_id")
    ):
        items_by_plan[plan_id].append((item_id, stretch_id))
    stretch_ids = {stretch_id for items in items_by_plan.values() for _, stretch_id in items}
    stretches = Stretch.objects.filter(pk__in=stretch_ids).select_related("min_mobility").prefetch_related("tags")
    stretch_facts = {s.pk: stretch_fact(s) for s in stretches}

    clearances = clearance_facts_for_patients(zones)
    diagnoses = _diagnosis_facts(zones)
    levels = _mobility_levels(zones)
    codes = {d.code for facts in diagnoses.values() for d in facts}
    clinic_ids = {p.patient.clinic_id for p in prescriptions}
    rows = _contraindication_rows(clinic_ids, codes) if codes else []
    days = precaution_days(clinic_ids) if any(row.precaution_window for row in rows) else {}

    result = {}
    for plan in prescriptions:
        items = items_by_plan.get(plan.pk, [])
        item_facts = [safety.ItemFact(key=item_id, stretch=stretch_facts[stretch_id]) for item_id, stretch_id in items]
        plan_stretch_ids = {stretch_id for _, stretch_id in items}
        plan_tags = {tag for item in item_facts for tag in item.stretch.tags}
        patient_diagnoses = diagnoses.get(plan.patient_id, [])
        patient_codes = {d.code for d in patient_diagnoses}
        clinic_id = plan.patient.clinic_id
        contraindications = tuple(
            in_clinic_window(row.fact, row.precaution_window, days.get(clinic_id, {}))
            for row in rows
            if row.clinic_id in (None, clinic_id)
            and row.fact.diagnosis_code in patient_codes
            and (row.stretch_id in plan_stretch_ids or row.fact.tag in plan_tags)
        )
        result[plan.pk] = (
            item_facts,
            safety.Facts(
                clearances=clearances[plan.patient_id],
                diagnoses=tuple(patient_diagnoses),
                mobility_level=levels.get(plan.patient_id),
                contraindications=contraindications,
            ),
        )
    return result


def covered_keys(plan_ids: Iterable[int]) -> dict[int, set[tuple[int, str, str]]]:
    """prescription id → the (item, code, cause) keys its stored overrides and acknowledgements cover."""
    covered: dict[int, set[tuple[int, str, str]]] = defaultdict(set)
    for plan_id, item_id, code, cause in GateOverride.objects.filter(prescription_id__in=plan_ids).values_list(
        "prescription_id", "item_id", "code", "cause"
    ):
        covered[plan_id].add((item_id, code, cause))
    return covered


def upcoming_sessions(plan_ids: Iterable[int], since: dt.date) -> dict[int, list[UpcomingSession]]:
    """prescription id → its scheduled or blocked sessions on or after ``since``, by date and time."""
    sessions: dict[int, list[UpcomingSession]] = defaultdict(list)
    for pk, plan_id, local_date, status, scheduled_at in (
        Session.objects.filter(prescription_id__in=plan_ids, status__in=UPCOMING, local_date__gte=since)
        .order_by("prescription_id", "local_date", "local_time", "id")
        .values_list("id", "prescription_id", "local_date", "status", "scheduled_at")
    ):
        sessions[plan_id].append(UpcomingSession(pk, local_date, status, scheduled_at))
    return sessions


def latest_evaluations(plan_ids: Iterable[int]) -> dict[int, tuple[dt.date, list]]:
    """prescription id → (on_date, findings) of its latest stored gate evaluation, whatever its purpose."""
    return {
        plan_id: (on_date, findings)
        for plan_id, on_date, findings in GateEvaluation.objects.filter(prescription_id__in=plan_ids)
        .order_by("prescription_id", "-evaluated_at", "-id")
        .distinct("prescription_id")
        .values_list("prescription_id", "on_date", "findings")
    }


def unresolved_plan_flags(plan_ids: Iterable[int], kinds: Iterable[str]) -> dict[tuple[int, str], SafetyFlag]:
    """(prescription id, kind) → its unresolved flag raised for the plan itself (cause ``prescription:<id>``)."""
    plan_ids = list(plan_ids)
    flags = SafetyFlag.objects.filter(
        prescription_id__in=plan_ids,
        kind__in=list(kinds),
        cause_key__in=[f"prescription:{pk}" for pk in plan_ids],
    ).exclude(status=SafetyFlag.Status.RESOLVED)
    return {
        (flag.prescription_id, flag.kind): flag
        for flag in flags
        if flag.cause_key == f"prescription:{flag.prescription_id}"
    }


def sessions_held_by_other_flags(session_ids: Iterable[int], kinds: Iterable[str]) -> set[int]:
    """Of ``session_ids``, those an unresolved flag lists other than their own plan's flags of ``kinds``."""
    kinds = set(kinds)
    through = SafetyFlag.sessions.through
    held = set()
    for session_id, plan_id, kind, cause_key in (
        through.objects.filter(session_id__in=list(session_ids))
        .exclude(safetyflag__status=SafetyFlag.Status.RESOLVED)
        .values_list("session_id", "session__prescription_id", "safetyflag__kind", "safetyflag__cause_key")
    ):
        if not (kind in kinds and cause_key == f"prescription:{plan_id}"):
            held.add(session_id)
    return held
