"""The front desk's day (the admin index for staff of a clinic): what needs doing today, each line a link.

Five reads, whatever the clinic's size (each list is capped, ``LIMIT`` rows; one more row says "and more"):
today's sessions by local time, unresolved flags (urgent first), clearances expiring within
``EXPIRING_WITHIN_DAYS`` or missing today, patients without a mobility assessment, failed reminders. "Today" is
each patient's own local date. Archived patients are left out.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Any
from zoneinfo import ZoneInfo

from django.contrib.postgres.fields import ArrayField
from django.db.models import Case, CharField, Exists, F, IntegerField, OuterRef, Q, Subquery, Value, When
from django.db.models.functions import Cast

from patients.clearance import EXPIRING_WITHIN_DAYS
from patients.clearance_states import clearance_states_today
from patients.models import Clearance, MobilityAssessment, Patient, local_date
from prescriptions.models import Reminder, SafetyFlag, Session

LIMIT = 50
"""Rows per list; the desk follows "see all" to the full, filtered list beyond that."""

NO_CLEARANCE = {"revoked": "revoked", "expired": "expired", "not_yet_valid": "not yet valid", "none": "none on file"}
"""The badge states (``rules.ClearanceState``) that mean no clearance is in force today, in the desk's words."""

SEVERITY_ORDER = Case(
    When(severity=SafetyFlag.Severity.URGENT, then=Value(0)),
    When(severity=SafetyFlag.Severity.WARNING, then=Value(1)),
    default=Value(2),
    output_field=IntegerField(),
)


@dataclass
class Listing:
    """At most ``LIMIT`` rows, and whether there were more."""

    rows: list[dict[str, Any]] = field(default_factory=list)
    more: bool = False

    @classmethod
    def of(cls, rows) -> Listing:
        rows = list(rows[: LIMIT + 1])
        return cls(rows=rows[:LIMIT], more=len(rows) > LIMIT)


@dataclass
class DeskDay:
    sessions: Listing
    flags: Listing
    clearances: Listing
    no_mobility: Listing
    failed_reminders: Listing
    expiring_within_days: int = EXPIRING_WITHIN_DAYS

    @property
    def patient_ids(self) -> list[int]:
        """Every patient the page shows (each is logged as read)."""
        lists = (self.sessions, self.flags, self.clearances, self.no_mobility, self.failed_reminders)
        return list(dict.fromkeys(row["patient_id"] for listing in lists for row in listing.rows))


_PATIENT_COLUMNS = {
    "patient_id": "id",
    "timezone": "timezone",
    "first_name": "first_name",
    "last_name": "last_name",
    "mrn": "mrn",
}


def _name(prefix: str) -> dict[str, F]:
    return {"first_name": F(f"{prefix}first_name"), "last_name": F(f"{prefix}last_name"), "mrn": F(f"{prefix}mrn")}


def desk_day(*, clinic_id: int, now: dt.datetime) -> DeskDay:
    """What the clinic's desk acts on today (five queries)."""
    live = Q(archived_at__isnull=True)
    sessions = (
        Session.objects.filter(
            prescription__patient__clinic_id=clinic_id,
            prescription__patient__archived_at__isnull=True,
            local_date=local_date(F("prescription__patient__timezone"), Value(now)),
        )
        .order_by("local_time", "prescription__patient__last_name", "id")
        .values(
            "id",
            "local_time",
            "status",
            "scheduled_at",
            patient_id=F("prescription__patient_id"),
            timezone=F("prescription__patient__timezone"),
            **_name("prescription__patient__"),
        )
    )
    flags = (
        SafetyFlag.objects.filter(patient__clinic_id=clinic_id, patient__archived_at__isnull=True)
        .exclude(status=SafetyFlag.Status.RESOLVED)
        .alias(rank=SEVERITY_ORDER)
        .order_by("rank", "detected_at", "id")
        .values("id", "kind", "severity", "status", "summary", "detected_at", "patient_id", **_name("patient__"))
    )
    in_force = (
        Clearance.objects.filter(patient=OuterRef("pk"))
        .on_day(day=local_date(OuterRef("timezone"), Value(now)), zone=OuterRef("timezone"))
        .in_force()
    )
    clearances = (
        Patient.objects.filter(live, clinic_id=clinic_id)
        # varchar[] as the lookups' values are (the expression itself is a text[]).
        .annotate(
            states=Cast(clearance_states_today(now), ArrayField(CharField())),
            ends=Subquery(in_force.values("valid_until")[:1]),
        )
        .filter(Q(states__contains=["expiring"]) | Q(states__overlap=list(NO_CLEARANCE)))
        .order_by(F("ends").asc(nulls_first=True), "last_name", "id")
        .values("states", "ends", "first_name", "last_name", "mrn", patient_id=F("id"))
    )
    no_mobility = (
        Patient.objects.filter(live, clinic_id=clinic_id)
        .filter(~Exists(MobilityAssessment.objects.filter(patient=OuterRef("pk"))))
        .order_by("last_name", "first_name", "id")
        .values("first_name", "last_name", "mrn", patient_id=F("id"))
    )
    # A reminder reaches its patient through its session's plan or its due questionnaire.
    failed = (
        Reminder.objects.filter(
            Reminder.of_patients("clinic_id", clinic_id),
            Reminder.of_patients("archived_at__isnull", True),
            status=Reminder.Status.FAILED,
        )
        .order_by("-updated_at", "-id")
        .values(
            "id",
            "purpose",
            "channel",
            "last_error",
            "updated_at",
            **{name: Reminder.patient_field(column) for name, column in _PATIENT_COLUMNS.items()},
        )
    )
    day = DeskDay(
        sessions=Listing.of(sessions),
        flags=Listing.of(flags),
        clearances=Listing.of(clearances),
        no_mobility=Listing.of(no_mobility),
        failed_reminders=Listing.of(failed),
    )
    for row in day.sessions.rows:
        row["status_label"] = Session.Status(row["status"]).label
    for row in day.flags.rows:
        row["status_label"] = SafetyFlag.Status(row["status"]).label
    for row in day.clearances.rows:
        row["why"] = None if row["ends"] else NO_CLEARANCE.get(row["states"][0], row["states"][0])
    for row in day.failed_reminders.rows:
        row["purpose_label"] = Reminder.Purpose(row["purpose"]).label
        row["local_updated_at"] = row["updated_at"].astimezone(ZoneInfo(row["timezone"]))
    return day
