from django.urls import path

from prescriptions.api import measures, portal, program

urlpatterns = [
    path("me", portal.PortalMeView.as_view(), name="portal-me"),
    path("plans", portal.PortalPlansView.as_view(), name="portal-plans"),
    path("plans/<int:prescription_id>/program.pdf", program.PortalProgramPdfView.as_view(), name="portal-program-pdf"),
    path("sessions/", portal.PortalSessionListView.as_view(), name="portal-session-list"),
    path("sessions/<int:session_id>", portal.PortalSessionDetailView.as_view(), name="portal-session-detail"),
    path("sessions/<int:session_id>/log", portal.PortalSessionLogView.as_view(), name="portal-session-log"),
    path("sessions/<int:session_id>/skip", portal.PortalSessionSkipView.as_view(), name="portal-session-skip"),
    path("preferences", portal.PortalPreferencesView.as_view(), name="portal-preferences"),
    path("measures", measures.PortalMeasureListView.as_view(), name="portal-measures"),
    path(
        "measures/<int:measure_id>/responses",
        measures.PortalMeasureResponseView.as_view(),
        name="portal-measure-responses",
    ),
    path("outcomes", measures.PortalOutcomeListView.as_view(), name="portal-outcomes"),
]
