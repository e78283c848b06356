"""Reads for the patient portal: only the patients a PortalAccess row grants the user (self, guardian, caregiver).

``portal_plans`` is the portal's hot path: one statement (plans, items with their stretches, the week's sessions,
the red-flag questions and the patient's diagnoses, as JSON built by PostgreSQL) whatever the number of plans, items
and sessions, returned as plain data so no serializer walks model instances.
"""

from __future__ import annotations

import datetime as dt
import functools
from typing import Any

import orjson
from django.db import connection
from django.db.models import F, QuerySet

from clinic.models import Diagnosis, Stretch
from patients import audit
from patients.models import Patient, PatientDiagnosis
from prescriptions.gate import pain
from prescriptions.models import Prescription, PrescriptionItem, RedFlagQuestion, Session
from prescriptions.selectors.red_flags import QUESTION_FIELDS, question_fact, question_out

PLAN_DAYS = 7
"""The plans view shows sessions from the patient's local today through the next six days."""


def portal_patients(*, user) -> QuerySet[Patient]:
    """The patients ``user`` may see in the portal: live grants only (archived patients are gone from the portal)."""
    # One filter() call: the live grant and the user are the same row of the join.
    return Patient.objects.filter(
        portal_access__user=user, portal_access__revoked_at__isnull=True, archived_at__isnull=True
    )


def portal_sessions(*, user) -> QuerySet[Session]:
    """Sessions of the user's patients, each annotated with ``patient_id``, in time order."""
    return (
        Session.objects.filter(prescription__patient__in=portal_patients(user=user))
        .annotate(patient_id=F("prescription__patient_id"))
        .order_by("scheduled_at", "id")
    )


RULE_FIELDS = (
    "progress_every_weeks",
    "progress_hold_seconds",
    "progress_reps",
    "progress_sets",
    "progress_max_hold_seconds",
    "progress_max_reps",
    "progress_max_sets",
)
STRETCH_FIELDS = ("slug", "name", "steps", "position", "kind")


# A question's ``diagnoses`` comes as text, parsed per question: one unreadable value (raw SQL may store what orjson
# refuses, e.g. 1e400) leaves that question asked of everyone, never fails the whole document.
QUESTION_COLUMNS = [f'q."{name}"::text' if name == "diagnoses" else f'q."{name}"' for name in QUESTION_FIELDS]


def _table(model) -> str:
    return model._meta.db_table


# The portal's hot path in one statement (issue 20): the access-log row of the read (``audit.logged_read_sql``), the
# active plans with their items (and stretches) and the week's sessions and the patient's diagnoses as one JSON
# document built by PostgreSQL, and the active red-flag questions as a second column (the same text for every
# patient, so their facts are built once: ``_question_facts``). Why raw SQL: five ORM queries cost five round trips
# and, per request, more Python compiling them than PostgreSQL spends running them; the statement is compiled once,
# here, prepared by psycopg on each connection (``config.postgresql``), and its JSON is the response's shape already
# (dates, times and instants in the API's formats), so only the red-flag questions are chosen in Python (the pure
# ``pain.red_flag_questions``). ``tests/test_api_portal.py`` pins the response and the statement count; the figures
# of each choice are in docs/deploy.md.
PLANS_SQL = audit.logged_read_sql(f"""
SELECT json_build_object(
  'plans', coalesce((
    SELECT json_agg(json_build_object(
        'id', rx.id, 'version', rx.version, 'start_date', rx.start_date, 'end_date', rx.end_date,
        'days_of_week', rx.days_of_week, 'times', rx.times, 'notes', rx.notes,
        'items', coalesce((
          SELECT json_agg(json_build_object(
              'id', it.id, 'order', it."order", 'hold_seconds', it.hold_seconds, 'reps', it.reps, 'sets', it.sets,
              'side', it.side, 'notes', it.notes,
              'rule', CASE WHEN it.progress_every_weeks IS NULL THEN NULL ELSE json_build_array(
                  {", ".join(f"it.{name}" for name in RULE_FIELDS)}) END,
              'region', st.body_region,
              'stretch', json_build_object({", ".join(f"'{name}', st.{name}" for name in STRETCH_FIELDS)})
            ) ORDER BY it."order", it.id)
          FROM {_table(PrescriptionItem)} it JOIN {_table(Stretch)} st ON st.id = it.stretch_id
          WHERE it.prescription_id = rx.id), '[]'),
        'sessions', coalesce((
          SELECT json_agg(json_build_object(
              'id', se.id, 'local_date', se.local_date, 'local_time', se.local_time,
              'scheduled_at', se.scheduled_at, 'status', se.status
            ) ORDER BY se.scheduled_at, se.id)
          FROM {_table(Session)} se
          WHERE se.prescription_id = rx.id AND se.local_date BETWEEN %(today)s AND %(last_day)s), '[]')
      ) ORDER BY rx.start_date, rx.id)
    FROM {_table(Prescription)} rx WHERE rx.patient_id = %(patient)s AND rx.status = %(active)s), '[]'),
  'diagnoses', coalesce((
    SELECT json_agg(json_build_array(d.code, pd.onset_date, pd.resolved_date) ORDER BY pd.id)
    FROM {_table(PatientDiagnosis)} pd JOIN {_table(Diagnosis)} d ON d.id = pd.diagnosis_id
    WHERE pd.patient_id = %(patient)s), '[]')
)::text,
coalesce((
  SELECT json_agg(json_build_array({", ".join(QUESTION_COLUMNS)}) ORDER BY q."order", q.slug)
  FROM {_table(RedFlagQuestion)} q WHERE q.active), '[]')::text
""")


def _progression_text(rule: list | None) -> str:
    """An item's progression rule in words (``DosedItem.progression_text``), "" without one; a model instance is
    built only for an item with a rule."""
    if rule is None:
        return ""
    return PrescriptionItem(**dict(zip(RULE_FIELDS, rule, strict=True))).progression_text


@functools.lru_cache(maxsize=8)
def _question_facts(rows: str) -> tuple[pain.RedFlagQuestionFact, ...]:
    """The active red-flag questions as facts, from their rows as ``PLANS_SQL`` writes them (JSON text). Cached by
    that text: every request reads the same questions, and a change to any of them makes a new text (issue 20)."""
    return tuple(question_fact(row) for row in orjson.loads(rows))


def portal_plans(*, patient: Patient, actor, logged_as: str, today: dt.date | None = None) -> dict[str, Any]:
    """The patient's active plans (each with its version) with their items (each with its progression rule in words)
    and the sessions of the next ``PLAN_DAYS`` local days, each session with the red-flag questions its log asks;
    the read logged (``actor`` read the patient's data, ``logged_as`` what) in the same statement.

    One statement whatever the sizes (``PLANS_SQL``); dates, times and instants come as the API writes them.
    """
    today = today or patient.local_today()
    last_day = today + dt.timedelta(days=PLAN_DAYS - 1)
    with connection.prepared_cursor() as cursor:  # prepared by psycopg: config.postgresql
        params = {"patient": patient.pk, "today": today, "last_day": last_day, "active": Prescription.Status.ACTIVE}
        params |= audit.logged_read_params(actor=actor, patient_id=patient.pk, what=logged_as)
        cursor.execute(PLANS_SQL, params)
        document, question_rows = cursor.fetchone()
        document = orjson.loads(document)
    plans = document["plans"]
    questions: tuple[pain.RedFlagQuestionFact, ...] | None = None
    diagnoses: list[pain.DiagnosisDates] = []
    for plan in plans:
        regions = set()
        for item in plan["items"]:
            item["progression_text"] = _progression_text(item.pop("rule"))
            regions.add(item.pop("region"))
        if plan["sessions"] and questions is None:
            questions = _question_facts(question_rows)
            diagnoses = [
                pain.DiagnosisDates(
                    code=code,
                    onset=dt.date.fromisoformat(onset) if onset else None,
                    resolved=dt.date.fromisoformat(resolved) if resolved else None,
                )
                for code, onset, resolved in document["diagnoses"]
            ]
        shown: dict[str, list[dict[str, str]]] = {}  # one list per date, shared by its sessions
        for session in plan["sessions"]:
            day = session["local_date"]
            if day not in shown:
                chosen = pain.red_flag_questions(
                    questions, diagnoses=diagnoses, plan_regions=regions, on_date=dt.date.fromisoformat(day)
                )
                shown[day] = [question_out(question) for question in chosen]
            session["red_flag_questions"] = shown[day]
    return {
        "patient": {
            "id": patient.pk,
            "first_name": patient.first_name,
            "last_name": patient.last_name,
            "timezone": patient.timezone,
        },
        "local_today": today,
        "plans": plans,
    }
