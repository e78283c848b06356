"""The portal app's pages under /portal/: every path serves the same shell (``views.PortalPage``); the page's
script shows the screen the path names, so a reload or a bookmark lands on the same screen."""

from __future__ import annotations

from django.urls import path

from prescriptions.web.views import PortalPage, PortalResetPage

page = PortalPage.as_view()

urlpatterns = [
    path("", page, name="portal-page-today"),
    path("login", page, name="portal-page-login"),
    path("choose", page, name="portal-page-choose"),
    path("sessions/<int:session_id>", page, name="portal-page-session"),
    path("week", page, name="portal-page-week"),
    path("preferences", page, name="portal-page-preferences"),
    path("password", page, name="portal-page-password"),
    path("forgot", page, name="portal-page-forgot"),
    path("questionnaires", page, name="portal-page-questionnaires"),
    path("reset/<str:uidb64>/<str:token>", PortalResetPage.as_view(), name="portal-page-reset"),
]
