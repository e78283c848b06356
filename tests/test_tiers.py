"""The test tiers' own machinery (tests/tiers.py, config/settings/test.py): what marks a test, the lists it names,
and a Redis database of its own for each pytest-xdist worker."""

from __future__ import annotations

import ast
import subprocess
import threading
from pathlib import Path

import pytest
from django.core.exceptions import ImproperlyConfigured

from config.settings.test import _per_xdist_worker
from tests import tiers

ROOT = Path(__file__).resolve().parent.parent


def _runs_a_process() -> None:
    subprocess.run(["true"], check=True)


def _calls_a_helper_that_runs_a_process() -> None:
    _runs_a_process()


class _Worker(threading.Thread):
    pass


def _starts_a_thread() -> None:
    _Worker().start()


def _nothing_serial() -> int:
    return sum(range(3))


# The tests reach these through a table, so they are not themselves marked by what these use.
SAMPLES = {
    "a helper's subprocess": _calls_a_helper_that_runs_a_process,
    "a Thread subclass": _starts_a_thread,
    "nothing": _nothing_serial,
}


@pytest.mark.parametrize(
    ("sample", "found"),
    [("a helper's subprocess", {"subprocess"}), ("a Thread subclass", {"threads"}), ("nothing", set())],
)
def test_what_a_test_uses_is_found_through_its_helpers(sample, found):
    uses: set[str] = set()
    tiers._scan(SAMPLES[sample], uses, set())
    assert uses == found


def _markers(request) -> set[str]:
    return {mark.name for mark in request.node.iter_markers()}


def test_a_test_without_the_database_is_pure_and_may_run_in_parallel(request):
    markers = _markers(request)
    assert "pure" in markers
    assert not markers & {"api", "transactional", "subprocess", "serial", "slow"}


def test_a_test_through_the_api_client_is_api_and_not_pure(request, api):
    markers = _markers(request)
    assert "api" in markers
    assert not markers & {"pure", "transactional", "serial"}


@pytest.mark.parametrize("entry", sorted(tiers.SLOW))
def test_every_slow_entry_names_a_test_that_exists(entry):
    path, _, name = entry.partition("::")
    assert (ROOT / path).is_file(), f"{entry}: no such file (moved? update tests/tiers.py SLOW)"
    if name:
        tree = ast.parse((ROOT / path).read_text())
        defined = {node.name for node in tree.body if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef)}
        assert name in defined, f"{entry}: no such test (renamed? update tests/tiers.py SLOW)"


@pytest.mark.parametrize("module", sorted(tiers.SERIAL_MODULES))
def test_every_serial_module_exists(module):
    assert (ROOT / f"{module.replace('.', '/')}.py").is_file(), f"{module}: update tests/tiers.py SERIAL_MODULES"


def test_without_xdist_the_tests_use_the_redis_database_they_are_given(monkeypatch):
    monkeypatch.delenv("PYTEST_XDIST_WORKER", raising=False)
    assert _per_xdist_worker("redis://127.0.0.1:6379/15") == "redis://127.0.0.1:6379/15"


@pytest.mark.parametrize(
    ("base", "worker", "expected"),
    [
        ("redis://127.0.0.1:6379/15", "gw0", "redis://127.0.0.1:6379/14"),
        ("redis://127.0.0.1:6379/15", "gw1", "redis://127.0.0.1:6379/13"),
        ("redis://:secret@redis.test:6380/9", "gw1", "redis://:secret@redis.test:6380/7"),
        ("redis://127.0.0.1:6379/4", "gw1", "redis://127.0.0.1:6379/2"),
    ],
)
def test_each_xdist_worker_gets_a_redis_database_of_its_own_below_the_base(monkeypatch, base, worker, expected):
    monkeypatch.setenv("PYTEST_XDIST_WORKER", worker)
    monkeypatch.setenv("PYTEST_XDIST_WORKER_COUNT", "2")
    assert _per_xdist_worker(base) == expected


@pytest.mark.parametrize("base", ["redis://127.0.0.1:6379/3", "redis://127.0.0.1:6379"])
def test_no_worker_gets_the_dev_servers_broker_or_cache(monkeypatch, base):
    monkeypatch.setenv("PYTEST_XDIST_WORKER", "gw0")
    monkeypatch.setenv("PYTEST_XDIST_WORKER_COUNT", "2")
    with pytest.raises(ImproperlyConfigured, match="no room for 2 xdist workers"):
        _per_xdist_worker(base)


@pytest.mark.browser
def test_a_browser_test_runs_serially(request):
    """A live server and a real browser: ``make test`` runs them in its serial phase, ``make test-fast`` not at all."""
    assert {"browser", "serial"} <= _markers(request)
