"""Limber's admin site: for staff of a clinic the index is the desk's day (``prescriptions.selectors.desk``)."""

from __future__ import annotations

from django.contrib import admin
from django.core.exceptions import PermissionDenied
from django.db import transaction
from django.utils import timezone

from clinic.access import membership_of
from clinic.policy import POLICY, Action
from patients.audit import access_log_record
from prescriptions.selectors.desk import desk_day


class LimberAdminSite(admin.AdminSite):
    site_header = "Limber — clinic desk"
    site_url = None  # no public site: Django's "View site" link would lead to a 404
    site_title = "Limber"
    index_title = "Today at the clinic"
    index_template = "admin/limber_index.html"

    def autocomplete_view(self, request):
        """No admin field uses autocomplete; Django would still answer any model with search fields, naming patients
        in JSON that no access log records. Refused."""
        raise PermissionDenied

    def index(self, request, extra_context=None):
        """Staff of a clinic see the desk's day above the app list; showing it is a logged read of its patients,
        in the same transaction (a read that cannot be logged fails). Superusers see the plain index."""
        membership = membership_of(request.user)
        if membership is None:
            return super().index(request, extra_context)
        with transaction.atomic():
            day = desk_day(clinic_id=membership.clinic_id, now=timezone.now())
            context = {
                **(extra_context or {}),
                "desk_day": day,
                "can_record_clearance": membership.role in POLICY[Action.RECORD_CLEARANCE],
            }
            response = super().index(request, context)
            access_log_record(actor=request.user, patient_ids=day.patient_ids, what="admin:desk-day")
            response.render()
        return response
