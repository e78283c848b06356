"""Who may call the portal: users the clinic granted portal access to a patient (403 otherwise).

Staff permissions are ``clinic.api.permissions``; another patient's row is a 404, by the queryset each portal
view starts from (``patients.api.base.PortalScoped.portal_patients``), not a permission.
"""

from __future__ import annotations

from rest_framework.permissions import BasePermission

from clinic.access import membership_of
from patients.api.authentication import GRANTS
from patients.selectors import portal_grants


class IsPortalUser(BasePermission):
    """A user the clinic granted portal access to at least one patient (self, guardian or caregiver)."""

    message = "This endpoint is for patients and their guardians."

    def has_permission(self, request, view) -> bool:
        user = request.user
        if not user or not user.is_authenticated or membership_of(user) is not None:
            return False
        # Loaded once, with the patients: the views pick the patient from these (``PortalScoped``). A token request
        # read them with its token (``patients.api.authentication``); a session request reads them here.
        grants = getattr(request.auth, GRANTS, None)
        request.portal_grants = grants if grants is not None else portal_grants(user=user)
        return bool(request.portal_grants)
