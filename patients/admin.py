from django.contrib import admin

from clinic.admin_base import ReadOnlyAdmin
from patients.models import Clearance, Episode, MobilityAssessment, Patient, PatientDiagnosis, PortalAccess


@admin.register(Patient)
class PatientAdmin(ReadOnlyAdmin):
    list_display = ["mrn", "last_name", "first_name", "clinic", "timezone", "preferred_channel", "archived_at"]
    list_filter = ["clinic", "preferred_channel"]
    list_select_related = ["clinic"]
    search_fields = ["mrn", "first_name", "last_name", "email", "phone"]


@admin.register(PortalAccess)
class PortalAccessAdmin(ReadOnlyAdmin):
    list_display = ["user", "patient", "relationship"]
    list_select_related = ["user", "patient"]


@admin.register(Episode)
class EpisodeAdmin(ReadOnlyAdmin):
    list_display = ["title", "patient", "opened_on", "discharged_on", "primary_therapist"]
    list_select_related = ["patient", "primary_therapist"]


@admin.register(PatientDiagnosis)
class PatientDiagnosisAdmin(ReadOnlyAdmin):
    list_display = ["patient", "diagnosis", "phase", "qualifier", "onset_date", "resolved_date"]
    list_select_related = ["patient", "diagnosis"]


@admin.register(MobilityAssessment)
class MobilityAssessmentAdmin(ReadOnlyAdmin):
    list_display = ["patient", "level", "assessed_at", "assessed_by"]
    list_select_related = ["patient", "level", "assessed_by"]


@admin.register(Clearance)
class ClearanceAdmin(ReadOnlyAdmin):
    list_display = ["patient", "status", "profession", "professional_name", "valid_from", "valid_until", "revoked_at"]
    list_filter = ["status", "profession"]
    list_select_related = ["patient"]
