"""Who may call what: staff by role (403 otherwise). Portal users for the portal: ``patients.api.permissions``.

Object scoping (another clinic's or another patient's row → 404) is not a permission: it is the queryset
each view starts from (``StaffScoped.clinic_id``; the portal's ``PortalScoped.portal_patients``).
"""

from __future__ import annotations

from rest_framework.permissions import BasePermission

from clinic.access import membership_of
from clinic.policy import POLICY

SAFE_METHODS = ("GET", "HEAD", "OPTIONS")


class IsStaffMember(BasePermission):
    """Active staff with a clinic membership. ``view.write_action`` (default: any role) limits unsafe methods to
    the roles ``clinic.policy.POLICY`` gives that action; ``view.read_action`` (default: any role) safe ones."""

    message = "This endpoint is for clinic staff."

    def has_permission(self, request, view) -> bool:
        membership = membership_of(request.user)
        if membership is None:
            return False
        action = getattr(view, "read_action" if request.method in SAFE_METHODS else "write_action", None)
        if action is not None and membership.role not in POLICY[action]:
            self.message = "Your role may not do this."
            return False
        request.membership = membership
        return True
