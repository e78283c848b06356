"""Who may do what: the one place services check a staff user's role and clinic."""

from __future__ import annotations

from collections.abc import Iterable

from django.core.exceptions import PermissionDenied

from clinic.models import Clinic, StaffMembership

Role = StaffMembership.Role
ANY_STAFF = (Role.THERAPIST, Role.FRONT_DESK, Role.CLINIC_ADMIN)
CLINICAL = (Role.THERAPIST,)


def membership_of(user) -> StaffMembership | None:
    if user is None or not getattr(user, "is_authenticated", False) or not user.is_active:
        return None
    try:
        return user.membership
    except StaffMembership.DoesNotExist:
        return None


def require_role(user, clinic: Clinic | int, roles: Iterable[str] = ANY_STAFF) -> StaffMembership | None:
    """Raise PermissionDenied unless ``user`` is active staff of ``clinic`` with one of ``roles``.

    Superusers (who have no membership) may act for maintenance, except where ``roles`` is CLINICAL:
    only a therapist prescribes or records clinical facts.
    """
    clinic_id = clinic if isinstance(clinic, int) else clinic.pk
    roles = tuple(roles)
    membership = membership_of(user)
    if membership is None:
        if user is not None and getattr(user, "is_superuser", False) and user.is_active and roles != CLINICAL:
            return None
        raise PermissionDenied("Only staff of this clinic may do this.")
    if membership.clinic_id != clinic_id:
        raise PermissionDenied("Only staff of this clinic may do this.")
    if membership.role not in roles:
        allowed = ", ".join(Role(r).label.lower() for r in roles)
        raise PermissionDenied(f"Only a {allowed} may do this.")
    return membership
