"""Safety flags: raised once per cause, acknowledged by the front desk, resolved by a therapist (DESIGN §3)."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.utils import timezone

from clinic import bounds
from clinic.errors import StateConflict
from clinic.policy import Action, require
from patients.models import Patient
from prescriptions.models import Prescription, SafetyFlag, Session
from prescriptions.services.locks import lock_patient_and_plans
from prescriptions.services.schedule import reminders_sync

Flag = SafetyFlag
GATE_KINDS = {Flag.Kind.CLEARANCE_CONFLICT, Flag.Kind.CONTRAINDICATION, Flag.Kind.MOBILITY}
SEVERITY_RANK = {Flag.Severity.INFO: 0, Flag.Severity.WARNING: 1, Flag.Severity.URGENT: 2}


def _unresolved(patient_id: int, kind: str, cause_key: str):
    return (
        Flag.objects.select_for_update()
        .filter(patient_id=patient_id, kind=kind, cause_key=cause_key)
        .exclude(status=Flag.Status.RESOLVED)
    )


@transaction.atomic
def flag_raise(
    *,
    patient: Patient,
    kind: str,
    cause_key: str,
    severity: str,
    summary: str,
    details: dict[str, Any] | None = None,
    prescription: Prescription | None = None,
    sessions: Iterable[Session] = (),
) -> tuple[SafetyFlag, bool]:
    """Open a flag for (patient, kind, cause), or refresh the unresolved one; returns (flag, created).

    A refresh escalates severity (never lowers it), replaces details and adds sessions. For
    ``clearance_expiring`` there is one flag per cause ever: a resolved one is returned untouched.
    """
    if kind == Flag.Kind.CLEARANCE_EXPIRING:
        existing = Flag.objects.filter(kind=kind, cause_key=cause_key).first()
        if existing is not None:
            return existing, False
    flag = _unresolved(patient.pk, kind, cause_key).first()
    created = flag is None
    if created:
        flag = Flag(
            patient=patient,
            prescription=prescription,
            kind=kind,
            cause_key=cause_key,
            severity=severity,
            summary=summary[:300],
            details=details or {},
            detected_at=timezone.now(),
        )
        try:
            with transaction.atomic():
                flag.save()
        except IntegrityError:  # a concurrent raise won: treat its flag as the one found
            if kind == Flag.Kind.CLEARANCE_EXPIRING:
                return Flag.objects.get(kind=kind, cause_key=cause_key), False
            flag = _unresolved(patient.pk, kind, cause_key).get()
            created = False
    if not created and flag.is_unresolved:
        if SEVERITY_RANK[severity] > SEVERITY_RANK[flag.severity]:
            flag.severity = severity
        flag.summary = summary[:300]
        flag.details = details or flag.details
        flag.save(update_fields=["severity", "summary", "details"])
    if sessions:
        flag.sessions.add(*sessions)
    return flag, created


@transaction.atomic
def flag_acknowledge(*, flag: SafetyFlag, by) -> SafetyFlag:
    """Someone at the clinic has seen it (front desk or therapist)."""
    require(Action.ACKNOWLEDGE_FLAG, by, flag.patient.clinic_id)
    flag = Flag.objects.select_for_update().get(pk=flag.pk)
    if flag.status != Flag.Status.OPEN:
        raise StateConflict(f"Only an open flag can be acknowledged; this one is {flag.status}.")
    flag.status = Flag.Status.ACKNOWLEDGED
    flag.acknowledged_by = by
    flag.acknowledged_at = timezone.now()
    flag.save(update_fields=["status", "acknowledged_by", "acknowledged_at"])
    return flag


def _close(flag: SafetyFlag, *, by, resolution: str) -> SafetyFlag:
    flag.status = Flag.Status.RESOLVED
    flag.resolved_by = by
    flag.resolved_at = timezone.now()
    flag.resolution = resolution
    flag.save(update_fields=["status", "resolved_by", "resolved_at", "resolution"])
    _release_sessions(flag)
    return flag


def _release_sessions(flag: SafetyFlag) -> None:
    """A session stays blocked while any unresolved flag lists it; future ones no longer listed are scheduled,
    and their reminders come back while still timely."""
    now = timezone.now()
    released = list(
        flag.sessions.select_for_update(of=("self",))
        .filter(status=Session.Status.BLOCKED, scheduled_at__gt=now)
        .exclude(flags__in=SafetyFlag.objects.exclude(status=Flag.Status.RESOLVED).exclude(pk=flag.pk))
        .filter(prescription__status=Prescription.Status.ACTIVE)
        .order_by("pk")
        .values_list("pk", flat=True)
    )
    if released:
        Session.objects.filter(pk__in=released, status=Session.Status.BLOCKED).update(
            status=Session.Status.SCHEDULED, updated_at=now
        )
        reminders_sync(session_ids=released, now=now)


@transaction.atomic
def flag_resolve(*, flag: SafetyFlag, by, resolution: str) -> SafetyFlag:
    """Only a therapist resolves, saying how.

    The patient and their active plans are locked before the flag (lock order: see the package docstring):
    resolving releases sessions of any of those plans and re-checks the flag's plan, so a re-check of that plan
    or a log of the patient running at the same time waits for it, or it for them, instead of deadlocking.
    """
    require(Action.RESOLVE_FLAG, by, flag.patient.clinic_id)
    if not resolution or not resolution.strip():
        raise ValidationError({"resolution": "Say how the flag was resolved."})
    bounds.check_reason("resolution", resolution.strip())
    patient_id, plan_id = Flag.objects.values_list("patient_id", "prescription_id").get(pk=flag.pk)
    lock_patient_and_plans(patient_id=patient_id, plan_ids=[plan_id] if plan_id else [])
    flag = Flag.objects.select_for_update().get(pk=flag.pk)
    if flag.status == Flag.Status.RESOLVED:
        raise StateConflict("This flag is already resolved.")
    flag = _close(flag, by=by, resolution=resolution.strip())
    if flag.kind in GATE_KINDS and flag.prescription_id:
        # Resolving by hand never lifts what the gate still refuses: re-check now, so sessions that still
        # fail are blocked again under a new flag (a therapist waives an overridable finding with an override).
        from prescriptions.services.conflicts import prescription_recheck  # conflicts imports this module

        prescription_recheck(prescription_id=flag.prescription_id)
    return flag


@transaction.atomic
def flag_auto_resolve(*, flag: SafetyFlag, reason: str) -> SafetyFlag:
    """The system found the cause gone; record why.

    Callers hold the lock of the flag's plan (the re-check, a plan's end): the sessions it releases are that
    plan's.
    """
    flag = Flag.objects.select_for_update().get(pk=flag.pk)
    if flag.status == Flag.Status.RESOLVED:
        return flag
    return _close(flag, by=None, resolution=f"Resolved automatically: {reason}")
