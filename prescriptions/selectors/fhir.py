"""The rows of a patient's FHIR export (issue 19): one query per kind of row, whatever the number of plans, items,
logs, responses and gate findings, then ``prescriptions.fhir.mapping`` makes the bundle."""

from __future__ import annotations

import datetime as dt
import uuid

from django.conf import settings
from django.db import connection

from patients.clearance import effective_clearance
from patients.models import ClearanceRestriction, Patient, PatientDiagnosis
from prescriptions.fhir import mapping
from prescriptions.gate.facts import clearances_of
from prescriptions.models import (
    GateEvaluation,
    GateOverride,
    MeasureResponse,
    Prescription,
    PrescriptionItem,
    SafetyFlag,
    SessionLog,
)

# One row per distinct (plan version, item, code, cause) among the findings the gate stored for the patient's plans
# that refused (an unresolved finding of an evaluation's first span, which did not pass) or that a therapist
# covered (overrode or acknowledged): evaluations repeat on every sweep, a finding is told once. The severity and
# message are the latest evaluation's; the times are the first evaluation's and the start of the latest run of
# evaluations in those words (told A, then B, then A again: the second A).
FINDINGS_SQL = f"""
WITH told AS (
    SELECT e.prescription_id AS plan, (f.finding->>'item')::integer AS item, f.finding->>'code' AS code,
           f.finding->>'cause' AS cause, f.finding->>'severity' AS severity, f.finding->>'message' AS message,
           e.evaluated_at AS at, e.id AS evaluation
    FROM {GateEvaluation._meta.db_table} e
    JOIN {Prescription._meta.db_table} p ON p.id = e.prescription_id
    CROSS JOIN LATERAL jsonb_array_elements(e.findings) WITH ORDINALITY AS s(span, n)
    CROSS JOIN LATERAL jsonb_array_elements(s.span->'findings') AS f(finding)
    WHERE p.patient_id = %s
      AND (coalesce((f.finding->>'covered')::boolean, false) OR (s.n = 1 AND NOT e.passed))
), latest AS (
    SELECT DISTINCT ON (plan, item, code, cause) plan, item, code, cause, severity, message
    FROM told ORDER BY plan, item, code, cause, at DESC, evaluation DESC
), worded AS (  -- each row, with the last time the finding was told in other words than its latest
    SELECT t.*, l.severity AS now_severity, l.message AS now_message,
           max(t.at) FILTER (WHERE (t.severity, t.message) IS DISTINCT FROM (l.severity, l.message))
               OVER (PARTITION BY t.plan, t.item, t.code, t.cause) AS reworded
    FROM told t JOIN latest l
      ON l.plan = t.plan AND l.item IS NOT DISTINCT FROM t.item AND l.code = t.code AND l.cause = t.cause
)
SELECT plan, item, code, cause, now_severity, now_message, min(at),
       min(at) FILTER (WHERE reworded IS NULL OR at > reworded)
FROM worded
GROUP BY plan, item, code, cause, now_severity, now_message
ORDER BY plan, item, code, cause
"""


def mrn_system(clinic_id: int) -> str:
    """The identifier system of the clinic's MRNs (``FHIR_MRN_SYSTEM``, e.g. ``urn:limber:clinic:7:mrn``)."""
    return settings.FHIR_MRN_SYSTEM.format(clinic=clinic_id)


def _findings(patient_id: int) -> list[mapping.Finding]:
    with connection.cursor() as cursor:
        cursor.execute(FINDINGS_SQL, [patient_id])
        return [
            mapping.Finding(
                plan_id=plan,
                item_id=item,
                code=code,
                cause=cause,
                severity=severity,
                message=message,
                first_at=first,
                worded_at=worded,
            )
            for plan, item, code, cause, severity, message, first, worded in cursor.fetchall()
        ]


def _restrictions(patient: Patient, today: dt.date) -> list[mapping.Restriction]:
    """Every movement the patient's clearances restrict, each marked in force or not: the clearance in force on the
    patient's local date by the one rule of ``patients.clearance`` over the gate's facts (among all their clearances,
    so a later one without restrictions ends an earlier one's). Three queries."""
    in_force = effective_clearance(clearances_of({patient.pk: patient.zone})[patient.pk], today)
    rows = (
        ClearanceRestriction.objects.filter(clearance__patient=patient)
        .select_related("clearance", "tag")
        .order_by("clearance_id", "tag__slug")
    )
    restrictions = []
    for row in rows:
        here = in_force is not None and row.clearance_id == in_force.id
        restrictions.append(
            mapping.Restriction(
                clearance=row.clearance, tag=row.tag, in_force=here, replaced_by=None if here else in_force
            )
        )
    return restrictions


def fhir_rows(patient: Patient, *, now: dt.datetime | None = None) -> mapping.Rows:
    """Everything the patient's export reads, in a fixed number of queries."""
    today = patient.local_today(now)
    plans = list(Prescription.objects.filter(patient=patient).select_related("therapist__membership").order_by("pk"))
    return mapping.Rows(
        patient=patient,
        today=today,
        mrn_system=mrn_system(patient.clinic_id),
        namespace=uuid.UUID(settings.FHIR_ID_NAMESPACE),
        diagnoses=list(
            PatientDiagnosis.objects.filter(patient=patient)
            .select_related("diagnosis", "recorded_by__membership")
            .order_by("pk")
        ),
        plans=plans,
        items=list(
            PrescriptionItem.objects.filter(prescription__patient=patient).select_related("stretch").order_by("pk")
        ),
        logs=list(
            SessionLog.objects.filter(session__prescription__patient=patient).select_related("session").order_by("pk")
        ),
        responses=list(
            MeasureResponse.objects.filter(patient=patient)
            .select_related("instrument", "entered_by__membership")
            .order_by("pk")
        ),
        findings=_findings(patient.pk),
        waivers=list(
            GateOverride.objects.filter(prescription__patient=patient).select_related("by__membership").order_by("pk")
        ),
        restrictions=_restrictions(patient, today),
        flags=list(SafetyFlag.objects.filter(patient=patient).order_by("pk")),
    )
