from django.urls import path

from prescriptions.api import staff_sessions as views

urlpatterns = [
    path("sessions/", views.StaffSessionListView.as_view(), name="session-list"),
    path("flags/", views.SafetyFlagListView.as_view(), name="flag-list"),
    path("flags/<int:flag_id>/", views.SafetyFlagDetailView.as_view(), name="flag-detail"),
    path("flags/<int:flag_id>/acknowledge", views.SafetyFlagAcknowledgeView.as_view(), name="flag-acknowledge"),
    path("flags/<int:flag_id>/resolve", views.SafetyFlagResolveView.as_view(), name="flag-resolve"),
    path("patients/<int:patient_id>/adherence", views.PatientAdherenceView.as_view(), name="patient-adherence"),
]
