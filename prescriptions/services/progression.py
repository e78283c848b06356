"""Dose progression steps (issue 17): a step makes the plan's next version, and the gate evaluates it like any other.

A step runs once per (plan, date): under the patient's lock, a second run or a second worker finds the step done (the
lineage's last step is that date) and does nothing, and the unique constraint stands behind the lock. The step drafts an
amendment with the new doses in the name of the plan's therapist, carries over the overrides and acknowledgements whose
(stretch, code, cause) is unchanged (each recorded as carried from the one before), and goes live only when the patient
is ready (``prescriptions.progression.readiness``) and the gate passes. Otherwise it is held: the row says why, the
therapist gets one flag per plan, and they may apply the step by hand (through the gate) or change the rule.
"""

from __future__ import annotations

import datetime as dt

from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone

from clinic.errors import StateConflict
from clinic.policy import Action, require
from clinic.services import ItemIn
from prescriptions import progression
from prescriptions.models import GateEvaluation, GateOverride, Prescription, ProgressionStep, SafetyFlag
from prescriptions.selectors import progression as selectors
from prescriptions.services import locks
from prescriptions.services.flagging import flag_auto_resolve, flag_raise
from prescriptions.services.plans import (
    draft_create,
    draft_discard,
    draft_go_live,
    gate_run,
    prescription_activate,
    progression_cause_key,
)

Status = ProgressionStep.Status
LIVE = (Prescription.Status.ACTIVE,)


def _progressed_draft(*, plan: Prescription, due: selectors.Due, therapist, today: dt.date) -> Prescription:
    """An amendment of ``plan`` with the step's doses (the rest as it was), and the plan's overrides carried over."""
    new_doses = {change.item.pk: change.after for change in due.changes}
    old_items = list(plan.items.select_related("stretch").order_by("order"))
    items = []
    for item in old_items:
        dose = new_doses.get(item.pk)
        base = ItemIn.of(item)
        if dose is not None:
            base = ItemIn(**{**vars(base), **vars(dose)})
        items.append(base)
    draft = draft_create(
        episode=plan.episode,
        therapist=therapist,
        start_date=max(plan.start_date, today),
        end_date=plan.end_date,
        days_of_week=plan.days_of_week,
        times=plan.times,
        items=items,
        notes=plan.notes,
        supersedes=plan,
        template=plan.template,
        template_version=plan.template_version,
    )
    _carry_overrides(plan=plan, draft=draft, old_items=old_items)
    return draft


def _carry_overrides(*, plan: Prescription, draft: Prescription, old_items) -> None:
    """Each override of ``plan`` onto the draft's item of the same order and stretch, recorded as carried from it
    (its kind, code, cause, reason and author kept): the gate then covers exactly the causes it covered before."""
    new_items = {(item.order, item.stretch_id): item for item in draft.items.all()}
    order_of = {item.pk: (item.order, item.stretch_id) for item in old_items}
    now = timezone.now()
    GateOverride.objects.bulk_create(
        [
            GateOverride(
                prescription=draft,
                item=new_items[order_of[override.item_id]],
                kind=override.kind,
                code=override.code,
                cause=override.cause,
                reason=override.reason,
                by_id=override.by_id,
                at=now,
                carried_from=override,
            )
            for override in plan.overrides.all()
            if order_of.get(override.item_id) in new_items
        ]
    )


def _hold(step: ProgressionStep, plan: Prescription, held_because: list[str]) -> ProgressionStep:
    step.status = Status.HELD
    step.held_because = held_because
    step.save()
    flag_raise(
        patient=plan.patient,
        kind=SafetyFlag.Kind.PROGRESSION_HELD,
        cause_key=progression_cause_key(plan.lineage_id),
        severity=SafetyFlag.Severity.WARNING,
        summary=f"Dose progression of {plan.patient.full_name}'s plan held on {step.on_date:%Y-%m-%d}:"
        f" {step.held_text.lower()}. Apply the step by hand or change the rule.",
        details={
            "step": step.pk,
            "on_date": step.on_date.isoformat(),
            "held_because": held_because,
            **({"findings": step.evidence["findings"]} if step.evidence.get("findings") else {}),
        },
        prescription=plan,
    )
    return step


def progression_step_run(*, prescription_id: int, now: dt.datetime | None = None) -> ProgressionStep | None:
    """Run the step due for an active plan, if any; returns the new step, or None when none is due.

    Held, with every reason that applies, when the patient is not ready (an open symptom or gate flag, rising pain,
    low adherence, missing data) or an amendment is in progress; otherwise the new version is gate-evaluated on its
    start date and goes live if it passes, or is discarded (and the step held) if it does not.
    """
    now = now or timezone.now()
    with transaction.atomic():
        try:
            plan = locks.patient_and_plan(prescription_id=prescription_id)
        except Prescription.DoesNotExist:
            return None
        if plan.status not in LIVE:
            return None
        today = plan.patient.local_today(now)
        last = selectors.last_step_date(plan.lineage_id)
        due = selectors.step_due(
            items=list(plan.items.select_related("stretch").order_by("order")),
            start=selectors.lineage_start(plan),
            today=today,
            last_step=selectors.counted_since(plan, last),
        )
        if due is None or (plan.end_date is not None and today > plan.end_date):
            return None  # nothing due (a second run or worker: the step is done), or the plan has run its course
        readiness = selectors.readiness_of(plan=plan, on_date=due.on_date, now=now)
        held = list(readiness.held_because)
        pending = plan.amendments.exclude(status=Prescription.Status.CANCELLED).first()
        if pending is not None:
            held.append(progression.AMENDMENT_IN_PROGRESS)
            readiness.evidence["amendment"] = pending.pk
        step = ProgressionStep(
            first_version_id=plan.lineage_id,
            on_date=due.on_date,
            from_version=plan,
            changes=[change.as_dict() for change in due.changes],
            evidence=readiness.evidence,
            ran_at=now,
        )
        if held:
            return _hold(step, plan, held)
        try:
            draft = _progressed_draft(plan=plan, due=due, therapist=plan.therapist, today=today)
        except ValidationError as exc:  # the catalog's bounds changed under the plan: the therapist decides
            step.evidence = {**step.evidence, "errors": exc.messages}
            return _hold(step, plan, [progression.OUT_OF_BOUNDS])
        run = gate_run(prescription=draft, by=None, purpose=GateEvaluation.Purpose.PROGRESSION, today=today)
        step.to_version = draft
        if run.evaluation.passed:
            _resolve_held_flag(plan, f"the dose step of {step.on_date:%Y-%m-%d} went ahead")
            draft_go_live(prescription=draft, run=run, now=now)
            step.status = Status.APPLIED
            step.save()
            return step
        run.evaluation.save()
        draft_discard(prescription=draft)
        step.evidence = {**step.evidence, "findings": [finding.as_dict() for finding in run.blocking]}
        return _hold(step, plan, [progression.GATE])


def progression_step_apply(*, step: ProgressionStep, by, now: dt.datetime | None = None) -> ProgressionStep:
    """A therapist applies a held step by hand: the same new version, through the gate (with the carried overrides),
    whatever held it; the flag it raised is resolved. Refused with 409 when the step is not held or the plan has
    moved on (a newer version, or not active: change the plan itself), and with the gate's findings when it refuses
    (nothing is kept: amend the plan by hand to override them)."""
    plan = step.from_version
    require(Action.PRESCRIBE, by, plan.patient.clinic_id)
    now = now or timezone.now()
    with transaction.atomic():
        plan = locks.patient_and_plan(prescription_id=plan.pk)
        step = locks.rows(ProgressionStep.objects.filter(pk=step.pk)).get()
        if step.status != Status.HELD:
            raise StateConflict(f"This step is already {step.get_status_display().lower()}.")
        if plan.status not in LIVE:
            raise StateConflict(f"The plan this step progresses is {plan.status}; change the current version instead.")
        if plan.amendments.exclude(status=Prescription.Status.CANCELLED).exists():
            raise StateConflict("This plan has an amendment in progress; finish or cancel it first.")
        items = {item.order: item for item in plan.items.select_related("stretch")}
        changes = []
        for change in step.changes:
            item = items.get(change["order"])
            if item is None or item.stretch.name != change["stretch"]:
                raise StateConflict("The plan's stretches changed since this step; amend the plan instead.")
            changes.append(
                selectors.Change(
                    item=item,
                    before=selectors.dose_of(item),
                    after=progression.Dose(**change["to"]),
                )
            )
        due = selectors.Due(on_date=step.on_date, changes=changes)
        today = plan.patient.local_today(now)
        draft = _progressed_draft(plan=plan, due=due, therapist=by, today=today)
        _resolve_held_flag(plan, f"the therapist applied the dose step of {step.on_date:%Y-%m-%d} by hand")
        # A refusal raises: the draft and the flag's resolution go with the transaction.
        prescription_activate(prescription=draft, by=by, today=today)
        step.status = Status.APPLIED_BY_HAND
        step.to_version = draft
        step.applied_by = by
        step.applied_at = now
        step.save(update_fields=["status", "to_version", "applied_by", "applied_at"])
    return step


def _resolve_held_flag(plan: Prescription, reason: str) -> None:
    flag = (
        SafetyFlag.objects.filter(
            patient_id=plan.patient_id,
            kind=SafetyFlag.Kind.PROGRESSION_HELD,
            cause_key=progression_cause_key(plan.lineage_id),
        )
        .exclude(status=SafetyFlag.Status.RESOLVED)
        .first()
    )
    if flag is not None:
        flag_auto_resolve(flag=flag, reason=reason)
