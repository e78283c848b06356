"""The portal's outcome chart (issue 18): ``GET /portal/outcomes/<code>.svg?patient=<id>`` for a signed-in portal
user — the patient's scores on one instrument over time, as the SVG of ``prescriptions.charts`` (the questionnaires
screen shows it as an image; ``GET /api/v1/portal/outcomes`` gives its address).

The same scoping as the printable program (``print_views``): a patient the user holds a live portal grant to and
still in care; ``?patient=`` may be left out when there is only one. Any other patient, an id that is not a number
or an unknown instrument is a 404; staff get 403, and so does a user with no live grant; an anonymous visitor is
sent to the portal's sign-in page. An instrument the patient has not answered yet is the chart's empty state. The
read writes an AccessLog row in the transaction that reads the scores; the answer is ``image/svg+xml``, no-store,
under the portal's strict CSP (the SVG has no script and no style element).
"""

from __future__ import annotations

from django.contrib.auth.views import redirect_to_login
from django.db import transaction
from django.http import Http404, HttpResponse
from django.utils.decorators import method_decorator
from django.views import View

from clinic.csp import portal_page
from clinic.models import Instrument
from patients import audit
from prescriptions.selectors.patient_page import outcome_chart_empty, outcome_charts
from prescriptions.web.print_views import PORTAL_LOGIN_PAGE, viewer_patients

CHART_READ = "portal:outcome-chart"
"""What the AccessLog row of a view of an outcome chart says was read."""
SVG = "image/svg+xml"


@method_decorator(portal_page, name="dispatch")  # the portal's strict CSP and no-store
class OutcomeChartView(View):
    http_method_names = ["get", "head", "options"]

    def get(self, request, code: str):
        patients = viewer_patients(request)
        if patients is None:
            return redirect_to_login(request.get_full_path(), PORTAL_LOGIN_PAGE)
        patient = _chosen(patients, request.GET.get("patient"))
        instrument = Instrument.objects.filter(code=code).first()
        if patient is None or instrument is None:
            raise Http404
        with transaction.atomic():
            charts = outcome_charts(patient=patient, code=instrument.code)
            audit.access_log_record(actor=request.user, patient_ids=[patient.pk], what=CHART_READ)
        svg = charts[0].svg if charts else outcome_chart_empty(instrument=instrument)
        return HttpResponse(svg, content_type=f"{SVG}; charset=utf-8")


def _chosen(patients: list, raw: str | None):
    """The patient ``?patient=`` names among ``patients`` (the only one when it is left out), else None."""
    if raw is None:
        return patients[0] if len(patients) == 1 else None
    if not raw.isdecimal():
        return None
    return next((patient for patient in patients if patient.pk == int(raw)), None)
