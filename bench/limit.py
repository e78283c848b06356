"""The same-work limit for ``GET /api/v1/portal/plans`` (issue 20): a yardstick only, routed by ``bench.urls``.

The portal endpoint's work by hand in the fewest round trips: a plain Django view (no DRF, and no middleware:
``bench.wsgi`` serves it with none), raw SQL prepared on the server (``prepared_cursor``, as the portal's), orjson.

1. One statement: the knox token by ``token_key`` with its user's ``is_active``, whether the user is staff, and
   the user's live grants' patients (at most two, as JSON). The digest is compared and the expiry checked here.
2. One statement: the AccessLog insert (a data-modifying CTE) and, built as JSON by PostgreSQL, the patient's
   active plans with their items (stretch, body region, progression rule) and the sessions of the local week and
   the patient's diagnoses; the active red-flag questions as a second column (their facts built once per text).
   Python then words the progression rules and picks each session's questions with the pure
   ``pain.red_flag_questions``, as the portal does.
3. No transaction: each statement commits by itself, the second with its log row (one statement is atomic).

Answers as the portal does: 401 for a bad token or an inactive user, 403 for staff, 404 unless exactly one
live grant to a patient in care (as ``bench.baseline``). PostgreSQL writes ``scheduled_at`` as
``2025-01-02T13:00:00+00:00``, as the portal's orjson does for whole seconds (fractions: PostgreSQL trims
trailing zeros, orjson writes six digits).
"""

from __future__ import annotations

import datetime as dt
import functools
from hmac import compare_digest
from zoneinfo import ZoneInfo

import orjson
from django.db import connection
from django.http import HttpResponse
from django.utils import timezone
from knox.crypto import hash_token
from knox.settings import CONSTANTS

from prescriptions.gate import pain
from prescriptions.models import Prescription, PrescriptionItem
from prescriptions.selectors.portal import PLAN_DAYS, RULE_FIELDS

WHAT = "bench:limit-plans"

# Token, user, staff membership and the live grants' patients (LIMIT 2: exactly one is served).
AUTH_SQL = """
SELECT t.digest, t.expiry, u.id, u.is_active,
       EXISTS (SELECT FROM clinic_staffmembership m WHERE m.user_id = u.id),
       (SELECT json_agg(json_build_object('id', p.id, 'first_name', p.first_name, 'last_name', p.last_name,
                                          'timezone', p.timezone))::text
          FROM (SELECT p.id, p.first_name, p.last_name, p.timezone
                  FROM patients_portalaccess a JOIN patients_patient p ON p.id = a.patient_id
                 WHERE a.user_id = u.id AND a.revoked_at IS NULL AND p.archived_at IS NULL
                 LIMIT 2) p)
  FROM knox_authtoken t JOIN auth_user u ON u.id = t.user_id
 WHERE t.token_key = %s
"""

# The access-log row and everything the body needs, as one JSON document.
PLANS_SQL = f"""
WITH logged AS (
    INSERT INTO patients_accesslog (actor_id, patient_id, what) VALUES (%(user)s, %(patient)s, %(what)s)
    RETURNING 1
)
SELECT json_build_object(
    'logged', (SELECT count(*) FROM logged),
    'plans', (
        SELECT coalesce(json_agg(json_build_object(
            'id', pl.id, 'version', pl.version, 'start_date', pl.start_date, 'end_date', pl.end_date,
            'days_of_week', pl.days_of_week, 'times', pl.times, 'notes', pl.notes,
            'items', (
                SELECT coalesce(json_agg(json_build_object(
                    'id', i.id, 'order', i."order", 'hold_seconds', i.hold_seconds, 'reps', i.reps,
                    'sets', i.sets, 'side', i.side, 'notes', i.notes,
                    'rule', json_build_array({", ".join(f"i.{name}" for name in RULE_FIELDS)}),
                    'region', s.body_region,
                    'stretch', json_build_object('slug', s.slug, 'name', s.name, 'steps', s.steps,
                                                 'position', s.position, 'kind', s.kind)
                ) ORDER BY i."order", i.id), '[]')
                  FROM prescriptions_prescriptionitem i JOIN clinic_stretch s ON s.id = i.stretch_id
                 WHERE i.prescription_id = pl.id),
            'sessions', (
                SELECT coalesce(json_agg(json_build_object(
                    'id', se.id, 'local_date', se.local_date, 'local_time', se.local_time,
                    'scheduled_at', se.scheduled_at, 'status', se.status
                ) ORDER BY se.scheduled_at, se.id), '[]')
                  FROM prescriptions_session se
                 WHERE se.prescription_id = pl.id AND se.local_date BETWEEN %(today)s AND %(last_day)s)
        ) ORDER BY pl.start_date, pl.id), '[]')
          FROM prescriptions_prescription pl
         WHERE pl.patient_id = %(patient)s AND pl.status = %(active)s),
    'diagnoses', (
        SELECT coalesce(json_agg(json_build_array(d.code, pd.onset_date, pd.resolved_date) ORDER BY pd.id), '[]')
          FROM patients_patientdiagnosis pd JOIN clinic_diagnosis d ON d.id = pd.diagnosis_id
         WHERE pd.patient_id = %(patient)s)
)::text,
(SELECT coalesce(json_agg(json_build_object(
        'slug', q.slug, 'text', q.text, 'symptom', q.symptom, 'severity', q.severity, 'advice', q.advice,
        'plan_regions', q.plan_regions, 'diagnoses', q.diagnoses, 'order', q."order"
    ) ORDER BY q."order", q.slug), '[]')
   FROM prescriptions_redflagquestion q WHERE q.active)::text
"""


def _json(body, status: int = 200) -> HttpResponse:
    return HttpResponse(orjson.dumps(body), status=status, content_type="application/json")


def _problem(status: int, title: str) -> HttpResponse:
    return _json({"type": "about:blank", "title": title, "status": status}, status)


def _date(value: str | None) -> dt.date | None:
    return None if value is None else dt.date.fromisoformat(value)


def _progression_text(rule: list) -> str:
    """The rule in words, "" without one (a model instance only for an item with a rule, as the portal)."""
    if rule[0] is None:
        return ""
    return PrescriptionItem(**dict(zip(RULE_FIELDS, rule, strict=True))).progression_text


@functools.lru_cache(maxsize=8)
def _questions(rows: str) -> tuple[pain.RedFlagQuestionFact, ...]:
    """The active questions as facts, built once per text of their rows (every request reads the same)."""
    return tuple(_question(row) for row in orjson.loads(rows))


def _question(row: dict) -> pain.RedFlagQuestionFact:
    """A question row as a fact; unreadable ``diagnoses`` ask it of everyone (``red_flags.question_facts``)."""
    try:
        row["diagnoses"] = pain.asked_with(row["diagnoses"])
    except ValueError:
        row["diagnoses"], row["plan_regions"] = (), ()
    return pain.RedFlagQuestionFact(**row)


def plans(request):
    if request.method != "GET":
        return _problem(405, "Method not allowed")
    parts = request.headers.get("Authorization", "").split()
    if len(parts) != 2 or parts[0].lower() != "token":
        return _problem(401, "Invalid token")
    token = parts[1]
    try:
        digest = hash_token(token)
    except (TypeError, ValueError):
        return _problem(401, "Invalid token")
    # No transaction: the second statement inserts the log row with the read, atomic by itself. Both prepared.
    with connection.prepared_cursor() as cursor:
        cursor.execute(AUTH_SQL, [token[: CONSTANTS.TOKEN_KEY_LENGTH]])
        now = timezone.now()
        found = [
            row
            for row in cursor.fetchall()
            if compare_digest(row[0], digest) and (row[1] is None or row[1] > now) and row[3]
        ]
        if not found:
            return _problem(401, "Invalid token")
        _, _, user_id, _, is_staff, patients_json = found[0]
        if is_staff:
            return _problem(403, "This endpoint is for patients and their guardians.")
        patients = orjson.loads(patients_json or "[]")
        if len(patients) != 1:
            return _problem(404, "Not found")
        patient = patients[0]
        today = now.astimezone(ZoneInfo(patient["timezone"])).date()
        cursor.execute(
            PLANS_SQL,
            {
                "user": user_id,
                "patient": patient["id"],
                "what": WHAT,
                "today": today,
                "last_day": today + dt.timedelta(days=PLAN_DAYS - 1),
                "active": Prescription.Status.ACTIVE.value,
            },
        )
        document, question_rows = cursor.fetchone()
        data = orjson.loads(document)

    questions = _questions(question_rows)
    diagnoses = [
        pain.DiagnosisDates(code, _date(onset), _date(resolved)) for code, onset, resolved in data["diagnoses"]
    ]
    for plan in data["plans"]:
        regions = set()
        for item in plan["items"]:
            regions.add(item.pop("region"))
            item["progression_text"] = _progression_text(item.pop("rule"))
        shown: dict[str, list[dict[str, str]]] = {}  # one list per date, as the portal shares it
        for session in plan["sessions"]:
            day = session["local_date"]
            if day not in shown:
                chosen = pain.red_flag_questions(
                    questions, diagnoses=diagnoses, plan_regions=regions, on_date=dt.date.fromisoformat(day)
                )
                shown[day] = [{"slug": q.slug, "text": q.text} for q in chosen]
            session["red_flag_questions"] = shown[day]
    return _json({"patient": patient, "local_today": today, "plans": data["plans"]})
