"""Admin pages for the two audit trails (DESIGN §7): changes (pghistory events) and reads (AccessLog).

Both are read-only: no add, change or delete. ``?patient=<id>`` narrows either page to one patient.
"""

from __future__ import annotations

from django.contrib import admin
from django.db.models import Q
from pghistory.models import Events

from patients.models import AccessLog, Clearance, Patient


class PatientIdFilter(admin.SimpleListFilter):
    """``?patient=<id>``: one patient's rows. No choice list — a clinic has too many patients for one."""

    title = "patient"
    parameter_name = "patient"

    def lookups(self, request, model_admin):
        value = self.value()
        if value and value.isdigit():
            patient = Patient.objects.filter(pk=value).first()
            return [(value, str(patient) if patient else f"Patient {value}")]
        return []

    def queryset(self, request, queryset):
        value = self.value()
        if not value:
            return queryset
        if not value.isdigit():
            return queryset.none()
        if queryset.model is Events:
            return patient_events(int(value))
        return queryset.filter(patient_id=int(value))


def patient_events(patient_id: int):
    """Every change event of a patient's rows: those naming the patient, and those naming its
    clearances, prescriptions or sessions (restrictions, items, overrides, logs, reminders)."""
    from prescriptions.models import Prescription, Session

    clearance_ids = list(Clearance.objects.filter(patient_id=patient_id).values_list("pk", flat=True))
    prescription_ids = list(Prescription.objects.filter(patient_id=patient_id).values_list("pk", flat=True))
    session_ids = list(Session.objects.filter(prescription__patient_id=patient_id).values_list("pk", flat=True))
    names_the_patient = (
        Q(pgh_obj_model="patients.Patient", pgh_obj_id=str(patient_id))
        | Q(pgh_data__patient_id=patient_id)
        | Q(pgh_data__clearance_id__in=clearance_ids)
        | Q(pgh_data__prescription_id__in=prescription_ids)
        | Q(pgh_data__session_id__in=session_ids)
    )
    return Events.objects.filter(names_the_patient).order_by("-pgh_created_at", "-pgh_id")


class ReadOnlyAdmin(admin.ModelAdmin):
    list_display_links = None

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


@admin.register(AccessLog)
class AccessLogAdmin(ReadOnlyAdmin):
    list_display = ["at", "patient", "actor_label", "what"]
    list_filter = [PatientIdFilter, "what"]
    list_select_related = ["patient", "actor"]
    date_hierarchy = "at"
    actions = None

    @admin.display(description="actor")
    def actor_label(self, obj: AccessLog) -> str:
        return obj.actor.get_username() if obj.actor else "system"


@admin.register(Events)
class ChangeEventAdmin(ReadOnlyAdmin):
    list_display = ["pgh_created_at", "pgh_obj_model", "pgh_obj_id", "pgh_label", "actor_label", "pgh_diff"]
    list_filter = [PatientIdFilter]
    actions = None
    show_full_result_count = False

    def get_queryset(self, request):
        return Events.objects.all().order_by("-pgh_created_at", "-pgh_id")

    @admin.display(description="actor")
    def actor_label(self, obj) -> str:
        context = obj.pgh_context or {}
        return str(context.get("actor") or context.get("user") or "—")
