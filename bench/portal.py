"""Benchmark clinic for the portal plans endpoint (issue 7): ``python -m bench.portal --tokens FILE``.

Drops and creates ``limber_bench_portal`` on the PostgreSQL server of ``DATABASE_URL``, runs
``manage.py migrate`` on it (the catalog comes from the real data migrations), then seeds in bulk —
bypassing the services, it is a benchmark — ``--patients`` patients, each a portal user (``self``) with an
active plan of 8 items, 14 days of sessions (three days back, ten ahead) and a knox token, and ANALYZEs
the database (a production database has planner statistics from autovacuum; freshly loaded tables have
none). The tokens are written one a line to ``--tokens`` for the load tool. ``bench.run`` drives the rest.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time
from pathlib import Path

from bench.db import admin, server_url, url_for

BENCH_DB = "limber_bench_portal"
ITEMS_PER_PLAN = 8
SESSION_DAYS = range(-3, 11)  # 14 days around today
ZONES = ["America/New_York", "Europe/London", "Australia/Lord_Howe", "Asia/Tokyo"]


def environment() -> dict[str, str]:
    """What the migrate, seed and gunicorn processes run with."""
    return {
        "DATABASE_URL": url_for(server_url(), BENCH_DB),
        "DJANGO_SETTINGS_MODULE": "config.settings.bench",
    }


def recreate_database() -> None:
    admin(server_url(), f"DROP DATABASE IF EXISTS {BENCH_DB} WITH (FORCE)", f"CREATE DATABASE {BENCH_DB}")


def seed(patients_count: int) -> list[str]:
    import datetime as dt

    from django.contrib.auth import get_user_model
    from django.db import transaction
    from django.utils import timezone
    from knox.models import AuthToken, get_digest_token
    from knox.settings import CONSTANTS

    from clinic.models import Clinic, Stretch
    from patients.models import Episode, Patient, PortalAccess
    from prescriptions import scheduling
    from prescriptions.models import Prescription, PrescriptionItem, Session

    user_model = get_user_model()
    now = timezone.now()
    today = now.date()
    stretches = list(Stretch.objects.filter(clinic=None).order_by("id")[:ITEMS_PER_PLAN])
    if len(stretches) < ITEMS_PER_PLAN:
        raise SystemExit(f"The catalog has only {len(stretches)} stretches; {ITEMS_PER_PLAN} are needed.")
    times = [dt.time(8, 0)]
    with transaction.atomic():
        clinic = Clinic.objects.create(name="Bench Clinic", timezone="America/New_York")
        therapist = user_model.objects.create_user("bench-therapist", is_staff=True)
        users = user_model.objects.bulk_create(
            user_model(username=f"bench-patient-{n}", password="!unusable") for n in range(patients_count)
        )
        patients = Patient.objects.bulk_create(
            Patient(
                clinic=clinic,
                mrn=f"P{n:06d}",
                first_name=f"Pat{n}",
                last_name="Bench",
                date_of_birth=dt.date(1980, 1, 1),
                timezone=ZONES[n % len(ZONES)],
            )
            for n in range(patients_count)
        )
        PortalAccess.objects.bulk_create(
            PortalAccess(user=user, patient=patient, relationship=PortalAccess.Relationship.SELF)
            for user, patient in zip(users, patients, strict=True)
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
                times=times,
                activated_at=now,
            )
            for episode in episodes
        )
        PrescriptionItem.objects.bulk_create(
            PrescriptionItem(
                prescription=plan,
                stretch=stretch,
                reps=10,
                hold_seconds=30 if stretch.kind == Stretch.Kind.STATIC else None,
                order=order,
            )
            for plan in plans
            for order, stretch in enumerate(stretches, start=1)
        )
        sessions = []
        for plan in plans:
            zone = plan.patient.zone
            local_today = plan.patient.local_today(now)
            for offset in SESSION_DAYS:
                day = local_today + dt.timedelta(days=offset)
                for local_time in times:
                    sessions.append(
                        Session(
                            prescription=plan,
                            local_date=day,
                            local_time=local_time,
                            scheduled_at=scheduling.to_utc(day, local_time, zone),
                            status=Session.Status.MISSED if offset < 0 else Session.Status.SCHEDULED,
                        )
                    )
        Session.objects.bulk_create(sessions, batch_size=5000)
        tokens, rows = [], []
        for user in users:
            digest, token = get_digest_token()
            tokens.append(token)
            rows.append(
                AuthToken(
                    digest=digest,
                    token_key=token[: CONSTANTS.TOKEN_KEY_LENGTH],
                    user=user,
                    expiry=now + dt.timedelta(days=1),
                )
            )
        AuthToken.objects.bulk_create(rows)
    return tokens


def analyze() -> None:
    """Planner statistics for the freshly loaded tables, as autovacuum gives a production database.

    Without them the planner guesses from empty-table defaults (the patient lookup seq-scans). Run in
    autocommit, outside the seed's transaction, on the connection ``seed`` used.
    """
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("ANALYZE")
    connection.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--patients", type=int, default=1000)
    parser.add_argument("--tokens", type=Path, required=True, help="where to write one token a line")
    args = parser.parse_args()

    started = time.monotonic()
    recreate_database()
    env = {**os.environ, **environment()}
    subprocess.run([sys.executable, "manage.py", "migrate", "--noinput", "-v", "0"], env=env, check=True)
    migrated = time.monotonic()
    os.environ.update(environment())
    import django

    django.setup()
    tokens = seed(args.patients)
    args.tokens.write_text("\n".join(tokens) + "\n")
    seeded = time.monotonic()
    print(
        f"Database {BENCH_DB}: migrated in {migrated - started:.1f} s, seeded {args.patients:,} patients "
        f"({ITEMS_PER_PLAN} items, {len(SESSION_DAYS)} days of sessions, a token each) in "
        f"{seeded - migrated:.1f} s",
        flush=True,
    )
    analyze()
    print(f"Database {BENCH_DB}: ANALYZE (planner statistics) in {time.monotonic() - seeded:.1f} s", flush=True)


if __name__ == "__main__":
    main()
