"""Safety flags, the use cases: the front desk acknowledges, a therapist resolves (DESIGN §3). Raising a flag and
closing one automatically are mechanics below the conflict re-check (``flagging``)."""

from __future__ import annotations

from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone

from clinic import bounds
from clinic.errors import StateConflict
from clinic.policy import Action, require
from prescriptions.models import SafetyFlag
from prescriptions.services import locks
from prescriptions.services.conflicts import prescription_recheck
from prescriptions.services.flagging import GATE_KINDS, flag_close

Flag = SafetyFlag


@transaction.atomic
def flag_acknowledge(*, flag: SafetyFlag, by) -> SafetyFlag:
    """Someone at the clinic has seen it (front desk or therapist)."""
    require(Action.ACKNOWLEDGE_FLAG, by, flag.patient.clinic_id)
    flag = locks.flag(flag_id=flag.pk)
    if flag.status != Flag.Status.OPEN:
        raise StateConflict(f"Only an open flag can be acknowledged; this one is {flag.status}.")
    flag.status = Flag.Status.ACKNOWLEDGED
    flag.acknowledged_by = by
    flag.acknowledged_at = timezone.now()
    flag.save(update_fields=["status", "acknowledged_by", "acknowledged_at", "updated_at"])
    return flag


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
    locks.patient_and_plans(patient_id=patient_id, plan_ids=[plan_id] if plan_id else [])
    flag = locks.flag(flag_id=flag.pk)
    if flag.status == Flag.Status.RESOLVED:
        raise StateConflict("This flag is already resolved.")
    flag = flag_close(flag=flag, by=by, resolution=resolution.strip())
    if flag.kind in GATE_KINDS and flag.prescription_id:
        # Resolving by hand never lifts what the gate still refuses: re-check now, so sessions that still
        # fail are blocked again under a new flag (a therapist waives an overridable finding with an override).
        prescription_recheck(prescription_id=flag.prescription_id)
    return flag
