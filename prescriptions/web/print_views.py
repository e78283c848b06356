"""The printable program's page (issue 16, item 3): ``GET /portal/plans/<id>/print`` for a signed-in portal user.

The same template as the PDF endpoints (``prescriptions.selectors.program.PROGRAM_TEMPLATE``), rendered to HTML with
its stylesheet linked: no inline script or style (the portal's strict CSP, ``clinic.csp.portal_page``, and no-store).
The same scoping as the portal API: a plan of a patient the user holds a live portal grant to
(``patients.selectors.portal_grants``), active, paused or completed; any other plan, a draft or a cancelled one is a
404; staff get 403, and so does a user with no live grant; an anonymous visitor is sent to the portal's sign-in page
(``/portal/login?next=<this page>``). Like every read of patient data, the page writes an AccessLog row, in the
transaction that reads the plan.
"""

from __future__ import annotations

from django.contrib.auth.views import redirect_to_login
from django.core.exceptions import PermissionDenied
from django.db import transaction
from django.http import Http404
from django.shortcuts import render
from django.urls import reverse
from django.utils.decorators import method_decorator
from django.views import View

from clinic.access import membership_of
from clinic.csp import portal_page
from patients import audit
from patients.selectors import granted_patients, portal_grants
from prescriptions.selectors.program import PROGRAM_STYLESHEET, PROGRAM_TEMPLATE, portal_printable_plan, program

PORTAL_PAGE = "portal-page-today"
PORTAL_LOGIN_PAGE = "portal-page-login"
PRINT_READ = "portal:program-print"
"""What the AccessLog row of a view of the print page says was read."""


def viewer_patients(request) -> list | None:
    """The patients a portal page may show the signed-in user (themselves, their wards); None when signed out (the
    page redirects to sign in). Staff and a user without a portal grant: 403."""
    user = request.user
    if not user.is_authenticated:
        return None
    grants = portal_grants(user=user) if membership_of(user) is None else None
    if not grants:
        raise PermissionDenied("This page is for patients and their guardians.")
    return granted_patients(grants)


@method_decorator(portal_page, name="dispatch")  # the portal's strict CSP (no inline script or style) and no-store
class ProgramPrintView(View):
    http_method_names = ["get", "head", "options"]

    def get(self, request, prescription_id: int):
        patients = viewer_patients(request)
        if patients is None:
            return redirect_to_login(request.get_full_path(), PORTAL_LOGIN_PAGE)
        with transaction.atomic():
            plan = portal_printable_plan(patients=patients, pk=prescription_id)
            if plan is None:
                raise Http404
            content = program(plan=plan)
            audit.access_log_record(actor=request.user, patient_ids=[plan.patient_id], what=PRINT_READ)
        context = {**content, "for_pdf": False, "stylesheet": PROGRAM_STYLESHEET, "portal_url": reverse(PORTAL_PAGE)}
        return render(request, PROGRAM_TEMPLATE, context)
