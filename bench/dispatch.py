"""Benchmark: 10,000 due reminders dispatched by 2 Celery worker processes (issue 5).

Run from the repository root::

    .venv/bin/python -m bench.dispatch                       # 10,000 reminders, 2,000 patients
    .venv/bin/python -m bench.dispatch --reminders 2000 --keep

Databases: the script never touches the app's database or Redis database. On the PostgreSQL server of
``DATABASE_URL`` (default ``postgres://root@127.0.0.1:5432/limber``) it drops and creates
``limber_bench_dispatch`` and runs ``migrate`` on it (the catalog comes from the real data migrations);
it is dropped again at the end unless ``--keep``. The broker is Redis database 14 of ``REDIS_URL``'s server
(``BENCH_REDIS_URL`` overrides), flushed before the run: the benchmark owns it.

Seed (``bulk_create``, bypassing the services — this is a benchmark): one clinic, ``--reminders / 5``
patients in four zones, each consented to email, cleared, assessed at mobility level 3 and diagnosed with a
chronic lumbar disc displacement (whose contraindication rows the dispatcher's gate loads and checks; none
applies outside the acute phase), with an active two-stretch plan and 5 sessions 10–14 minutes ahead, each
with a pending email reminder due a minute ago. Every reminder passes the gate, so all of them are sent.

Run: a real ``celery worker --pool prefork --concurrency 2`` subprocess (``--processes`` changes the 2)
on that database and broker, started inside ``use_channels(database_test_channels())`` so its forked
children send through the database test channel. Once the worker answers a ping the clock starts and the
script publishes ``prescriptions.dispatch_reminders`` once per process (what beat publishes once a
minute; again every 30 s while rows are left), then polls until every reminder is sent. Each task hands
back stale claims and dispatches batches of 100 until they run out, racing the other process over the
same rows (``SKIP LOCKED``).

Printed, never asserted: seconds, reminders/s, the sent count (must be exactly ``--reminders``), how
many keys the test channel delivered and whether any was offered twice. Exit status 1 if the counts are
wrong. The issue's goal is ≤ 20 s on a 2-core machine.
"""

from __future__ import annotations

import argparse
import os
import signal
import subprocess
import sys
import time
import uuid

from bench.db import admin, server_url, url_for

DEFAULT_REDIS = "redis://127.0.0.1:6379/0"
BENCH_DB = "limber_bench_dispatch"
BENCH_REDIS_DB = 14
PER_PATIENT = 5
ZONES = ["America/New_York", "Europe/London", "Australia/Lord_Howe", "Asia/Tokyo"]
REPUBLISH_EVERY = 30.0
TIMEOUT = 600.0


def _environment() -> dict[str, str]:
    """The settings every process of the benchmark runs with (the worker inherits them)."""
    database_url = server_url()
    redis_url = os.environ.get("BENCH_REDIS_URL") or url_for(
        os.environ.get("REDIS_URL", DEFAULT_REDIS), str(BENCH_REDIS_DB)
    )
    return {
        "DATABASE_URL": url_for(database_url, BENCH_DB),
        "REDIS_URL": redis_url,
        "DJANGO_SETTINGS_MODULE": "config.settings.dev",
        "DEBUG": "0",  # no SQL kept in memory
    }


def _setup_django() -> None:
    os.environ.update(_environment())
    import django

    django.setup()


def _recreate_database(*, drop_only: bool = False) -> None:
    statements = [f"DROP DATABASE IF EXISTS {BENCH_DB} WITH (FORCE)"]
    if not drop_only:
        statements.append(f"CREATE DATABASE {BENCH_DB}")
    admin(server_url(), *statements)


def _seed(reminders: int) -> None:
    """``reminders`` due email reminders, ``PER_PATIENT`` per patient, in bulk."""
    import datetime as dt

    from django.contrib.auth import get_user_model
    from django.db import transaction
    from django.utils import timezone

    from clinic.models import Clinic, Diagnosis, MobilityLevel, Profession, Stretch
    from patients.models import Channel, Clearance, Episode, MobilityAssessment, Patient, PatientDiagnosis
    from prescriptions import scheduling
    from prescriptions.models import Prescription, PrescriptionItem, Reminder, Session

    now = timezone.now()
    today = now.date()
    patients_count = -(-reminders // PER_PATIENT)
    stretches = [Stretch.objects.get(clinic=None, slug=slug) for slug in ("pelvic-tilt", "cat-cow")]
    with transaction.atomic():
        clinic = Clinic.objects.create(name="Bench Clinic", timezone="America/New_York")
        therapist = get_user_model().objects.create_user("bench-therapist", is_staff=True)
        patients = Patient.objects.bulk_create(
            Patient(
                clinic=clinic,
                mrn=f"B{n:06d}",
                first_name=f"Pat{n}",
                last_name="Bench",
                date_of_birth=dt.date(1980, 1, 1),
                timezone=ZONES[n % len(ZONES)],
                email=f"pat{n}@example.test",
                email_consent=True,
                email_consent_at=now,
                preferred_channel=Channel.EMAIL,
            )
            for n in range(patients_count)
        )
        Clearance.objects.bulk_create(
            Clearance(
                patient=patient,
                professional_name="Dr. Bench",
                profession=Profession.PHYSICIAN,
                status=Clearance.Status.CLEARED,
                valid_from=today - dt.timedelta(days=30),
                valid_until=today + dt.timedelta(days=180),
                recorded_by=therapist,
                recorded_at=now,
            )
            for patient in patients
        )
        level = MobilityLevel.objects.get(level=3)
        MobilityAssessment.objects.bulk_create(
            MobilityAssessment(patient=patient, level=level, assessed_by=therapist, assessed_at=now)
            for patient in patients
        )
        disc = Diagnosis.objects.get(code="M51.26")
        PatientDiagnosis.objects.bulk_create(
            PatientDiagnosis(
                patient=patient,
                diagnosis=disc,
                phase="chronic",
                onset_date=today - dt.timedelta(days=120),
                recorded_by=therapist,
            )
            for patient in patients
        )
        episodes = Episode.objects.bulk_create(
            Episode(patient=patient, title="Low back pain", opened_on=today - dt.timedelta(days=30))
            for patient in patients
        )
        plans = Prescription.objects.bulk_create(
            Prescription(
                episode=episode,
                patient=episode.patient,
                therapist=therapist,
                status=Prescription.Status.ACTIVE,
                start_date=today - dt.timedelta(days=7),
                days_of_week=[1, 2, 3, 4, 5, 6, 7],
                times=[dt.time(8, 0)],
                activated_at=now,
            )
            for episode in episodes
        )
        PrescriptionItem.objects.bulk_create(
            PrescriptionItem(prescription=plan, stretch=stretch, reps=10, order=order)
            for plan in plans
            for order, stretch in enumerate(stretches, start=1)
        )
        sessions = []
        for plan in plans:
            zone = plan.patient.zone
            for minutes in range(10, 10 + PER_PATIENT):
                local = (now + dt.timedelta(minutes=minutes)).astimezone(zone)
                local_time = local.time().replace(second=0, microsecond=0, fold=0)
                sessions.append(
                    Session(
                        prescription=plan,
                        local_date=local.date(),
                        local_time=local_time,
                        scheduled_at=scheduling.to_utc(local.date(), local_time, zone),
                    )
                )
        sessions = Session.objects.bulk_create(sessions[:reminders])
        Reminder.objects.bulk_create(
            Reminder(
                session=session,
                purpose=Reminder.Purpose.SESSION,
                channel=Channel.EMAIL,
                send_at=now - dt.timedelta(minutes=1),
                idempotency_key=uuid.uuid4().hex,
            )
            for session in sessions
        )


def _run_worker(processes: int) -> None:
    """The worker subprocess: a prefork worker whose children send through the database test channel."""
    _setup_django()
    from config.celery import app
    from prescriptions.channels import database_test_channels, use_channels

    with use_channels(database_test_channels()):
        app.worker_main(
            [
                "worker",
                "--pool=prefork",
                f"--concurrency={processes}",
                "--loglevel=WARNING",
                "--without-gossip",
                "--without-mingle",
                "--hostname=bench-dispatch@%h",
            ]
        )


def _wait_for_worker(app, process: subprocess.Popen, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise SystemExit(f"The worker exited with status {process.returncode} before it was ready.")
        if app.control.ping(timeout=0.5):
            return
    raise SystemExit("The worker did not answer a ping within a minute.")


def _counts() -> dict[str, int]:
    from django.db.models import Count

    from prescriptions.models import Reminder

    return dict(Reminder.objects.order_by().values_list("status").annotate(n=Count("pk")))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--reminders", type=int, default=10_000)
    parser.add_argument("--processes", type=int, default=2, help="worker processes (the issue asks for 2)")
    parser.add_argument("--keep", action="store_true", help="keep the benchmark database afterwards")
    parser.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        _run_worker(args.processes)
        return

    print(f"Preparing database {BENCH_DB} (drop, create, migrate) …", flush=True)
    _recreate_database()
    _setup_django()
    from django.core.management import call_command
    from django.db import connection

    call_command("migrate", verbosity=0)
    started = time.monotonic()
    _seed(args.reminders)
    print(f"Seeded {args.reminders:,} due reminders in {time.monotonic() - started:.1f} s", flush=True)

    import redis

    from config.celery import app
    from prescriptions.models import Reminder, ReminderDelivery
    from prescriptions.tasks.reminders import dispatch_reminders

    redis.Redis.from_url(app.conf.broker_url).flushdb()
    connection.close()
    worker = subprocess.Popen(
        [sys.executable, "-m", "bench.dispatch", "--worker", f"--processes={args.processes}"],
        env={**os.environ, **_environment()},
    )
    try:
        _wait_for_worker(app, worker)
        load_before = os.getloadavg()[0]
        started = time.monotonic()
        published_at = -REPUBLISH_EVERY
        while True:
            now = time.monotonic()
            if now - started > TIMEOUT:
                print(f"Gave up after {TIMEOUT:.0f} s", file=sys.stderr)
                break
            if now - published_at >= REPUBLISH_EVERY:
                for _ in range(args.processes):
                    dispatch_reminders.delay()
                published_at = now
            if Reminder.objects.filter(status=Reminder.Status.SENT).count() >= args.reminders:
                break
            if Reminder.objects.filter(status__in=[Reminder.Status.CANCELLED, Reminder.Status.FAILED]).exists():
                break  # something was cancelled or failed: no point waiting for all to be sent
            time.sleep(0.1)
        seconds = time.monotonic() - started
    finally:
        worker.send_signal(signal.SIGTERM)
        try:
            worker.wait(timeout=30)
        except subprocess.TimeoutExpired:
            worker.kill()

    counts = _counts()
    sent = counts.get(Reminder.Status.SENT, 0)
    deliveries = ReminderDelivery.objects.count()
    offered_twice = ReminderDelivery.objects.filter(attempts__gt=1).count()
    print()
    print(f"reminders          {args.reminders:>10,}")
    print(f"worker processes   {args.processes:>10}")
    print(f"seconds            {seconds:>10.2f}")
    print(f"reminders/s        {sent / seconds:>10.0f}")
    print(f"sent               {sent:>10,}")
    print(f"delivered keys     {deliveries:>10,}")
    print(f"keys offered twice {offered_twice:>10,}")
    load_after = os.getloadavg()[0]
    print(f"load average       {load_before:>10.2f} before, {load_after:.2f} after (2 cores; other work skews it)")
    others = {status: n for status, n in counts.items() if status != Reminder.Status.SENT}
    if others:
        print(f"not sent           {others}")
    connection.close()
    if not args.keep:
        _recreate_database(drop_only=True)
    if sent != args.reminders or deliveries != args.reminders:
        sys.exit(1)


if __name__ == "__main__":
    main()
