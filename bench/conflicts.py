"""Benchmark: the nightly conflict sweep over N patients with 2 active plans each (issue 5).

Run from the repository root::

    .venv/bin/python -m bench.conflicts                    # sizes 2,000 and 10,000 (about 6 minutes)
    .venv/bin/python -m bench.conflicts --sizes 10000 --baseline-max 0 --keep

Databases: the script never touches the app's database. On the PostgreSQL server of ``DATABASE_URL``
(default ``postgres://root@127.0.0.1:5432/limber``) it drops and creates ``limber_bench_conflicts``, runs
``migrate`` on it once (so the catalog is seeded by the real data migrations), then for each size copies it
(``CREATE DATABASE limber_bench_conflicts_<N> TEMPLATE limber_bench_conflicts``) and seeds the copy with
``bulk_create`` — rows written directly for speed, bypassing the services (this is a benchmark, not
production code). Every database it made is dropped at the end unless ``--keep``.

Seed per patient: a clearance (a few revoked, expiring in 3 days, or expiring with a successor), a
diagnosis (a few with osteoporosis, which contraindicates knees to chest), a mobility assessment (a few
below prayer stretch's minimum), two active plans of two stretches, each with an activation evaluation
and 7 daily sessions with a pending email reminder. Roughly 10% of patients have a conflict to find.

Measured, in-process, for each size (wall seconds and SQL statements, counted with an execute wrapper):

- ``sweep (first run)``: the nightly sweep's core, ``patients_recheck`` over every patient with an active
  plan in batches of the task's size, plus ``clearance_expiring_scan`` — blocks, flags and evaluations
  are written for the patients with conflicts;
- ``sweep (unchanged)``: the same again with nothing changed (the usual night);
- ``outbox drain (global catalog change)``: a global catalog row changed, so every patient with an active plan
  has a re-check request; the per-minute drain's work (``rechecks_drain``) without its time budget — how many
  patients one run of the drain gets through;
- ``baseline per patient`` (for sizes up to ``--baseline-max``, default 2,000: it takes minutes beyond): the
  same work one patient at a time with ``patient_recheck`` — the way the receivers call it — as a
  same-work baseline; the ratio is printed.

Figures are printed, never asserted. The goal (issue 5) is ≤ 30 s at 10,000 patients with queries growing
sub-linearly in patients.
"""

from __future__ import annotations

import argparse
import datetime as dt
import logging
import os
import random
import sys
import time
import uuid
from contextlib import contextmanager

from bench.db import admin, server_url, url_for

TEMPLATE_DB = "limber_bench_conflicts"
SESSIONS_PER_PLAN = 7
ZONES = ["America/New_York", "America/Los_Angeles", "Europe/London", "Europe/Berlin", "Australia/Sydney"]


def _setup_django(url: str) -> None:
    os.environ["DATABASE_URL"] = url_for(url, TEMPLATE_DB)
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings.dev")
    os.environ["DEBUG"] = "0"  # no SQL kept in memory; statements are counted by an execute wrapper
    import django

    django.setup()
    logging.getLogger("prescriptions").setLevel(logging.WARNING)  # one INFO line per changed plan otherwise


def _use_database(name: str) -> None:
    from django.db import connections

    connections["default"].close()
    connections["default"].settings_dict["NAME"] = name


@contextmanager
def _measured():
    """Yields a dict that gets ``seconds`` and ``queries`` (SQL statements sent) when the block ends."""
    from django.db import connection

    figures = {"queries": 0}

    def count(execute, sql, params, many, context):
        figures["queries"] += 1
        return execute(sql, params, many, context)

    with connection.execute_wrapper(count):
        started = time.perf_counter()
        yield figures
        figures["seconds"] = time.perf_counter() - started


# --- Seeding ------------------------------------------------------------------------------------------------


def seed(patients: int, *, rng: random.Random) -> dict[str, int]:
    """Bulk-create ``patients`` patients with 2 active plans each; returns how many of each case."""
    from django.contrib.auth import get_user_model
    from django.utils import timezone

    from clinic.models import Clinic, Diagnosis, MobilityLevel, StaffMembership, Stretch
    from patients.models import Clearance, Episode, MobilityAssessment, Patient, PatientDiagnosis
    from prescriptions.models import GateEvaluation, Prescription, PrescriptionItem, Reminder, Session
    from prescriptions.scheduling import to_utc

    batch = 5000
    now = timezone.now()
    User = get_user_model()
    clinics = Clinic.objects.bulk_create([Clinic(name=f"Bench clinic {i}", timezone=z) for i, z in enumerate(ZONES)])
    therapists = []
    for clinic in clinics:
        user = User.objects.create(username=f"bench-therapist-{clinic.pk}", is_staff=True)
        StaffMembership.objects.create(user=user, clinic=clinic, role=StaffMembership.Role.THERAPIST)
        therapists.append(user)
    levels = {m.level: m for m in MobilityLevel.objects.all()}
    diagnoses = {d.code: d for d in Diagnosis.objects.filter(code__in=["M54.50", "M81.0"])}
    stretches = {s.slug: s for s in Stretch.objects.filter(clinic=None)}

    cases = ["revoked"] * 3 + ["expiring"] * 2 + ["successor"] * 1 + ["osteoporosis"] * 3 + ["low_mobility"] * 2
    cases += ["fine"] * (100 - len(cases))
    chosen = [rng.choice(cases) for _ in range(patients)]

    rows = []
    for index in range(patients):
        clinic_index = index % len(clinics)
        rows.append(
            Patient(
                clinic=clinics[clinic_index],
                mrn=f"B{index:06d}",
                first_name="Pat",
                last_name=f"Bench{index}",
                date_of_birth=dt.date(1970, 1, 1),
                timezone=ZONES[clinic_index],
                email=f"pat{index}@example.test",
                email_consent=True,
                email_consent_at=now,
                preferred_channel="email",
            )
        )
    people = Patient.objects.bulk_create(rows, batch_size=batch)
    therapist_of = {p.pk: therapists[i % len(clinics)] for i, p in enumerate(people)}
    episodes = Episode.objects.bulk_create(
        [Episode(patient=p, title="Low back pain", opened_on=now.date() - dt.timedelta(days=30)) for p in people],
        batch_size=batch,
    )

    clearances, diagnosis_rows, assessments = [], [], []
    for patient, case in zip(people, chosen, strict=True):
        today = patient.local_today(now)
        by = therapist_of[patient.pk]
        ends = today + dt.timedelta(days=3 if case in ("expiring", "successor") else 180)
        base = {"patient": patient, "profession": "physician", "status": "cleared", "recorded_by": by}
        clearances.append(
            Clearance(
                **base,
                professional_name="Dr. Ada Reyes",
                valid_from=today - dt.timedelta(days=30),
                valid_until=ends,
                recorded_at=now - dt.timedelta(days=30),
                revoked_at=now - dt.timedelta(hours=2) if case == "revoked" else None,
                revoked_by=by if case == "revoked" else None,
                revoke_reason="Withdrawn" if case == "revoked" else "",
            )
        )
        if case == "successor":
            clearances.append(
                Clearance(
                    **base,
                    professional_name="Dr. Ben Okafor",
                    valid_from=ends + dt.timedelta(days=1),
                    valid_until=ends + dt.timedelta(days=180),
                    recorded_at=now - dt.timedelta(days=1),
                )
            )
        code = "M81.0" if case == "osteoporosis" else "M54.50"
        diagnosis_rows.append(
            PatientDiagnosis(
                patient=patient,
                diagnosis=diagnoses[code],
                phase="chronic",
                onset_date=today - dt.timedelta(days=400),
                recorded_by=by,
            )
        )
        level = 2 if case == "low_mobility" else rng.choice([3, 4])
        assessments.append(
            MobilityAssessment(
                patient=patient, level=levels[level], assessed_by=by, assessed_at=now - dt.timedelta(days=3)
            )
        )
    Clearance.objects.bulk_create(clearances, batch_size=batch)
    PatientDiagnosis.objects.bulk_create(diagnosis_rows, batch_size=batch)
    MobilityAssessment.objects.bulk_create(assessments, batch_size=batch)

    plans, plan_stretches = [], []
    for patient, episode, case in zip(people, episodes, chosen, strict=True):
        today = patient.local_today(now)
        for number in range(2):
            plans.append(
                Prescription(
                    episode=episode,
                    patient=patient,
                    therapist=therapist_of[patient.pk],
                    status=Prescription.Status.ACTIVE,
                    start_date=today,
                    days_of_week=[1, 2, 3, 4, 5, 6, 7],
                    times=[dt.time(18, 0)],
                    materialized_through=today + dt.timedelta(days=SESSIONS_PER_PLAN - 1),
                    activated_at=now - dt.timedelta(days=1),
                )
            )
            second = {"osteoporosis": "knees-to-chest", "low_mobility": "prayer-stretch"}.get(case, "bridge")
            plan_stretches.append(["pelvic-tilt", second if number == 0 else "seated-thoracic-rotation"])
    plans = Prescription.objects.bulk_create(plans, batch_size=batch)

    items, evaluations, sessions = [], [], []
    for plan, slugs in zip(plans, plan_stretches, strict=True):
        today = plan.start_date
        for order, slug in enumerate(slugs, start=1):
            stretch = stretches[slug]
            items.append(
                PrescriptionItem(
                    prescription=plan,
                    stretch=stretch,
                    hold_seconds=stretch.default_hold_seconds,
                    reps=stretch.default_reps,
                    sets=stretch.default_sets,
                    order=order,
                )
            )
        horizon = today + dt.timedelta(days=14)
        evaluations.append(  # what activation stored: the plan passed over its whole window
            GateEvaluation(
                prescription=plan,
                purpose=GateEvaluation.Purpose.ACTIVATION,
                evaluated_at=now - dt.timedelta(days=1),
                on_date=today,
                through_date=horizon,
                passed=True,
                facts={},
                findings=[{"from": today.isoformat(), "until": horizon.isoformat(), "findings": []}],
                catalog_version="bench",
            )
        )
        zone = plan.patient.zone
        for offset in range(SESSIONS_PER_PLAN):
            day = today + dt.timedelta(days=offset)
            at = dt.time(18, 0)
            scheduled_at = to_utc(day, at, zone)
            sessions.append(Session(prescription=plan, local_date=day, local_time=at, scheduled_at=scheduled_at))
    PrescriptionItem.objects.bulk_create(items, batch_size=batch)
    GateEvaluation.objects.bulk_create(evaluations, batch_size=batch)
    sessions = Session.objects.bulk_create(sessions, batch_size=batch)
    Reminder.objects.bulk_create(
        [
            Reminder(
                session=session,
                purpose=Reminder.Purpose.SESSION,
                channel="email",
                send_at=session.scheduled_at - dt.timedelta(minutes=15),
                idempotency_key=uuid.uuid4().hex,
            )
            for session in sessions
        ],
        batch_size=batch,
    )
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("ANALYZE")
    return {case: chosen.count(case) for case in sorted(set(chosen))} | {
        "plans": len(plans),
        "sessions": len(sessions),
    }


# --- Measuring ------------------------------------------------------------------------------------------------


def sweep_core() -> int:
    """What the nightly sweep runs, in-process: every batch task's work, then the expiring scan."""
    from prescriptions.models import GateEvaluation
    from prescriptions.services.conflicts import clearance_expiring_scan, patients_recheck, sweep_batches
    from prescriptions.tasks.conflicts import SWEEP_BATCH_SIZE

    changed = 0
    for patient_ids in sweep_batches(size=SWEEP_BATCH_SIZE):
        results = patients_recheck(patient_ids=patient_ids, purpose=GateEvaluation.Purpose.SWEEP)
        changed += sum(result.changed for result in results)
    clearance_expiring_scan()
    return changed


def outbox_drain_core() -> int:
    """A global catalog change (every patient with an active plan to re-check), drained as the per-minute task
    drains it, without its time budget: the outbox's throughput, and so its bound for a backlog."""
    from django.db import transaction

    from clinic.services import catalog_recheck_request
    from prescriptions.services.outbox import rechecks_drain

    with transaction.atomic():
        catalog_recheck_request(clinic_id=None, reason="benchmark: global catalog change")
    drained = rechecks_drain()
    return sum(result.changed for result in drained.results)


def per_patient_baseline() -> int:
    from prescriptions.selectors.conflicts import active_plan_patient_ids
    from prescriptions.services.conflicts import clearance_expiring_scan, patient_recheck

    changed = 0
    for patient_id in list(active_plan_patient_ids()):
        changed += sum(result.changed for result in patient_recheck(patient_id=patient_id))
    clearance_expiring_scan()
    return changed


def outcome() -> dict[str, int]:
    from prescriptions.models import GateEvaluation, Reminder, SafetyFlag, Session

    flags = dict.fromkeys(("clearance_conflict", "contraindication", "mobility", "clearance_expiring"), 0)
    for kind in flags:
        flags[kind] = SafetyFlag.objects.filter(kind=kind).exclude(status="resolved").count()
    return {
        "blocked sessions": Session.objects.filter(status="blocked").count(),
        "cancelled reminders": Reminder.objects.filter(status="cancelled").count(),
        **{f"{kind} flags": count for kind, count in flags.items()},
        "stored evaluations": GateEvaluation.objects.exclude(purpose="activation").count(),
    }


def run_size(url: str, patients: int, *, baseline: bool, seed_value: int) -> dict[str, dict]:
    name = f"{TEMPLATE_DB}_{patients}"
    _use_database("postgres")  # nobody may be connected to the template while it is copied
    from django.db import connections

    connections["default"].close()
    admin(url, f'DROP DATABASE IF EXISTS "{name}"', f'CREATE DATABASE "{name}" TEMPLATE "{TEMPLATE_DB}"')
    _use_database(name)

    started = time.perf_counter()
    counts = seed(patients, rng=random.Random(seed_value))
    print(f"\n{patients:,} patients seeded in {time.perf_counter() - started:.1f} s: {counts}", flush=True)

    figures = {}
    with _measured() as first:
        first["changed plans"] = sweep_core()
    figures["sweep (first run)"] = first
    print(f"  after the first sweep: {outcome()}", flush=True)
    with _measured() as again:
        again["changed plans"] = sweep_core()
    figures["sweep (unchanged)"] = again
    with _measured() as drain:
        drain["changed plans"] = outbox_drain_core()
    figures["outbox drain (global catalog change)"] = drain
    if baseline:
        with _measured() as single:
            single["changed plans"] = per_patient_baseline()
        figures["baseline per patient (unchanged)"] = single
    for label, values in figures.items():
        print(
            f"  {label:<36} {values['seconds']:7.2f} s  {values['queries']:>8,} queries"
            f"  ({values['queries'] / patients:.2f} per patient)  changed plans: {values['changed plans']:,}",
            flush=True,
        )
    if baseline:
        ratio = figures["baseline per patient (unchanged)"]["seconds"] / figures["sweep (unchanged)"]["seconds"]
        print(f"  batched sweep vs per-patient baseline (unchanged): {ratio:.1f}× faster", flush=True)
    return figures


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[2000, 10000], help="patients per run")
    parser.add_argument(
        "--baseline-max", type=int, default=2000, help="run the per-patient baseline up to this many patients"
    )
    parser.add_argument("--keep", action="store_true", help="keep the benchmark databases")
    parser.add_argument("--seed", type=int, default=5, help="random seed for the mix of cases")
    args = parser.parse_args(argv)

    url = server_url()
    admin(url, f'DROP DATABASE IF EXISTS "{TEMPLATE_DB}"', f'CREATE DATABASE "{TEMPLATE_DB}"')
    _setup_django(url)
    from django.core.management import call_command

    started = time.perf_counter()
    call_command("migrate", verbosity=0)
    print(f"Migrated {TEMPLATE_DB} in {time.perf_counter() - started:.1f} s", flush=True)

    results = {}
    try:
        for size in args.sizes:
            results[size] = run_size(url, size, baseline=size <= args.baseline_max, seed_value=args.seed)
    finally:
        _use_database("postgres")
        from django.db import connections

        connections["default"].close()
        if not args.keep:
            names = [TEMPLATE_DB, *(f"{TEMPLATE_DB}_{size}" for size in args.sizes)]
            admin(url, *(f'DROP DATABASE IF EXISTS "{name}"' for name in names))

    if len(results) > 1:
        small, large = min(results), max(results)
        print(f"\nGrowth from {small:,} to {large:,} patients ({large / small:.1f}× the patients):")
        for label in [label for label in results[small] if label in results[large]]:
            q_small, q_large = results[small][label]["queries"], results[large][label]["queries"]
            s_small, s_large = results[small][label]["seconds"], results[large][label]["seconds"]
            print(
                f"  {label:<36} queries {q_small:,} → {q_large:,} ({q_large / q_small:.2f}×), "
                f"seconds {s_small:.2f} → {s_large:.2f} ({s_large / s_small:.2f}×)"
            )


if __name__ == "__main__":
    sys.exit(main())
