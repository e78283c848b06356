"""The printable program (issue 16, item 3): the portal's and the staff's PDF, and the portal's print page.

Scoping as everywhere (another patient's or clinic's plan 404, the wrong kind of user 403, anonymous 401 on the API),
the PDF's text read back with pypdf (patient, each stretch in order, the clinic's phone, the "When to stop" box in the
API's own words), an AccessLog row per download and per view of the page, no inline script or style on the page, and
the same number of queries whatever the number of stretches.
"""

from __future__ import annotations

import datetime as dt
import io
import re
import sys
from html import unescape

import pytest
from django.core.cache import cache
from pypdf import PdfReader
from rest_framework.throttling import ScopedRateThrottle

from config import preflight
from patients.models import AccessLog, PortalAccess
from prescriptions.api.program import StaticOnlyFetcher
from prescriptions.gate import pain
from prescriptions.models import Prescription, RedFlagQuestion
from prescriptions.selectors.program import PAIN_WHEN
from tests import factories

Status = Prescription.Status
STRETCHES = ["pelvic-tilt", "knees-to-chest", "bridge"]  # the demo's Maria: a three-stretch plan
# The questions a lumbar plan of a patient with no diagnosis asks: everyone's.
EVERYONE = [
    "saddle_numbness",
    "bladder_bowel_change",
    "progressive_leg_weakness",
    "fever_or_unwell",
    "fall_or_injury",
    "constant_or_night_pain",
    "spreading_symptoms",
]


def portal_pdf(plan_id: int) -> str:
    return f"/api/v1/portal/plans/{plan_id}/program.pdf"


def staff_pdf(plan_id: int) -> str:
    return f"/api/v1/prescriptions/{plan_id}/program.pdf"


def print_page(plan_id: int) -> str:
    return f"/portal/plans/{plan_id}/print"


def make_plan(patient, *, stretches=STRETCHES, status=Status.ACTIVE, **fields):
    plan = factories.PrescriptionFactory(
        episode__patient=patient,
        status=status,
        start_date=patient.local_today() - dt.timedelta(days=3),
        days_of_week=[1, 3, 5],
        times=[dt.time(7, 30), dt.time(18, 0)],
        **fields,
    )
    for order, stretch in enumerate(stretches, start=1):
        factories.PrescriptionItemFactory(prescription=plan, order=order, stretch=stretch)
    return plan


@pytest.fixture
def catalog_stretches(stretch):
    return [stretch(slug) for slug in STRETCHES]


@pytest.fixture
def plan(patient, catalog_stretches):
    return make_plan(patient, stretches=catalog_stretches)


def words(text: str) -> str:
    """Text with every run of whitespace (line breaks of the PDF's layout included) as one space."""
    return " ".join(text.split())


def pdf_text(response) -> tuple[str, int]:
    reader = PdfReader(io.BytesIO(response.content))
    return words(" ".join(page.extract_text() for page in reader.pages)), len(reader.pages)


def stop_words() -> list[str]:
    """What the box must say, in the API's own words: each asked question's advice and the pain advice."""
    advice = RedFlagQuestion.objects.filter(slug__in=EVERYONE).values_list("advice", flat=True)
    return [words(text) for text in {*advice, pain.PAIN_ADVICE}]


def assert_program(text: str, *, patient, plan, clinic) -> None:
    assert patient.full_name in text
    assert clinic.name in text and clinic.phone in text
    assert f"#{plan.pk}" in text
    assert "Mon, Wed, Fri at 07:30 and 18:00" in text and patient.timezone in text
    names = [item.stretch.name for item in plan.items.order_by("order")]
    places = [text.index(name) for name in names]
    assert places == sorted(places), f"stretches out of order: {names}"
    assert "When to stop" in text or "WHEN TO STOP" in text
    for advice in stop_words():
        assert advice in text, advice
    assert words(PAIN_WHEN) in text
    assert "Printed" in text


# --- The portal's PDF ---------------------------------------------------------------------------------


def test_the_patient_downloads_their_program(as_user, portal_user, patient, clinic, plan):
    response = as_user(portal_user).get(portal_pdf(plan.pk))

    assert response.status_code == 200
    assert response["Content-Type"] == "application/pdf"
    assert response["Content-Disposition"] == f'attachment; filename="program-plan-{plan.pk}.pdf"'
    assert response["Cache-Control"] == "no-store"
    assert response.content.startswith(b"%PDF-")
    text, _pages = pdf_text(response)
    assert_program(text, patient=patient, plan=plan, clinic=clinic)
    first = plan.items.order_by("order").first()
    assert words(first.stretch.steps[0]) in text and words(first.dosage) in text


def test_each_download_writes_an_access_log_row(as_user, portal_user, patient, plan):
    client = as_user(portal_user)
    client.get(portal_pdf(plan.pk))
    client.get(portal_pdf(plan.pk))

    rows = AccessLog.objects.filter(patient=patient, actor=portal_user, what="api:portal-program-pdf")
    assert rows.count() == 2


def test_a_guardian_prints_their_childs_program(as_user, patient, clinic, plan):
    guardian = factories.PortalAccessFactory(patient=patient, relationship=PortalAccess.Relationship.GUARDIAN).user
    response = as_user(guardian).get(portal_pdf(plan.pk))
    assert response.status_code == 200
    assert patient.full_name in pdf_text(response)[0]


def test_another_patients_plan_is_not_found(as_user, other_patient, plan):
    guardian = factories.PortalAccessFactory(
        patient=other_patient, relationship=PortalAccess.Relationship.GUARDIAN
    ).user
    assert as_user(guardian).get(portal_pdf(plan.pk)).status_code == 404
    assert not AccessLog.objects.exists()


def test_the_other_patient_cannot_print_it(as_user, other_portal_user, plan):
    assert as_user(other_portal_user).get(portal_pdf(plan.pk)).status_code == 404


@pytest.mark.parametrize("status", [Status.DRAFT, Status.CANCELLED])
def test_a_draft_or_cancelled_plan_is_not_printed(as_user, portal_user, patient, catalog_stretches, status):
    plan = make_plan(patient, stretches=catalog_stretches, status=status)
    assert as_user(portal_user).get(portal_pdf(plan.pk)).status_code == 404


def test_a_paused_plan_prints_as_on_hold(as_user, portal_user, patient, catalog_stretches):
    plan = make_plan(patient, stretches=catalog_stretches, status=Status.PAUSED)
    response = as_user(portal_user).get(portal_pdf(plan.pk))
    assert response.status_code == 200
    assert "This plan is on hold." in pdf_text(response)[0]


def test_a_completed_plan_prints_for_the_record(as_user, portal_user, patient, catalog_stretches):
    plan = make_plan(patient, stretches=catalog_stretches, status=Status.COMPLETED)
    response = as_user(portal_user).get(portal_pdf(plan.pk))
    assert response.status_code == 200
    assert "This plan has ended" in pdf_text(response)[0]


def test_an_amendment_says_which_plan_it_replaces(as_user, portal_user, patient, catalog_stretches):
    old = make_plan(patient, stretches=catalog_stretches, status=Status.COMPLETED)
    new = make_plan(patient, stretches=catalog_stretches, supersedes=old)
    text = pdf_text(as_user(portal_user).get(portal_pdf(new.pk)))[0]
    assert f"#{new.pk} (an amendment: it replaces plan #{old.pk})" in text


def test_staff_are_refused_the_portal_pdf_and_anonymous_must_authenticate(as_user, api, therapist, plan):
    assert as_user(therapist).get(portal_pdf(plan.pk)).status_code == 403
    assert as_user(None).get(portal_pdf(plan.pk)).status_code == 401


def test_the_pdf_costs_the_same_queries_for_one_stretch_or_eight(
    as_user, portal_user, patient, clinic, count_queries, stretch
):
    one = make_plan(patient, stretches=[stretch("pelvic-tilt")])
    eight = make_plan(patient, stretches=[factories.StretchFactory(clinic=clinic) for _ in range(8)])
    client = as_user(portal_user)
    client.get(portal_pdf(one.pk))  # warm-up

    queries_one = count_queries(lambda: client.get(portal_pdf(one.pk)))
    queries_eight = count_queries(lambda: client.get(portal_pdf(eight.pk)))

    assert queries_one == queries_eight


# --- The staff's PDF ----------------------------------------------------------------------------------


@pytest.mark.parametrize("role", ["therapist", "front_desk", "clinic_admin"])
def test_every_staff_role_of_the_clinic_prints_the_live_program(request, as_user, patient, clinic, plan, role):
    user = request.getfixturevalue(role)
    response = as_user(user).get(staff_pdf(plan.pk))

    assert response.status_code == 200
    assert response["Content-Type"] == "application/pdf"
    assert response["Content-Disposition"].startswith("attachment; filename=")
    assert response["Cache-Control"] == "no-store"
    assert_program(pdf_text(response)[0], patient=patient, plan=plan, clinic=clinic)
    assert AccessLog.objects.filter(patient=patient, actor=user, what="api:prescription-program-pdf").count() == 1


def test_past_plans_only_for_the_roles_that_see_them(as_user, patient, therapist, front_desk, catalog_stretches):
    plan = make_plan(patient, stretches=catalog_stretches, status=Status.COMPLETED)
    assert as_user(therapist).get(staff_pdf(plan.pk)).status_code == 200
    assert as_user(front_desk).get(staff_pdf(plan.pk)).status_code == 404  # VIEW_PROGRAM: the live plan only


def test_a_draft_is_not_printed_for_staff(as_user, patient, therapist, catalog_stretches):
    plan = make_plan(patient, stretches=catalog_stretches, status=Status.DRAFT)
    assert as_user(therapist).get(staff_pdf(plan.pk)).status_code == 404


def test_another_clinics_staff_get_404_portal_users_403_anonymous_401(as_user, other_therapist, portal_user, plan):
    assert as_user(other_therapist).get(staff_pdf(plan.pk)).status_code == 404
    assert as_user(portal_user).get(staff_pdf(plan.pk)).status_code == 403
    assert as_user(None).get(staff_pdf(plan.pk)).status_code == 401
    assert not AccessLog.objects.exists()


def test_a_client_may_ask_for_pdf_and_still_gets_problems_as_json(as_user, portal_user, other_portal_user, plan):
    response = as_user(portal_user).get(portal_pdf(plan.pk), HTTP_ACCEPT="application/pdf")
    assert response.status_code == 200 and response["Content-Type"] == "application/pdf"
    refused = as_user(other_portal_user).get(portal_pdf(plan.pk), HTTP_ACCEPT="application/pdf")
    assert refused.status_code == 404
    assert refused.json()["status"] == 404


# --- The portal's print page --------------------------------------------------------------------------


def test_the_print_page_shows_the_program_without_inline_script_or_style(client, portal_user, patient, clinic, plan):
    client.force_login(portal_user)
    response = client.get(print_page(plan.pk))

    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/html")
    assert "no-store" in response["Cache-Control"]
    policy = response["Content-Security-Policy"]
    assert "style-src 'self'" in policy and "script-src 'self'" in policy and "unsafe-inline" not in policy
    html = response.content.decode()
    assert_program(words(unescape(re.sub(r"<[^>]+>", " ", html))), patient=patient, plan=plan, clinic=clinic)
    assert "<script" not in html
    assert "<style" not in html and " style=" not in html
    assert 'href="/static/portal/program.css"' in html
    assert f'href="{portal_pdf(plan.pk)}"' in html
    assert AccessLog.objects.filter(patient=patient, actor=portal_user, what="portal:program-print").count() == 1


def test_the_print_page_of_another_patients_plan_is_not_found(client, other_portal_user, plan):
    client.force_login(other_portal_user)
    assert client.get(print_page(plan.pk)).status_code == 404
    assert not AccessLog.objects.exists()


def test_the_print_page_refuses_staff_and_sends_anonymous_visitors_to_sign_in(client, therapist, plan):
    response = client.get(print_page(plan.pk))
    assert response.status_code == 302
    assert response["Location"] == f"/portal/login?next={print_page(plan.pk)}"

    client.force_login(therapist)
    assert client.get(print_page(plan.pk)).status_code == 403


def test_the_print_page_of_a_draft_is_not_found(client, portal_user, patient, catalog_stretches):
    plan = make_plan(patient, stretches=catalog_stretches, status=Status.DRAFT)
    client.force_login(portal_user)
    assert client.get(print_page(plan.pk)).status_code == 404


# --- Rendering fetches nothing ------------------------------------------------------------------------


def test_the_renderer_fetches_only_static_files(settings):
    fetcher = StaticOnlyFetcher(base_url="http://testserver/")
    css = fetcher.fetch("http://testserver/static/portal/program.css")
    assert b"@page" in css.read() and css.content_type == "text/css"
    for url in (
        "http://example.com/tracker.png",
        "file:///etc/passwd",
        "http://testserver/static/../config/settings/base.py",
        "http://testserver/api/v1/portal/me",
    ):
        with pytest.raises(ValueError, match="fetches only its own static files"):
            fetcher.fetch(url)


# --- Preflight: WeasyPrint's system libraries ---------------------------------------------------------


def test_preflight_renders_a_pdf_here(capsys):
    preflight.check_pdf()
    assert "renders PDF (Pango loaded)" in capsys.readouterr().out


def test_preflight_names_the_debian_packages_when_pango_does_not_load(monkeypatch, capsys):
    monkeypatch.setitem(sys.modules, "weasyprint", None)  # import fails as it does when Pango cannot be loaded
    with pytest.raises(SystemExit) as exit_:
        preflight.check_pdf()
    assert exit_.value.code == 1
    message = capsys.readouterr().err
    assert "apt-get install -y libpango-1.0-0 libpangoft2-1.0-0 libharfbuzz-subset0 fonts-dejavu-core" in message


def test_downloads_are_throttled_per_user(as_user, portal_user, plan, monkeypatch):
    """Each PDF is a WeasyPrint render and an access-log row: a script looping on it is slowed (429, Retry-After)."""
    cache.clear()
    monkeypatch.setitem(ScopedRateThrottle.THROTTLE_RATES, "program_pdf", "2/min")
    client = as_user(portal_user)
    assert [client.get(portal_pdf(plan.pk)).status_code for _ in range(2)] == [200, 200]
    refused = client.get(portal_pdf(plan.pk))
    assert refused.status_code == 429 and "Retry-After" in refused
    assert AccessLog.objects.filter(actor=portal_user, what="api:portal-program-pdf").count() == 2  # none for the 429
