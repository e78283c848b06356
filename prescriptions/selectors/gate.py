"""Reads shared by services, views and tasks."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Mapping, Sequence

from django.db.models import Prefetch, Q, QuerySet

from clinic.models import PRECAUTION_WINDOW_SETTINGS, ClearanceAuthorityRule, Clinic, Contraindication, Stretch
from patients.models import Patient
from prescriptions import safety
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


def stretch_fact(stretch: Stretch) -> safety.StretchFact:
    """Needs ``tags`` prefetched and ``min_mobility`` selected to stay query-free."""
    return safety.StretchFact(
        slug=stretch.slug,
        name=stretch.name,
        tags=gate_tags(stretch),
        min_mobility=stretch.min_mobility.level,
    )


def authority_rules(codes: Iterable[str]) -> dict[str, tuple[safety.AuthorityRuleFact, ...]]:
    """Diagnosis code → the rules narrowing who may clear it, by id (1 query; none without codes). Both gate
    loaders read them here, once per patient or per batch."""
    codes = set(codes)
    if not codes:
        return {}
    by_code: dict[str, list[safety.AuthorityRuleFact]] = {}
    rows = (
        ClearanceAuthorityRule.objects.filter(diagnosis__code__in=codes)
        .order_by("id")
        .values_list(
            "id", "diagnosis__code", "professions", "from_day", "until_day", "with_diagnosis__code", "rationale"
        )
    )
    for pk, code, professions, from_day, until_day, with_code, rationale in rows:
        by_code.setdefault(code, []).append(
            safety.AuthorityRuleFact(
                id=pk,
                professions=frozenset(professions),
                from_day=from_day,
                until_day=until_day,
                with_code=with_code,
                rationale=rationale,
            )
        )
    return {code: tuple(rules) for code, rules in by_code.items()}


def precaution_days(clinic_ids: Iterable[int]) -> dict[int, dict[str, int]]:
    """Clinic id → surgical precaution window → the last day the clinic sets for it (1 query). Windows a clinic
    leaves to the catalog are absent. Both gate loaders read it here, only when a row they loaded has a window."""
    clinics = Clinic.objects.filter(pk__in=set(clinic_ids)).only("pk", *PRECAUTION_WINDOW_SETTINGS.values())
    return {clinic.pk: clinic.precaution_days() for clinic in clinics}


def in_clinic_window(
    fact: safety.ContraindicationFact, window: str, days: Mapping[str, int]
) -> safety.ContraindicationFact:
    """The row as the gate applies it at a clinic: a row marked with a surgical precaution window ends on the day
    the clinic sets for that window (``Clinic.*_precaution_days``), else on its own ``until_day``."""
    if window and window in days:
        return dataclasses.replace(fact, until_day=days[window])
    return fact


def gate_facts(*, patient: Patient, stretches: Iterable[Stretch]) -> safety.Facts:
    """Everything dated that the safety gate needs for ``patient``, as plain values (6 queries; 5 without
    diagnoses; one more when a contraindication row loaded has a surgical precaution window the clinic may set)."""
    zone = patient.zone
    clearances = tuple(
        safety.ClearanceFact(
            id=c.pk,
            professional_name=c.professional_name,
            profession=c.profession,
            status=c.status,
            restricted_tags=frozenset(tag.slug for tag in c.restricted_tags.all()),
            valid_from=c.valid_from,
            valid_until=c.valid_until,
            recorded_at=c.recorded_at,
            revoked_on=c.revoked_at.astimezone(zone).date() if c.revoked_at else None,
        )
        for c in patient.clearances.prefetch_related("restricted_tags").order_by("recorded_at", "id")
    )
    records = list(patient.diagnoses.select_related("diagnosis").order_by("id"))
    rules = authority_rules(d.diagnosis.code for d in records)
    diagnoses = tuple(
        safety.DiagnosisFact(
            id=d.pk,
            code=d.diagnosis.code,
            name=d.diagnosis.name,
            phase=d.phase,
            qualifier=d.qualifier,
            onset=d.onset_date,
            resolved=d.resolved_date,
            clearance_by=frozenset(d.diagnosis.clearance_by),
            authority=rules.get(d.diagnosis.code, ()),
        )
        for d in records
    )
    latest = patient.mobility_assessments.select_related("level").order_by("-assessed_at", "-id").first()
    stretch_ids = {s.pk for s in stretches}
    tag_slugs = {tag for s in stretches for tag in gate_tags(s)}
    rows = list(
        Contraindication.objects.visible_to(patient.clinic_id)
        .filter(diagnosis__code__in={d.code for d in diagnoses})
        .filter(Q(stretch_id__in=stretch_ids) | Q(tag__slug__in=tag_slugs))
        .select_related("diagnosis", "tag", "stretch")
        .order_by("id")
    )
    windows = {row.precaution_window for row in rows} - {""}
    days = precaution_days({patient.clinic_id}).get(patient.clinic_id, {}) if windows else {}
    contraindications = tuple(
        in_clinic_window(
            safety.ContraindicationFact(
                id=row.pk,
                diagnosis_code=row.diagnosis.code,
                tag=row.tag.slug if row.tag_id else None,
                stretch_slug=row.stretch.slug if row.stretch_id else None,
                phase=row.phase,
                qualifier=row.qualifier,
                from_day=row.from_day,
                until_day=row.until_day,
                severity=row.severity,
                rationale=row.rationale,
            ),
            row.precaution_window,
            days,
        )
        for row in rows
    )
    return safety.Facts(
        clearances=clearances,
        diagnoses=diagnoses,
        mobility_level=latest.level.level if latest else None,
        contraindications=contraindications,
    )


def stretches_for_gate(ids: Iterable[int]) -> dict[int, Stretch]:
    rows = Stretch.objects.filter(pk__in=set(ids)).select_related("min_mobility").prefetch_related("tags")
    return {s.pk: s for s in rows}


def prescription_items_for_gate(prescription: Prescription) -> list[PrescriptionItem]:
    return list(
        prescription.items.select_related("stretch__min_mobility").prefetch_related("stretch__tags").order_by("order")
    )


def item_facts(items: Sequence[PrescriptionItem]) -> list[safety.ItemFact]:
    return [safety.ItemFact(key=item.pk, stretch=stretch_fact(item.stretch)) for item in items]


def prescriptions_with_items() -> QuerySet[Prescription]:
    return Prescription.objects.select_related("patient", "episode", "therapist").prefetch_related(
        Prefetch("items", PrescriptionItem.objects.select_related("stretch").order_by("order"))
    )
