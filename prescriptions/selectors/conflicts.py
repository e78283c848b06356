"""Reads for the conflict re-check, in bulk: a fixed number of queries per batch of plans, however many (the
gate's facts come from ``prescriptions.gate.facts.gate_facts_for_plans``, which works the same way)."""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass

from django.db.models import QuerySet

from prescriptions.models import GateEvaluation, GateOverride, Prescription, SafetyFlag, Session

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
