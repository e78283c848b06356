"""The admin shows times in the clinic's own zone, and says so (issue 15, item 4: "all times are UTC with no label").

For a member of staff, an admin request runs with the clinic's zone active, so every date and time the admin prints
(created, recorded, detected, the date filters) is the clinic's wall-clock time; the header names the zone. A
patient's own times (sessions, reminders) are printed in the patient's zone, named beside them. The API is
untouched: it answers in UTC, as DESIGN §4 says.
"""

from __future__ import annotations

from zoneinfo import ZoneInfo

from django.utils import timezone

from clinic.access import membership_of

ADMIN_PREFIX = "/admin/"


class ClinicTimeMiddleware:
    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        membership = membership_of(getattr(request, "user", None)) if request.path.startswith(ADMIN_PREFIX) else None
        if membership is None:
            return self.get_response(request)
        timezone.activate(ZoneInfo(membership.clinic.timezone))
        try:
            return self.get_response(request)
        finally:
            timezone.deactivate()
