from django.urls import path

from prescriptions.api import plans, program, templates

urlpatterns = [
    path("prescriptions/", plans.PrescriptionListView.as_view(), name="prescription-list"),
    path("prescriptions/<int:prescription_id>/", plans.PrescriptionDetailView.as_view(), name="prescription-detail"),
    path(
        "prescriptions/<int:prescription_id>/activate",
        plans.PrescriptionActivateView.as_view(),
        name="prescription-activate",
    ),
    path("prescriptions/<int:prescription_id>/pause", plans.PrescriptionPauseView.as_view(), name="prescription-pause"),
    path(
        "prescriptions/<int:prescription_id>/resume", plans.PrescriptionResumeView.as_view(), name="prescription-resume"
    ),
    path(
        "prescriptions/<int:prescription_id>/complete",
        plans.PrescriptionCompleteView.as_view(),
        name="prescription-complete",
    ),
    path(
        "prescriptions/<int:prescription_id>/cancel", plans.PrescriptionCancelView.as_view(), name="prescription-cancel"
    ),
    path("prescriptions/<int:prescription_id>/amend", plans.PrescriptionAmendView.as_view(), name="prescription-amend"),
    path(
        "prescriptions/<int:prescription_id>/progression",
        plans.PrescriptionProgressionView.as_view(),
        name="prescription-progression",
    ),
    path(
        "prescriptions/<int:prescription_id>/progression-steps/<int:step_id>/apply",
        plans.ProgressionStepApplyView.as_view(),
        name="prescription-progression-step-apply",
    ),
    path(
        "prescriptions/<int:prescription_id>/program.pdf",
        program.StaffProgramPdfView.as_view(),
        name="prescription-program-pdf",
    ),
    path("safety-check", plans.SafetyCheckView.as_view(), name="safety-check"),
    path(
        "prescriptions/from-template",
        templates.PrescriptionFromTemplateView.as_view(),
        name="prescription-from-template",
    ),
    path(
        "patients/<int:patient_id>/episodes/<int:episode_id>/template-suggestions",
        templates.TemplateSuggestionsView.as_view(),
        name="patient-episode-template-suggestions",
    ),
]
