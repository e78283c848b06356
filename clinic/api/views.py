"""Base views: scoping and auditing in one place."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import pghistory
from django.db import transaction
from rest_framework import generics
from rest_framework.views import APIView

from clinic.api.permissions import IsPortalUser, IsStaffMember

READ_METHODS = ("GET", "HEAD")


def _patient_ids_in(data: Any, field: str) -> list[int]:
    """The patient ids a response body shows: ``field`` of each row ("id" when rows are patients)."""
    if isinstance(data, dict) and isinstance(data.get("results"), list):
        rows = data["results"]
    elif isinstance(data, list):
        rows = data
    else:
        rows = [data]
    ids: list[int] = []
    for row in rows:
        if not isinstance(row, dict):
            continue
        if field == "id":
            ids.append(row.get("id"))
            continue
        value = row.get(field)
        ids.append(value.get("id") if isinstance(value, dict) else value)
        for patient in row.get(f"{field}s") or ():  # e.g. the portal's "patients" list
            ids.append(patient.get("id") if isinstance(patient, dict) else patient)
    return [pid for pid in ids if isinstance(pid, int)]


class Audited:
    """Every change a request makes carries its actor; every read of patient data is logged (DESIGN §7).

    Reads run in one transaction with their AccessLog rows, and a read that cannot be logged fails.
    Which patients a 2xx read shows: ``audit_patients()`` if a view defines it, else the URL's
    ``patient_id``, else ``audited_patient_field`` of each row in the body ("id" for rows that are
    patients, "patient" — an id or a nested object — otherwise; inferred from the serializer's model).
    """

    audited_patient_field: str | None = None

    def dispatch(self, request, *args, **kwargs):
        with pghistory.context(url=request.path):
            if request.method in READ_METHODS:
                # savepoint=False: outermost in production (ATOMIC_REQUESTS is off); no extra round trips.
                with transaction.atomic(savepoint=False):
                    return super().dispatch(request, *args, **kwargs)
            return super().dispatch(request, *args, **kwargs)

    def initial(self, request, *args, **kwargs):
        super().initial(request, *args, **kwargs)
        # Token users are known only now, after DRF authenticated them; the middleware saw an anonymous user.
        user = request.user
        pghistory.context(user=user.pk if user.is_authenticated else None, url=request.path)

    def finalize_response(self, request, response, *args, **kwargs):
        response = super().finalize_response(request, response, *args, **kwargs)
        if request.method in READ_METHODS and 200 <= response.status_code < 300:
            from patients.audit import access_log_record

            patient_ids = list(self.audited_patient_ids(request, response, kwargs))
            if patient_ids:
                match = getattr(request, "resolver_match", None)
                what = f"api:{match.url_name}" if match and match.url_name else f"api:{type(self).__name__}"
                access_log_record(actor=request.user, patient_ids=patient_ids, what=what)
        return response

    def audited_patient_ids(self, request, response, kwargs) -> Iterable[int]:
        if hasattr(self, "audit_patients"):
            return self.audit_patients(request, response)
        if kwargs.get("patient_id") is not None:
            return [int(kwargs["patient_id"])]
        return _patient_ids_in(getattr(response, "data", None), self._audited_patient_field())

    def _audited_patient_field(self) -> str:
        if self.audited_patient_field:
            return self.audited_patient_field
        from patients.models import Patient

        serializer_class = getattr(self, "serializer_class", None)
        model = getattr(getattr(serializer_class, "Meta", None), "model", None)
        return "id" if model is Patient else "patient"


class StaffScoped(Audited):
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


class PortalScoped(Audited):
    """Portal endpoints see only the patients a PortalAccess row grants the user."""

    permission_classes = [IsPortalUser]

    def portal_grants(self):
        """The user's grants with their patients, as ``IsPortalUser`` loaded them for this request."""
        from patients.selectors import portal_grants

        grants = getattr(self.request, "portal_grants", None)
        if grants is None:  # only while drf-spectacular builds the schema with a fake request
            grants = self.request.portal_grants = portal_grants(user=self.request.user)
        return grants

    def portal_patients(self):
        """The patients the user may see in the portal, in name order (no query: see ``portal_grants``)."""
        from patients.selectors import granted_patients

        return granted_patients(self.portal_grants())


class PortalAPIView(PortalScoped, APIView):
    pass
