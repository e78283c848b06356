"""Limber's PostgreSQL backend (``config.postgresql``, issue 20): a health check that costs no round trip while the
server has said nothing, and server-side prepared statements for the hand-written hot statements only."""

from __future__ import annotations

import subprocess
import sys
import time

import pghistory
import psycopg
import pytest
from django.conf import settings
from django.db import connection, connections
from django.db.backends.postgresql.base import ServerBindingCursor

from clinic.models import Stretch
from config.postgresql.base import RECHECK_SECONDS
from tests import factories


class RecordingCursor(psycopg.ClientCursor):
    """psycopg's cursor, noting each statement it sends (what Django's health check runs bypasses Django)."""

    sent: list[str] = []

    def execute(self, query, *args, **kwargs):
        RecordingCursor.sent.append(str(query))
        return super().execute(query, *args, **kwargs)


@pytest.fixture
def probe(db):
    """A second connection to the test database, outside the test's transaction."""
    other = type(connections["default"])(dict(connection.settings_dict), alias=connection.alias)
    other.ensure_connection()
    other.connection.cursor_factory = RecordingCursor
    RecordingCursor.sent = []
    yield other
    other.close()


def test_the_engine_is_limbers():
    assert settings.DATABASES["default"]["ENGINE"] == "config.postgresql"
    assert settings.DATABASES["default"]["CONN_HEALTH_CHECKS"] is True


def test_an_idle_connection_the_server_kept_is_usable_without_a_statement(probe):
    assert probe.is_usable()
    assert RecordingCursor.sent == []


def test_a_connection_not_checked_for_a_while_is_checked_with_a_statement(probe):
    """A peer gone without a word (a failover that moved the address) leaves the socket quiet: the real check finds
    it, at most RECHECK_SECONDS apart."""
    probe._checked_at -= RECHECK_SECONDS
    assert probe.is_usable()
    assert RecordingCursor.sent == ["SELECT 1"]
    assert probe.is_usable()  # and then not again for a while
    assert RecordingCursor.sent == ["SELECT 1"]


def test_a_connection_whose_statement_failed_is_replaced_not_checked(probe):
    """A prepared statement whose table a migration changed fails on every run until its connection ends."""
    probe.errors_occurred = True
    probe.close_if_unusable_or_obsolete()
    assert probe.connection is None
    assert RecordingCursor.sent == []


def test_a_connection_in_a_transaction_is_checked_with_a_statement(probe):
    probe.connection.execute("BEGIN")
    RecordingCursor.sent = []
    assert probe.is_usable()
    assert RecordingCursor.sent == ["SELECT 1"]
    probe.connection.execute("ROLLBACK")


def test_a_connection_the_server_ended_is_not_usable(probe):
    with connection.cursor() as cursor:  # as a restart or a failover would end it
        cursor.execute("SELECT pg_terminate_backend(%s, 5000)", [probe.connection.info.backend_pid])
        assert cursor.fetchone() == (True,)
    for _ in range(100):  # the server's goodbye reaches the socket at once on loopback; allow for a slow machine
        if not probe.is_usable():
            break
        time.sleep(0.05)
    else:
        pytest.fail("a connection the server ended still looks usable")
    probe.close()
    probe.ensure_connection()  # Django replaces it, as CONN_HEALTH_CHECKS does before a request's first query
    assert probe.is_usable()


def prepared_statements() -> list[str]:
    with connection.cursor() as cursor:
        cursor.execute("SELECT statement FROM pg_prepared_statements")
        return [row[0] for row in cursor.fetchall()]


def test_prepared_cursor_statements_are_prepared_and_orm_queries_are_not(db):
    for number in range(6):  # psycopg prepares a statement on its fifth run on a connection
        with connection.prepared_cursor() as cursor:
            cursor.execute("SELECT %s::int + 40", [number])
            assert cursor.fetchone() == (number + 40,)
        list(Stretch.objects.filter(pk=number))
    statements = prepared_statements()
    assert any("+ 40" in statement for statement in statements)
    assert not any("clinic_stretch" in statement for statement in statements)


def test_prepared_cursor_binds_on_the_client_while_a_wrapper_may_rewrite_statements(db):
    """pghistory's context prefixes a data-modifying statement with a set_config command: two commands, which a
    prepared statement cannot hold."""
    with connection.prepared_cursor() as cursor:
        assert isinstance(cursor.cursor, ServerBindingCursor)
    with connection.execute_wrapper(lambda execute, *args: execute(*args)), connection.prepared_cursor() as cursor:
        assert not isinstance(cursor.cursor, ServerBindingCursor)
    with pghistory.context(actor="test"), connection.prepared_cursor() as cursor:
        cursor.execute("UPDATE clinic_stretch SET name = name WHERE id = %s", [0])  # prefixed: runs, not prepared


def test_the_portals_two_statements_are_prepared(api, portal_user, patient):
    from knox.models import AuthToken

    factories.PrescriptionFactory(patient=patient, status="active")
    _, token = AuthToken.objects.create(user=portal_user)
    api.credentials(HTTP_AUTHORIZATION=f"Token {token}")
    for _ in range(6):
        assert api.get("/api/v1/portal/plans").status_code == 200
    statements = prepared_statements()
    assert any("access_logged" in statement for statement in statements)  # the plans with their log row
    assert any("knox_authtoken" in statement for statement in statements)  # the token with the grants


def test_the_wsgi_module_imports_every_view_before_a_worker_forks():
    """gunicorn preloads ``config.wsgi`` in its master: no worker's first request imports the URLconf."""
    code = "import sys, config.wsgi; print('prescriptions.api.program' in sys.modules, 'weasyprint' in sys.modules)"
    found = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=120, cwd=settings.BASE_DIR
    )
    assert found.stdout.split() == ["True", "True"]


def test_prepared_statements_can_be_turned_off_for_a_pooler_that_cannot_keep_them(db):
    """DB_PREPARED_STATEMENTS=0 sets ``prepare_threshold`` None in OPTIONS (PgBouncer before 1.21, transaction mode)."""
    wrapper = type(connections["default"])
    settings_dict = dict(connection.settings_dict)
    assert wrapper(settings_dict).get_connection_params()["prepare_threshold"] == 5
    settings_dict["OPTIONS"] = {**settings_dict["OPTIONS"], "prepare_threshold": None}
    assert wrapper(settings_dict).get_connection_params()["prepare_threshold"] is None
