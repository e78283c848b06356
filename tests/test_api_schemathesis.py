"""Schemathesis, in process: generated requests against every operation find no 5xx and no response that
breaks the published OpenAPI schema (status codes, content types, bodies).

Driven with Hypothesis directly over ``schema.get_all_operations()``: schemathesis' own pytest plugin does not
support pytest 9 yet.
"""

from __future__ import annotations

import pytest
import schemathesis
from django.core.cache import cache
from django.core.signals import request_finished, request_started
from django.core.wsgi import get_wsgi_application
from django.db import close_old_connections
from hypothesis import HealthCheck, given, settings
from knox.models import AuthToken
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from tests import factories

CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance, response_schema_conformance]
SETTINGS = settings(
    max_examples=10,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=list(HealthCheck),
)


@pytest.fixture
def api_schema(db):
    # Like Django's test client: keep the test's connection (and transaction) open across requests.
    request_started.disconnect(close_old_connections)
    request_finished.disconnect(close_old_connections)
    yield schemathesis.openapi.from_wsgi("/api/schema/", get_wsgi_application())
    request_started.connect(close_old_connections)
    request_finished.connect(close_old_connections)


@pytest.fixture
def tokens(cleared_patient, therapist, portal_user):
    """Tokens for a therapist (whose clinic has a patient with a record) and for that patient's portal login."""
    factories.PatientDiagnosisFactory(patient=cleared_patient)
    cache.clear()
    return {
        "staff": AuthToken.objects.create(therapist)[1],
        "portal": AuthToken.objects.create(portal_user)[1],
    }


def exercise(api_schema, token: str) -> list[str]:
    failures = []
    operations = [result.ok() for result in api_schema.get_all_operations()]
    assert operations
    for operation in operations:

        @given(case=operation.as_strategy())
        @SETTINGS
        def run(case):
            cache.clear()  # the login throttle would otherwise answer 429 after ten attempts
            case.call_and_validate(headers={"Authorization": f"Token {token}"}, checks=CHECKS)

        try:
            run()
        except Exception as exc:  # noqa: BLE001 — collect every operation's failure, then report them together
            failures.append(f"{operation.method.upper()} {operation.path}: {str(exc)[:2000]}")
    return failures


@pytest.mark.parametrize("who", ["staff", "portal"])
def test_generated_calls_conform_to_the_schema(api_schema, tokens, who):
    failures = exercise(api_schema, tokens[who])
    assert not failures, "\n\n".join(failures)
