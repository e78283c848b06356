"""The same-work limit of ``make bench`` (bench/limit.py): the portal plans body in two SQL statements."""

from __future__ import annotations

import datetime as dt

import orjson
import pytest
from django.db import connection
from django.test import RequestFactory
from django.test.utils import CaptureQueriesContext
from knox.models import AuthToken

from bench import limit
from clinic.models import Diagnosis, Stretch
from patients.models import AccessLog
from prescriptions.models import Prescription
from tests import factories

PORTAL = "/api/v1/portal/plans"


def token_for(user) -> str:
    return AuthToken.objects.create(user=user)[1]


def call_limit(token: str):
    request = RequestFactory().get("/bench/limit/plans", HTTP_AUTHORIZATION=f"Token {token}")
    return limit.plans(request)


@pytest.fixture
def plans(patient):
    """Two active plans (one with a progression rule, one with a neck stretch) with sessions in and around this
    week, a completed plan, and diagnoses whose questions change within the week."""
    today = patient.local_today()
    first = factories.PrescriptionFactory(
        episode__patient=patient, status=Prescription.Status.ACTIVE, start_date=today - dt.timedelta(days=10)
    )
    factories.PrescriptionItemFactory(prescription=first, order=2)
    factories.PrescriptionItemFactory(
        prescription=first, order=1, progress_every_weeks=2, progress_hold_seconds=5, progress_max_hold_seconds=30
    )
    second = factories.PrescriptionFactory(
        episode__patient=patient, status=Prescription.Status.ACTIVE, start_date=today - dt.timedelta(days=3)
    )
    factories.PrescriptionItemFactory(
        prescription=second, order=1, stretch=Stretch.objects.get(slug="chin-tuck", clinic=None)
    )
    factories.PrescriptionItemFactory(prescription=second, order=2)
    factories.PrescriptionFactory(episode__patient=patient, status=Prescription.Status.COMPLETED)
    for plan in (first, second):
        for day in range(-1, 8):  # yesterday and the eighth day are outside the week
            for hour in (8, 18):
                factories.SessionFactory(
                    prescription=plan, local_date=today + dt.timedelta(days=day), local_time=dt.time(hour, 0)
                )
    # After surgery on day 88 today: its questions stop mid-week (day 90); neck pain resolved in three days.
    factories.PatientDiagnosisFactory(
        patient=patient, diagnosis=Diagnosis.objects.get(code="Z98.890"), onset_date=today - dt.timedelta(days=88)
    )
    factories.PatientDiagnosisFactory(
        patient=patient, diagnosis=Diagnosis.objects.get(code="M54.2"), resolved_date=today + dt.timedelta(days=3)
    )
    return first, second


def test_limit_answers_the_portal_body(api, portal_user, plans):
    token = token_for(portal_user)
    api.credentials(HTTP_AUTHORIZATION=f"Token {token}")
    portal = api.get(PORTAL)
    assert portal.status_code == 200

    response = call_limit(token)

    assert response.status_code == 200
    assert response["Content-Type"] == "application/json"
    body = orjson.loads(response.content)
    assert body == orjson.loads(portal.content)  # same values and formats (key order aside)
    assert [len(plan["sessions"]) for plan in body["plans"]] == [14, 14]
    neck = body["plans"][1]["sessions"]
    assert len({tuple(q["slug"] for q in s["red_flag_questions"]) for s in neck}) > 1  # the questions change
    assert any(item["progression_text"] for plan in body["plans"] for item in plan["items"])


def test_limit_runs_two_statements_and_logs_one_read(portal_user, patient, plans):
    token = token_for(portal_user)
    before = AccessLog.objects.count()

    with CaptureQueriesContext(connection) as captured:
        response = call_limit(token)

    assert response.status_code == 200
    statements = [q["sql"] for q in captured if not q["sql"].lstrip().upper().startswith(("SAVEPOINT", "RELEASE"))]
    assert len(statements) == 2, statements
    assert AccessLog.objects.count() == before + 1
    log = AccessLog.objects.latest("id")
    assert (log.actor_id, log.patient_id, log.what) == (portal_user.pk, patient.pk, limit.WHAT)


def test_limit_without_plans_is_an_empty_list(portal_user, patient):
    body = orjson.loads(call_limit(token_for(portal_user)).content)
    assert body["plans"] == []
    assert body["patient"]["id"] == patient.pk


def test_limit_refuses_staff(therapist):
    assert call_limit(token_for(therapist)).status_code == 403


@pytest.mark.parametrize("header", ["Token nonsense", "Token ", "Bearer abc", ""])
def test_limit_refuses_a_bad_token(db, header):
    request = RequestFactory().get("/bench/limit/plans", HTTP_AUTHORIZATION=header)
    assert limit.plans(request).status_code == 401


def test_limit_refuses_an_expired_token_and_an_inactive_user(portal_user):
    instance, token = AuthToken.objects.create(user=portal_user, expiry=dt.timedelta(seconds=-1))
    assert call_limit(token).status_code == 401
    token = token_for(portal_user)
    portal_user.is_active = False
    portal_user.save(update_fields=["is_active"])
    assert call_limit(token).status_code == 401


def test_limit_is_a_404_without_exactly_one_patient_in_care(portal_user, patient, clinic):
    token = token_for(portal_user)
    sibling = factories.PatientFactory(clinic=clinic)
    factories.PortalAccessFactory(user=portal_user, patient=sibling)
    assert call_limit(token).status_code == 404
    before = AccessLog.objects.count()
    patient.archived_at = sibling.archived_at = dt.datetime.now(dt.UTC)
    patient.save(update_fields=["archived_at"])
    sibling.save(update_fields=["archived_at"])
    assert call_limit(token).status_code == 404
    assert AccessLog.objects.count() == before


def test_the_bench_server_serves_the_limit_with_no_middleware(wsgi_call, settings, portal_user, plans):
    """``bench.wsgi``: the limit is a plain view with nothing before it; every other path is the app's."""
    from bench import wsgi as bench_wsgi

    settings.ROOT_URLCONF = "bench.urls"
    auth = {"HTTP_AUTHORIZATION": f"Token {token_for(portal_user)}"}
    status, headers, body = wsgi_call(bench_wsgi.application, "/bench/limit/plans", **auth)
    assert status == "200 OK", body
    assert "Content-Security-Policy" not in headers  # no middleware ran
    status, headers, _ = wsgi_call(bench_wsgi.application, PORTAL, **auth)
    assert status == "200 OK"
    assert "Content-Security-Policy" in headers
