"""Reads of patient data shared by views and tasks."""

from __future__ import annotations

from patients.models import Patient, PortalAccess


def portal_grants(*, user) -> list[PortalAccess]:
    """All of ``user``'s portal grants with their patients (archived ones included), in name order: one query.

    The portal permission loads them once per request; views keep the patients still in care
    (``granted_patients``).
    """
    return list(
        PortalAccess.objects.filter(user=user)
        .select_related("patient")
        .order_by("patient__last_name", "patient__first_name", "patient_id")
    )


def grants_in_care(grants: list[PortalAccess]) -> list[PortalAccess]:
    """The ``grants`` whose patient is still in care (archived patients are gone from the portal)."""
    return [grant for grant in grants if grant.patient.archived_at is None]


def granted_patients(grants: list[PortalAccess]) -> list[Patient]:
    """The patients of ``grants`` still in care."""
    return [grant.patient for grant in grants_in_care(grants)]
