"""Reads of safety flags and of the sessions they list, for staff screens (one query per page)."""

from __future__ import annotations

from django.contrib.postgres.expressions import ArraySubquery
from django.db.models import OuterRef, QuerySet

from prescriptions.models import SafetyFlag, Session

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
