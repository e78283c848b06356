"""Browse-only patient records: they change through the services (API), never as raw edits here."""

from __future__ import annotations

from django.contrib import admin

from clinic.admin_base import ReadOnlyAdmin
from patients.admin.reads import PatientReadsLogged
from patients.models import Episode, MobilityAssessment, PatientDiagnosis, PortalAccess


@admin.register(PortalAccess)
class PortalAccessAdmin(PatientReadsLogged, ReadOnlyAdmin):
    clinic_path = "patient__clinic"
    read_what = "portal-access"
    list_display = ["user", "patient", "relationship"]
    list_select_related = ["user", "patient"]


@admin.register(Episode)
class EpisodeAdmin(PatientReadsLogged, ReadOnlyAdmin):
    clinic_path = "patient__clinic"
    read_what = "episode"
    list_display = ["title", "patient", "opened_on", "discharged_on", "primary_therapist"]
    list_select_related = ["patient", "primary_therapist"]


@admin.register(PatientDiagnosis)
class PatientDiagnosisAdmin(PatientReadsLogged, ReadOnlyAdmin):
    clinic_path = "patient__clinic"
    read_what = "diagnosis"
    list_display = ["patient", "diagnosis", "phase", "qualifier", "onset_date", "resolved_date"]
    list_select_related = ["patient", "diagnosis"]


@admin.register(MobilityAssessment)
class MobilityAssessmentAdmin(PatientReadsLogged, ReadOnlyAdmin):
    clinic_path = "patient__clinic"
    read_what = "mobility"
    list_display = ["patient", "level", "assessed_at", "assessed_by"]
    list_select_related = ["patient", "level", "assessed_by"]
