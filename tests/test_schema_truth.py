"""API responses that do not linger or lie.

Every answer under ``/api/`` (the login, the problems) carries ``Cache-Control: no-store``. The published OpenAPI
schema tells the truth: every GET operation, called on the demo data as a user allowed to see it, answers 200 with
a body its declared response schema accepts (``$ref``s resolved, formats checked). The demo is extended with what
it lacks but real clinics have: a patient without an email address, materialized sessions and an open flag.
"""

from __future__ import annotations

import copy
import re

import pytest
from django.contrib.auth import get_user_model
from django.core.cache import cache
from drf_spectacular.generators import SchemaGenerator
from jsonschema import Draft4Validator, FormatChecker
from rest_framework.test import APIClient

from clinic.models import Clinic, Contraindication, ProtocolTemplate, Stretch
from patients.models import Episode, Patient, PortalAccess
from prescriptions.demo import CLINIC_NAME, load_demo
from prescriptions.models import Prescription, SafetyFlag, Session
from prescriptions.services.flagging import flag_raise
from prescriptions.services.schedule import sessions_materialize
from tests.factories import ProtocolTemplateFactory, ProtocolTemplateItemFactory

# --- Cache-Control ----------------------------------------------------------------------------------------


def test_a_patient_read_is_not_stored(as_user, therapist, patient):
    response = as_user(therapist).get(f"/api/v1/patients/{patient.pk}/")
    assert response.status_code == 200
    assert response["Cache-Control"] == "no-store"


@pytest.mark.parametrize(
    ("method", "url", "status"),
    [
        ("get", "/api/v1/patients/999999/", 404),
        ("get", "/api/v1/no-such-route/", 404),
        ("post", "/api/v1/patients/", 400),
    ],
)
def test_problems_are_not_stored(as_user, front_desk, method, url, status):
    response = getattr(as_user(front_desk), method)(url, {})
    assert response.status_code == status
    assert response["Cache-Control"] == "no-store"


def test_anonymous_answers_and_the_login_are_not_stored(api, therapist):
    cache.clear()
    assert api.get("/api/v1/patients/")["Cache-Control"] == "no-store"
    refused = api.post("/api/v1/auth/login", {"username": therapist.username, "password": "wrong"})
    assert refused.status_code in (400, 401) and refused["Cache-Control"] == "no-store"
    response = api.post(
        "/api/v1/auth/login", {"username": therapist.username, "password": "correct horse battery staple"}
    )
    assert response.status_code == 200, response.json()
    assert response["Cache-Control"] == "no-store"


# --- The schema against real responses --------------------------------------------------------------------


def _json_schema(node):
    """OpenAPI 3.0 → JSON Schema: ``nullable: true`` becomes "or null"."""
    if isinstance(node, list):
        return [_json_schema(item) for item in node]
    if not isinstance(node, dict):
        return node
    node = {key: _json_schema(value) for key, value in node.items()}
    if node.pop("nullable", False):
        return {"anyOf": [node, {"type": "null"}]}
    return node


@pytest.fixture
def demo(db):
    load_demo()
    clinic = Clinic.objects.get(name=CLINIC_NAME)
    # A patient with no email on file ("" in the API) — the demo gives everyone one.
    Patient.objects.filter(clinic=clinic, mrn="DEMO-002").update(email="")
    for plan in Prescription.objects.filter(patient__clinic=clinic, status="active"):
        sessions_materialize(prescription_id=plan.pk)
    patient = Patient.objects.get(clinic=clinic, mrn="DEMO-001")
    # A template of the clinic's own beside the global ones (issue 17).
    template = ProtocolTemplateFactory(clinic=clinic, name="Demo clinic's back care")
    ProtocolTemplateItemFactory(template=template)
    flag_raise(
        patient=patient,
        kind=SafetyFlag.Kind.PAIN_ESCALATION,
        cause_key="schema-truth",
        severity=SafetyFlag.Severity.WARNING,
        summary="Pain rose over three sessions.",
    )
    cache.clear()
    return clinic


def _path_values(clinic, portal_user=None) -> dict[str, list[int]]:
    if portal_user is not None:
        patient_ids = PortalAccess.objects.filter(user=portal_user).values_list("patient_id", flat=True)
        return {
            "session_id": list(
                Session.objects.filter(prescription__patient_id__in=patient_ids).values_list("pk", flat=True)
            )
        }
    visible_catalog = {"clinic__isnull": True}
    return {
        "patient_id": list(Patient.objects.filter(clinic=clinic).values_list("pk", flat=True)),
        "prescription_id": list(Prescription.objects.filter(patient__clinic=clinic).values_list("pk", flat=True)),
        "flag_id": list(SafetyFlag.objects.filter(patient__clinic=clinic).values_list("pk", flat=True)),
        "stretch_id": list(Stretch.objects.filter(**visible_catalog).values_list("pk", flat=True)[:20]),
        "contraindication_id": list(
            Contraindication.objects.filter(**visible_catalog).values_list("pk", flat=True)[:20]
        ),
        "template_id": list(ProtocolTemplate.objects.visible_to(clinic).values_list("pk", flat=True)[:20]),
        # An episode under its own patient's URL (``_urls`` pairs them).
        "patient_id,episode_id": list(Episode.objects.filter(patient__clinic=clinic).values_list("patient_id", "pk")),
    }


def _urls(path: str, values: dict[str, list[int]]) -> list[str]:
    urls = [path]
    if "{patient_id}" in path and "{episode_id}" in path:  # an episode only under its own patient
        pairs = values["patient_id,episode_id"]
        assert pairs, f"no demo episode for {path}: extend the demo fixture"
        urls = [path.replace("{patient_id}", str(p)).replace("{episode_id}", str(e)) for p, e in pairs]
    for name in re.findall(r"{(\w+)}", urls[0]):
        assert values.get(name), f"no demo row for {{{name}}} in {path}: extend the demo fixture"
        urls = [url.replace(f"{{{name}}}", str(value)) for url in urls for value in values[name]]
    return urls


def test_every_get_response_of_the_demo_data_matches_the_schema(demo):
    schema = SchemaGenerator().get_schema(public=True)
    components = _json_schema(copy.deepcopy(schema["components"]))
    therapist = get_user_model().objects.get(username="therapist")
    portal_users = list(get_user_model().objects.filter(portal_accesses__patient__clinic=demo).distinct())
    assert portal_users

    failures, checked = [], 0
    for path, operations in schema["paths"].items():
        if "get" not in operations:
            continue
        content = operations["get"]["responses"]["200"]["content"]
        if "application/json" not in content:
            # The printable program's PDFs (tests/test_program_pdf.py reads them) and the FHIR export (a FHIR Bundle,
            # validated by tests/test_fhir_export.py against the FHIR models, not an OpenAPI schema).
            assert set(content) <= {"application/pdf", "application/fhir+json"}, path
            continue
        body_schema = content["application/json"]["schema"]
        validator = Draft4Validator(
            {"components": components, "allOf": [_json_schema(body_schema)]}, format_checker=FormatChecker()
        )
        callers = portal_users if path.startswith("/api/v1/portal/") else [therapist]
        for user in callers:
            client = APIClient()
            client.force_authenticate(user)
            for url in _urls(path, _path_values(demo, user if user is not therapist else None)):
                response = client.get(url)
                assert response.status_code == 200, (url, user.username, response.content[:500])
                checked += 1
                for error in validator.iter_errors(response.json()):
                    location = "/".join("*" if isinstance(part, int) else str(part) for part in error.absolute_path)
                    failures.append(f"GET {path} as {user.username}: {location}: {error.message}")
    assert checked
    assert not failures, "\n".join(sorted(set(failures))[:40])
