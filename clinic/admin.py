from django.contrib import admin

from clinic.models import Clinic, Contraindication, Diagnosis, MobilityLevel, MovementTag, StaffMembership, Stretch


class NoDeleteAdmin(admin.ModelAdmin):
    def has_delete_permission(self, request, obj=None) -> bool:
        return False


@admin.register(Clinic)
class ClinicAdmin(NoDeleteAdmin):
    list_display = ["name", "timezone", "created_at"]
    search_fields = ["name"]


@admin.register(StaffMembership)
class StaffMembershipAdmin(NoDeleteAdmin):
    list_display = ["user", "clinic", "role", "profession"]
    list_filter = ["role", "clinic"]
    list_select_related = ["user", "clinic"]
    search_fields = ["user__username", "user__email"]


@admin.register(MovementTag)
class MovementTagAdmin(NoDeleteAdmin):
    list_display = ["slug", "name"]


@admin.register(MobilityLevel)
class MobilityLevelAdmin(NoDeleteAdmin):
    list_display = ["level", "name", "description"]


@admin.register(Diagnosis)
class DiagnosisAdmin(NoDeleteAdmin):
    list_display = ["code", "name", "body_region", "clearance_by"]
    search_fields = ["code", "name"]


@admin.register(Stretch)
class StretchAdmin(NoDeleteAdmin):
    list_display = ["name", "slug", "clinic", "kind", "position", "body_region", "min_mobility"]
    list_filter = ["kind", "body_region", "position", "clinic"]
    list_select_related = ["clinic", "min_mobility"]
    search_fields = ["name", "slug"]
    filter_horizontal = ["tags"]


@admin.register(Contraindication)
class ContraindicationAdmin(NoDeleteAdmin):
    list_display = ["diagnosis", "tag", "stretch", "severity", "phase", "qualifier", "from_day", "until_day", "clinic"]
    list_filter = ["severity", "phase", "clinic"]
    list_select_related = ["diagnosis", "tag", "stretch", "clinic"]
