"""Reads of safety flags and of the sessions they list, for staff screens (one query per page)."""

from __future__ import annotations

from django.contrib.postgres.expressions import ArraySubquery
from django.db.models import OuterRef, QuerySet

from prescriptions.models import ProgressionStep, SafetyFlag, Session

UNRESOLVED = (SafetyFlag.Status.OPEN, SafetyFlag.Status.ACKNOWLEDGED)
FlagSession = SafetyFlag.sessions.through


def unresolved_flag_ids() -> ArraySubquery:
    """For a Session queryset: the ids of the unresolved flags that list the session (why it is blocked)."""
    return ArraySubquery(
        FlagSession.objects.filter(session_id=OuterRef("pk"), safetyflag__status__in=UNRESOLVED)
        .order_by("safetyflag_id")
        .values("safetyflag_id")
    )


def listed_session_ids() -> ArraySubquery:
    """For a SafetyFlag queryset: the ids of the sessions the flag lists."""
    return ArraySubquery(
        FlagSession.objects.filter(safetyflag_id=OuterRef("pk")).order_by("session_id").values("session_id")
    )


def clinic_flags(*, clinic_id: int | None) -> QuerySet[SafetyFlag]:
    """The clinic's flags, newest first, with patient, acknowledging/resolving users and session ids in one query."""
    return (
        SafetyFlag.objects.filter(patient__clinic_id=clinic_id)
        .select_related("patient", "acknowledged_by", "resolved_by")
        .annotate(session_ids=listed_session_ids())
        .order_by("-detected_at", "-id")
    )


SESSION_LIST_FIELDS = (
    "local_date",
    "local_time",
    "scheduled_at",
    "status",
    "prescription__patient__first_name",
    "prescription__patient__last_name",
)


def clinic_sessions(*, clinic_id: int | None) -> QuerySet[Session]:
    """The clinic's sessions in time order, with their patient and the unresolved flags listing them."""
    return (
        Session.objects.filter(prescription__patient__clinic_id=clinic_id)
        .select_related("prescription__patient")
        .only(*SESSION_LIST_FIELDS)
        .annotate(flag_ids=unresolved_flag_ids())
        .order_by("scheduled_at", "id")
    )


def flag_readout(details: dict) -> list[str]:
    """A flag's stored details as lines a person reads (no ids, no keys): what the patient reported, what the
    gate or the pain rules said, the dates it covers. Unknown keys are left out rather than shown raw."""
    lines = []
    if "pain_before" in details or "pain_after" in details:
        day = f" (session of {details['local_date']})" if details.get("local_date") else ""
        lines.append(
            f"Pain before: {details.get('pain_before', '—')}/10, after: {details.get('pain_after', '—')}/10{day}."
        )
    if details.get("hurt_items"):
        count = len(details["hurt_items"])
        lines.append(f"The patient said {count} stretch{'es' if count != 1 else ''} hurt.")
    lines.extend(signal["message"] for signal in details.get("signals", []) if signal.get("message"))
    if details.get("from"):
        until = f" through {details['until']}" if details.get("until") else ""
        lines.append(f"Affects sessions from {details['from']}{until}.")
    if details.get("held_because"):
        words = dict(ProgressionStep.Condition.choices)
        day = f" of {details['on_date']}" if details.get("on_date") else ""
        reasons = "; ".join(words.get(code, "another reason").lower() for code in details["held_because"])
        lines.append(f"The dose progression step{day} is held: {reasons}.")
    lines.extend(finding["message"] for finding in details.get("findings", []) if finding.get("message"))
    if details.get("valid_until"):
        left = details.get("days_left")
        lines.append(
            f"The clearance ends on {details['valid_until']}" + (f" ({left} days left)." if left is not None else ".")
        )
    return lines
