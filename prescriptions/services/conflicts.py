"""Conflicts: re-check upcoming sessions against the safety gate when facts change, and nightly (DESIGN §5).

A re-check evaluates an active plan once per span of unchanged facts (``rules.spans``) from the patient's
local today (or the plan's start, if later) through its last upcoming session, honouring the plan's stored
overrides and acknowledgements for exactly the same (item, code, cause). Then:

- every upcoming session (scheduled or blocked, local date ≥ today) in a failing span is ``blocked``, and
  the pending reminders of the sessions it blocks are ``cancelled`` (a blocked session has none: nothing
  revives a reminder of a blocked session, and the dispatcher re-checks the session anyway);
- a blocked session in a passing span that no *other* unresolved flag lists goes back to ``scheduled`` and
  its cancelled reminders become ``pending`` again while still timely, re-timed (``reminders_sync``);
- one flag per (kind, plan), cause ``prescription:<id>``, lists the findings and the sessions they hold:
  ``clearance_conflict`` (no / expired / revoked clearance, insufficient authority, restricted movement),
  ``contraindication`` (contraindicated, caution) and ``mobility``; a kind whose cause is gone is
  auto-resolved with the reason;
- a flag is ``urgent`` when a session it holds starts within the next 24 hours (``URGENT_WITHIN``; and a
  ``clearance_conflict`` whenever today fails), else ``warning``. Severity never goes back down: a re-check
  that computes ``warning`` leaves an urgent flag urgent, and as time passes ``conflict_flags_escalate``
  (per minute) turns a warning urgent once its earliest held session comes within 24 hours;
- a GateEvaluation is stored only when the outcome differs from the plan's latest stored evaluation.

The outcome is compared as a fingerprint of the unresolved findings per span, with the window's moving
edges left out (the first span is "from the start of the window", the last has no end), so that re-checking
unchanged facts on a later day is not a new outcome, while a fact change inside the window, a new cause, a
new override or a change date entering or leaving the window is. The latest evaluation of any purpose is
the baseline, so the first re-check after an activation stores nothing when it agrees with the activation.

Locks: the plan first (a batch: plans by id), then its sessions in id order, then its flags — the order of
``prescriptions.services`` (its docstring). A re-check never locks the patient: a plan transition or a flag
resolution that calls it already holds the patient, and others must not wait for it while holding a plan.

Everything is read in bulk (`prescriptions.selectors.conflicts`): a batch of plans costs the same fixed
number of reads whatever its size, and writes happen only for plans whose state must change. That is what
keeps the nightly sweep over thousands of patients fast (see ``bench/conflicts.py``).
"""

from __future__ import annotations

import bisect
import dataclasses
import datetime as dt
import hashlib
import json
import logging
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field

from django.db import transaction
from django.db.models import CharField, Exists, OuterRef, Value
from django.db.models.functions import Cast, Concat
from django.utils import timezone

from patients.clearance import EXPIRING_WITHIN_DAYS, ClearanceFact, effective_clearance
from patients.models import Patient
from prescriptions.gate import rules
from prescriptions.gate.facts import catalog_version, clearances_of, gate_facts_for_plans
from prescriptions.models import GateEvaluation, Prescription, Reminder, SafetyFlag, Session
from prescriptions.selectors import conflicts as selectors
from prescriptions.services import locks
from prescriptions.services.flagging import SEVERITY_RANK, flag_auto_resolve, flag_raise
from prescriptions.services.schedule import reminders_sync

logger = logging.getLogger(__name__)

Code = rules.Code
Kind = SafetyFlag.Kind
Purpose = GateEvaluation.Purpose

KIND_OF_CODE: dict[str, str] = {
    Code.NO_CLEARANCE: Kind.CLEARANCE_CONFLICT,
    Code.CLEARANCE_EXPIRED: Kind.CLEARANCE_CONFLICT,
    Code.CLEARANCE_REVOKED: Kind.CLEARANCE_CONFLICT,
    Code.CLEARANCE_NOT_YET_VALID: Kind.CLEARANCE_CONFLICT,
    Code.CLEARANCE_INSUFFICIENT_AUTHORITY: Kind.CLEARANCE_CONFLICT,
    Code.RESTRICTED_MOVEMENT: Kind.CLEARANCE_CONFLICT,
    Code.CONTRAINDICATED: Kind.CONTRAINDICATION,
    Code.CAUTION: Kind.CONTRAINDICATION,
    Code.MOBILITY_UNKNOWN: Kind.MOBILITY,
    Code.MOBILITY_BELOW_MINIMUM: Kind.MOBILITY,
}
CONFLICT_KINDS = (Kind.CLEARANCE_CONFLICT, Kind.CONTRAINDICATION, Kind.MOBILITY)
"""The kinds a re-check owns: one flag of each per plan, cause ``prescription:<id>``."""

RESOLVED_BECAUSE = {
    Kind.CLEARANCE_CONFLICT: "clearance recorded — a valid clearance now covers every upcoming session",
    Kind.CONTRAINDICATION: "finding no longer applies",
    Kind.MOBILITY: "mobility reassessed — the latest level meets every stretch's minimum",
}
RESOLVED_BY_OVERRIDE = "covered by a recorded override or acknowledgement"
RESOLVED_NOTHING_UPCOMING = "the plan has no upcoming sessions"

PLAN_FIELDS = ("id", "patient_id", "status", "start_date", "end_date")
PATIENT_FIELDS = ("id", "clinic_id", "timezone")

URGENT_WITHIN = dt.timedelta(hours=24)
"""A conflict flag is urgent once a session it holds starts this soon: someone must call the patient first."""
SCAN_BATCH_SIZE = 1000


@dataclass(frozen=True)
class RecheckResult:
    """What one re-check of one plan found and changed (session and flag ids)."""

    prescription_id: int
    checked: bool
    """False when the plan is not active: nothing was evaluated or changed."""
    failing_sessions: tuple[int, ...] = ()
    """Every upcoming session in a failing span (blocked now, whether or not it was before)."""
    blocked: tuple[int, ...] = ()
    unblocked: tuple[int, ...] = ()
    flags_raised: tuple[int, ...] = ()
    """Flags opened or refreshed (a refresh only when something about them changed)."""
    flags_resolved: tuple[int, ...] = ()
    evaluation_id: int | None = None
    """The GateEvaluation stored because the outcome changed, else None."""

    @property
    def changed(self) -> bool:
        return bool(self.blocked or self.unblocked or self.flags_raised or self.flags_resolved or self.evaluation_id)


# --- What a re-check reads and decides --------------------------------------------------------------------


@dataclass
class _Span:
    start: dt.date
    end: dt.date
    findings: list[rules.Finding]
    unresolved: list[rules.Finding]


@dataclass
class _KindOutcome:
    findings: dict[tuple[int, str, str], rules.Finding] = field(default_factory=dict)
    sessions: list[int] = field(default_factory=list)
    first: dt.date | None = None
    last: dt.date | None = None
    today: bool = False
    soonest: dt.datetime | None = None
    """When the first held session that has not begun yet starts."""


@dataclass
class _Check:
    """One plan: what was read, then what was decided."""

    plan: Prescription
    today: dt.date
    items: list[rules.ItemFact]
    facts: rules.Facts
    covered: set[tuple[int, str, str]]
    sessions: list[selectors.UpcomingSession]
    latest: tuple[dt.date, list] | None
    flags: dict[str, SafetyFlag]
    now: dt.datetime
    window_start: dt.date | None = None
    spans: list[_Span] = field(default_factory=list)
    failing: list[int] = field(default_factory=list)
    to_block: list[int] = field(default_factory=list)
    passing_blocked: list[int] = field(default_factory=list)
    by_kind: dict[str, _KindOutcome] = field(default_factory=dict)
    covered_kinds: set[str] = field(default_factory=set)
    to_raise: dict[str, tuple[str, str, dict]] = field(default_factory=dict)
    to_resolve: list[str] = field(default_factory=list)
    fingerprint: str = ""
    store_evaluation: bool = False


def _fingerprint(window_start: dt.date | None, spans: Iterable[tuple[dt.date, Iterable[Sequence]]]) -> str:
    """The outcome: unresolved (item, code, cause) keys per span, adjacent equal spans merged, the window's
    first start written as None and no end, so only real changes of outcome change it."""
    outline: list[list] = []
    for start, keys in spans:
        normalized = sorted({(int(k[0]), str(k[1]), str(k[2])) for k in keys})
        if outline and outline[-1][1] == normalized:
            continue
        outline.append([None if start == window_start else start.isoformat(), normalized])
    return hashlib.sha256(json.dumps(outline).encode()).hexdigest()


def _stored_fingerprint(on_date: dt.date, findings: list) -> str:
    """The fingerprint of a stored evaluation (the per-span format of ``gate_run``)."""
    spans = []
    for span in findings:
        keys = [(f["item"], f["code"], f["cause"]) for f in span["findings"] if not f.get("covered")]
        spans.append((dt.date.fromisoformat(span["from"]), keys))
    return _fingerprint(on_date, spans)


def _decide(check: _Check) -> None:
    """Evaluate once per span over [max(today, start), last upcoming session] and work out every change."""
    plan = check.plan
    first = max(check.today, plan.start_date)
    dates = [s.local_date for s in check.sessions]
    if dates:
        last = max(first, dates[-1])
    elif plan.end_date is None or plan.end_date >= first:
        last = first  # nothing materialized yet: still say whether the plan may run today
    else:
        last = None
    if last is not None:
        check.window_start = first
        for start, end in rules.spans(check.facts, first, last):
            findings = rules.evaluate(check.facts, check.items, start)
            check.spans.append(_Span(start, end, findings, rules.unresolved(findings, check.covered)))

    starts = [span.start for span in check.spans]
    for session in check.sessions:
        if not check.spans:
            break
        span = check.spans[max(0, bisect.bisect_right(starts, session.local_date) - 1)]
        if span.unresolved:
            check.failing.append(session.id)
            if session.status == Session.Status.SCHEDULED:
                check.to_block.append(session.id)
            for kind in {KIND_OF_CODE[f.code] for f in span.unresolved}:
                outcome = check.by_kind.setdefault(kind, _KindOutcome())
                outcome.sessions.append(session.id)
                if session.scheduled_at >= check.now and (
                    outcome.soonest is None or session.scheduled_at < outcome.soonest
                ):
                    outcome.soonest = session.scheduled_at
        elif session.status == Session.Status.BLOCKED:
            check.passing_blocked.append(session.id)

    present_kinds = set()
    for index, span in enumerate(check.spans):
        present_kinds |= {KIND_OF_CODE[f.code] for f in span.findings}
        for finding in span.unresolved:
            outcome = check.by_kind.setdefault(KIND_OF_CODE[finding.code], _KindOutcome())
            outcome.findings.setdefault(finding.key, finding)
            outcome.first = outcome.first or span.start
            outcome.last = span.end
            outcome.today = outcome.today or (index == 0 and span.start == check.today)
    check.covered_kinds = present_kinds - set(check.by_kind)

    outline = [(span.start, [f.key for f in span.unresolved]) for span in check.spans]
    check.fingerprint = _fingerprint(check.window_start, outline)
    check.store_evaluation = check.latest is None or _stored_fingerprint(*check.latest) != check.fingerprint
    _decide_flags(check)


def _severity(check: _Check, kind: str, outcome: _KindOutcome) -> str:
    """Urgent when a held session starts within ``URGENT_WITHIN`` of now, or a clearance conflict holds today."""
    starts_soon = outcome.soonest is not None and outcome.soonest <= check.now + URGENT_WITHIN
    if starts_soon or (kind == Kind.CLEARANCE_CONFLICT and outcome.today):
        return SafetyFlag.Severity.URGENT
    return SafetyFlag.Severity.WARNING


def _flag_content(check: _Check, kind: str, outcome: _KindOutcome) -> tuple[str, str, dict]:
    plan = check.plan
    severity = _severity(check, kind, outcome)
    findings = list(outcome.findings.values())
    count = len(outcome.sessions)
    if count:
        held = f"{count} upcoming session{'s' if count != 1 else ''} on hold from {outcome.first.isoformat()}"
    else:
        held = f"conflict from {outcome.first.isoformat()}"
    summary = f"Plan #{plan.pk}: {held}. {findings[0].message}"
    details = {
        "prescription": plan.pk,
        "from": outcome.first.isoformat(),
        "until": outcome.last.isoformat(),
        "sessions": outcome.sessions,
        "findings": [f.as_dict() for f in findings],
    }
    return severity, summary[:300], details


def _decide_flags(check: _Check) -> None:
    """Which of the plan's conflict flags to raise or refresh (only when something about them changed) and
    which to resolve."""
    for kind in CONFLICT_KINDS:
        outcome, existing = check.by_kind.get(kind), check.flags.get(kind)
        if outcome is None:
            if existing is not None:
                check.to_resolve.append(kind)
            continue
        severity, summary, details = _flag_content(check, kind, outcome)
        unchanged = (
            existing is not None
            and existing.details == details
            and existing.summary == summary
            and SEVERITY_RANK[existing.severity] >= SEVERITY_RANK[severity]
        )
        if not unchanged:
            check.to_raise[kind] = (severity, summary, details)


# --- Reading ----------------------------------------------------------------------------------------------


def _read(plans: Sequence[Prescription], today: dt.date | None, now: dt.datetime | None) -> list[_Check]:
    """Everything the re-check needs for ``plans`` (patients selected), in a fixed number of queries."""
    if not plans:
        return []
    now = now or timezone.now()
    ids = [p.pk for p in plans]
    todays = {p.pk: today or p.patient.local_today(now) for p in plans}
    gate = gate_facts_for_plans(plans)
    sessions = selectors.upcoming_sessions(ids, since=min(todays.values()))
    covered = selectors.covered_keys(ids)
    latest = selectors.latest_evaluations(ids)
    flags = selectors.unresolved_plan_flags(ids, CONFLICT_KINDS)
    checks = []
    for plan in plans:
        items, facts = gate[plan.pk]
        plan_today = todays[plan.pk]
        checks.append(
            _Check(
                plan=plan,
                today=plan_today,
                items=items,
                facts=facts,
                covered=covered.get(plan.pk, set()),
                sessions=[s for s in sessions.get(plan.pk, []) if s.local_date >= plan_today],
                latest=latest.get(plan.pk),
                flags={kind: flags[(plan.pk, kind)] for kind in CONFLICT_KINDS if (plan.pk, kind) in flags},
                now=now,
            )
        )
    return checks


# --- Writing ----------------------------------------------------------------------------------------------


def _evaluation(check: _Check, purpose: str) -> GateEvaluation:
    first = check.window_start or check.today
    return GateEvaluation(
        prescription=check.plan,
        purpose=purpose,
        evaluated_at=timezone.now(),
        evaluated_by=None,
        on_date=first,
        through_date=check.spans[-1].end if check.spans else first,
        passed=not (check.spans and check.spans[0].unresolved),
        facts=rules.facts_as_dict(check.facts),
        findings=[
            {
                "from": span.start.isoformat(),
                "until": span.end.isoformat(),
                "findings": [
                    {**f.as_dict(), "covered": f.overridable and f.key in check.covered} for f in span.findings
                ],
            }
            for span in check.spans
        ],
        catalog_version=catalog_version(check.facts, check.items),
    )


def _resolution_reason(check: _Check, kind: str) -> str:
    if not check.spans:
        return RESOLVED_NOTHING_UPCOMING
    if kind in check.covered_kinds:
        return RESOLVED_BY_OVERRIDE
    return RESOLVED_BECAUSE[kind]


def _apply_flags(check: _Check, unblock: list[int]) -> tuple[list[int], list[int]]:
    """Unblock and raise/resolve the flags of one plan (locked by the caller); returns (raised, resolved)."""
    plan, now = check.plan, timezone.now()
    if unblock:
        locks.in_id_order(Session.objects.filter(pk__in=unblock, status=Session.Status.BLOCKED)).update(
            status=Session.Status.SCHEDULED, updated_at=now
        )
        # Their cancelled reminders come back while still timely, re-timed (and missing ones are created).
        reminders_sync(session_ids=unblock, now=now)
    raised, resolved = [], []
    # Raise before resolving: auto-resolution releases the sessions no other unresolved flag lists.
    for kind, (severity, summary, details) in check.to_raise.items():
        sessions = check.by_kind[kind].sessions
        flag, created = flag_raise(
            patient=plan.patient,
            kind=kind,
            cause_key=f"prescription:{plan.pk}",
            severity=severity,
            summary=summary,
            details=details,
            prescription=plan,
            sessions=sessions,
        )
        if not created:  # the flag lists exactly the upcoming sessions it holds now; past ones stay on record
            SafetyFlag.sessions.through.objects.filter(
                safetyflag_id=flag.pk, session__prescription_id=plan.pk, session__local_date__gte=check.today
            ).exclude(session_id__in=sessions).delete()
        raised.append(flag.pk)
    for kind in check.to_resolve:
        flag = check.flags[kind]
        flag_auto_resolve(flag=flag, reason=_resolution_reason(check, kind))
        resolved.append(flag.pk)
    return raised, resolved


def _recheck_locked(
    plans: Sequence[Prescription], *, today: dt.date | None, purpose: str, isolate: bool, now: dt.datetime | None
) -> list[RecheckResult]:
    """Read in bulk, decide per plan, write: blocks and evaluations for the whole batch at once, flags and
    unblocks plan by plan (each in a savepoint when ``isolate``, so one failure skips only that plan)."""
    checks = _read(plans, today, now)
    for check in checks:
        _decide(check)
    now = timezone.now()
    to_block = [pk for check in checks for pk in check.to_block]
    if to_block:  # blocking is the safe direction: done for the batch before anything that may fail
        locks.in_id_order(Session.objects.filter(pk__in=to_block, status=Session.Status.SCHEDULED)).update(
            status=Session.Status.BLOCKED, updated_at=now
        )
        Reminder.objects.filter(session_id__in=to_block, status=Reminder.Status.PENDING).update(
            status=Reminder.Status.CANCELLED, updated_at=now
        )
    candidates = [pk for check in checks for pk in check.passing_blocked]
    held = selectors.sessions_held_by_other_flags(candidates, CONFLICT_KINDS) if candidates else set()

    results: list[RecheckResult] = []
    evaluations: list[GateEvaluation] = []
    for check in checks:
        unblock = [pk for pk in check.passing_blocked if pk not in held]
        raised: list[int] = []
        resolved: list[int] = []
        if unblock or check.to_raise or check.to_resolve:
            if not isolate:
                raised, resolved = _apply_flags(check, unblock)
            else:
                try:
                    with transaction.atomic():
                        raised, resolved = _apply_flags(check, unblock)
                except Exception:  # one broken plan must not stop the re-check of the others in the batch
                    logger.exception("Conflict re-check of plan %s failed; the next re-check retries it", check.plan.pk)
                    continue
            logger.info(
                "Conflict re-check of plan %s: %d blocked, %d unblocked, flags raised %s, resolved %s",
                check.plan.pk,
                len(check.to_block),
                len(unblock),
                raised,
                resolved,
            )
        if check.store_evaluation:
            evaluations.append(_evaluation(check, purpose))
        results.append(
            RecheckResult(
                prescription_id=check.plan.pk,
                checked=True,
                failing_sessions=tuple(check.failing),
                blocked=tuple(check.to_block),
                unblocked=tuple(unblock),
                flags_raised=tuple(raised),
                flags_resolved=tuple(resolved),
            )
        )
    if evaluations:
        GateEvaluation.objects.bulk_create(evaluations)
        stored = {evaluation.prescription_id: evaluation.pk for evaluation in evaluations}
        results = [dataclasses.replace(r, evaluation_id=stored.get(r.prescription_id)) for r in results]
    return results


# --- Services ---------------------------------------------------------------------------------------------


def _plans_locked():
    """Plans locked for update (their rows only, in id order), with just what a re-check reads."""
    return locks.plans(Prescription.objects.only(*PLAN_FIELDS, *(f"patient__{name}" for name in PATIENT_FIELDS)))


@transaction.atomic
def prescription_recheck(
    *,
    prescription_id: int,
    today: dt.date | None = None,
    purpose: str = Purpose.RECHECK,
    now: dt.datetime | None = None,
) -> RecheckResult:
    """Re-evaluate an active plan's upcoming sessions and block, unblock and flag accordingly (idempotent).

    ``now`` (default: the current time) decides which held sessions start soon enough to make a flag
    urgent; ``today`` defaults to the patient's local date at ``now``. The plan row is locked for the
    duration. A plan that is not active is left alone (``checked`` is False). Runs a fixed number of queries
    whatever the number of sessions.
    """
    plan = locks.plan(prescription_id=prescription_id)
    if plan.status != Prescription.Status.ACTIVE:
        return RecheckResult(prescription_id=plan.pk, checked=False)
    (result,) = _recheck_locked([plan], today=today, purpose=purpose, isolate=False, now=now)
    return result


@transaction.atomic
def patients_recheck(
    *,
    patient_ids: Iterable[int],
    today: dt.date | None = None,
    purpose: str = Purpose.RECHECK,
    now: dt.datetime | None = None,
) -> list[RecheckResult]:
    """`prescription_recheck` for every active plan of these patients, reading them all in bulk.

    One transaction; the plans are locked in id order. A plan whose writes fail is logged and skipped
    (its savepoint rolled back) so the others are still checked; the next re-check retries it.
    """
    plans = list(_plans_locked().filter(patient_id__in=list(patient_ids), status=Prescription.Status.ACTIVE))
    return _recheck_locked(plans, today=today, purpose=purpose, isolate=True, now=now)


def patient_recheck(
    *, patient_id: int, today: dt.date | None = None, now: dt.datetime | None = None
) -> list[RecheckResult]:
    """Re-check every active plan of one patient (after a clearance, diagnosis or mobility change)."""
    return patients_recheck(patient_ids=[patient_id], today=today, now=now)


@transaction.atomic  # Django refuses SELECT … FOR UPDATE outside one, even inside a single UPDATE
def conflict_flags_escalate(*, now: dt.datetime | None = None) -> int:
    """Make urgent every unresolved conflict flag of a plan (kind of ``CONFLICT_KINDS``, cause
    ``prescription:<id>``) that holds a blocked session starting within ``URGENT_WITHIN`` of ``now``; returns
    how many were escalated. Never lowers a severity and never touches a resolved flag, so running it again
    changes nothing (per minute, the beat task ``prescriptions.escalate_conflict_flags``).

    One UPDATE. It locks only flag rows and waits for none (``SKIP LOCKED``): a flag another transaction holds
    right now is being re-checked or resolved — a re-check applies the same rule itself — and the next run
    escalates it if it still must be. Waiting could deadlock with a re-check that locks a plan's flags one
    kind after another.
    """
    now = now or timezone.now()
    starting_soon = Session.objects.filter(
        flags=OuterRef("pk"),
        status=Session.Status.BLOCKED,
        scheduled_at__gte=now,
        scheduled_at__lte=now + URGENT_WITHIN,
    )
    due = (
        SafetyFlag.objects.filter(
            kind__in=CONFLICT_KINDS,
            cause_key=Concat(Value("prescription:"), Cast("prescription_id", CharField())),
        )
        .exclude(status=SafetyFlag.Status.RESOLVED)
        .exclude(severity=SafetyFlag.Severity.URGENT)
        .filter(Exists(starting_soon))
    )
    escalated = SafetyFlag.objects.filter(pk__in=locks.claim(due).order_by("pk").values("pk")).update(
        severity=SafetyFlag.Severity.URGENT, updated_at=timezone.now()
    )
    if escalated:
        logger.info("Escalated %d conflict flag(s) to urgent: a session they hold starts within 24 hours", escalated)
    return escalated


def sweep_batches(*, size: int) -> Iterator[list[int]]:
    """Ids of the patients with an active plan, in ascending batches of ``size``."""
    ids = list(selectors.active_plan_patient_ids())
    for start in range(0, len(ids), size):
        yield ids[start : start + size]


# --- Expiring clearances ----------------------------------------------------------------------------------


def _covered_through(clearances: Sequence[ClearanceFact], ending: ClearanceFact, until: dt.date) -> bool:
    """Whether, by the gate's own rule (``effective_clearance``), some clearance is in force on every day
    from the one after ``ending`` ends through ``until``: following the chain of successors, each recorded before
    or after ``ending`` (a future-dated letter filed first counts; a revoked one does not; a one-day letter that
    leaves a gap behind it does not hide the gap). A successor's restrictions are the re-check's business: it
    raises ``clearance_conflict`` for the sessions they rule out as soon as that letter is recorded."""
    day = ending.valid_until + dt.timedelta(days=1)
    while day <= until:
        successor = effective_clearance(clearances, day)
        if successor is None:
            return False
        day = successor.valid_until + dt.timedelta(days=1)
    return True


def clearance_expiring_scan(*, today: dt.date | None = None) -> int:
    """Open ``clearance_expiring`` (warning) for each patient with an active plan whose effective clearance
    ends within 7 days with no successor; once ever per clearance. Returns how many flags were opened."""
    opened = 0
    now = timezone.now()
    for batch in sweep_batches(size=SCAN_BATCH_SIZE):
        patients = {p.pk: p for p in Patient.objects.filter(pk__in=batch).only("id", "timezone", "clinic_id")}
        clearances = clearances_of({pk: p.zone for pk, p in patients.items()})
        due = []
        for pk, patient in patients.items():
            day = today or patient.local_today(now)
            effective = effective_clearance(clearances[pk], day)
            if effective is None or (effective.valid_until - day).days > EXPIRING_WITHIN_DAYS:
                continue
            # Covered through the first day past the warning window: a gap that opens by then is warned of now.
            if not _covered_through(clearances[pk], effective, day + dt.timedelta(days=EXPIRING_WITHIN_DAYS + 1)):
                due.append((patient, effective, day))
        if not due:
            continue
        flagged = set(
            SafetyFlag.objects.filter(
                kind=Kind.CLEARANCE_EXPIRING, cause_key__in=[f"clearance:{c.id}" for _, c, _ in due]
            ).values_list("cause_key", flat=True)
        )
        for patient, clearance, day in due:
            cause_key = f"clearance:{clearance.id}"
            if cause_key in flagged:
                continue
            days_left = (clearance.valid_until - day).days
            when = "today" if days_left == 0 else f"in {days_left} day{'s' if days_left != 1 else ''}"
            _, created = flag_raise(
                patient=patient,
                kind=Kind.CLEARANCE_EXPIRING,
                cause_key=cause_key,
                severity=SafetyFlag.Severity.WARNING,
                summary=(
                    f"The clearance by {clearance.professional_name} ends on {clearance.valid_until.isoformat()} "
                    f"({when}) and no new clearance is on file: sessions after it will be put on hold."
                ),
                details={
                    "clearance": clearance.id,
                    "valid_until": clearance.valid_until.isoformat(),
                    "days_left": days_left,
                },
            )
            opened += created
    return opened
