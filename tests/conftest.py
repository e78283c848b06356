from __future__ import annotations

import datetime as dt
import io
import sys

import pytest
from django.core import signals
from django.db import close_old_connections

from clinic.models import MobilityLevel, StaffMembership, Stretch
from tests import factories

Role = StaffMembership.Role


@pytest.fixture
def clinic(db):
    return factories.ClinicFactory()


@pytest.fixture
def other_clinic(db):
    return factories.ClinicFactory()


def _staff(clinic, role):
    return factories.MembershipFactory(clinic=clinic, role=role).user


@pytest.fixture
def therapist(clinic):
    return _staff(clinic, Role.THERAPIST)


@pytest.fixture
def front_desk(clinic):
    return _staff(clinic, Role.FRONT_DESK)


@pytest.fixture
def clinic_admin(clinic):
    return _staff(clinic, Role.CLINIC_ADMIN)


@pytest.fixture
def other_therapist(other_clinic):
    return _staff(other_clinic, Role.THERAPIST)


@pytest.fixture
def patient(clinic):
    return factories.PatientFactory(clinic=clinic)


@pytest.fixture
def stretch(db):
    """Look up a global catalog stretch by slug."""

    def lookup(slug: str) -> Stretch:
        return Stretch.objects.select_related("min_mobility").get(clinic=None, slug=slug)

    return lookup


@pytest.fixture
def mobility(db):
    def lookup(level: int) -> MobilityLevel:
        return MobilityLevel.objects.get(level=level)

    return lookup


@pytest.fixture
def cleared_patient(patient, therapist, mobility):
    """A patient a physician has cleared, assessed at mobility 3, with an open episode."""
    factories.ClearanceFactory(patient=patient, recorded_by=therapist)
    factories.MobilityAssessmentFactory(patient=patient, level=mobility(3), assessed_by=therapist)
    factories.EpisodeFactory(patient=patient, primary_therapist=therapist)
    return patient


@pytest.fixture
def today(patient):
    return patient.local_today()


@pytest.fixture
def tomorrow(today):
    return today + dt.timedelta(days=1)


# --- API ------------------------------------------------------------------------------------------


@pytest.fixture
def api(db):
    """An API client; ``api.force_authenticate(user)`` to act as someone.

    Depends on ``db`` so pytest-django orders API tests with the database tests (before transactional ones,
    whose flush empties the seeded catalog), even when users come from ``request.getfixturevalue``.
    """
    from rest_framework.test import APIClient

    return APIClient()


@pytest.fixture
def as_user(api):
    """Return a client authenticated as ``user`` (None = anonymous)."""

    def use(user):
        api.force_authenticate(user)
        return api

    return use


@pytest.fixture
def portal_user(patient):
    """A portal login for ``patient`` (self)."""
    return factories.PortalAccessFactory(patient=patient).user


@pytest.fixture
def other_patient(clinic):
    return factories.PatientFactory(clinic=clinic)


@pytest.fixture
def other_portal_user(other_patient):
    return factories.PortalAccessFactory(patient=other_patient).user


@pytest.fixture
def count_queries():
    """``count_queries(fn)`` → how many SQL queries ``fn()`` ran. Compare at two sizes for constant-query tests."""
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    def run(fn) -> int:
        with CaptureQueriesContext(connection) as captured:
            fn()
        return len(captured)

    return run


@pytest.fixture
def catalog(transactional_db):
    """For ``transaction=True`` tests: every one flushes all tables afterwards, so put the migrations' catalog and
    role groups back first. (``serialized_rollback`` would clash with the content types a flush re-creates.)"""
    import importlib

    from django.apps import apps as global_apps

    from clinic.roles import sync_role_groups

    # The frozen v1 catalog: migration 0002 carries its own data and upsert.
    importlib.import_module("clinic.migrations.0002_seed_catalog").seed_catalog(global_apps)
    # The catalog review (issue 12, part 1): its data function, after the v1 seed, as migration 0005 runs it.
    importlib.import_module("clinic.migrations.0005_catalog_review").review_catalog(global_apps, None)
    # Who may clear whom (issue 12, part 2): after the catalog review's data (0005), as the migrations run.
    importlib.import_module("clinic.migrations.0006_clearance_authority").apply_clearance_authority(global_apps)
    # The red-flag questions a session log asks (issue 12, part 3).
    importlib.import_module("prescriptions.migrations.0005_red_flag_questions").seed_red_flag_questions(global_apps)
    # The starter library of protocol templates (issue 17): after the catalog it names.
    importlib.import_module("clinic.migrations.0009_starter_templates").seed_starter_templates(global_apps)
    # The outcome measures' instruments (issue 18): item ids and free wording only.
    importlib.import_module("clinic.migrations.0013_seed_instruments").seed(global_apps, None)
    sync_role_groups(global_apps)


@pytest.fixture
def staff_client(client):
    """``staff_client(user)``: the Django test client logged in as ``user`` with their role group's permissions."""
    from django.contrib.auth.models import Group

    def login(user):
        Group.objects.get(name=user.membership.role).user_set.add(user)
        client.force_login(user)
        return client

    return login


# --- Tiers (markers) ------------------------------------------------------------------------------


def pytest_collection_modifyitems(items):
    """Mark every test with its tiers (pure, api, transactional, subprocess, serial, slow): see tests/tiers.py."""
    from tests import tiers

    tiers.assign(items)


def pytest_sessionfinish(session):
    from tests import tiers

    tiers.purge_worker_queue()


@pytest.fixture
def wsgi_call(db):
    """Call a WSGI application in the test's transaction (as Django's test client does, the request signals do not
    close the connection)."""
    signals.request_started.disconnect(close_old_connections)
    signals.request_finished.disconnect(close_old_connections)

    def call(application, path: str, **headers) -> tuple[str, dict[str, str], bytes]:
        environ = {
            "REQUEST_METHOD": "GET",
            "PATH_INFO": path,
            "QUERY_STRING": "",
            "SERVER_NAME": "localhost",
            "SERVER_PORT": "80",
            "HTTP_HOST": "localhost",
            "SERVER_PROTOCOL": "HTTP/1.1",
            "wsgi.input": io.BytesIO(),
            "wsgi.errors": sys.stderr,
            "wsgi.url_scheme": "http",
            **headers,
        }
        answer = {}
        body = b"".join(application(environ, lambda status, headers, exc=None: answer.update(s=status, h=headers)))
        return answer["s"], dict(answer["h"]), body

    yield call
    signals.request_started.connect(close_old_connections)
    signals.request_finished.connect(close_old_connections)
