"""The printable program's page under /portal/ (the template the PDF endpoints render)."""

from __future__ import annotations

from django.urls import path

from prescriptions.web.print_views import ProgramPrintView

urlpatterns = [
    path("plans/<int:prescription_id>/print", ProgramPrintView.as_view(), name="portal-program-print"),
]
