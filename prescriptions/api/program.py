"""The printable program as a PDF (issue 16, item 3): for the patient or guardian in the portal, and for staff.

``GET /api/v1/portal/plans/{id}/program.pdf``: a plan of a patient the user holds a live portal grant to (another
patient's plan, a draft or a cancelled plan: 404; staff: 403). ``GET /api/v1/prescriptions/{id}/program.pdf``:
any staff role of the plan's clinic (``Action.VIEW_PROGRAM``; another clinic's plan: 404; a portal user: 403);
completed plans only for the roles that see past plans (``Action.VIEW_PLANS``), as on the patient page.

WeasyPrint renders ``prescriptions.selectors.program.PROGRAM_TEMPLATE`` — the template of the portal's print page —
with its stylesheet given by path, and fetches nothing: ``StaticOnlyFetcher`` answers only URLs under STATIC_URL,
from the static files on disk, and refuses every other URL (no network, no file outside the static files). Each
download is a read of the patient's data: the base view writes its AccessLog row.
"""

from __future__ import annotations

import mimetypes
from typing import Any

import weasyprint
from django.conf import settings
from django.contrib.staticfiles import finders
from django.http import HttpResponse
from django.template.loader import render_to_string
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework.exceptions import NotFound
from rest_framework.throttling import ScopedRateThrottle
from weasyprint.urls import URLFetcher, URLFetcherResponse

from clinic.api.renderers import AnyAccept
from clinic.policy import Action, may
from patients.api.base import PortalAPIView, StaffAPIView
from prescriptions.selectors.program import (
    LIVE,
    PRINTABLE,
    PROGRAM_STYLESHEET,
    PROGRAM_TEMPLATE,
    portal_printable_plan,
    program,
    staff_printable_plan,
)

PDF = "application/pdf"


class StaticOnlyFetcher(URLFetcher):
    """WeasyPrint's fetcher for the program: a URL under ``base_url`` + STATIC_URL is read from the static files
    (``finders``); anything else is refused, so rendering never reaches the network or the rest of the disk."""

    def __init__(self, *, base_url: str):
        super().__init__(allowed_protocols=())
        self.static_prefix = base_url.rstrip("/") + "/" + settings.STATIC_URL.strip("/") + "/"

    def fetch(self, url: str, headers=None) -> URLFetcherResponse:
        if url.startswith(self.static_prefix):
            relative = url[len(self.static_prefix) :].split("?")[0].split("#")[0]
            path = finders.find(relative) if ".." not in relative.split("/") else None
            if path:
                with open(path, "rb") as found:
                    body = found.read()
                content_type = mimetypes.guess_type(path)[0] or "application/octet-stream"
                return URLFetcherResponse(url, body, {"Content-Type": content_type})
        raise ValueError(f"The printable program fetches only its own static files, not {url}")


def program_pdf(content: dict[str, Any], *, base_url: str) -> bytes:
    """The program as PDF bytes: the shared template, its stylesheet from the static files, nothing fetched."""
    fetcher = StaticOnlyFetcher(base_url=base_url)
    html = render_to_string(PROGRAM_TEMPLATE, {**content, "for_pdf": True})
    stylesheet = weasyprint.CSS(filename=finders.find(PROGRAM_STYLESHEET), url_fetcher=fetcher)
    document = weasyprint.HTML(string=html, base_url=base_url, url_fetcher=fetcher)
    return document.write_pdf(stylesheets=[stylesheet])


def pdf_response(request, content: dict[str, Any]) -> HttpResponse:
    body = program_pdf(content, base_url=request.build_absolute_uri("/"))
    response = HttpResponse(body, content_type=PDF)
    # No patient name in the file name: it stays in download lists and browser history.
    response["Content-Disposition"] = f'attachment; filename="{content["filename"]}"'
    response["Cache-Control"] = "no-store"
    return response


PDF_RESPONSES = {
    (200, PDF): OpenApiResponse(
        OpenApiTypes.BINARY,
        description="The printable program (attachment): clinic and phone, patient, plan, days and times in the "
        "patient's zone, each stretch with its steps and dose in order, the 'When to stop' box, the date printed.",
    )
}


class ProgramPdfView:
    content_negotiation_class = AnyAccept
    shows_patients = "objects"  # the plan's patient
    # Each PDF costs a WeasyPrint render and an access-log row: counted per user (PROGRAM_PDF_THROTTLE_RATE).
    throttle_classes = [ScopedRateThrottle]
    throttle_scope = "program_pdf"


class PortalProgramPdfView(ProgramPdfView, PortalAPIView):
    @extend_schema(
        responses=PDF_RESPONSES,
        operation_id="portal_plans_program_pdf",
        summary="My printable program (PDF)",
        description="An active, paused or completed plan of a patient you may see; another plan, a draft or a "
        "cancelled plan is a 404. The same content as the page /portal/plans/{id}/print.",
    )
    def get(self, request, prescription_id: int):
        plan = portal_printable_plan(patients=self.portal_patients(), pk=prescription_id)
        if plan is None:
            raise NotFound()
        self.shown(plan)
        return pdf_response(request, program(plan=plan))


class StaffProgramPdfView(ProgramPdfView, StaffAPIView):
    read_action = Action.VIEW_PROGRAM

    @extend_schema(
        responses=PDF_RESPONSES,
        operation_id="prescriptions_program_pdf",
        summary="A plan's printable program, as the patient gets it (PDF)",
        description="Every staff role, for an active or paused plan of the clinic; completed plans for the roles that "
        "read past plans (therapists, clinic admins). Another clinic's plan, a draft or a cancelled plan is a 404.",
    )
    def get(self, request, prescription_id: int):
        # Past plans only for the roles that see them (VIEW_PLANS); the live plan for every role (VIEW_PROGRAM).
        statuses = PRINTABLE if may(Action.VIEW_PLANS, request.user) else LIVE
        plan = staff_printable_plan(clinic_id=self.clinic_id, pk=prescription_id, statuses=statuses)
        if plan is None:
            raise NotFound()
        self.shown(plan)
        return pdf_response(request, program(plan=plan))
