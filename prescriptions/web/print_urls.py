"""The portal's pages under /portal/ that render patient data themselves: the printable program (the template the
PDF endpoints render) and the outcome charts (issue 18)."""

from __future__ import annotations

from django.urls import path

from prescriptions.web.chart_views import OutcomeChartView
from prescriptions.web.print_views import ProgramPrintView

urlpatterns = [
    path("plans/<int:prescription_id>/print", ProgramPrintView.as_view(), name="portal-program-print"),
    path("outcomes/<slug:code>.svg", OutcomeChartView.as_view(), name="portal-outcome-chart"),
]
