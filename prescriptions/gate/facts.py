"""The gate's one facts loader: everything dated that ``rules.evaluate`` reads, for many patients at once.

The rules (``rules``, ``pain``, ``patients.clearance``) are pure; this module is the one place that turns rows
into their facts. It works in batches — a fixed number of queries for any number of patients and plans — and
every caller goes through it: the one-patient case is a batch of one.

- ``facts_for(subjects)``: a ``Facts`` per (patient, stretches) subject, in 5 queries (fewer without clearances or
  diagnoses; one more when a contraindication row loaded has a surgical precaution window a clinic may set).
- ``gate_facts(patient=, stretches=)``: one subject (the dry run, ``dry_run``).
- ``gate_facts_for_plans(plans)``: each plan's item facts (in item order) and its patient's facts, 3 queries more
  (activation and amendment, the conflict re-check, the dispatcher's last look).
- ``diagnoses_of(patient_ids)``: the patients' diagnoses alone (the red-flag questions a session asks).

Conversions (row → fact) are written once each, below. Revocation dates are the patient's local dates.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

from django.db.models import Q

from clinic.models import (
    CATALOG_VERSION,
    PRECAUTION_WINDOW_SETTINGS,
    ClearanceAuthorityRule,
    Clinic,
    Contraindication,
    Stretch,
)
from patients.clearance import ClearanceFact
from patients.models import Clearance, ClearanceRestriction, MobilityAssessment, Patient, PatientDiagnosis
from prescriptions.gate import rules
from prescriptions.models import Prescription, PrescriptionItem

POSITION_TAGS: Mapping[str, frozenset[str]] = {
    Stretch.Position.SUPINE: frozenset({"supine"}),
    Stretch.Position.PRONE: frozenset({"prone"}),
    Stretch.Position.KNEELING: frozenset({"kneeling"}),
    Stretch.Position.QUADRUPED: frozenset({"kneeling", "weight_bearing_wrist"}),
}
"""The movement tags a stretch's position implies. The gate reads tags only, so a catalog row whose tags
leave out what its position says (a clinic's supine stretch without the ``supine`` tag) would otherwise
escape every supine contraindication and restriction: unknown means the risky case."""


def gate_tags(stretch: Stretch) -> frozenset[str]:
    """The stretch's movement tags as the gate sees them: its own plus those its position implies."""
    return frozenset(tag.slug for tag in stretch.tags.all()) | POSITION_TAGS.get(stretch.position, frozenset())


def stretch_fact(stretch: Stretch) -> rules.StretchFact:
    """Needs ``tags`` prefetched and ``min_mobility`` selected to stay query-free."""
    return rules.StretchFact(
        slug=stretch.slug,
        name=stretch.name,
        tags=gate_tags(stretch),
        min_mobility=stretch.min_mobility.level,
    )


def stretches_for_gate(ids: Iterable[int]) -> dict[int, Stretch]:
    """id → stretch, with what ``stretch_fact`` reads (2 queries)."""
    rows = Stretch.objects.filter(pk__in=set(ids)).select_related("min_mobility").prefetch_related("tags")
    return {s.pk: s for s in rows}


@dataclass(frozen=True)
class Subject:
    """What to load facts for: a patient (``pk``, ``clinic_id``, ``zone``) and the stretches to be checked (stretch
    id → fact: only the contraindication rows naming these stretches or their tags are loaded)."""

    patient: Patient
    stretches: Mapping[int, rules.StretchFact]


# --- Rows → facts (each conversion once) ------------------------------------------------------------


def clearances_of(zones: Mapping[int, object]) -> dict[int, tuple[ClearanceFact, ...]]:
    """patient id (→ zone) → its clearances as facts, by (recorded_at, id) (1 query; 2 when any is on record)."""
    rows = list(
        Clearance.objects.filter(patient_id__in=list(zones))
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
    restricted: dict[int, set[str]] = defaultdict(set)
    if rows:
        for clearance_id, slug in ClearanceRestriction.objects.filter(
            clearance_id__in=[row[0] for row in rows]
        ).values_list("clearance_id", "tag__slug"):
            restricted[clearance_id].add(slug)
    by_patient: dict[int, list[ClearanceFact]] = defaultdict(list)
    for pk, patient_id, name, profession, status, valid_from, valid_until, recorded_at, revoked_at in rows:
        by_patient[patient_id].append(
            ClearanceFact(
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


def authority_rules(codes: Iterable[str]) -> dict[str, tuple[rules.AuthorityRuleFact, ...]]:
    """Diagnosis code → the rules narrowing who may clear it, by id (1 query; none without codes)."""
    codes = set(codes)
    if not codes:
        return {}
    by_code: dict[str, list[rules.AuthorityRuleFact]] = defaultdict(list)
    for pk, code, professions, from_day, until_day, with_code, rationale in (
        ClearanceAuthorityRule.objects.filter(diagnosis__code__in=codes)
        .order_by("id")
        .values_list(
            "id", "diagnosis__code", "professions", "from_day", "until_day", "with_diagnosis__code", "rationale"
        )
    ):
        by_code[code].append(
            rules.AuthorityRuleFact(
                id=pk,
                professions=frozenset(professions),
                from_day=from_day,
                until_day=until_day,
                with_code=with_code,
                rationale=rationale,
            )
        )
    return {code: tuple(found) for code, found in by_code.items()}


def diagnoses_of(patient_ids: Iterable[int], *, authority: bool = True) -> dict[int, tuple[rules.DiagnosisFact, ...]]:
    """patient id → its diagnoses by id (1 query), each with the rules narrowing who may clear its code (1 more
    when any: the gate needs them). ``authority=False`` leaves the rules out — only for reads that never decide a
    clearance (which red-flag questions a session asks); patients without diagnoses are absent."""
    rows = list(
        PatientDiagnosis.objects.filter(patient_id__in=set(patient_ids))
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
    found = authority_rules(row[2] for row in rows) if authority else {}
    by_patient: dict[int, list[rules.DiagnosisFact]] = defaultdict(list)
    for pk, patient_id, code, name, phase, qualifier, onset, resolved, clearance_by in rows:
        by_patient[patient_id].append(
            rules.DiagnosisFact(
                id=pk,
                code=code,
                name=name,
                phase=phase,
                qualifier=qualifier,
                onset=onset,
                resolved=resolved,
                clearance_by=frozenset(clearance_by),
                authority=found.get(code, ()),
            )
        )
    return {patient_id: tuple(facts) for patient_id, facts in by_patient.items()}


def _mobility_levels(patient_ids: Iterable[int]) -> dict[int, int]:
    """The level of each patient's latest assessment (by assessed time, then id), one DISTINCT ON query."""
    return dict(
        MobilityAssessment.objects.filter(patient_id__in=list(patient_ids))
        .order_by("patient_id", "-assessed_at", "-id")
        .distinct("patient_id")
        .values_list("patient_id", "level__level")
    )


def precaution_days(clinic_ids: Iterable[int]) -> dict[int, dict[str, int]]:
    """Clinic id → surgical precaution window → the last day the clinic sets for it (1 query). Windows a clinic
    leaves to the catalog are absent."""
    clinics = Clinic.objects.filter(pk__in=set(clinic_ids)).only("pk", *PRECAUTION_WINDOW_SETTINGS.values())
    return {clinic.pk: clinic.precaution_days() for clinic in clinics}


def in_clinic_window(
    fact: rules.ContraindicationFact, window: str, days: Mapping[str, int]
) -> rules.ContraindicationFact:
    """The row as the gate applies it at a clinic: a row marked with a surgical precaution window ends on the day
    the clinic sets for that window (``Clinic.*_precaution_days``), else on its own ``until_day``."""
    if window and window in days:
        return dataclasses.replace(fact, until_day=days[window])
    return fact


@dataclass(frozen=True)
class _Row:
    fact: rules.ContraindicationFact
    clinic_id: int | None
    stretch_id: int | None
    precaution_window: str


def _contraindications(clinic_ids: set[int], codes: set[str], stretch_ids: set[int], tags: set[str]) -> list[_Row]:
    """The rows of these clinics (and the global ones) for these codes naming one of these stretches or tags, by id
    (1 query)."""
    rows = (
        Contraindication.objects.filter(Q(clinic__isnull=True) | Q(clinic_id__in=clinic_ids))
        .filter(diagnosis__code__in=codes)
        .filter(Q(stretch_id__in=stretch_ids) | Q(tag__slug__in=tags))
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
            fact=rules.ContraindicationFact(
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


# --- The loader -----------------------------------------------------------------------------------------


def facts_for(subjects: Sequence[Subject]) -> list[rules.Facts]:
    """Each subject's ``Facts``, in the order given, in a fixed number of queries however many there are."""
    if not subjects:
        return []
    zones = {s.patient.pk: s.patient.zone for s in subjects}
    clearances = clearances_of(zones)
    diagnoses = diagnoses_of(zones)
    levels = _mobility_levels(zones)
    codes = {d.code for facts in diagnoses.values() for d in facts}
    clinic_ids = {s.patient.clinic_id for s in subjects}
    stretch_ids = {pk for s in subjects for pk in s.stretches}
    tags = {tag for s in subjects for fact in s.stretches.values() for tag in fact.tags}
    rows = _contraindications(clinic_ids, codes, stretch_ids, tags) if codes and (stretch_ids or tags) else []
    days = precaution_days(clinic_ids) if any(row.precaution_window for row in rows) else {}

    result = []
    for subject in subjects:
        patient = subject.patient
        patient_diagnoses = diagnoses.get(patient.pk, ())
        patient_codes = {d.code for d in patient_diagnoses}
        subject_tags = {tag for fact in subject.stretches.values() for tag in fact.tags}
        result.append(
            rules.Facts(
                clearances=clearances[patient.pk],
                diagnoses=patient_diagnoses,
                mobility_level=levels.get(patient.pk),
                contraindications=tuple(
                    in_clinic_window(row.fact, row.precaution_window, days.get(patient.clinic_id, {}))
                    for row in rows
                    if row.clinic_id in (None, patient.clinic_id)
                    and row.fact.diagnosis_code in patient_codes
                    and (row.stretch_id in subject.stretches or row.fact.tag in subject_tags)
                ),
            )
        )
    return result


def gate_facts(*, patient: Patient, stretches: Iterable[Stretch]) -> rules.Facts:
    """Everything dated the gate needs for ``patient`` and these stretches (``stretch_fact`` must stay query-free
    for them): a batch of one."""
    (facts,) = facts_for([Subject(patient=patient, stretches={s.pk: stretch_fact(s) for s in stretches})])
    return facts


def gate_facts_for_plans(
    prescriptions: Sequence[Prescription],
) -> dict[int, tuple[list[rules.ItemFact], rules.Facts]]:
    """prescription id → (its item facts in item order, the patient's facts for its stretches); ``prescriptions``
    need ``patient`` selected. 3 queries for the items and their stretches, then ``facts_for``."""
    if not prescriptions:
        return {}
    items_by_plan: dict[int, list[tuple[int, int]]] = defaultdict(list)
    for item_id, plan_id, stretch_id in (
        PrescriptionItem.objects.filter(prescription_id__in=[p.pk for p in prescriptions])
        .order_by("prescription_id", "order", "id")
        .values_list("id", "prescription_id", "stretch_id")
    ):
        items_by_plan[plan_id].append((item_id, stretch_id))
    loaded = stretches_for_gate(stretch_id for items in items_by_plan.values() for _, stretch_id in items)
    stretch_facts = {pk: stretch_fact(stretch) for pk, stretch in loaded.items()}
    subjects = [
        Subject(
            patient=plan.patient,
            stretches={stretch_id: stretch_facts[stretch_id] for _, stretch_id in items_by_plan.get(plan.pk, [])},
        )
        for plan in prescriptions
    ]
    return {
        plan.pk: (
            [
                rules.ItemFact(key=item_id, stretch=stretch_facts[stretch_id])
                for item_id, stretch_id in items_by_plan.get(plan.pk, [])
            ],
            facts,
        )
        for plan, facts in zip(prescriptions, facts_for(subjects), strict=True)
    }


def catalog_version(facts: rules.Facts, items: Sequence[rules.ItemFact]) -> str:
    """The catalog a gate evaluation read, as ``<CATALOG_VERSION>:<digest>``: the digest of the contraindication rows,
    who may clear each diagnosis and the stretches, as loaded (stored on every ``GateEvaluation``)."""
    snapshot = rules.facts_as_dict(facts)
    catalog = {
        "contraindications": snapshot["contraindications"],
        # Who may clear each diagnosis: its clearing professions and authority rules (catalog rows too).
        "authority": sorted(
            {json.dumps([d["code"], d["clearance_by"], d["authority"]]) for d in snapshot["diagnoses"]}
        ),
        "stretches": sorted(
            [i.stretch.slug, i.stretch.name, sorted(i.stretch.tags), i.stretch.min_mobility] for i in items
        ),
    }
    digest = hashlib.sha256(json.dumps(catalog, sort_keys=True, default=str).encode()).hexdigest()[:12]
    return f"{CATALOG_VERSION}:{digest}"
