"""Test tiers (issue 14, item 8): every collected test gets its markers from what it uses, so nobody has to
remember to mark a test, and ``make test`` can run the tests that may share the machine in parallel.

The markers (registered in pyproject.toml; ``tests/conftest.py`` calls ``assign`` at collection):

- ``pure``: no database (no ``db``-like fixture, no ``django_db`` mark).
- ``api``: goes through an HTTP test client (``api``, ``as_user``, ``client``, ``staff_client``, ...).
- ``transactional``: commits for real (``transactional_db``, ``django_db(transaction=True)``, ``catalog``).
- ``subprocess``: starts another process.
- ``serial``: must not run beside other tests: every ``subprocess`` test; threads on their own database
  connections, real Celery workers (both timing-sensitive: they wait on locks and queues with timeouts);
  direct use of Redis or the beat's lock; and ``SERIAL_MODULES``. ``make test`` runs them after the parallel
  phase, one at a time.
- ``slow``: ``SLOW`` below (measured: seconds each), or marked by hand.
- ``browser``: Playwright tests (``tests/browser/``); marked by hand, always ``serial`` too (a live server and a
  real browser, one at a time), and ``make test-fast`` leaves them out.

Subprocesses, threads and Redis are found by following the names a test's code uses — through the helpers,
classes and fixtures defined under ``tests/`` — to ``subprocess``, ``threading``, ``concurrent.futures``,
Celery's test worker, ``redis`` or ``redbeat``. A hand-written marker is kept, and adds ``serial`` where it
implies it.
"""

from __future__ import annotations

import concurrent.futures
import inspect
import multiprocessing
import os
import subprocess
import threading
import types
from typing import Any

import pytest

# Modules every test of which runs serially, and why.
SERIAL_MODULES = {
    # The beat's Redis lock and schedule, two real `celery beat` processes (issue 14: beat tests serially).
    "tests.test_beat_singleton",
    # Asserts the serial run's Redis database number (/15: under xdist each worker has its own) and starts a
    # worker on the default queue.
    "tests.test_celery",
}

# Tests that take a second or more each (node ids without parameters, or whole modules by their file): `make test`
# runs them in its parallel phase, `make test-fast` leaves them out. tests/test_tiers.py checks that each exists.
SLOW = {
    "tests/test_api_schemathesis.py",  # generated requests against every operation, twice: ~15 s
    "tests/test_clearance_badge.py::test_list_query_equals_the_gate_rule",  # Hypothesis, a query per example
    "tests/test_safety.py::test_evaluate_is_constant_within_each_span",  # Hypothesis, 300 examples
    "tests/test_scheduling.py::test_to_utc_property_rfc5545",  # Hypothesis, 400 examples
    "tests/test_read_audit_routes.py::test_every_get_route_logs_exactly_the_patients_it_shows",  # the demo, every route
    "tests/test_schema_truth.py::test_every_get_response_of_the_demo_data_matches_the_schema",  # the demo, every GET
}

DB_FIXTURES = {"db", "transactional_db", "django_db_reset_sequences", "django_db_serialized_rollback", "live_server"}
TRANSACTIONAL_FIXTURES = DB_FIXTURES - {"db"}
HTTP_FIXTURES = {"api", "as_user", "client", "admin_client", "staff_client", "async_client"}


def _found_in(value: Any) -> str | None:
    """What ``value`` is, if it is one of the things that make a test serial."""
    if value is subprocess or value is multiprocessing:
        return "subprocess"
    if value is threading or value is concurrent.futures:
        return "threads"
    if isinstance(value, type) and issubclass(value, threading.Thread):
        return "threads"
    module = value.__name__ if isinstance(value, types.ModuleType) else getattr(value, "__module__", None)
    if not isinstance(module, str):
        return None
    top = module.partition(".")[0]
    if top in {"subprocess", "multiprocessing"}:
        return "subprocess"
    if module.startswith(("celery.contrib.testing", "concurrent.futures")):
        return "threads"  # a real Celery worker runs in a thread of the test process
    if top in {"redis", "redbeat"}:
        return "redis"
    return None


def _ours(value: Any) -> bool:
    return str(getattr(value, "__module__", "")).partition(".")[0] == "tests"


def _scan(value: Any, found: set[str], seen: set[int]) -> None:
    """Add to ``found`` what ``value`` (a function or class of ours) uses, following our own helpers."""
    if id(value) in seen:
        return
    seen.add(id(value))
    if isinstance(value, type):
        for member in vars(value).values():
            if isinstance(member, staticmethod | classmethod):
                member = member.__func__
            if isinstance(member, types.FunctionType):
                _scan(member, found, seen)
        return
    function = inspect.unwrap(value)
    if not isinstance(function, types.FunctionType):
        return
    _scan_code(function.__code__, function.__globals__, found, seen)


def _scan_code(code: types.CodeType, namespace: dict[str, Any], found: set[str], seen: set[int]) -> None:
    for name in code.co_names:
        if name not in namespace:
            continue
        value = namespace[name]
        kind = _found_in(value)
        if kind:
            found.add(kind)
        elif _ours(value) and (isinstance(value, type) or callable(value)):
            _scan(value, found, seen)
    for const in code.co_consts:  # nested functions, lambdas, comprehensions
        if isinstance(const, types.CodeType):
            _scan_code(const, namespace, found, seen)


def _uses(item: pytest.Function) -> set[str]:
    found: set[str] = set()
    seen: set[int] = set()
    _scan(item.function, found, seen)
    for name in item.fixturenames:
        for fixturedef in item._fixtureinfo.name2fixturedefs.get(name, ()):
            if _ours(fixturedef.func):
                _scan(fixturedef.func, found, seen)
    return found


def _database(item: pytest.Function) -> tuple[bool, bool]:
    """(uses the database, commits for real)."""
    from pytest_django.fixtures import validate_django_db

    fixtures = set(item.fixturenames)
    marker = item.get_closest_marker("django_db")
    transaction = bool(fixtures & TRANSACTIONAL_FIXTURES)
    if marker is not None:
        transactional, reset_sequences, _, serialized_rollback, _ = validate_django_db(marker)
        transaction = transaction or transactional or reset_sequences or serialized_rollback
    return marker is not None or bool(fixtures & DB_FIXTURES), transaction


def _http(item: pytest.Function) -> bool:
    """Whether a test client of pytest-django's or of tests/conftest.py is among the fixtures (a module's own
    ``client`` fixture may be something else: a Redis client)."""
    for name in set(item.fixturenames) & HTTP_FIXTURES:
        fixturedefs = item._fixtureinfo.name2fixturedefs.get(name, ())
        if fixturedefs and fixturedefs[-1].func.__module__ in {"pytest_django.fixtures", "tests.conftest"}:
            return True
    return False


def markers_for(item: pytest.Item) -> set[str]:
    """The tier markers ``item`` gets, besides those it already has."""
    have = {mark.name for mark in item.iter_markers()}
    add: set[str] = set()
    if not isinstance(item, pytest.Function):
        return add
    database, transaction = _database(item)
    uses = _uses(item)
    if not database:
        add.add("pure")
    if transaction:
        add.add("transactional")
    if _http(item):
        add.add("api")
    if "subprocess" in uses:
        add.add("subprocess")
    if uses & {"subprocess", "threads", "redis"} or item.module.__name__ in SERIAL_MODULES:
        add.add("serial")
    if have & {"subprocess", "browser"}:
        add.add("serial")
    path = item.nodeid.partition("::")[0]
    if path in SLOW or item.nodeid.partition("[")[0] in SLOW:
        add.add("slow")
    return add - have


def assign(items: list[pytest.Item]) -> None:
    for item in items:
        for name in sorted(markers_for(item)):
            item.add_marker(name)


def purge_worker_queue() -> None:
    """At the end of an xdist worker's session: drop what its tests published to its own Redis database's Celery
    queue (no worker consumes it there: the real-worker tests are serial), so it does not grow run after run."""
    if not os.environ.get("PYTEST_XDIST_WORKER"):
        return
    from config.celery import app

    try:
        with app.connection_for_write() as connection:
            connection.ensure_connection(max_retries=1)
            app.control.purge(connection=connection)
    except Exception:  # noqa: BLE001 — Redis down: the tests that needed it have said so already
        pass
