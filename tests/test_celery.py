"""Celery wiring: a real worker thread on the real (test) Redis, and the broker-outage-proof enqueue."""

from __future__ import annotations

import threading
import time

import pytest
from celery.contrib.testing.worker import start_worker
from django.conf import settings
from django.db import transaction

from clinic.enqueue import enqueue_after_commit, publish
from config.celery import app
from tests.broker import broker_unreachable

seen: list[int] = []
ran = threading.Event()


@app.task(name="tests.record_run", ignore_result=True)
def record_run(value: int) -> None:
    seen.append(value)
    ran.set()


@pytest.fixture
def broker_down():
    """Point the app at a closed port and drop its pooled connections, then restore."""
    with broker_unreachable():
        yield


def test_app_is_configured_as_designed():
    conf = app.conf
    assert conf.task_serializer == "json"
    assert conf.accept_content == ["json"]
    assert conf.task_acks_late is True
    assert conf.worker_prefetch_multiplier == 1
    assert conf.task_ignore_result is True
    assert conf.task_time_limit
    assert conf.task_soft_time_limit
    assert conf.timezone == "UTC"
    assert conf.enable_utc
    assert conf.broker_url == settings.REDIS_URL
    assert settings.REDIS_URL.endswith("/15"), "tests use their own Redis database number"


@pytest.fixture(scope="module")
def worker():
    """A real worker thread on the test Redis; started before any test transaction opens (its Django
    fixup closes database connections when it starts)."""
    app.control.purge()
    # Name the default queue: a worker another module started on its own queue leaves that one selected on the app.
    queues = [app.conf.task_default_queue]
    with start_worker(app, pool="solo", queues=queues, perform_ping_check=False, shutdown_timeout=10) as running:
        yield running


def test_a_real_worker_runs_a_task_enqueued_after_commit(worker, db, django_capture_on_commit_callbacks):
    seen.clear()
    ran.clear()
    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        with transaction.atomic():
            enqueue_after_commit(record_run, 42)
        time.sleep(0.5)
        assert seen == [], "nothing is published before the commit"
    assert len(callbacks) == 1
    assert ran.wait(timeout=20), "the worker did not run the task"
    assert seen == [42]


def test_enqueue_takes_ids_only(db):
    with pytest.raises(TypeError, match="ids only"):
        enqueue_after_commit(record_run, {"first_name": "Ann"})


def test_publish_survives_a_dead_broker_quickly(broker_down):
    started = time.monotonic()
    assert publish(record_run, 1) is False
    assert time.monotonic() - started < 10  # bounded retries; a dead Redis never hangs a request


def test_enqueue_after_commit_never_fails_the_transaction(db, broker_down, django_capture_on_commit_callbacks, caplog):
    seen.clear()
    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        enqueue_after_commit(record_run, 7)
    assert len(callbacks) == 1  # it ran at the commit, and the failed publish was swallowed
    assert "Broker unavailable; tests.record_run(7,) left for the sweep to catch up" in caplog.text
    assert seen == []
