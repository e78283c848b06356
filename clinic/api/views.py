"""Base views: scoping in one place."""

from __future__ import annotations

from rest_framework import generics
from rest_framework.views import APIView

from clinic.api.permissions import IsPortalUser, IsStaffMember


class StaffScoped:
    """Staff endpoints see only their clinic's rows."""

    permission_classes = [IsStaffMember]
    read_roles: tuple[str, ...] | None = None
    write_roles: tuple[str, ...] | None = None

    @property
    def membership(self):
        # None only while drf-spectacular builds the schema with a fake request.
        return getattr(self.request, "membership", None)

    @property
    def clinic_id(self) -> int | None:
        return self.membership.clinic_id if self.membership else None


class StaffAPIView(StaffScoped, APIView):
    pass


class StaffListView(StaffScoped, generics.ListAPIView):
    pass


class PortalScoped:
    """Portal endpoints see only the patients a PortalAccess row grants the user."""

    permission_classes = [IsPortalUser]

    def portal_patients(self):
        from patients.models import Patient

        return Patient.objects.filter(portal_access__user=self.request.user, archived_at__isnull=True)


class PortalAPIView(PortalScoped, APIView):
    pass
