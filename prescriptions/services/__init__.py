"""Every write of the prescriptions app: plans (drafts, the gate, transitions), flags, sessions.

Lock order. Every row lock is taken through ``locks`` (the one locking API). Services that write more than one
row lock them in this order, never a row of an earlier kind after one of a later kind, so that two of them
running at once queue instead of deadlocking (PostgreSQL would abort one, and nothing retries):

    patient → plans (Prescription, by id) → sessions (by id) → flags (by id) → reminders

- Work that spans a patient's plans — logging a session (the pain trend reads every plan's logs, a symptom
  holds every active plan's sessions) and resolving a flag by hand — first locks the patient, then the
  patient's active plans and the plan it names (``locks.patient_and_plans``). The patient lock is what
  serializes two logs of one patient, so each reads the other's pain.
- Plan transitions lock the patient, then the plan (``locks.patient_and_plan``): archiving a patient must not
  miss a plan being activated.
- Plan-scoped work — the conflict re-check, the materializer, stopping and resuming sessions — locks the plan
  (several plans: by id) and nothing above it; auto-resolving a plan's flags happens under that lock.
- Rows of one kind are locked in one statement in id order (``locks.in_id_order``, ``order_by("pk")``).
  Below the plan lock the order of sessions, flags and reminders is not relied on: whoever writes a plan's
  sessions or flags holds the plan (or, for a single session row and nothing else, only that row). That includes
  re-planning a patient's reminders (``locks.active_plans``): inserting a reminder key-share-locks its
  session. The one exception, ``sessions_mark_missed``, touches only sessions whose log window has closed,
  which no other writer touches any more.
- The patient row is locked ``FOR NO KEY UPDATE`` (see ``locks.patient_and_plans``): inserting a row that
  references the patient (a flag raised by a re-check that holds a plan) must not wait for it.
"""

from prescriptions.services.flagging import flag_auto_resolve, flag_raise
from prescriptions.services.flags import flag_acknowledge, flag_resolve
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
