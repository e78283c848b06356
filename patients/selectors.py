"""Reads of patient data shared by views and tasks."""

from __future__ import annotations

from django.contrib.auth import get_user_model

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


def portal_login(*, username: str):
    """The active portal login (never a staff account) with this username, or None — for granting it access."""
    return (
        get_user_model()
        .objects.filter(username=username, is_active=True, is_staff=False, is_superuser=False)
        .filter(membership__isnull=True)
        .first()
    )


def self_login_taken(*, patient: Patient, relationship: str) -> bool:
    """Whether ``relationship`` is "self" and the patient already has their own login (one "self" per patient)."""
    return (
        relationship == PortalAccess.Relationship.SELF
        and patient.portal_access.filter(relationship=PortalAccess.Relationship.SELF).exists()
    )
