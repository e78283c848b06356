from django.urls import path

from prescriptions.api import fhir, measures
from prescriptions.api import staff_sessions as views

urlpatterns = [
    path("sessions/", views.StaffSessionListView.as_view(), name="session-list"),
    path("flags/", views.SafetyFlagListView.as_view(), name="flag-list"),
    path("flags/<int:flag_id>/", views.SafetyFlagDetailView.as_view(), name="flag-detail"),
    path("flags/<int:flag_id>/acknowledge", views.SafetyFlagAcknowledgeView.as_view(), name="flag-acknowledge"),
    path("flags/<int:flag_id>/resolve", views.SafetyFlagResolveView.as_view(), name="flag-resolve"),
    path("patients/<int:patient_id>/adherence", views.PatientAdherenceView.as_view(), name="patient-adherence"),
    # Outcome measures (issue 18).
    path("patients/<int:patient_id>/measures", measures.PatientMeasureListView.as_view(), name="patient-measures"),
    path(
        "patients/<int:patient_id>/measures/<int:measure_id>/responses",
        measures.PatientMeasureResponseView.as_view(),
        name="patient-measure-responses",
    ),
    path("patients/<int:patient_id>/outcomes", measures.PatientOutcomeListView.as_view(), name="patient-outcomes"),
    path(
        "patients/<int:patient_id>/episodes/<int:episode_id>/instruments",
        measures.EpisodeInstrumentsView.as_view(),
        name="patient-episode-instruments",
    ),
    # The FHIR R4 export for the clinic's EHR (issue 19).
    path("patients/<int:patient_id>/fhir", fhir.PatientFHIRExportView.as_view(), name="patient-fhir"),
]
