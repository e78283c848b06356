"""Every write of the prescriptions app: plans (drafts, the gate, transitions), flags, sessions."""

from prescriptions.services.flags import flag_acknowledge, flag_auto_resolve, flag_raise, flag_resolve
from prescriptions.services.plans import (
    DRAFT_FIELDS,
    GateRun,
    ItemIn,
    WaiverIn,
    evaluation_window,
    gate_run,
    prescription_activate,
    prescription_amend,
    prescription_cancel,
    prescription_complete,
    prescription_create,
    prescription_pause,
    prescription_resume,
    prescription_update_draft,
)

__all__ = [
    "DRAFT_FIELDS",
    "GateRun",
    "ItemIn",
    "WaiverIn",
    "evaluation_window",
    "flag_acknowledge",
    "flag_auto_resolve",
    "flag_raise",
    "flag_resolve",
    "gate_run",
    "prescription_activate",
    "prescription_amend",
    "prescription_cancel",
    "prescription_complete",
    "prescription_create",
    "prescription_pause",
    "prescription_resume",
    "prescription_update_draft",
]
