"""The same-work baseline for ``GET /api/v1/portal/plans``: a plain Django view, no DRF (``make bench``).

It does the database work the portal endpoint must do — the knox token lookup by ``token_key`` and the
digest check with expiry, the staff/portal-access check, the user's one patient, its active plans, their
items with stretches, the sessions of the next 7 local days, the red-flag questions and the patient's
diagnoses (each session shows the questions its log asks, chosen by the same pure ``gate.pain`` function), and
the AccessLog insert, in one transaction — with ``.values()`` queries and ``JsonResponse``. It is only routed
by ``bench.urls``; never in the app.
"""

from __future__ import annotations

import datetime as dt
from hmac import compare_digest
from zoneinfo import ZoneInfo

from django.db import transaction
from django.http import JsonResponse
from django.utils import timezone
from knox.crypto import hash_token
from knox.models import AuthToken
from knox.settings import CONSTANTS

from clinic.models import StaffMembership
from patients.audit import access_log_record
from patients.models import Patient, PatientDiagnosis
from prescriptions.gate import pain
from prescriptions.models import Prescription, PrescriptionItem, RedFlagQuestion, Session

PLAN_DAYS = 7
PLAN_FIELDS = ("id", "version", "start_date", "end_date", "days_of_week", "times", "notes")
ITEM_FIELDS = (
    "id", "prescription_id", "order", "hold_seconds", "reps", "sets", "side", "notes", "progress_every_weeks",
    "progress_hold_seconds", "progress_reps", "progress_sets", "progress_max_hold_seconds", "progress_max_reps",
    "progress_max_sets",
)  # fmt: skip
STRETCH_FIELDS = ("slug", "name", "steps", "position", "kind")
SESSION_FIELDS = ("id", "prescription_id", "local_date", "local_time", "scheduled_at", "status")


def _problem(status: int, title: str) -> JsonResponse:
    return JsonResponse({"type": "about:blank", "title": title, "status": status}, status=status)


def _token_user_id(header: str) -> int | None:
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "token" or not token or " " in token:
        return None
    try:
        digest = hash_token(token)
    except (TypeError, ValueError):
        return None
    now = timezone.now()
    rows = AuthToken.objects.filter(token_key=token[: CONSTANTS.TOKEN_KEY_LENGTH]).values_list(
        "digest", "expiry", "user_id", "user__is_active"
    )
    for row_digest, expiry, user_id, is_active in rows:
        if compare_digest(row_digest, digest) and (expiry is None or expiry > now) and is_active:
            return user_id
    return None


def plans(request):
    if request.method != "GET":
        return _problem(405, "Method not allowed")
    with transaction.atomic(savepoint=False):
        user_id = _token_user_id(request.headers.get("Authorization", ""))
        if user_id is None:
            return _problem(401, "Invalid token")
        if StaffMembership.objects.filter(user_id=user_id).exists():
            return _problem(403, "This endpoint is for patients and their guardians.")
        patients = list(
            Patient.objects.filter(
                portal_access__user_id=user_id, portal_access__revoked_at__isnull=True, archived_at__isnull=True
            ).values("id", "first_name", "last_name", "timezone")[:2]
        )
        if len(patients) != 1:
            return _problem(404, "Not found")
        patient = patients[0]
        today = timezone.now().astimezone(ZoneInfo(patient["timezone"])).date()
        last_day = today + dt.timedelta(days=PLAN_DAYS - 1)
        plan_rows = list(
            Prescription.objects.filter(patient_id=patient["id"], status=Prescription.Status.ACTIVE)
            .order_by("start_date", "id")
            .values(*PLAN_FIELDS)
        )
        by_plan, regions = {}, {}
        for plan in plan_rows:
            plan["items"], plan["sessions"] = [], []
            by_plan[plan["id"]] = plan
        if by_plan:
            items = (
                PrescriptionItem.objects.filter(prescription_id__in=by_plan)
                .order_by("order", "id")
                .values(*ITEM_FIELDS, *(f"stretch__{name}" for name in STRETCH_FIELDS), "stretch__body_region")
            )
            for item in items:
                stretch = {name: item.pop(f"stretch__{name}") for name in STRETCH_FIELDS}
                regions.setdefault(item["prescription_id"], set()).add(item.pop("stretch__body_region"))
                by_plan[item.pop("prescription_id")]["items"].append({**item, "stretch": stretch})
            sessions = list(
                Session.objects.filter(prescription_id__in=by_plan, local_date__range=(today, last_day))
                .order_by("scheduled_at", "id")
                .values(*SESSION_FIELDS)
            )
            if sessions:
                questions = [
                    pain.RedFlagQuestionFact(**{**row, "diagnoses": pain.asked_with(row["diagnoses"])})
                    for row in RedFlagQuestion.objects.filter(active=True)
                    .order_by("order", "slug")
                    .values("slug", "text", "symptom", "severity", "advice", "plan_regions", "diagnoses", "order")
                ]
                diagnoses = [
                    pain.DiagnosisDates(code=code, onset=onset, resolved=resolved)
                    for code, onset, resolved in PatientDiagnosis.objects.filter(patient_id=patient["id"])
                    .order_by("id")
                    .values_list("diagnosis__code", "onset_date", "resolved_date")
                ]
            shown = {}  # one list per (plan, date), as the app shares it
            for session in sessions:
                plan_id, day = session.pop("prescription_id"), session["local_date"]
                if (plan_id, day) not in shown:
                    chosen = pain.red_flag_questions(
                        questions, diagnoses=diagnoses, plan_regions=regions.get(plan_id, ()), on_date=day
                    )
                    shown[plan_id, day] = [{"slug": q.slug, "text": q.text} for q in chosen]
                session["red_flag_questions"] = shown[plan_id, day]
                by_plan[plan_id]["sessions"].append(session)
        access_log_record(actor=user_id, patient_ids=[patient["id"]], what="bench:baseline-plans")
    return JsonResponse({"patient": patient, "local_today": today, "plans": plan_rows})
