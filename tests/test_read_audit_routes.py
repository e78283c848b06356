"""Every GET route that shows patient data logs exactly the patients it showed (DESIGN §7, issue #13 item 5).

The walk covers the whole URLconf, API and admin: a route this file does not know fails, so a new route must
either log its reads or be listed below as showing no patient data (or exempt), with the reason.
"""

from __future__ import annotations

import datetime as dt

import pytest
from django.contrib import admin
from django.contrib.auth import get_user_model
from django.core.exceptions import ImproperlyConfigured
from django.db import transaction
from django.test import Client
from django.urls import URLPattern, URLResolver, get_resolver, reverse
from django.utils import timezone
from pghistory.models import Events
from rest_framework.response import Response
from rest_framework.test import APIClient, force_authenticate

from clinic.models import Contraindication, Stretch
from patients.admin import PatientReadsLogged
from patients.api.base import StaffAPIView
from patients.api.serializers import PatientOut
from patients.models import AccessLog, Clearance, Patient, PortalAccess
from prescriptions.demo import load_demo
from prescriptions.models import MeasureDue, Prescription, ProgressionStep, Session
from tests import factories


def _rows(body):
    return body["results"] if isinstance(body, dict) and "results" in body else body


def _url_patient(body, ids):
    return {ids["patient_id"]}


def _row_patients(body, ids):
    return {row["patient"] for row in _rows(body)}


def _body_patient(body, ids):
    return {body["patient"]}


# API routes that show patient data: url name -> (who calls it, the patients the body shows).
API_PATIENT_ROUTES = {
    "patient-list": ("staff", lambda body, ids: {row["id"] for row in _rows(body)}),
    "patient-detail": ("staff", _url_patient),
    "patient-episodes": ("staff", _url_patient),
    "patient-diagnoses": ("staff", _url_patient),
    "patient-mobility-assessments": ("staff", _url_patient),
    "patient-clearances": ("staff", _url_patient),
    "patient-portal-access": ("staff", _url_patient),
    "patient-adherence": ("staff", _url_patient),
    "prescription-list": ("staff", _row_patients),
    "prescription-detail": ("staff", _body_patient),
    "session-list": ("staff", _row_patients),
    "flag-list": ("staff", _row_patients),
    "flag-detail": ("staff", _body_patient),
    "portal-me": ("portal", lambda body, ids: {p["id"] for p in body["patients"]}),
    "portal-plans": ("portal", lambda body, ids: {body["patient"]["id"]}),
    "portal-session-list": ("portal", _row_patients),
    "portal-session-detail": ("portal", _body_patient),
    "portal-preferences": ("portal", _body_patient),
    # The printable program (a PDF): the plan's patient, named by the URL's plan.
    "portal-program-pdf": ("portal", lambda body, ids: {ids["plan_patient_id"]}),
    "prescription-program-pdf": ("staff", lambda body, ids: {ids["plan_patient_id"]}),
    # A plan's dose progression (issue 17): the steps of the URL's plan, its patient's.
    "prescription-progression": ("staff", lambda body, ids: {ids["plan_patient_id"]}),
    # Protocol templates for an episode: the gate's findings for the URL's patient (issue 17).
    "patient-episode-template-suggestions": ("staff", _url_patient),
    # Outcome measures (issue 18): what is due and the scores over time, of the URL's or the chosen patient.
    "patient-measures": ("staff", _url_patient),
    "patient-outcomes": ("staff", _url_patient),
    "portal-measures": ("portal", _url_patient),
    "portal-outcomes": ("portal", _url_patient),
    # The FHIR export (issue 19): the URL's patient's record.
    "patient-fhir": ("staff", _url_patient),
}
# API routes that show no patient data (their views declare ``shows_patients = None``).
API_NO_PATIENT_DATA = {
    "catalog-stretch-list": "the stretch catalog",
    "catalog-stretch-detail": "the stretch catalog",
    "catalog-diagnosis-list": "the diagnosis catalog",
    "catalog-movement-tag-list": "the movement-tag catalog",
    "catalog-mobility-level-list": "the mobility-level catalog",
    "catalog-contraindication-list": "the contraindication catalog",
    "catalog-contraindication-detail": "the contraindication catalog",
    "catalog-template-list": "the protocol templates",
    "catalog-template-detail": "the protocol templates",
}
# The patient portal's pages (issue 16): one shell for every screen that renders no patient data (the API calls
# the page makes log their own reads). Fetched as the portal user: each must answer 200 and log nothing.
PAGES_NO_PATIENT_DATA = {
    "portal-page-today": "the portal's shell: today's screen is filled by the API",
    "portal-page-login": "the portal's shell: the login screen",
    "portal-page-choose": "the portal's shell: the guardian's choice is filled by the API",
    "portal-page-session": "the portal's shell: the session is read through the API",
    "portal-page-week": "the portal's shell: the week is read through the API",
    "portal-page-preferences": "the portal's shell: the preferences are read through the API",
    "portal-page-password": "the portal's shell: the password form",
    "portal-page-forgot": "the portal's shell: the reset request form",
    "portal-page-questionnaires": "the portal's shell: the questionnaires screen (its data comes from the API)",
    "portal-page-reset": "the portal's shell: the reset link's form",
}
PAGE_KWARGS = {"uidb64": "MQ", "token": "a-reset-token"}
# Portal pages that render patient data themselves (signed in with the session): url name -> (who, patients shown).
PAGES_PATIENT_DATA = {
    "portal-program-print": ("portal", lambda ids: {ids["plan_patient_id"]}),  # the printable program
    "portal-outcome-chart": ("portal", lambda ids: {ids["patient_id"]}),  # an outcome measure's chart (SVG)
}
API_EXEMPT = {
    "schema": "the OpenAPI document: describes the API, holds no data",
    "docs": "the Swagger UI page for the OpenAPI document: no data",
}

# Admin pages of the models whose admin logs reads (``PatientReadsLogged``): which show patient data.
ADMIN_LOGGED_PAGES = {"changelist", "change", "history", "delete", "portal_login", "portal_reset", "portal_revoke"}
# Pages of one portal login of a patient: their URL names the patient and the grant.
ADMIN_PORTAL_ACCESS_PAGES = {"portal_reset", "portal_revoke"}
ADMIN_EXEMPT_PAGES = {
    "add": "a blank form: it shows no patient's record (a patient is chosen by id through the logged patient list)",
}
# Models whose admin shows no patient data, or is exempt, with the reason.
ADMIN_NO_PATIENT_DATA = {
    "auth.Group": "permission groups",
    "auth.User": "logins (staff and portal usernames), not patient records",
    "axes.AccessAttempt": "login attempts by username and IP",
    "axes.AccessLog": "logins by username and IP (not the patient read log)",
    "axes.AccessFailureLog": "failed logins by username and IP",
    "knox.AuthToken": "API token digests",
    "clinic.Clinic": "clinics",
    "clinic.StaffMembership": "staff roles",
    "clinic.MovementTag": "catalog",
    "clinic.MobilityLevel": "catalog",
    "clinic.Diagnosis": "catalog",
    "clinic.ClearanceAuthorityRule": "catalog",
    "clinic.Stretch": "catalog",
    "clinic.Contraindication": "catalog",
    "clinic.ProtocolTemplate": "catalog (protocol templates)",
    "clinic.Instrument": "catalog (outcome measures' items)",
    "clinic.InstrumentWording": "a clinic's licensed questionnaire wording",
    "prescriptions.RedFlagQuestion": "catalog of questions",
}
ADMIN_EXEMPT_MODELS = {
    "patients.AccessLog": "the read log itself: who read whom and when, no record; logging it would feed on itself",
}
ADMIN_SITE_PAGES = {
    "index": "the list of models",
    "app_list": "an app's list of models",
    "login": "the login form",
    "logout": "logs out",
    "password_change": "the user's own password form",
    "password_change_done": "a confirmation",
    "jsi18n": "translations for the admin's scripts",
    "autocomplete": "answers only for an admin's autocomplete_fields, and no admin declares any",
    "view_on_site": "a redirect to the object's public URL",
    None: "unnamed: the redirect of <object_id>/ to its change page, and the catch-all 404",
}


def _walk(patterns, prefix="", namespace=None):
    for pattern in patterns:
        if isinstance(pattern, URLResolver):
            yield from _walk(pattern.url_patterns, prefix + str(pattern.pattern), pattern.namespace or namespace)
        elif isinstance(pattern, URLPattern):
            yield prefix + str(pattern.pattern), pattern, namespace


def _patient_of(obj) -> int:
    if isinstance(obj, Patient):
        return obj.pk
    if isinstance(obj, Events):  # a change event: the patient whose row it names
        data = obj.pgh_data
        if obj.pgh_obj_model == "patients.Patient":
            return int(obj.pgh_obj_id)
        if data.get("patient_id"):
            return data["patient_id"]
        if data.get("clearance_id"):
            return Clearance.objects.get(pk=data["clearance_id"]).patient_id
        if data.get("prescription_id"):
            return Prescription.objects.get(pk=data["prescription_id"]).patient_id
        if data.get("first_version_id"):  # a progression step's
            return Prescription.objects.get(pk=data["first_version_id"]).patient_id
        if data.get("measure_due_id"):  # a questionnaire's reminder
            return MeasureDue.objects.get(pk=data["measure_due_id"]).patient_id
        return Session.objects.get(pk=data["session_id"]).prescription.patient_id
    if hasattr(obj, "patient_id"):
        return obj.patient_id
    if hasattr(obj, "patient_pk"):  # a reminder: of a session or of a questionnaire
        return obj.patient_pk
    if hasattr(obj, "first_version"):  # a progression step: its plan's patient
        return obj.first_version.patient_id
    if hasattr(obj, "prescription"):
        return obj.prescription.patient_id
    return obj.session.prescription.patient_id


class _Reads:
    def __init__(self):
        self.mark = AccessLog.objects.order_by("-id").values_list("id", flat=True).first() or 0

    def patients(self) -> set[int]:
        return set(AccessLog.objects.filter(id__gt=self.mark).values_list("patient_id", flat=True))


@pytest.fixture
def demo(db):
    load_demo()
    User = get_user_model()
    lucy = Patient.objects.get(mrn="DEMO-005")
    plan = Prescription.objects.get(patient=lucy, status="active")
    session = factories.SessionFactory(prescription=plan)
    logged = factories.SessionFactory(prescription=plan, local_date=plan.start_date + dt.timedelta(days=1))
    factories.SessionLogFactory(session=logged)
    factories.ReminderFactory(session=session)
    flag = factories.SafetyFlagFactory(patient=lucy, prescription=plan)
    ProgressionStep.objects.create(  # a step held for the therapist (the admin's progression steps)
        first_version=plan,
        from_version=plan,
        on_date=plan.start_date + dt.timedelta(weeks=2),
        status=ProgressionStep.Status.HELD,
        held_because=[ProgressionStep.Condition.MISSING_DATA],
        ran_at=timezone.now(),
    )
    template = factories.ProtocolTemplateFactory(clinic=lucy.clinic)
    factories.ProtocolTemplateItemFactory(template=template)
    ids = {
        "patient_id": lucy.pk,
        "prescription_id": plan.pk,
        "episode_id": plan.episode_id,
        "template_id": template.pk,
        "plan_patient_id": plan.patient_id,
        "flag_id": flag.pk,
        "session_id": session.pk,
        "stretch_id": Stretch.objects.filter(clinic__isnull=True).first().pk,
        "contraindication_id": Contraindication.objects.filter(clinic__isnull=True).first().pk,
        "code": "nprs",
    }
    users = {
        "staff": User.objects.get(username="therapist"),
        "portal": User.objects.get(username="lucy.guardian"),
        "admin": User.objects.get(username="admin"),
    }
    return ids, users


def test_every_get_route_logs_exactly_the_patients_it_shows(demo, client):
    ids, users = demo
    api = APIClient()
    client.force_login(users["admin"])
    registry = {f"{m._meta.app_label}_{m._meta.model_name}_": (m, ma) for m, ma in admin.site._registry.items()}
    problems: list[str] = []
    walked = 0

    for route, pattern, namespace in _walk(get_resolver().url_patterns):
        name = pattern.name
        if namespace == "admin":
            prefix = next((p for p in registry if name and name.startswith(p)), None)
            if prefix is None:
                if name not in ADMIN_SITE_PAGES:
                    problems.append(f"admin:{name} ({route}) is unknown: log its reads or list it here")
                continue
            model, model_admin = registry[prefix]
            page = name[len(prefix) :]
            label = model._meta.label
            if not isinstance(model_admin, PatientReadsLogged):
                if label not in ADMIN_NO_PATIENT_DATA and label not in ADMIN_EXEMPT_MODELS:
                    problems.append(f"admin of {label} is unknown: subclass PatientReadsLogged or list it here")
                continue
            if page in ADMIN_EXEMPT_PAGES:
                continue
            if page not in ADMIN_LOGGED_PAGES:
                problems.append(f"admin:{name} ({route}) is unknown: log its reads or list it here")
                continue
            # pghistory's Events (and our proxy) have an empty default manager (dumpdata): rows come from ``objects``.
            obj = (model.objects if issubclass(model, Events) else model._default_manager).order_by("pk").first()
            assert obj is not None, f"the demo has no {label} to show"
            if page in ADMIN_PORTAL_ACCESS_PAGES:  # the confirmation page (GET): a patient's, with one grant
                access = PortalAccess.objects.select_related("patient").order_by("pk").first()
                assert access is not None, "the demo has no portal login to show"
                obj = access.patient
                url = reverse(f"admin:{name}", args=[obj.pk, access.pk])
            else:
                url = reverse(f"admin:{name}", args=[] if page == "changelist" else [obj.pk])
            reads = _Reads()
            response = client.get(url)
            walked += 1
            if page == "delete" and response.status_code == 403:
                expected: set[int] = set()  # nothing deleted from the admin: the page is refused, shows nothing
            elif response.status_code != 200:
                problems.append(f"{url}: {response.status_code}")
                continue
            elif page == "changelist":
                expected = {_patient_of(row) for row in response.context["cl"].result_list}
                if not expected:
                    problems.append(f"{url}: showed no rows; the demo should give it some")
            else:
                expected = {_patient_of(obj)}
            if reads.patients() != expected:
                problems.append(f"{url}: logged {sorted(reads.patients())}, showed {sorted(expected)}")
            continue

        view_class = getattr(pattern.callback, "cls", None) or getattr(pattern.callback, "view_class", None)
        if view_class is None or not hasattr(view_class, "get"):
            continue  # not a GET route (login, logout, writes)
        if name in API_EXEMPT:
            continue
        if name in PAGES_NO_PATIENT_DATA:
            pages = Client()
            pages.force_login(users["portal"])
            url = reverse(name, kwargs={key: {**ids, **PAGE_KWARGS}[key] for key in pattern.pattern.converters})
            reads = _Reads()
            response = pages.get(url)
            walked += 1
            if response.status_code != 200 or reads.patients():
                problems.append(f"{url}: {response.status_code}, logged {sorted(reads.patients())}")
            continue
        url = reverse(name, kwargs={key: ids[key] for key in pattern.pattern.converters})
        if name in PAGES_PATIENT_DATA:
            who, shown = PAGES_PATIENT_DATA[name]
            pages = Client()
            pages.force_login(users[who])
            reads = _Reads()
            response = pages.get(url)
            walked += 1
            if response.status_code != 200 or reads.patients() != shown(ids):
                problems.append(f"{url}: {response.status_code}, logged {sorted(reads.patients())}")
            continue
        if name in API_NO_PATIENT_DATA:
            assert view_class.shows_patients is None, name
            api.force_authenticate(users["staff"])
            reads = _Reads()
            response = api.get(url)
            walked += 1
            if response.status_code != 200 or reads.patients():
                problems.append(f"{url}: {response.status_code}, logged {sorted(reads.patients())}")
            continue
        if name not in API_PATIENT_ROUTES:
            problems.append(f"{name} ({route}) is unknown: say which patients it shows, or list it here")
            continue
        who, shown = API_PATIENT_ROUTES[name]
        api.force_authenticate(users[who])
        reads = _Reads()
        response = api.get(url)
        walked += 1
        if response.status_code != 200:
            problems.append(f"{url}: {response.status_code}")
            continue
        body = response.json() if response["Content-Type"].endswith("json") else response.content  # a PDF: bytes
        expected = shown(body, ids)
        if not expected or reads.patients() != expected:
            problems.append(f"{url}: logged {sorted(reads.patients())}, showed {sorted(expected)}")

    assert not problems, "\n".join(problems)
    assert walked > 40  # the walk reached the routes (API and admin)


def test_a_view_answering_get_without_a_declaration_is_refused():
    class Undeclared(StaffAPIView):
        def get(self, request):
            return Response({})

    with pytest.raises(ImproperlyConfigured, match="shows_patients"):
        Undeclared.as_view()

    with pytest.raises(ImproperlyConfigured, match="shows_patients"):

        class Misdeclared(StaffAPIView):
            shows_patients = "patient"


def test_a_read_that_records_no_patients_is_refused_and_not_logged(rf, therapist, patient):
    class Forgetful(StaffAPIView):
        shows_patients = "objects"

        def get(self, request):
            return Response(PatientOut(patient).data)  # forgot self.shown(patient)

    request = rf.get("/api/v1/forgetful")
    force_authenticate(request, user=therapist)
    with pytest.raises(ImproperlyConfigured, match="recorded nothing"), transaction.atomic():  # the request's own
        Forgetful.as_view()(request)
    assert not AccessLog.objects.exists()
