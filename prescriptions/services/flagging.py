"""Safety-flag mechanics: raise a flag once per cause, close one and release what it held (below the conflict
re-check, which raises and auto-resolves flags; the use cases a person starts — acknowledge, resolve — are in
``flags``)."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from django.db import IntegrityError, transaction
from django.utils import timezone

from patients.models import Patient
from prescriptions.models import Prescription, SafetyFlag, Session
from prescriptions.services import locks
from prescriptions.services.schedule import reminders_sync

Flag = SafetyFlag
GATE_KINDS = {Flag.Kind.CLEARANCE_CONFLICT, Flag.Kind.CONTRAINDICATION, Flag.Kind.MOBILITY}
SEVERITY_RANK = {Flag.Severity.INFO: 0, Flag.Severity.WARNING: 1, Flag.Severity.URGENT: 2}


def _unresolved(patient_id: int, kind: str, cause_key: str):
    return locks.rows(Flag.objects.filter(patient_id=patient_id, kind=kind, cause_key=cause_key)).exclude(
        status=Flag.Status.RESOLVED
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
        flag.save(update_fields=["severity", "summary", "details", "updated_at"])
    if sessions:
        flag.sessions.add(*sessions)
    return flag, created


def flag_close(*, flag: SafetyFlag, by, resolution: str) -> SafetyFlag:
    """Resolve ``flag`` (locked by the caller) and release the sessions only it held; no permission check: the
    use cases (``flags.flag_resolve``) and the system (``flag_auto_resolve``) decide who may."""
    flag.status = Flag.Status.RESOLVED
    flag.resolved_by = by
    flag.resolved_at = timezone.now()
    flag.resolution = resolution
    flag.save(update_fields=["status", "resolved_by", "resolved_at", "resolution", "updated_at"])
    _release_sessions(flag)
    return flag


def _release_sessions(flag: SafetyFlag) -> None:
    """A session stays blocked while any unresolved flag lists it; future ones no longer listed are scheduled,
    and their reminders come back while still timely."""
    now = timezone.now()
    released = list(
        locks.rows(flag.sessions.filter(status=Session.Status.BLOCKED, scheduled_at__gt=now))
        .exclude(flags__in=SafetyFlag.objects.exclude(status=Flag.Status.RESOLVED).exclude(pk=flag.pk))
        .filter(prescription__status=Prescription.Status.ACTIVE)
        .values_list("pk", flat=True)
    )
    if released:
        Session.objects.filter(pk__in=released, status=Session.Status.BLOCKED).update(
            status=Session.Status.SCHEDULED, updated_at=now
        )
        reminders_sync(session_ids=released, now=now)


@transaction.atomic
def flag_auto_resolve(*, flag: SafetyFlag, reason: str) -> SafetyFlag:
    """The system found the cause gone; record why.

    Callers hold the lock of the flag's plan (the re-check, a plan's end): the sessions it releases are that
    plan's.
    """
    flag = locks.flag(flag_id=flag.pk)
    if flag.status == Flag.Status.RESOLVED:
        return flag
    return flag_close(flag=flag, by=None, resolution=f"Resolved automatically: {reason}")
