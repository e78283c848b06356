"""Base views of every API view that may show patient data (``patients`` and ``prescriptions``).

``Audited`` logs each read of patient data (DESIGN §7) on top of ``clinic.api.views`` (the actor of every
change, the ``shows_patients`` declaration, staff scoping); the staff and portal bases here keep that log.
``clinic``'s own endpoints (the catalog) show no patient data and build on ``clinic.api.views`` alone.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from django.core.exceptions import ImproperlyConfigured
from django.db import transaction
from rest_framework import generics
from rest_framework.authentication import SessionAuthentication
from rest_framework.views import APIView

from clinic.api.authentication import TokenAuthentication
from clinic.api.views import ReadsDeclared, StaffScoped
from patients import audit
from patients.api.authentication import portal_token_candidates
from patients.api.permissions import IsPortalUser
from patients.models import Patient
from patients.selectors import granted_patients, portal_grants

SHOWS_PATIENTS_KINDS = (None, "url", "objects")


class Audited(ReadsDeclared):
    """Every change a request makes carries its actor; every read of patient data is logged (DESIGN §7).

    Reads run in one transaction with their AccessLog rows, and a read that cannot be logged fails.
    Every view that answers GET declares which patients a read shows, in ``shows_patients`` (``as_view``
    refuses one that does not, so the URLconf fails to import):

    - ``None``: the view shows no patient data; nothing is logged.
    - ``"url"``: the URL's ``patient_id`` (the view answers 404 for any patient the caller may not see).
    - ``"objects"``: the objects the view serialized: generic list views record their page through
      ``get_serializer``; other views call ``self.shown(*objects)`` with what they put in the body.
      ``patient_of(obj)`` names each object's patient (``obj.pk`` for a Patient, else ``obj.patient_id``).

    Never inferred from the body, so renaming a serializer field cannot stop the log. Fails closed: a 2xx read
    of a view declaring patients that did not record what it showed is a server error, and nothing is served.

    A view whose read is one statement may log it in that statement (``audit.logged_read_sql``, as the portal's
    plans do: issue 20) and say so with ``logs_in_read_statement``: its reads then open no transaction (the statement
    is atomic by itself), and it records what it showed with ``shown(..., logged=True)`` once the statement ran.
    Anything it shows without ``logged=True`` is still logged here.
    """

    shows_patients_kinds = SHOWS_PATIENTS_KINDS
    logs_in_read_statement = False
    _shown: list[Any] | None = None  # what a read recorded as shown (``shown``); reset per request
    _logged: frozenset[int] = frozenset()  # the patients of ``_shown`` the read's own statement logged

    def dispatch(self, request, *args, **kwargs):
        self._shown, self._logged = None, frozenset()
        if request.method in self.read_methods and not self.logs_in_read_statement:
            # savepoint=False: outermost in production (ATOMIC_REQUESTS is off); no extra round trips.
            with transaction.atomic(savepoint=False):
                return super().dispatch(request, *args, **kwargs)
        return super().dispatch(request, *args, **kwargs)

    def shown(self, *objects, logged: bool = False) -> None:
        """Record objects the response shows (``shows_patients = "objects"``); their patients are logged, unless
        ``logged``: the read's own statement logged them (``logs_in_read_statement``)."""
        if self._shown is None:
            self._shown = []
        self._shown.extend(objects)
        if logged:
            self._logged = self._logged | {self.patient_of(obj) for obj in objects}

    def read_logged_as(self, request) -> str:
        """The access log's ``what`` of this view's reads: ``api:<url name>``."""
        match = getattr(request, "resolver_match", None)
        return f"api:{match.url_name}" if match and match.url_name else f"api:{type(self).__name__}"

    def get_serializer(self, *args, **kwargs):
        # Generic views serialize what they show through here: record it before it becomes JSON.
        instance = args[0] if args else kwargs.get("instance")
        if instance is not None:
            self.shown(*(instance if kwargs.get("many") else [instance]))
        elif kwargs.get("many"):
            self.shown()
        return super().get_serializer(*args, **kwargs)

    def patient_of(self, obj) -> int:
        return obj.pk if isinstance(obj, Patient) else obj.patient_id

    def finalize_response(self, request, response, *args, **kwargs):
        response = super().finalize_response(request, response, *args, **kwargs)
        if request.method in self.read_methods and 200 <= response.status_code < 300:
            patient_ids = [pid for pid in self.audited_patient_ids(kwargs) if pid not in self._logged]
            if patient_ids:
                # Looked up at each read (``audit.``): the one writer of the log. (A view that logs in its read's own
                # statement wrote its rows with ``audit.logged_read_sql`` and marked them ``_logged``.)
                what = self.read_logged_as(request)
                audit.access_log_record(actor=request.user, patient_ids=patient_ids, what=what)
        return response

    def audited_patient_ids(self, kwargs) -> Iterable[int]:
        """The patients this 2xx read showed, by the view's declaration; refuses a read it cannot attribute."""
        kind = self.shows_patients
        if kind is None:
            return []
        if kind == "url":
            if kwargs.get("patient_id") is None:
                raise ImproperlyConfigured(f"{type(self).__name__} shows the URL's patient but has no patient_id.")
            return [int(kwargs["patient_id"])]
        if self._shown is None:  # fail closed (DESIGN §10): patient data that cannot be attributed is not served
            raise ImproperlyConfigured(
                f"{type(self).__name__} declares shows_patients='objects' but recorded nothing it showed."
            )
        return [self.patient_of(obj) for obj in self._shown]


# Staff endpoints of the caller's clinic whose reads may show patient data (and are logged). ``StaffScoped``
# first, and no docstrings here: drf-spectacular describes an operation by the first docstring of its view's MRO.


class StaffAPIView(StaffScoped, Audited, APIView):
    pass


class StaffListView(StaffScoped, Audited, generics.ListAPIView):
    pass


class PortalScoped(Audited):
    """Portal endpoints see only the patients a PortalAccess row grants the user."""

    permission_classes = [IsPortalUser]

    def get_authenticators(self):
        # A token request reads its grants with the token, in one statement (issue 20); the web app uses its session.
        return [TokenAuthentication(candidates=portal_token_candidates), SessionAuthentication()]

    def portal_grants(self):
        """The user's grants with their patients, as ``IsPortalUser`` loaded them for this request."""
        grants = getattr(self.request, "portal_grants", None)
        if grants is None:  # only while drf-spectacular builds the schema with a fake request
            grants = self.request.portal_grants = portal_grants(user=self.request.user)
        return grants

    def portal_patients(self):
        """The patients the user may see in the portal, in name order (no query: see ``portal_grants``)."""
        return granted_patients(self.portal_grants())


class PortalAPIView(PortalScoped, APIView):
    pass
