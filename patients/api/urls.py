from django.urls import path

from patients.api import views

urlpatterns = [
    path("patients/", views.PatientListView.as_view(), name="patient-list"),
    path("patients/<int:patient_id>/", views.PatientDetailView.as_view(), name="patient-detail"),
    path("patients/<int:patient_id>/archive", views.PatientArchiveView.as_view(), name="patient-archive"),
]
