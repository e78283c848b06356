"""Every write to prescriptions happens here: keyword-only, atomic, state machines of DESIGN §3."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass, field

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.utils import timezone

from clinic import bounds
from clinic.errors import SafetyBlocked, StateConflict
from clinic.models import ProtocolTemplate, Stretch
from clinic.policy import Action, require
from clinic.services import ItemIn, dose_errors, sides_overlap
from patients.models import Episode
from prescriptions.gate import rules
from prescriptions.gate.facts import catalog_version, gate_facts_for_plans
from prescriptions.models import GateEvaluation, GateOverride, Prescription, PrescriptionItem, SafetyFlag
from prescriptions.services import locks
from prescriptions.services.conflicts import prescription_recheck
from prescriptions.services.flagging import flag_auto_resolve
from prescriptions.services.schedule import materialize_after_commit, sessions_resume, sessions_stop

Status = Prescription.Status


@dataclass(frozen=True)
class WaiverIn:
    """An override of a blocking finding or an acknowledgement of a warning: exactly (item, code, cause)."""

    item: int
    code: str
    cause: str
    reason: str = ""

    @property
    def key(self) -> tuple[int, str, str]:
        return (self.item, self.code, self.cause)


@dataclass
class GateRun:
    """The outcome of running the gate over a plan's evaluation window (unsaved)."""

    evaluation: GateEvaluation
    start_findings: list[rules.Finding]
    covered: set[tuple[int, str, str]]
    new_waivers: list[tuple[WaiverIn, rules.Finding]] = field(default_factory=list)

    @property
    def blocking(self) -> list[rules.Finding]:
        return rules.unresolved(self.start_findings, self.covered)


# --- Drafts -------------------------------------------------------------------------------------------


def _require_draft(prescription: Prescription) -> None:
    if prescription.status != Status.DRAFT:
        raise StateConflict(f"Only a draft can be changed; this plan is {prescription.status}.")


def _validate_items(prescription: Prescription, items: Sequence[ItemIn]) -> None:
    if not items:
        raise ValidationError({"items": "A plan needs at least one stretch."})
    errors: dict[str, list[str]] = {}
    # What the superseded version already prescribes stands (a dose stored before the catalog's bounds, or before
    # they were narrowed): an amendment copies it, and the therapist may amend the plan to lower it.
    kept = (
        {ItemIn.of(item) for item in prescription.supersedes.items.select_related("stretch")}
        if prescription.supersedes_id
        else set()
    )
    for index, item in enumerate(items):
        stretch = item.stretch
        for earlier_index, earlier in enumerate(items[:index]):
            if earlier.stretch.pk == stretch.pk and sides_overlap(earlier.side, item.side):
                errors.setdefault(f"items[{index}]", []).append(
                    f"Item {index + 1}: {stretch.name} ({item.side}) is already item {earlier_index + 1} "
                    f"({earlier.side}); prescribe a stretch once per side."
                )
                break
        if stretch.clinic_id not in (None, prescription.patient.clinic_id):
            errors.setdefault("items", []).append(f"Item {index + 1}: that stretch is not in this clinic's catalog.")
        elif stretch.kind == Stretch.Kind.STATIC and not item.hold_seconds:
            errors.setdefault("items", []).append(f"Item {index + 1}: {stretch.name} is a static stretch; give a hold.")
        for name, message in ({} if item in kept else dose_errors(item)).items():
            errors.setdefault(f"items[{index}].{name}", []).append(f"Item {index + 1}: {message}")
    if errors:
        raise ValidationError(errors)


def _write_items(prescription: Prescription, items: Sequence[ItemIn]) -> None:
    prescription.items.all().delete()
    for order, item in enumerate(items, start=1):
        row = PrescriptionItem(prescription=prescription, order=order, **item.row_fields())
        try:
            row.full_clean(exclude=["prescription"])
        except ValidationError as exc:
            raise ValidationError({"items": [f"Item {order}: {m}" for m in exc.messages]}) from exc
        row.save()


def _clean_schedule(prescription: Prescription) -> None:
    bounds.check_dates(start_date=prescription.start_date, end_date=prescription.end_date)
    prescription.days_of_week = sorted(set(prescription.days_of_week or []))
    prescription.times = sorted(set(prescription.times or []))
    prescription.full_clean()


@transaction.atomic
def prescription_create(
    *,
    episode: Episode,
    by,
    start_date: dt.date,
    days_of_week: Sequence[int],
    times: Sequence[dt.time],
    items: Sequence[ItemIn],
    end_date: dt.date | None = None,
    notes: str = "",
    supersedes: Prescription | None = None,
    template: ProtocolTemplate | None = None,
    template_version: int | None = None,
) -> Prescription:
    """Create a draft plan with its items (and the protocol template and version it was made from, if any). Only a
    therapist of the patient's clinic prescribes."""
    require(Action.PRESCRIBE, by, episode.patient.clinic_id)
    return draft_create(
        episode=episode,
        therapist=by,
        start_date=start_date,
        days_of_week=days_of_week,
        times=times,
        items=items,
        end_date=end_date,
        notes=notes,
        supersedes=supersedes,
        template=template,
        template_version=template_version,
    )


@transaction.atomic
def draft_create(
    *,
    episode: Episode,
    therapist,
    start_date: dt.date,
    days_of_week: Sequence[int],
    times: Sequence[dt.time],
    items: Sequence[ItemIn],
    end_date: dt.date | None = None,
    notes: str = "",
    supersedes: Prescription | None = None,
    template: ProtocolTemplate | None = None,
    template_version: int | None = None,
) -> Prescription:
    """``prescription_create`` once the prescriber is authorized (a progression step drafts in the name of the plan's
    therapist): an amendment is the version after the one it supersedes."""
    patient = episode.patient
    if patient.is_archived:
        raise StateConflict("This patient is archived.")
    if not episode.is_open:
        raise StateConflict("This episode is discharged; open a new episode to prescribe.")
    prescription = Prescription(
        episode=episode,
        patient=patient,
        therapist=therapist,
        start_date=start_date,
        end_date=end_date,
        days_of_week=list(days_of_week),
        times=list(times),
        notes=notes,
        supersedes=supersedes,
        template=template,
        template_version=template_version,
    )
    if supersedes is not None:
        prescription.version = supersedes.version + 1
        prescription.first_version_id = supersedes.lineage_id
    _clean_schedule(prescription)
    _validate_items(prescription, items)
    try:
        with transaction.atomic():
            prescription.save()
    except IntegrityError as exc:
        raise StateConflict("This plan already has an amendment in progress.") from exc
    _write_items(prescription, items)
    return prescription


DRAFT_FIELDS = {"start_date", "end_date", "days_of_week", "times", "notes"}


@transaction.atomic
def prescription_update_draft(
    *, prescription: Prescription, by, items: Sequence[ItemIn] | None = None, **fields
) -> Prescription:
    """Change a draft's schedule, notes and (when given) replace its items. Non-drafts are immutable."""
    require(Action.PRESCRIBE, by, prescription.patient.clinic_id)
    unknown = set(fields) - DRAFT_FIELDS
    if unknown:
        raise ValidationError(dict.fromkeys(sorted(unknown), "This field cannot be changed."))
    prescription = locks.patient_and_plan(prescription_id=prescription.pk)
    _require_draft(prescription)
    for name, value in fields.items():
        setattr(prescription, name, value)
    _clean_schedule(prescription)
    prescription.save()
    if items is not None:
        _validate_items(prescription, items)
        _write_items(prescription, items)
    return prescription


# --- The gate -----------------------------------------------------------------------------------------


def evaluation_window(prescription: Prescription, today: dt.date) -> tuple[dt.date, dt.date]:
    """From the later of start date and today, through the materialization horizon (or the end date)."""
    first = max(prescription.start_date, today)
    last = first + dt.timedelta(days=settings.REMINDER_HORIZON_DAYS)
    if prescription.end_date is not None:
        if prescription.end_date < first:
            raise ValidationError({"end_date": "This plan has already ended; change its dates first."})
        last = min(last, prescription.end_date)
    return first, last


def gate_run(
    *,
    prescription: Prescription,
    by,
    purpose: str,
    today: dt.date | None = None,
    waivers: Sequence[WaiverIn] = (),
) -> GateRun:
    """Evaluate the plan once per span of unchanged facts across its window; nothing is saved.

    Stored overrides of this plan count; ``waivers`` (new overrides/acknowledgements) must each match a
    finding in the window and be overridable, else ValidationError.
    """
    patient = prescription.patient
    today = today or patient.local_today()
    first, last = evaluation_window(prescription, today)
    item_facts, facts = gate_facts_for_plans([prescription])[prescription.pk]
    covered = {o.key for o in prescription.overrides.all()}

    spans = []
    by_key: dict[tuple[int, str, str], rules.Finding] = {}
    for span_start, span_end in rules.spans(facts, first, last):
        findings = rules.evaluate(facts, item_facts, span_start)
        spans.append((span_start, span_end, findings))
        for finding in findings:
            by_key.setdefault(finding.key, finding)

    errors: list[str] = []
    matched: list[tuple[WaiverIn, rules.Finding]] = []
    for waiver in waivers:
        finding = by_key.get(waiver.key)
        if len(waiver.reason) > bounds.MAX_REASON_LENGTH:
            errors.append(f"Keep each reason to {bounds.MAX_REASON_LENGTH} characters or fewer.")
        elif finding is None:
            errors.append(f"No finding {waiver.code} ({waiver.cause}) on item {waiver.item} to override.")
        elif not finding.overridable:
            errors.append(f"{finding.message} This cannot be overridden.")
        elif finding.severity == rules.Severity.BLOCK and not waiver.reason.strip():
            errors.append(f"Give a reason to override: {finding.message}")
        else:
            matched.append((waiver, finding))
    if errors:
        raise ValidationError({"overrides": errors})
    covered |= {w.key for w, _ in matched}

    start_findings = spans[0][2]
    evaluation = GateEvaluation(
        prescription=prescription,
        purpose=purpose,
        evaluated_at=timezone.now(),
        evaluated_by=by if getattr(by, "pk", None) else None,
        on_date=first,
        through_date=last,
        passed=not rules.blocks(start_findings, covered),
        facts=rules.facts_as_dict(facts),
        findings=[
            {
                "from": s.isoformat(),
                "until": e.isoformat(),
                "findings": [{**f.as_dict(), "covered": f.overridable and f.key in covered} for f in fs],
            }
            for s, e, fs in spans
        ],
        catalog_version=catalog_version(facts, item_facts),
    )
    return GateRun(evaluation=evaluation, start_findings=start_findings, covered=covered, new_waivers=matched)


def _refuse(run: GateRun) -> None:
    """Keep the refused evaluation (its own transaction, outside the refused one), then refuse."""
    with transaction.atomic():
        run.evaluation.save()
    raise SafetyBlocked([f.as_dict() for f in run.blocking])


def _store_waivers(prescription: Prescription, run: GateRun, by) -> None:
    now = timezone.now()
    for waiver, finding in run.new_waivers:
        is_warning = finding.severity == rules.Severity.WARN
        GateOverride.objects.get_or_create(
            item_id=waiver.item,
            code=waiver.code,
            cause=waiver.cause,
            defaults={
                "prescription": prescription,
                "kind": GateOverride.Kind.ACKNOWLEDGEMENT if is_warning else GateOverride.Kind.OVERRIDE,
                "reason": waiver.reason.strip() or "Warning acknowledged by the prescribing therapist.",
                "by": by,
                "at": now,
            },
        )


# --- Transitions --------------------------------------------------------------------------------------


def prescription_activate(
    *,
    prescription: Prescription,
    by,
    overrides: Sequence[WaiverIn] = (),
    acknowledgements: Sequence[WaiverIn] = (),
    today: dt.date | None = None,
) -> Prescription:
    """Activate a draft if the gate passes its first day (after overrides); the evaluation is kept either way.

    Activating an amendment completes the plan it supersedes, in the same transaction.
    """
    require(Action.PRESCRIBE, by, prescription.patient.clinic_id)
    with transaction.atomic():
        prescription = locks.patient_and_plan(prescription_id=prescription.pk)
        _require_status(prescription, {Status.DRAFT}, "activated")
        if prescription.patient.is_archived:
            raise StateConflict("This patient is archived.")
        if not prescription.episode.is_open:
            raise StateConflict("This episode is discharged; open a new episode to prescribe.")
        run = gate_run(
            prescription=prescription,
            by=by,
            purpose=GateEvaluation.Purpose.ACTIVATION,
            today=today,
            waivers=[*overrides, *acknowledgements],
        )
        if run.evaluation.passed:
            _store_waivers(prescription, run, by)
            return draft_go_live(prescription=prescription, run=run)
    _refuse(run)
    raise AssertionError("unreachable")  # pragma: no cover


def draft_go_live(*, prescription: Prescription, run: GateRun, now: dt.datetime | None = None) -> Prescription:
    """Make a draft whose gate run passed the live plan: keep the evaluation, complete the version it supersedes,
    and queue its sessions. The caller holds the patient's lock (``locks.patient_and_plan``)."""
    run.evaluation.save()
    if prescription.supersedes_id:
        # Locked after the (newer, higher-id) amendment, against the id order: safe because this runs under the
        # patient's lock, and nothing locks a draft without holding the patient first.
        superseded = locks.plan(prescription_id=prescription.supersedes_id)
        _require_status(superseded, {Status.ACTIVE, Status.PAUSED}, "superseded by an amendment")
        _end(superseded, Status.COMPLETED)
    prescription.status = Status.ACTIVE
    prescription.activated_at = now or timezone.now()
    prescription.save(update_fields=["status", "activated_at", "updated_at"])
    materialize_after_commit(prescription_id=prescription.pk)
    return prescription


def progression_cause_key(lineage_id: int) -> str:
    """The cause of the one flag a plan's held dose steps raise (all its versions: its first version's id)."""
    return f"progression:{lineage_id}"


def draft_discard(*, prescription: Prescription) -> Prescription:
    """Cancel a draft the system made and the gate refused (a progression step's), keeping it and its evaluation."""
    prescription.status = Status.CANCELLED
    prescription.ended_at = timezone.now()
    prescription.save(update_fields=["status", "ended_at", "updated_at"])
    return prescription


def prescription_resume(*, prescription: Prescription, by, today: dt.date | None = None) -> Prescription:
    """Resume a paused plan; the gate runs again (with the plan's stored overrides) since it goes live."""
    require(Action.PRESCRIBE, by, prescription.patient.clinic_id)
    with transaction.atomic():
        prescription = locks.patient_and_plan(prescription_id=prescription.pk)
        _require_status(prescription, {Status.PAUSED}, "resumed")
        run = gate_run(prescription=prescription, by=by, purpose=GateEvaluation.Purpose.RESUME, today=today)
        if run.evaluation.passed:
            run.evaluation.save()
            prescription.status = Status.ACTIVE
            prescription.save(update_fields=["status", "updated_at"])
            sessions_resume(prescription_id=prescription.pk)  # revives future sessions, queues the materializer
            # Later dates that fail the gate are blocked now, not only once the queued task runs (a broker
            # outage would otherwise leave them scheduled until the nightly sweep).

            prescription_recheck(prescription_id=prescription.pk)
            return prescription
    _refuse(run)
    raise AssertionError("unreachable")  # pragma: no cover


def _require_status(prescription: Prescription, allowed: set[str], verb: str) -> None:
    if prescription.status not in allowed:
        allowed_text = " or ".join(sorted(allowed))
        raise StateConflict(f"Only a {allowed_text} plan can be {verb}; this one is {prescription.status}.")


def _end(prescription: Prescription, status: str) -> Prescription:
    prescription.status = status
    prescription.ended_at = timezone.now()
    prescription.save(update_fields=["status", "ended_at", "updated_at"])
    sessions_stop(prescription_id=prescription.pk)
    # The plan's own conflict flags have no cause left once it has ended.
    for flag in SafetyFlag.objects.filter(cause_key=f"prescription:{prescription.pk}").exclude(
        status=SafetyFlag.Status.RESOLVED
    ):
        flag_auto_resolve(flag=flag, reason=f"the plan was {status}")
    # A dose step held on this version has nothing left to apply to (a new version has its own doses).
    for flag in SafetyFlag.objects.filter(
        patient_id=prescription.patient_id,
        kind=SafetyFlag.Kind.PROGRESSION_HELD,
        cause_key=progression_cause_key(prescription.lineage_id),
    ).exclude(status=SafetyFlag.Status.RESOLVED):
        flag_auto_resolve(flag=flag, reason=f"version {prescription.version} of the plan was {status}")
    return prescription


@transaction.atomic
def prescription_pause(*, prescription: Prescription, by) -> Prescription:
    require(Action.PRESCRIBE, by, prescription.patient.clinic_id)
    prescription = locks.patient_and_plan(prescription_id=prescription.pk)
    _require_status(prescription, {Status.ACTIVE}, "paused")
    prescription.status = Status.PAUSED
    prescription.save(update_fields=["status", "updated_at"])
    sessions_stop(prescription_id=prescription.pk)
    return prescription


@transaction.atomic
def prescription_complete(*, prescription: Prescription, by) -> Prescription:
    require(Action.PRESCRIBE, by, prescription.patient.clinic_id)
    prescription = locks.patient_and_plan(prescription_id=prescription.pk)
    _require_status(prescription, {Status.ACTIVE, Status.PAUSED}, "completed")
    return _end(prescription, Status.COMPLETED)


@transaction.atomic
def prescription_cancel(*, prescription: Prescription, by) -> Prescription:
    require(Action.PRESCRIBE, by, prescription.patient.clinic_id)
    prescription = locks.patient_and_plan(prescription_id=prescription.pk)
    _require_status(prescription, {Status.DRAFT, Status.ACTIVE, Status.PAUSED}, "cancelled")
    return _end(prescription, Status.CANCELLED)


@transaction.atomic
def prescription_amend(*, prescription: Prescription, by) -> Prescription:
    """Start a draft that copies an active or paused plan and supersedes it once activated."""
    require(Action.PRESCRIBE, by, prescription.patient.clinic_id)
    prescription = locks.patient_and_plan(prescription_id=prescription.pk)
    _require_status(prescription, {Status.ACTIVE, Status.PAUSED}, "amended")
    pending = prescription.amendments.exclude(status=Status.CANCELLED).first()
    if pending is not None:
        raise StateConflict(f"This plan already has an amendment in progress (plan #{pending.pk}, {pending.status}).")
    items = [ItemIn.of(i) for i in prescription.items.select_related("stretch").order_by("order")]
    return prescription_create(
        episode=prescription.episode,
        by=by,
        start_date=max(prescription.start_date, prescription.patient.local_today()),
        end_date=prescription.end_date,
        days_of_week=prescription.days_of_week,
        times=prescription.times,
        items=items,
        notes=prescription.notes,
        supersedes=prescription,
    )
