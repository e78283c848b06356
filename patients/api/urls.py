from django.urls import path

from patients.api import views

urlpatterns = [
    path("patients/", views.PatientListView.as_view(), name="patient-list"),
    path("patients/<int:patient_id>/", views.PatientDetailView.as_view(), name="patient-detail"),
    path("patients/<int:patient_id>/archive", views.PatientArchiveView.as_view(), name="patient-archive"),
    path("patients/<int:patient_id>/episodes/", views.EpisodeListView.as_view(), name="patient-episodes"),
    path(
        "patients/<int:patient_id>/episodes/<int:episode_id>/discharge",
        views.EpisodeDischargeView.as_view(),
        name="patient-episode-discharge",
    ),
    path("patients/<int:patient_id>/diagnoses/", views.PatientDiagnosisListView.as_view(), name="patient-diagnoses"),
    path(
        "patients/<int:patient_id>/diagnoses/<int:diagnosis_id>/",
        views.PatientDiagnosisDetailView.as_view(),
        name="patient-diagnosis-detail",
    ),
    path(
        "patients/<int:patient_id>/mobility-assessments/",
        views.MobilityAssessmentListView.as_view(),
        name="patient-mobility-assessments",
    ),
    path("patients/<int:patient_id>/clearances/", views.ClearanceListView.as_view(), name="patient-clearances"),
    path(
        "patients/<int:patient_id>/clearances/<int:clearance_id>/revoke",
        views.ClearanceRevokeView.as_view(),
        name="patient-clearance-revoke",
    ),
    path(
        "patients/<int:patient_id>/portal-access/",
        views.PortalAccessListView.as_view(),
        name="patient-portal-access",
    ),
    path(
        "patients/<int:patient_id>/portal-access/<int:access_id>/revoke",
        views.PortalAccessRevokeView.as_view(),
        name="patient-portal-access-revoke",
    ),
    path(
        "patients/<int:patient_id>/portal-access/<int:access_id>/reset-password",
        views.PortalPasswordResetView.as_view(),
        name="patient-portal-password-reset",
    ),
]
