"""Reads for dose progression (issue 17): which plans have a step due, what a step changes, and the evidence it
weighs (the pure rules are ``prescriptions.progression``)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass

from django.db.models import Max, Prefetch, Q
from django.utils import timezone

from prescriptions import progression
from prescriptions.models import Prescription, PrescriptionItem, ProgressionStep, SafetyFlag, Session, SessionLog

Flag = SafetyFlag
HOLDING_FLAG_KINDS = (
    Flag.Kind.CLEARANCE_CONFLICT,
    Flag.Kind.CONTRAINDICATION,
    Flag.Kind.MOBILITY,
    Flag.Kind.PAIN_ESCALATION,
    Flag.Kind.RED_FLAG_SYMPTOM,
)
"""The symptom and gate flags whose being open holds a step (b)."""


def rule_of(item: PrescriptionItem) -> progression.Rule | None:
    """The item's rule with its maxima resolved (the rule's own, else the stretch's bounds)."""
    if item.progress_every_weeks is None:
        return None
    bounds = item.stretch.dose_bounds
    return progression.Rule(
        every_weeks=item.progress_every_weeks,
        hold_seconds=item.progress_hold_seconds,
        reps=item.progress_reps,
        sets=item.progress_sets,
        # A rule's own maximum never outgrows the stretch's bound (a bound lowered after the rule was written).
        max_hold_seconds=min(item.progress_max_hold_seconds or bounds.hold_seconds, bounds.hold_seconds),
        max_reps=min(item.progress_max_reps or bounds.reps, bounds.reps),
        max_sets=min(item.progress_max_sets or bounds.sets, bounds.sets),
    )


def dose_of(item: PrescriptionItem) -> progression.Dose:
    return progression.Dose(hold_seconds=item.hold_seconds, reps=item.reps, sets=item.sets)


@dataclass(frozen=True)
class Change:
    """One item a step progresses: its order, and its dose before and after."""

    item: PrescriptionItem
    before: progression.Dose
    after: progression.Dose

    def as_dict(self) -> dict:
        return {
            "order": self.item.order,
            "stretch": self.item.stretch.name,
            "from": vars(self.before),
            "to": vars(self.after),
        }


@dataclass(frozen=True)
class Due:
    on_date: dt.date
    changes: list[Change]


def lineage_start(plan: Prescription) -> dt.date:
    """The start date of the plan's first version: rules count their weeks from it."""
    return plan.first_version.start_date if plan.first_version_id else plan.start_date


def step_due(
    *, items: Sequence[PrescriptionItem], start: dt.date, today: dt.date, last_step: dt.date | None
) -> Due | None:
    """The step due by ``today`` after the lineage's ``last_step``: its date (the latest grid date of any item
    due) and the items it progresses (each item whose grid has a date in (``last_step``, that date]) with their
    new doses; None when no item's dose would change."""
    dated: list[tuple[dt.date, Change]] = []
    for item in items:
        rule = rule_of(item)
        if rule is None:
            continue
        date = progression.due_date(start=start, every_weeks=rule.every_weeks, today=today, last_step=last_step)
        before = dose_of(item)
        after = progression.progressed(before, rule)
        if date is not None and after != before:  # an item at its maximum neither steps nor dates the step
            dated.append((date, Change(item=item, before=before, after=after)))
    if not dated:
        return None
    return Due(on_date=max(date for date, _ in dated), changes=[change for _, change in dated])


def last_step_date(lineage_id: int) -> dt.date | None:
    return ProgressionStep.objects.filter(first_version_id=lineage_id).aggregate(last=Max("on_date"))["last"]


def counted_since(plan: Prescription, last_step: dt.date | None) -> dt.date:
    """Grid dates after this count: the lineage's last step, or this version's start or the day it went live if later
    (a version's doses are the ones it starts with: a therapist's amendment at week 5 of a two-weekly rule steps next
    at week 6, not at once for week 4, even when its draft was dated earlier)."""
    live_from = plan.patient.local_today(plan.activated_at) if plan.activated_at else plan.start_date
    return max(filter(None, [last_step, plan.start_date, live_from]))


def plans_with_rules():
    """Active plans with at least one progressing item (items, stretches, the first version, the patient and the
    clinic loaded)."""
    return (
        Prescription.objects.active()
        .filter(pk__in=PrescriptionItem.objects.filter(progress_every_weeks__isnull=False).values("prescription_id"))
        .select_related("patient__clinic", "first_version")
        .prefetch_related(Prefetch("items", PrescriptionItem.objects.select_related("stretch").order_by("order")))
    )


def plans_due(*, now: dt.datetime | None = None) -> list[tuple[int, dt.date]]:
    """(plan id, step date) of every active plan with a step due today in its patient's zone: three queries whatever
    the number of plans."""
    now = now or timezone.now()
    plans = list(plans_with_rules())
    last_steps = dict(
        ProgressionStep.objects.filter(first_version_id__in=[plan.lineage_id for plan in plans])
        .values("first_version_id")
        .annotate(last=Max("on_date"))
        .values_list("first_version_id", "last")
    )
    due = []
    for plan in plans:
        since = counted_since(plan, last_steps.get(plan.lineage_id))
        today = plan.patient.local_today(now)
        if plan.end_date is not None and today > plan.end_date:
            continue  # the plan has run its course
        step = step_due(items=plan.items.all(), start=lineage_start(plan), today=today, last_step=since)
        if step is not None:
            due.append((plan.pk, step.on_date))
    return due


def readiness_of(*, plan: Prescription, on_date: dt.date, now: dt.datetime | None = None) -> progression.Readiness:
    """Conditions (b)–(d) and missing data for a step of ``plan`` on ``on_date``: three queries."""
    now = now or timezone.now()
    start = lineage_start(plan)
    lineage = Q(session__prescription_id=plan.lineage_id) | Q(session__prescription__first_version_id=plan.lineage_id)
    logs = [
        progression.Log(date=date, pain_after=pain)
        for date, pain in SessionLog.objects.filter(lineage, session__local_date__lt=on_date)
        .order_by("session__local_date", "session__local_time", "logged_at")
        .values_list("session__local_date", "pain_after")
    ]
    first, last = progression.adherence_window(start=start, on_date=on_date)
    sessions = Session.objects.filter(
        Q(prescription_id=plan.lineage_id) | Q(prescription__first_version_id=plan.lineage_id),
        local_date__gte=first,
        local_date__lte=last,
    )
    S = Session.Status
    counted = Q(status__in=[S.COMPLETED, S.SKIPPED, S.MISSED]) | Q(status=S.SCHEDULED, scheduled_at__lt=now)
    due = sessions.filter(counted).count()
    done = sessions.filter(status=S.COMPLETED).count()
    flags = [
        f"{kind}#{pk}"
        for pk, kind in Flag.objects.filter(patient_id=plan.patient_id, kind__in=HOLDING_FLAG_KINDS)
        .exclude(status=Flag.Status.RESOLVED)
        .order_by("pk")
        .values_list("pk", "kind")
    ]
    return progression.readiness(
        start=start,
        on_date=on_date,
        logs=logs,
        sessions_due=due,
        sessions_done=done,
        open_flags=flags,
        min_adherence=plan.patient.clinic.progression_min_adherence,
    )


def lineage_steps(plan: Prescription):
    """Every step of the plan's versions, newest first."""
    return ProgressionStep.objects.filter(first_version_id=plan.lineage_id).select_related(
        "from_version", "to_version", "applied_by"
    )


def next_step(plan: Prescription) -> Due | None:
    """The next step of a live plan as things stand (its date and the doses it would give), or None when no item
    progresses any more (or the plan ends first)."""
    return next_step_of(
        plan,
        items=list(plan.items.select_related("stretch").order_by("order")),
        last_step=last_step_date(plan.lineage_id),
    )


def next_step_of(plan: Prescription, *, items: Sequence[PrescriptionItem], last_step: dt.date | None) -> Due | None:
    """``next_step`` from what the caller has loaded: the plan's items (with stretches, in order) and its lineage's
    last step date (the plan's patient is read for its zone)."""
    start = lineage_start(plan)
    since = counted_since(plan, last_step)
    dates = [  # a date already past is a step due and not yet run (the sweep runs every 15 minutes)
        progression.next_step_date(start=start, every_weeks=rule.every_weeks, after=since)
        for item in items
        if (rule := rule_of(item)) is not None and progression.progressed(dose_of(item), rule) != dose_of(item)
    ]
    if not dates:
        return None
    step = step_due(items=items, start=start, today=min(dates), last_step=since)
    if step is None or (plan.end_date is not None and step.on_date > plan.end_date):
        return None
    return step
