"""Base views for the API's own endpoints in ``clinic`` (the catalog), and what every API view builds on.

The apps depend one way, ``clinic`` ← ``patients`` ← ``prescriptions`` (DESIGN §1), and patient data lives
above ``clinic``: the views that may show it, and the access log of their reads, build on these in
``patients.api.base`` (``Audited``, its staff and portal bases).
"""

from __future__ import annotations

import pghistory
from django.core.exceptions import ImproperlyConfigured
from rest_framework import generics
from rest_framework.views import APIView

from clinic.api.permissions import IsStaffMember
from clinic.policy import Action

READ_METHODS = ("GET", "HEAD")
UNDECLARED = object()


class Contextual:
    """Every change a request makes carries its actor: pghistory's context names the user and the URL."""

    def dispatch(self, request, *args, **kwargs):
        if request.method in READ_METHODS:
            # A read changes nothing tracked (the access log is append-only, not a tracked model): no context, so no
            # statement of the read carries pghistory's set_config (issue 20, the portal's hot path).
            return super().dispatch(request, *args, **kwargs)
        with pghistory.context(url=request.path):
            return super().dispatch(request, *args, **kwargs)

    def initial(self, request, *args, **kwargs):
        super().initial(request, *args, **kwargs)
        if request.method in READ_METHODS:
            return
        # Token users are known only now, after DRF authenticated them; the middleware saw an anonymous user.
        user = request.user
        pghistory.context(user=user.pk if user.is_authenticated else None, url=request.path)


class ReadsDeclared(Contextual):
    """Every view that answers GET declares which patients a read shows, in ``shows_patients`` (DESIGN §7):
    ``as_view`` refuses one that does not, so the URLconf fails to import.

    ``clinic`` holds no patient data, so the only declaration here is ``None`` (the view shows none). The
    declarations that name patients, and the logging of those reads, are ``patients.api.base.Audited``'s.
    """

    shows_patients: str | None = UNDECLARED  # type: ignore[assignment]
    shows_patients_kinds: tuple[str | None, ...] = (None,)
    """What a view of this base may declare in ``shows_patients``."""
    read_methods: tuple[str, ...] = READ_METHODS
    """Methods whose 2xx answer is a read: a dry run answering POST (the safety check) adds it."""

    def __init_subclass__(cls, **kwargs):
        super().__init_subclass__(**kwargs)
        declared = cls.__dict__.get("shows_patients", UNDECLARED)
        if declared is not UNDECLARED and declared not in cls.shows_patients_kinds:
            raise ImproperlyConfigured(
                f"{cls.__qualname__}.shows_patients is {declared!r}: declare one of {cls.shows_patients_kinds!r} "
                "(a view that shows patient data builds on patients.api.base, which logs its reads)."
            )

    @classmethod
    def as_view(cls, **initkwargs):
        reads = any(hasattr(cls, method.lower()) for method in cls.read_methods if method != "HEAD")
        if reads and cls.shows_patients is UNDECLARED:
            kinds = " or ".join(map(repr, cls.shows_patients_kinds))
            raise ImproperlyConfigured(
                f"{cls.__module__}.{cls.__qualname__} answers GET but does not declare `shows_patients` "
                f"({kinds}): every read of patient data must name its patients (DESIGN §7)."
            )
        return super().as_view(**initkwargs)


class StaffScoped(ReadsDeclared):
    """Staff endpoints see only their clinic's rows."""

    permission_classes = [IsStaffMember]
    # The policy action (clinic/policy.py) a safe / unsafe request needs; None: any staff role.
    read_action: Action | None = None
    write_action: Action | None = None

    @property
    def membership(self):
        # None only while drf-spectacular builds the schema with a fake request.
        return getattr(self.request, "membership", None)

    @property
    def clinic_id(self) -> int | None:
        return self.membership.clinic_id if self.membership else None


# Staff endpoints of the clinic's own data, which show no patient's (the catalog). No docstrings on these bases:
# drf-spectacular describes an operation by the first docstring of its view's MRO (here ``StaffScoped``'s).


class ClinicAPIView(StaffScoped, APIView):
    pass


class ClinicListView(StaffScoped, generics.ListAPIView):
    pass
