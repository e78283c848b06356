"""Admin pages for the two audit trails (DESIGN §7): changes (pghistory events) and reads (AccessLog).

Both are read-only: no add, change or delete. ``?patient=<id>`` narrows either page to one patient.
"""

from __future__ import annotations

from collections.abc import Callable

from django.contrib import admin
from django.db.models import Q
from pghistory.models import Events

from patients.models import AccessLog, Clearance, Patient

PatientEventSource = Callable[[int], Q]
"""``source(patient_id)``: the condition on ``Events`` that finds the change events of a higher app's rows
belonging to the patient."""

_event_sources: list[PatientEventSource] = []


def add_patient_event_source(source: PatientEventSource) -> PatientEventSource:
    """Count a higher app's events in a patient's change trail (prescriptions: its plans' and sessions').

    The higher app registers its source (DESIGN §1: ``patients`` never imports it); usable as a decorator.
    """
    if source not in _event_sources:
        _event_sources.append(source)
    return source


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
    """Every change event of a patient's rows: those naming the patient, those naming its clearances
    (restrictions), and those the higher apps' sources find (``add_patient_event_source``)."""
    clearance_ids = list(Clearance.objects.filter(patient_id=patient_id).values_list("pk", flat=True))
    names_the_patient = (
        Q(pgh_obj_model="patients.Patient", pgh_obj_id=str(patient_id))
        | Q(pgh_data__patient_id=patient_id)
        | Q(pgh_data__clearance_id__in=clearance_ids)
    )
    for source in _event_sources:
        names_the_patient |= source(patient_id)
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
