"""Reads of patient data shared by views and tasks."""

from __future__ import annotations

from django.contrib.auth import get_user_model
from django.db.models import Count, Q

from patients.models import Patient, PortalAccess

LIVE = Q(revoked_at__isnull=True)
"""A grant not revoked: the only kind that gives access to anything."""


def portal_grants(*, user) -> list[PortalAccess]:
    """All of ``user``'s live portal grants with their patients (archived ones included), in name order: one query.

    A revoked grant is not among them: it sees nothing, and the login's token stops working for that patient
    at once. The portal permission loads them once per request; views keep the patients still in care
    (``granted_patients``).
    """
    return list(
        PortalAccess.objects.filter(LIVE, user=user)
        .select_related("patient")
        .order_by("patient__last_name", "patient__first_name", "patient_id")
    )


def grants_in_care(grants: list[PortalAccess]) -> list[PortalAccess]:
    """The ``grants`` whose patient is still in care (archived patients are gone from the portal)."""
    return [grant for grant in grants if grant.patient.archived_at is None]


def granted_patients(grants: list[PortalAccess]) -> list[Patient]:
    """The patients of ``grants`` still in care."""
    return [grant.patient for grant in grants_in_care(grants)]


def portal_login_of_clinic(*, username: str, clinic_id: int):
    """The portal login staff of ``clinic_id`` may grant access to by name, or None: one query.

    The portal-grant rule (README, Security): an active login that is not staff, has at least one live grant,
    and all of whose live grants are patients of this clinic (a guardian's second child). A staff account, a
    login without live grants, one with any live grant in another clinic and a name that does not exist are
    all None, so the caller's refusal is the same for each: no oracle, and no stranger's login to link.
    Revoked grants count for nothing, as they give access to nothing.
    """
    return (
        get_user_model()
        .objects.filter(username=username, is_active=True, is_staff=False, is_superuser=False)
        .filter(membership__isnull=True)
        .annotate(
            grants=Count("portal_accesses", filter=Q(portal_accesses__revoked_at__isnull=True)),
            grants_elsewhere=Count(
                "portal_accesses",
                filter=Q(portal_accesses__revoked_at__isnull=True) & ~Q(portal_accesses__patient__clinic_id=clinic_id),
            ),
        )
        .filter(grants__gt=0, grants_elsewhere=0)
        .first()
    )


def self_login_taken(*, patient: Patient, relationship: str) -> bool:
    """Whether ``relationship`` is "self" and the patient already has their own live login (one "self" per patient)."""
    return (
        relationship == PortalAccess.Relationship.SELF
        and patient.portal_access.filter(LIVE, relationship=PortalAccess.Relationship.SELF).exists()
    )
