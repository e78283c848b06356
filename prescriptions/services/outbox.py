"""Draining the re-check outbox (DESIGN §10): fact changes that a lost publish must not leave unchecked.

Every write that can change what the gate decides records a request in its own transaction: a patient's
clearance, diagnosis, mobility or zone (``patients.models.RecheckRequest``, one row per patient) and catalog
rows (``clinic.models.CatalogRecheckRequest``, one row per clinic or one for the global catalog). The
after-commit task is the fast path; `rechecks_drain`, run by beat every minute, is the one that cannot be
lost:

1. **Expand** each open catalog request into patient requests for every patient with an active plan in its
   scope, in the same transaction that closes it (``FOR UPDATE SKIP LOCKED``: a second drainer skips it).
2. **Claim** up to ``batch`` open patient requests, oldest first, with ``SELECT … FOR UPDATE SKIP LOCKED``,
   and lease them (``claimed_until``) in a short transaction: another drainer skips them, and a drainer that
   dies lets the lease lapse so the next run takes them again.
3. **Re-check** those patients' active plans (``conflicts.patients_recheck``, the same re-check the fast path
   runs), reading the requests' versions first.
4. **Close** each request only if its version is still the one read (``UPDATE … WHERE version = <read>``): a
   change that landed during the re-check leaves it open, so it is checked again with the new fact. A patient
   whose plan failed to re-check stays open too.

The fast path (`patient_rechecks_run`) is steps 3 and 4 for one patient, without a lease.
"""

from __future__ import annotations

import datetime as dt
import logging
import time
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass

from django.conf import settings
from django.db import connection, transaction
from django.db.models import Q
from django.utils import timezone

from clinic.models import CatalogRecheckRequest
from patients.models import RecheckRequest
from patients.services import recheck_request
from prescriptions.models import Prescription
from prescriptions.services import locks
from prescriptions.services.conflicts import RecheckResult, patients_recheck

logger = logging.getLogger(__name__)

DRAIN_BATCH = 250
"""Patients re-checked per claim: the size the nightly sweep's batches showed to cost ~1 s."""


def lease() -> dt.timedelta:
    """How long a claim keeps other drainers off: longer than a drain task may live (its hard time limit)."""
    return dt.timedelta(seconds=settings.CELERY_TASK_TIME_LIMIT + 60)


@dataclass
class DrainResult:
    catalog_expanded: int = 0
    """Catalog requests turned into patient requests."""
    claimed: int = 0
    closed: int = 0
    """Patient requests closed: re-checked with the facts as they still are."""
    reopened: int = 0
    """Re-checked, but a fact changed meanwhile (or a plan failed): left open for the next run."""
    results: tuple[RecheckResult, ...] = ()

    def add(self, run: DrainResult) -> None:
        """Count another run's closed and left-open requests and keep its results."""
        self.closed += run.closed
        self.reopened += run.reopened
        self.results += run.results


def catalog_rechecks_expand() -> int:
    """Turn each open catalog request into patient requests for every patient with an active plan in its scope,
    closing it in the same transaction; returns how many were expanded."""
    with transaction.atomic():
        requests = list(locks.claim(CatalogRecheckRequest.objects.filter(done=False)).order_by("requested_at", "id"))
        if requests:
            plans = Prescription.objects.filter(status=Prescription.Status.ACTIVE)
            if all(r.clinic_id is not None for r in requests):
                plans = plans.filter(patient__clinic_id__in=[r.clinic_id for r in requests])
            patient_ids = plans.order_by().values_list("patient_id", flat=True).distinct()
            reasons = "; ".join(dict.fromkeys(r.reason for r in requests))
            # One statement for all of them, rows in patient order: two expansions queue, never deadlock.
            recheck_request(patient_ids=list(patient_ids), reason=f"catalog: {reasons}")
        # Locked by us: nobody bumped the versions in between.
        CatalogRecheckRequest.objects.filter(pk__in=[r.pk for r in requests]).update(done=True, claimed_until=None)
    return len(requests)


def _claim(*, now: dt.datetime, batch: int) -> list[int]:
    with transaction.atomic():
        ids = list(
            locks.claim(
                RecheckRequest.objects.filter(Q(claimed_until__isnull=True) | Q(claimed_until__lt=now), done=False)
            )
            .order_by("requested_at", "patient_id")
            .values_list("patient_id", flat=True)[:batch]
        )
        if ids:
            RecheckRequest.objects.filter(patient_id__in=ids).update(claimed_until=now + lease())
    return ids


def _close(
    patient_ids: list[int], versions: dict[int, int], *, keep_open: Iterable[int], release: bool
) -> tuple[int, int]:
    """Close the requests whose version is still the one read; with ``release`` (the drainer that leased them)
    also lift the lease on the rest. Returns (closed, left open)."""
    keep_open = set(keep_open)
    closing = {pk: version for pk, version in versions.items() if pk not in keep_open}
    table = connection.ops.quote_name(RecheckRequest._meta.db_table)
    with transaction.atomic(), connection.cursor() as cursor:
        # Lock in patient order first, so two closers (or a closer and a catalog expansion) queue, not deadlock.
        cursor.execute(
            f"SELECT patient_id FROM {table} WHERE patient_id = ANY(%s) ORDER BY patient_id FOR UPDATE",
            [patient_ids],
        )
        cursor.execute(
            f"""UPDATE {table} AS r SET done = true, claimed_until = NULL
                FROM unnest(%s::bigint[], %s::bigint[]) AS seen(patient_id, version)
                WHERE r.patient_id = seen.patient_id AND r.version = seen.version AND NOT r.done""",
            [list(closing), list(closing.values())],
        )
        closed = cursor.rowcount
        if release:
            cursor.execute(
                f"UPDATE {table} SET claimed_until = NULL WHERE patient_id = ANY(%s) AND claimed_until IS NOT NULL",
                [patient_ids],
            )
        cursor.execute(f"SELECT count(*) FROM {table} WHERE patient_id = ANY(%s) AND NOT done", [patient_ids])
        (left_open,) = cursor.fetchone()
    return closed, left_open


def patient_rechecks_run(*, patient_ids: Iterable[int], release: bool = False) -> DrainResult:
    """Re-check these patients' active plans and close their outbox requests that no change overtook.

    The versions are read before the re-check: a fact written after that read reopens nothing (it bumped the
    version), so its request stays open and is checked again. Patients without an open request are re-checked
    all the same (the nightly sweep, a publish that outran its own commit's reader). ``release`` lifts the
    drainer's lease on the requests left open (the fast path leaves a running drainer's lease alone).
    """
    patient_ids = sorted(set(patient_ids))
    if not patient_ids:
        return DrainResult()
    versions = dict(
        RecheckRequest.objects.filter(patient_id__in=patient_ids, done=False).values_list("patient_id", "version")
    )
    plans_of: dict[int, set[int]] = defaultdict(set)
    for plan_id, patient_id in Prescription.objects.filter(
        patient_id__in=patient_ids, status=Prescription.Status.ACTIVE
    ).values_list("pk", "patient_id"):
        plans_of[patient_id].add(plan_id)
    results = patients_recheck(patient_ids=patient_ids)
    checked = {r.prescription_id for r in results}
    # A plan whose writes failed is missing from the results (logged by the re-check): keep its patient open.
    failed = {pk for pk, plans in plans_of.items() if plans - checked}
    closed, left_open = _close(patient_ids, versions, keep_open=failed, release=release)
    return DrainResult(claimed=len(versions), closed=closed, reopened=left_open, results=tuple(results))


def _run_claimed(ids: list[int]) -> DrainResult:
    """Re-check a claimed batch; if the batch as a whole fails (an error outside the per-plan savepoints), retry
    patient by patient so one broken patient cannot hold back the others, run after run. A patient that still
    fails is logged and released, open, for the next run."""
    try:
        return patient_rechecks_run(patient_ids=ids, release=True)
    except Exception:  # noqa: BLE001 — logged; the batch is retried one patient at a time
        logger.exception("Re-check outbox: a batch of %d patients failed; retrying one by one", len(ids))
    combined = DrainResult()
    for patient_id in ids:
        try:
            run = patient_rechecks_run(patient_ids=[patient_id], release=True)
        except Exception:  # noqa: BLE001 — the request stays open for the next run
            logger.exception("Re-check outbox: patient %s failed; left open for the next run", patient_id)
            RecheckRequest.objects.filter(patient_id=patient_id).update(claimed_until=None)
            combined.reopened += 1
            continue
        combined.add(run)
    return combined


def rechecks_drain(*, batch: int = DRAIN_BATCH, deadline: float | None = None) -> DrainResult:
    """Expand catalog requests, then claim, re-check and close patient requests batch by batch, oldest first,
    until none are open or ``deadline`` (a ``time.monotonic()`` value) passes. A crash at any point leaves the
    requests it had not closed open for the next run."""
    total = DrainResult(catalog_expanded=catalog_rechecks_expand())
    while deadline is None or time.monotonic() < deadline:
        ids = _claim(now=timezone.now(), batch=batch)
        if not ids:
            break
        run = _run_claimed(ids)
        total.claimed += len(ids)
        total.add(run)
        if len(ids) < batch:
            break
    if total.claimed or total.catalog_expanded:
        logger.info(
            "Re-check outbox: %d catalog request(s) expanded, %d patient(s) re-checked, %d closed, %d left open",
            total.catalog_expanded,
            total.claimed,
            total.closed,
            total.reopened,
        )
    return total
