"""A user's staff membership. Who may do what is ``clinic/policy.py``."""

from __future__ import annotations

from clinic.models import StaffMembership


def membership_of(user) -> StaffMembership | None:
    if user is None or not getattr(user, "is_authenticated", False) or not user.is_active:
        return None
    try:
        return user.membership
    except StaffMembership.DoesNotExist:
        return None
