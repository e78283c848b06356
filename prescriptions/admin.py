from django.contrib import admin

from clinic.admin_base import ReadOnlyAdmin
from prescriptions.models import (
    GateEvaluation,
    GateOverride,
    Prescription,
    PrescriptionItem,
    Reminder,
    SafetyFlag,
    Session,
    SessionLog,
)


class ItemInline(admin.TabularInline):
    model = PrescriptionItem
    extra = 0
    fields = ["order", "stretch", "hold_seconds", "reps", "sets", "side", "notes"]
    readonly_fields = fields
    can_delete = False

    def has_add_permission(self, request, obj=None) -> bool:
        return False


@admin.register(Prescription)
class PrescriptionAdmin(ReadOnlyAdmin):
    list_display = ["id", "patient", "status", "therapist", "start_date", "end_date", "materialized_through"]
    list_filter = ["status"]
    list_select_related = ["patient", "therapist"]
    inlines = [ItemInline]


@admin.register(GateEvaluation)
class GateEvaluationAdmin(ReadOnlyAdmin):
    list_display = ["prescription", "purpose", "passed", "on_date", "through_date", "evaluated_at", "evaluated_by"]
    list_filter = ["purpose", "passed"]
    list_select_related = ["prescription__patient", "evaluated_by"]


@admin.register(GateOverride)
class GateOverrideAdmin(ReadOnlyAdmin):
    list_display = ["prescription", "item", "kind", "code", "cause", "by", "at"]
    list_select_related = ["prescription__patient", "item__stretch", "by"]


@admin.register(Session)
class SessionAdmin(ReadOnlyAdmin):
    list_display = ["prescription", "local_date", "local_time", "scheduled_at", "status"]
    list_filter = ["status"]
    list_select_related = ["prescription__patient"]


@admin.register(SessionLog)
class SessionLogAdmin(ReadOnlyAdmin):
    list_display = ["session", "logged_at", "pain_before", "pain_after", "difficulty"]
    list_select_related = ["session__prescription__patient"]


@admin.register(Reminder)
class ReminderAdmin(ReadOnlyAdmin):
    list_display = ["session", "purpose", "channel", "send_at", "status", "attempts", "sent_at"]
    list_filter = ["status", "purpose", "channel"]
    list_select_related = ["session__prescription__patient"]


@admin.register(SafetyFlag)
class SafetyFlagAdmin(ReadOnlyAdmin):
    list_display = ["patient", "kind", "severity", "status", "summary", "detected_at"]
    list_filter = ["kind", "severity", "status"]
    list_select_related = ["patient"]
