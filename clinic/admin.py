from django.contrib import admin
from django.db import transaction
from django.db.models import Q

from clinic import services
from clinic.admin_base import ClinicScopedAdmin
from clinic.models import (
    PRECAUTION_WINDOW_SETTINGS,
    ClearanceAuthorityRule,
    Clinic,
    Contraindication,
    Diagnosis,
    MobilityLevel,
    MovementTag,
    StaffMembership,
    Stretch,
)


class NoDeleteAdmin(admin.ModelAdmin):
    def has_delete_permission(self, request, obj=None) -> bool:
        return False


class CatalogAdmin(NoDeleteAdmin):
    """Catalog rows are saved through ``clinic.services.catalog_row_save``, which records the re-check of every
    active plan the change may affect (the gate reads these rows)."""

    def save_model(self, request, obj, form, change) -> None:
        pass  # saved together with its many-to-many fields in save_related, through the service

    def save_related(self, request, form, formsets, change) -> None:
        def save_related() -> None:
            super(CatalogAdmin, self).save_related(request, form, formsets, change)

        services.catalog_row_save(row=form.instance, by=request.user, save_related=save_related)


class ClinicCatalogAdmin(ClinicScopedAdmin, CatalogAdmin):
    """A clinic's own catalog rows beside the global ones; global rows are edited by superusers only."""

    include_global = True
    scoped_choices = {"clinic": "pk"}

    def formfield_for_foreignkey(self, db_field, request, **kwargs):
        formfield = super().formfield_for_foreignkey(db_field, request, **kwargs)
        if db_field.name == "clinic" and formfield is not None and not request.user.is_superuser:
            formfield.required = True  # staff add their own clinic's rows, never global ones
            formfield.empty_label = None
        return formfield

    def has_change_permission(self, request, obj=None) -> bool:
        if obj is not None and obj.clinic_id is None and not request.user.is_superuser:
            return False
        return super().has_change_permission(request, obj)


@admin.register(Clinic)
class ClinicAdmin(ClinicScopedAdmin, NoDeleteAdmin):
    clinic_path = "pk"
    list_display = ["name", "timezone", "created_at"]
    search_fields = ["name"]
    fieldsets = [
        (None, {"fields": ["name", "timezone"]}),
        (
            "Hip precaution windows",
            {
                "fields": list(PRECAUTION_WINDOW_SETTINGS.values()),
                "description": "How long this clinic's surgeons keep hip precautions after a replacement. The gate"
                " uses these days instead of the catalog's windows for the rows marked with a precaution window;"
                " changing them re-checks every active plan of the clinic.",
            },
        ),
    ]

    @transaction.atomic
    def save_model(self, request, obj, form, change) -> None:
        super().save_model(request, obj, form, change)
        if change and set(form.changed_data) & set(PRECAUTION_WINDOW_SETTINGS.values()):
            services.catalog_recheck_request(clinic_id=obj.pk, reason="clinic precaution window changed")


@admin.register(StaffMembership)
class StaffMembershipAdmin(ClinicScopedAdmin, NoDeleteAdmin):
    scoped_choices = {"clinic": "pk"}
    list_display = ["user", "clinic", "role", "profession"]
    list_filter = ["role", "clinic"]
    list_select_related = ["user", "clinic"]
    search_fields = ["user__username", "user__email"]

    def formfield_for_foreignkey(self, db_field, request, **kwargs):
        field = super().formfield_for_foreignkey(db_field, request, **kwargs)
        membership = getattr(request.user, "membership", None)
        if db_field.name == "user" and not request.user.is_superuser and membership is not None:
            # Only this clinic's staff, or staff accounts not yet in any clinic: never other clinics' users
            # or patients' portal logins.
            field.queryset = field.queryset.filter(
                Q(membership__clinic_id=membership.clinic_id)
                | Q(membership__isnull=True, is_staff=True, is_superuser=False, portal_accesses__isnull=True)
            ).distinct()
        return field


@admin.register(MovementTag)
class MovementTagAdmin(CatalogAdmin):
    list_display = ["slug", "name"]


@admin.register(MobilityLevel)
class MobilityLevelAdmin(CatalogAdmin):
    list_display = ["level", "name", "description"]


@admin.register(Diagnosis)
class DiagnosisAdmin(CatalogAdmin):
    list_display = ["code", "name", "body_region", "clearance_by"]
    search_fields = ["code", "name"]


@admin.register(ClearanceAuthorityRule)
class ClearanceAuthorityRuleAdmin(CatalogAdmin):
    """Who may clear a diagnosis while a window of days since onset or another diagnosis applies: global rows, so
    superusers edit them (``catalog_row_save``), and every save re-checks every clinic's active plans."""

    list_display = ["diagnosis", "professions", "from_day", "until_day", "with_diagnosis", "source"]
    list_select_related = ["diagnosis", "with_diagnosis"]
    search_fields = ["diagnosis__code", "diagnosis__name"]


@admin.register(Stretch)
class StretchAdmin(ClinicCatalogAdmin):
    list_display = ["name", "slug", "clinic", "kind", "position", "body_region", "min_mobility"]
    list_filter = ["kind", "body_region", "position", "clinic"]
    list_select_related = ["clinic", "min_mobility"]
    search_fields = ["name", "slug"]
    filter_horizontal = ["tags"]


@admin.register(Contraindication)
class ContraindicationAdmin(ClinicCatalogAdmin):
    list_display = ["diagnosis", "tag", "stretch", "severity", "phase", "qualifier", "from_day", "until_day", "clinic"]
    list_filter = ["severity", "phase", "clinic"]
    list_select_related = ["diagnosis", "tag", "stretch", "clinic"]
