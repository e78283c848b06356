"""Benchmark: the FHIR R4 export of the demo's Maria (issue 19): ``python -m bench.fhir``.

Run from the repository root::

    .venv/bin/python -m bench.fhir                  # Maria, then a heavy copy of her record
    .venv/bin/python -m bench.fhir --runs 200 --heavy-logs 2000 --heavy-evaluations 2000 --keep

Databases: the script never touches the app's database. On the PostgreSQL server of ``DATABASE_URL`` (default
``postgres://root@127.0.0.1:5432/limber``) it drops and creates ``limber_bench_fhir``, runs ``manage.py migrate``
and ``manage.py load_demo`` on it with ``config.settings.bench``, and drops it at the end unless ``--keep``. Celery
messages the demo's services publish, and the cache, go to the Redis of ``BENCH_REDIS_URL`` (default database 12),
never to the dev worker's.

Measured in-process, for Maria (MRN DEMO-001) as the demo therapist:

- ``request``: ``GET /api/v1/patients/{id}/fhir`` through Django's test Client, the whole path — middleware,
  session authentication, the policy check, the access log insert, the selector's queries, the mapping and the
  JSON render; ``--runs`` timed runs after ``--warmups`` untimed ones; median, p95 and max in ms, the queries of one
  export, the body's size and its resources by type;
- ``rows + bundle``: ``fhir_rows`` and ``mapping.bundle`` alone (no HTTP, no access log).

Then (unless ``--heavy-logs 0 --heavy-evaluations 0``) a heavy patient: a copy of Maria's record (clearance,
diagnoses, plan and items, findings, override) with ``--heavy-logs`` logged sessions and ``--heavy-evaluations``
more gate evaluations written with ``bulk_create`` — rows written directly, bypassing the services (it is a
benchmark). The query count must stay the same, the time grow modestly.

Exits 1 when Maria's median request exceeds ``--budget-ms`` (200 ms, the issue's goal) or the two query counts
differ.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import statistics
import subprocess
import sys
import time
import warnings
from collections import Counter
from contextlib import contextmanager
from pathlib import Path

from bench.db import admin, server_url, url_for

BENCH_DB = "limber_bench_fhir"
ROOT = Path(__file__).resolve().parent.parent
MARIA = "DEMO-001"
HEAVY = "BENCH-HEAVY"
BUDGET_MS = 200.0


def environment() -> dict[str, str]:
    """What migrate, load_demo and this process run with."""
    redis = os.environ.get("BENCH_REDIS_URL", "redis://127.0.0.1:6379/12")
    return {
        "DATABASE_URL": url_for(server_url(), BENCH_DB),
        "DJANGO_SETTINGS_MODULE": "config.settings.bench",
        "REDIS_URL": redis,
        "BROKER_URL": redis,
        "BEAT_REDIS_URL": redis,
        "CACHE_URL": redis,
    }


def prepare() -> None:
    admin(server_url(), f'DROP DATABASE IF EXISTS "{BENCH_DB}" WITH (FORCE)', f'CREATE DATABASE "{BENCH_DB}"')
    env = {**os.environ, **environment()}
    started = time.perf_counter()
    subprocess.run([sys.executable, "manage.py", "migrate", "--noinput", "-v", "0"], env=env, check=True, cwd=ROOT)
    migrated = time.perf_counter()
    subprocess.run([sys.executable, "manage.py", "load_demo"], env=env, check=True, cwd=ROOT, stdout=subprocess.DEVNULL)
    print(
        f"Database {BENCH_DB}: migrated in {migrated - started:.1f} s, demo loaded in "
        f"{time.perf_counter() - migrated:.1f} s",
        flush=True,
    )


def _summary(samples: list[float]) -> dict[str, float]:
    ordered = sorted(samples)
    p95 = ordered[min(len(ordered) - 1, max(0, round(0.95 * len(ordered)) - 1))]
    return {"median_ms": statistics.median(ordered), "p95_ms": p95, "max_ms": ordered[-1]}


@contextmanager
def _counted():
    """Yields a list that gets one entry per SQL statement sent in the block (an execute wrapper: unlike
    ``CaptureQueriesContext`` it survives the ``reset_queries`` of each request; BEGIN and COMMIT are not counted)."""
    from django.db import connection

    statements: list[str] = []

    def count(execute, sql, params, many, context):
        statements.append(sql)
        return execute(sql, params, many, context)

    with connection.execute_wrapper(count):
        yield statements


def measure(patient, therapist, *, runs: int, warmups: int) -> dict:
    """The export of ``patient`` as ``therapist``: the whole request, then the selector and mapping alone."""
    from django.test import Client
    from django.utils import timezone

    from prescriptions.fhir import mapping
    from prescriptions.fhir.checks import bundle_problems
    from prescriptions.selectors.fhir import fhir_rows

    client = Client(HTTP_HOST="localhost")
    client.force_login(therapist)
    url = f"/api/v1/patients/{patient.pk}/fhir"

    def export():
        response = client.get(url)
        if response.status_code != 200:
            raise SystemExit(f"GET {url}: {response.status_code} {response.content[:300]!r}")
        return response

    for _ in range(warmups):
        export()
    with _counted() as queries:
        response = export()
    body = json.loads(response.content)
    problems = bundle_problems(body)
    if problems:
        raise SystemExit("The export is not sound:\n  " + "\n  ".join(problems[:20]))
    request_ms = []
    for _ in range(runs):
        started = time.perf_counter()
        export()
        request_ms.append((time.perf_counter() - started) * 1000)

    def build():
        now = timezone.now()
        return mapping.bundle(fhir_rows(patient, now=now), now=now)

    for _ in range(warmups):
        build()
    with _counted() as build_queries:
        build()
    build_ms = []
    for _ in range(runs):
        started = time.perf_counter()
        build()
        build_ms.append((time.perf_counter() - started) * 1000)
    return {
        "content_type": response["Content-Type"],
        "request": _summary(request_ms),
        "build": _summary(build_ms),
        "queries": len(queries),
        "build_queries": len(build_queries),
        "bytes": len(response.content),
        "resources": Counter(entry["resource"]["resourceType"] for entry in body.get("entry", [])),
    }


def heavy_patient(maria, *, logs: int, evaluations: int):
    """A copy of Maria's record with ``logs`` logged sessions and ``evaluations`` more gate evaluations (copies of
    her plan's, so the distinct findings stay the same), written with ``bulk_create``."""
    from django.db import transaction
    from django.utils import timezone

    from patients.models import Clearance, ClearanceRestriction, Episode, Patient, PatientDiagnosis
    from prescriptions.models import GateEvaluation, GateOverride, Prescription, PrescriptionItem, Session, SessionLog

    def copy(row, **changes):
        row.pk = row.id = None
        for name, value in changes.items():
            setattr(row, name, value)
        return row

    now = timezone.now()
    with transaction.atomic():
        patient = copy(Patient.objects.get(pk=maria.pk), mrn=HEAVY, first_name="Heavy", last_name="Bench")
        patient.save()
        episodes = {}
        for episode in Episode.objects.filter(patient=maria).order_by("pk"):
            old = episode.pk
            episodes[old] = copy(episode, patient=patient)
            episodes[old].save()
        for dx in PatientDiagnosis.objects.filter(patient=maria).order_by("pk"):
            copy(dx, patient=patient, episode=episodes.get(dx.episode_id)).save()
        for clearance in Clearance.objects.filter(patient=maria).order_by("pk"):
            tags = list(ClearanceRestriction.objects.filter(clearance=clearance).values_list("tag_id", flat=True))
            copy(clearance, patient=patient).save()
            ClearanceRestriction.objects.bulk_create(ClearanceRestriction(clearance=clearance, tag_id=t) for t in tags)
        plans, items = {}, {}
        for plan in Prescription.objects.filter(patient=maria).order_by("pk"):
            old = plan.pk
            plans[old] = copy(
                plan, patient=patient, episode=episodes.get(plan.episode_id), supersedes=plans.get(plan.supersedes_id)
            )
            plans[old].save()
            for item in PrescriptionItem.objects.filter(prescription_id=old).order_by("pk"):
                was = item.pk
                items[was] = copy(item, prescription=plans[old])
                items[was].save()
        copies = []
        for evaluation in GateEvaluation.objects.filter(prescription__patient=maria).order_by("pk"):
            spans = json.loads(json.dumps(evaluation.findings))
            for span in spans:  # the findings name the copied plan's items
                for finding in span.get("findings", []):
                    if finding.get("item") in items:
                        finding["item"] = items[finding["item"]].pk
            copies.append(copy(evaluation, prescription=plans[evaluation.prescription_id], findings=spans))
        GateEvaluation.objects.bulk_create(copies)
        for override in GateOverride.objects.filter(prescription__patient=maria).order_by("pk"):
            copy(override, prescription=plans[override.prescription_id], item=items[override.item_id]).save()
        plan = next(p for p in plans.values() if p.status == Prescription.Status.ACTIVE)
        at = plan.times[0]
        days = [plan.start_date - dt.timedelta(days=n) for n in range(1, logs + 1)]
        sessions = Session.objects.bulk_create(
            Session(
                prescription=plan,
                local_date=day,
                local_time=at,
                scheduled_at=now - dt.timedelta(days=n + 1),
                status=Session.Status.COMPLETED,
            )
            for n, day in enumerate(days)
        )
        SessionLog.objects.bulk_create(
            SessionLog(
                session=session,
                logged_at=session.scheduled_at + dt.timedelta(minutes=20),
                logged_by=plan.therapist,
                pain_before=n % 8,
                pain_after=max(0, n % 8 - 2),
                note="Felt fine." if n % 5 == 0 else "",
            )
            for n, session in enumerate(sessions)
        )
        template = GateEvaluation.objects.filter(prescription=plan).order_by("pk").first()
        if template is not None and evaluations:
            GateEvaluation.objects.bulk_create(
                (
                    copy(
                        GateEvaluation.objects.get(pk=template.pk),
                        purpose=GateEvaluation.Purpose.SWEEP,
                        evaluated_at=now - dt.timedelta(minutes=n + 1),
                    )
                    for n in range(evaluations)
                ),
                batch_size=1000,
            )
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("ANALYZE")
    return patient


def _row(label: str, figures: dict) -> str:
    r, b = figures["request"], figures["build"]
    return (
        f"{label:<10} {r['median_ms']:>8.1f} {r['p95_ms']:>8.1f} {r['max_ms']:>8.1f}   "
        f"{b['median_ms']:>8.1f} {b['p95_ms']:>8.1f}   {figures['queries']:>4} {figures['build_queries']:>4}  "
        f"{figures['bytes']:>10,}"
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=50, help="timed runs per measurement")
    parser.add_argument("--warmups", type=int, default=5, help="untimed runs first")
    parser.add_argument("--heavy-logs", type=int, default=1000, help="logged sessions of the heavy patient")
    parser.add_argument("--heavy-evaluations", type=int, default=1000, help="extra gate evaluations of the heavy one")
    parser.add_argument("--budget-ms", type=float, default=BUDGET_MS, help="Maria's median request must be under")
    parser.add_argument("--keep", action="store_true", help=f"keep the {BENCH_DB} database")
    parser.add_argument("--dump", type=Path, help="write Maria's export (pretty JSON) to this file")
    args = parser.parse_args(argv)

    prepare()
    os.environ.update(environment())
    import logging

    import django

    django.setup()
    logging.disable(logging.WARNING)  # no per-request lines from the app's loggers in the table
    warnings.filterwarnings("ignore", message="No directory at")  # no collectstatic here
    from django.contrib.auth import get_user_model
    from django.db import connections

    from patients.models import Patient

    try:
        therapist = get_user_model().objects.get(username="therapist")
        maria = Patient.objects.get(mrn=MARIA)
        results = {"Maria": measure(maria, therapist, runs=args.runs, warmups=args.warmups)}
        if args.dump:
            from django.test import Client

            client = Client(HTTP_HOST="localhost")
            client.force_login(therapist)
            body = json.loads(client.get(f"/api/v1/patients/{maria.pk}/fhir").content)
            args.dump.write_text(json.dumps(body, indent=2, ensure_ascii=False) + "\n")
        if args.heavy_logs or args.heavy_evaluations:
            heavy = heavy_patient(maria, logs=args.heavy_logs, evaluations=args.heavy_evaluations)
            results["heavy"] = measure(heavy, therapist, runs=args.runs, warmups=args.warmups)
    finally:
        for connection in connections.all():
            connection.close()
        if not args.keep:
            admin(server_url(), f'DROP DATABASE IF EXISTS "{BENCH_DB}" WITH (FORCE)')

    print(
        f"\nGET /api/v1/patients/{{id}}/fhir as the demo therapist: {args.runs} timed runs after {args.warmups} "
        f"warm-ups (heavy: Maria + {args.heavy_logs:,} logged sessions, {args.heavy_evaluations:,} more gate "
        "evaluations)\n"
    )
    print(f"{'':<10} {'request (ms)':^26}   {'rows+bundle (ms)':^17}   {'queries':^9}  {'bytes':>10}")
    print(f"{'':<10} {'median':>8} {'p95':>8} {'max':>8}   {'median':>8} {'p95':>8}   {'req':>4} {'rows':>4}")
    for label, figures in results.items():
        print(_row(label, figures))
    print()
    for label, figures in results.items():
        counts = ", ".join(f"{kind} {n}" for kind, n in sorted(figures["resources"].items()))
        print(f"{label}: {sum(figures['resources'].values())} resources ({counts}); {figures['content_type']}")

    failed = []
    median = results["Maria"]["request"]["median_ms"]
    if median > args.budget_ms:
        failed.append(f"Maria's median request {median:.1f} ms is over the {args.budget_ms:.0f} ms budget")
    if "heavy" in results and results["heavy"]["queries"] != results["Maria"]["queries"]:
        failed.append(f"queries grew with the record: {results['Maria']['queries']} → {results['heavy']['queries']}")
    for line in failed:
        print(f"FAIL: {line}")
    if not failed:
        print(f"\nOK: Maria's median {median:.1f} ms ≤ {args.budget_ms:.0f} ms; the query count does not grow.")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
