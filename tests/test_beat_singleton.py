"""Exactly one beat (DESIGN §5, docs/deploy.md): celery-redbeat's Redis lock, on the real (test) Redis.

Every test uses a key prefix of its own, so parallel runs and a running dev beat never share a lock, and a
``memory://`` broker, so nothing a scheduler publishes reaches the test Redis queue that the worker tests
consume. The last test starts two real ``celery beat`` processes.
"""

from __future__ import annotations

import datetime as dt
import os
import re
import signal
import subprocess
import sys
import threading
import time
import uuid
import warnings
from pathlib import Path
from types import SimpleNamespace

import pytest
import redis
from celery import Celery
from celery.schedules import maybe_schedule
from django.conf import settings
from redbeat.schedulers import (
    RedBeatConfig,
    RedBeatScheduler,
    RedBeatSchedulerEntry,
    acquire_distributed_beat_lock,
)

from config.celery import app as limber_app
from config.celery import expose_redbeat_settings

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture
def client():
    return redis.Redis.from_url(settings.REDIS_URL, decode_responses=True)


@pytest.fixture
def prefix(client):
    """A key prefix of this test's own; its keys are deleted afterwards."""
    value = f"limber:test-beat:{uuid.uuid4().hex[:12]}:"
    yield value
    keys = list(client.scan_iter(match=f"{value}*"))
    if keys:
        client.delete(*keys)


def beat_app(prefix: str, **overrides) -> Celery:
    """A Celery app configured from the Django settings as ``config.celery`` is, on the test Redis."""
    app = Celery("limber-beat-test", set_as_current=False)
    app.config_from_object("django.conf:settings", namespace="CELERY")
    app.on_after_configure.connect(expose_redbeat_settings)
    assert app.conf.beat_scheduler == "redbeat.RedBeatScheduler"  # loads the settings (and runs the hook) first
    app.conf.update(
        {
            "broker_url": "memory://",
            "redbeat_redis_url": settings.REDIS_URL,
            "redbeat_key_prefix": prefix,
            "beat_max_loop_interval": 1,
            "redbeat_lock_timeout": 5,
            **overrides,
        }
    )
    return app


def overdue(app: Celery, days: int = 1) -> None:
    """Store every CELERY_BEAT_SCHEDULE entry in Redis as last run ``days`` ago, so each is due at once."""
    last_run = app.now() - dt.timedelta(days=days)
    for name, spec in settings.CELERY_BEAT_SCHEDULE.items():
        RedBeatSchedulerEntry(name, spec["task"], maybe_schedule(spec["schedule"], app=app), app=app).save()
        RedBeatSchedulerEntry.from_key(RedBeatSchedulerEntry.generate_key(app, name), app=app).reschedule(last_run)


def lock(scheduler: RedBeatScheduler) -> None:
    """Take the beat lock as ``celery beat`` does at start-up (blocks while another beat holds it)."""
    acquire_distributed_beat_lock(sender=SimpleNamespace(scheduler=scheduler))


def test_the_project_app_gives_redbeat_its_settings():
    assert limber_app.conf.beat_scheduler == "redbeat.RedBeatScheduler"
    with warnings.catch_warnings():
        # redbeat warns when it falls back to the broker's URL or options, i.e. when it did not see ours.
        warnings.simplefilter("error", DeprecationWarning)
        conf = RedBeatConfig(limber_app)
    assert conf.redis_url == settings.CELERY_REDBEAT_REDIS_URL
    assert conf.redbeat_redis_options == settings.CELERY_REDBEAT_REDIS_OPTIONS
    assert conf.key_prefix == settings.CELERY_REDBEAT_KEY_PREFIX
    assert conf.lock_key == f"{settings.CELERY_REDBEAT_KEY_PREFIX}:lock"
    assert conf.lock_timeout == settings.CELERY_REDBEAT_LOCK_TIMEOUT
    assert conf.lock_timeout >= 2 * limber_app.conf.beat_max_loop_interval


def test_redbeat_stores_every_beat_schedule_entry(prefix, client):
    app = beat_app(prefix)
    scheduler = RedBeatScheduler(app=app)  # not lazy: stores the static schedule in Redis, as beat's start does
    stored = set(client.zrange(app.redbeat_conf.schedule_key, 0, -1))
    assert settings.CELERY_BEAT_SCHEDULE  # the test means something only if there is a schedule
    for name, spec in settings.CELERY_BEAT_SCHEDULE.items():
        key = RedBeatSchedulerEntry.generate_key(app, name)
        assert key in stored, name
        entry = RedBeatSchedulerEntry.from_key(key, app=app)
        assert entry.task == spec["task"]
        assert entry.schedule == maybe_schedule(spec["schedule"], app=app), name
        assert entry.enabled
    scheduler.close()


def test_a_second_scheduler_waits_for_the_lock_until_the_first_releases_it(prefix, client):
    # The first one never ticks here, so its lock must outlive the whole test however slow the machine is.
    first = RedBeatScheduler(app=beat_app(prefix, redbeat_lock_timeout=60), lazy=True)
    second = RedBeatScheduler(app=beat_app(prefix), lazy=True)
    lock(first)
    assert first.lock.owned()
    assert 0 < client.ttl(first.lock_key) <= 60

    took_over = threading.Event()

    def standby() -> None:  # redis-py's lock token is thread-local: take it and check it in one thread
        lock(second)
        if second.lock.owned():
            took_over.set()

    waiting = threading.Thread(target=standby, daemon=True)
    waiting.start()
    try:
        waiting.join(timeout=2.5)  # two and a half of the standby's 1 s polls
        assert waiting.is_alive(), "the second scheduler took the lock the first one holds"
        assert second.lock is None

        first.close()  # a clean stop releases the lock
        waiting.join(timeout=5)
        assert not waiting.is_alive(), "the second scheduler did not take the released lock"
        assert took_over.is_set()
        assert client.exists(second.lock_key)
    finally:
        client.delete(first.lock_key)  # never leave a blocked thread behind
        waiting.join(timeout=5)


def test_a_beat_whose_lock_lapsed_stops_instead_of_scheduling(prefix, client):
    """A beat frozen past its lock's TTL (a stalled VM, a long GC) wakes up to find a standby in charge."""
    first_app, second_app = beat_app(prefix), beat_app(prefix)
    overdue(first_app)
    first = RedBeatScheduler(app=first_app)
    lock(first)
    before = {key: client.hget(key, "meta") for key in client.zrange(first_app.redbeat_conf.schedule_key, 0, -1)}

    client.delete(first.lock_key)  # its TTL ran out while it was frozen ...
    second = RedBeatScheduler(app=second_app, lazy=True)
    lock(second)  # ... and the standby took over

    with pytest.raises(redis.exceptions.LockNotOwnedError):
        first.tick()
    # Nothing was sent: redbeat records a run in Redis before publishing it, and no entry's record moved.
    assert {key: client.hget(key, "meta") for key in before} == before
    assert second.lock.owned()
    second.close()


def _wait_for(path: Path, done, timeout: float) -> str:
    """Poll a beat's log until ``done(text)``; return the text."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        text = path.read_text()
        if done(text):
            return text
        time.sleep(0.1)
    raise AssertionError(f"{path.name} after {timeout} s:\n{path.read_text()}")


SENT = re.compile(r"Sending due task ([\w.-]+) ")


def test_two_real_beats_one_schedules_the_other_waits_and_takes_over_when_it_dies(prefix, client, tmp_path):
    app = beat_app(prefix)
    overdue(app)
    environ = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "config.settings.test",
        "BEAT_REDIS_URL": settings.REDIS_URL,
        "BEAT_KEY_PREFIX": prefix,
        "BEAT_MAX_LOOP_INTERVAL": "1",
        "BEAT_LOCK_TIMEOUT": "6",  # a loaded CI machine may stall a beat for a few seconds between ticks
        "CELERY_BROKER_URL": "memory://",  # Celery's own override: nothing reaches a real queue
    }
    # No -S: CELERY_BEAT_SCHEDULER makes redbeat (and its lock) the default, so a bare `celery beat` is covered too.
    command = [sys.executable, "-m", "celery", "-A", "config", "beat", "--loglevel", "INFO"]
    logs = {name: tmp_path / f"{name}.log" for name in ("first", "second")}
    beats: dict[str, subprocess.Popen] = {}

    def start(name: str) -> None:
        with logs[name].open("w") as out:
            beats[name] = subprocess.Popen(command, cwd=ROOT, env=environ, stdout=out, stderr=subprocess.STDOUT)

    everything = set(settings.CELERY_BEAT_SCHEDULE)
    try:
        start("first")
        first = _wait_for(logs["first"], lambda text: set(SENT.findall(text)) >= everything, timeout=20)
        assert "beat: Acquired lock" in first
        assert all(SENT.findall(first).count(name) == 1 for name in everything)  # each overdue entry, once

        start("second")
        _wait_for(logs["second"], lambda text: "beat: Starting" in text, timeout=20)
        time.sleep(2)  # two of its 1 s polls for the lock
        second = logs["second"].read_text()
        assert "Acquired lock" not in second
        assert not SENT.findall(second)

        beats["first"].kill()  # the beat host dies: no clean release, the lock lapses after its 6 s TTL
        beats["first"].wait(timeout=10)
        died = time.monotonic()
        _wait_for(logs["second"], lambda text: "beat: Acquired lock" in text, timeout=15)
        assert time.monotonic() - died < 6 + 1 + 3  # TTL + one poll + slack
        time.sleep(1.5)  # a tick or so: the schedule's state is shared, so nothing is sent twice
        assert not SENT.findall(logs["second"].read_text())

        beats["second"].send_signal(signal.SIGTERM)
        assert beats["second"].wait(timeout=10) == 0
        assert "beat: Releasing lock" in logs["second"].read_text()
        assert not client.exists(f"{prefix}:lock")
    finally:
        for process in beats.values():
            if process.poll() is None:
                process.kill()
                process.wait(timeout=10)


def test_rabbitmq_broker_keeps_the_beat_lock_on_redis():
    """BROKER_URL switches the broker; the beat's lock and schedule stay on Redis (BEAT_REDIS_URL)."""
    environ = {
        **{k: v for k, v in os.environ.items() if not k.startswith("CELERY_")},
        "DJANGO_SETTINGS_MODULE": "config.settings.production",
        "SECRET_KEY": "test-only-throwaway-key-never-deployed-5e8a1c3f7b9d2e4a6c0f",
        "ALLOWED_HOSTS": "limber.example",
        "REDIS_URL": "redis://redis.internal:6379/0",
        "BROKER_URL": "amqp://limber:secret@rabbitmq.internal:5672/limber",
    }
    script = (
        "import django; django.setup()\n"
        "from config.celery import app\n"
        "from redbeat.schedulers import RedBeatConfig\n"
        "print(app.conf.broker_url); print(RedBeatConfig(app).redis_url)"
    )
    result = subprocess.run(
        [sys.executable, "-c", script], cwd=ROOT, env=environ, capture_output=True, text=True, timeout=60, check=False
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == [
        "amqp://limber:secret@rabbitmq.internal:5672/limber",
        "redis://redis.internal:6379/0",
    ]
