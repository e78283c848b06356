"""The patient portal API: scoping (other patient → 404, staff → 403, anonymous → 401), logs, skips,
preferences, and constant queries on the plans hot path and the sessions list."""

from __future__ import annotations

import datetime as dt

import pytest
from django.db import IntegrityError, connection, transaction

from clinic.models import Diagnosis
from patients import signals
from patients.models import PortalAccess
from prescriptions.gate.pain import (
    NOT_ANSWERED,
    NOT_ASKED,
    PAIN_ADVICE,
)
from prescriptions.models import Prescription, RedFlagQuestion, SafetyFlag, Session, SessionLog
from tests import factories

Status = Session.Status
BASE = "/api/v1/portal"
# The questions a lumbar plan of a patient with no diagnosis asks: everyone's, in order.
EVERYONE = [
    "saddle_numbness",
    "bladder_bowel_change",
    "progressive_leg_weakness",
    "fever_or_unwell",
    "fall_or_injury",
    "constant_or_night_pain",
    "spreading_symptoms",
]


def shown_questions(slugs):
    """Questions as the portal shows them."""
    rows = {q.slug: q for q in RedFlagQuestion.objects.filter(slug__in=slugs)}
    return [{"slug": slug, "text": rows[slug].text} for slug in slugs]


def logged(session, **values):
    """A log body answering each of the session's red-flag questions no, pain 1 → 1 unless given."""
    return {"pain_before": 1, "pain_after": 1, "answers": factories.no_red_flags(session), **values}


def active_plan(patient, *, items=1, status=Prescription.Status.ACTIVE):
    plan = factories.PrescriptionFactory(
        episode__patient=patient, status=status, start_date=patient.local_today() - dt.timedelta(days=10)
    )
    for order in range(1, items + 1):
        factories.PrescriptionItemFactory(prescription=plan, order=order)
    return plan


def sessions_for(plan, days, *, per_day=1, first=None):
    first = first or plan.patient.local_today()
    return [
        factories.SessionFactory(
            prescription=plan, local_date=first + dt.timedelta(days=day), local_time=dt.time(8 + 4 * slot, 0)
        )
        for day in range(days)
        for slot in range(per_day)
    ]


@pytest.fixture
def plan(patient):
    return active_plan(patient, items=2)


@pytest.fixture
def session(plan):
    return sessions_for(plan, 1)[0]


@pytest.fixture
def guardian(patient, clinic):
    """A parent with portal access to two children."""
    user = factories.PortalAccessFactory(patient=patient, relationship=PortalAccess.Relationship.GUARDIAN).user
    sibling = factories.PatientFactory(clinic=clinic, first_name="Sibling")
    factories.PortalAccessFactory(user=user, patient=sibling, relationship=PortalAccess.Relationship.GUARDIAN)
    return user


def problem(response, status):
    assert response.status_code == status, response.content
    assert response["Content-Type"] == "application/problem+json"
    return response.json()


# --- Who may call ---------------------------------------------------------------------------------------

ENDPOINTS = [
    ("get", "me"),
    ("get", "plans"),
    ("get", "sessions/"),
    ("get", "sessions/{session}"),
    ("post", "sessions/{session}/log"),
    ("post", "sessions/{session}/skip"),
    ("get", "preferences"),
    ("patch", "preferences"),
]


@pytest.mark.parametrize(("method", "path"), ENDPOINTS)
def test_staff_are_refused_and_anonymous_must_authenticate(as_user, api, therapist, session, method, path):
    url = f"{BASE}/{path.format(session=session.pk)}"
    body = problem(getattr(as_user(therapist), method)(url, {}), 403)
    assert body["detail"] == "This endpoint is for patients and their guardians."
    api.force_authenticate(None)
    assert problem(getattr(api, method)(url, {}), 401)["title"] == "Not authenticated"


def test_a_user_without_portal_access_is_refused(db, as_user):
    stranger = factories.UserFactory()
    assert as_user(stranger).get(f"{BASE}/me").status_code == 403


def test_another_patients_session_is_not_found(as_user, other_portal_user, session):
    client = as_user(other_portal_user)
    problem(client.post(f"{BASE}/sessions/{session.pk}/log", logged(session)), 404)
    problem(client.get(f"{BASE}/sessions/{session.pk}"), 404)
    problem(client.post(f"{BASE}/sessions/{session.pk}/skip", {}), 404)
    assert client.get(f"{BASE}/sessions/").json()["count"] == 0
    assert not SessionLog.objects.exists()
    session.refresh_from_db()
    assert session.status == Status.SCHEDULED


def test_an_archived_patient_leaves_the_portal(as_user, portal_user, patient, session):
    patient.archived_at = patient.created_at
    patient.save(update_fields=["archived_at"])
    client = as_user(portal_user)
    assert client.get(f"{BASE}/me").json()["patients"] == []
    problem(client.get(f"{BASE}/plans"), 404)
    problem(client.post(f"{BASE}/sessions/{session.pk}/skip", {}), 404)


# --- me -------------------------------------------------------------------------------------------------


def test_me_lists_the_patients_i_may_see(as_user, portal_user, patient):
    body = as_user(portal_user).get(f"{BASE}/me").json()
    assert body["id"] == portal_user.pk and body["username"] == portal_user.username
    assert body["patients"] == [
        {
            "id": patient.pk,
            "first_name": patient.first_name,
            "last_name": patient.last_name,
            "relationship": "self",
            "timezone": "America/New_York",
            "clinic": {"name": patient.clinic.name, "phone": patient.clinic.phone},
        }
    ]
    assert body["pain"] == {"ask_which_hurt_above": 5, "stop_at": 7}  # the pain rules' thresholds, not re-typed


def test_a_guardian_sees_both_children(as_user, guardian):
    patients = as_user(guardian).get(f"{BASE}/me").json()["patients"]
    assert len(patients) == 2 and {p["relationship"] for p in patients} == {"guardian"}


# --- plans ----------------------------------------------------------------------------------------------


def test_plans_show_active_plans_with_items_and_this_weeks_sessions(as_user, portal_user, patient, plan):
    today = patient.local_today()
    this_week = sessions_for(plan, 7)
    sessions_for(plan, 1, first=today + dt.timedelta(days=7))  # the eighth day: not shown
    sessions_for(plan, 1, first=today - dt.timedelta(days=1))  # yesterday: not shown
    active_plan(patient, status=Prescription.Status.DRAFT)
    active_plan(patient, status=Prescription.Status.PAUSED)
    active_plan(factories.PatientFactory(clinic=patient.clinic))  # someone else's

    response = as_user(portal_user).get(f"{BASE}/plans")
    assert response.status_code == 200
    body = response.json()
    assert body["patient"]["id"] == patient.pk and body["local_today"] == today.isoformat()
    (shown,) = body["plans"]
    assert shown["id"] == plan.pk
    first_item = plan.items.order_by("order").first()
    assert shown["items"][0] == {
        "id": first_item.pk,
        "order": 1,
        "hold_seconds": 5,
        "reps": 10,
        "sets": 1,
        "side": "none",
        "notes": "",
        "progression_text": "",
        "stretch": {
            "slug": "pelvic-tilt",
            "name": first_item.stretch.name,
            "steps": first_item.stretch.steps,
            "position": first_item.stretch.position,
            "kind": first_item.stretch.kind,
        },
    }
    assert [s["id"] for s in shown["sessions"]] == [s.pk for s in this_week]
    first = shown["sessions"][0]
    assert first["local_date"] == today.isoformat() and first["local_time"] == "08:00:00"
    assert first["status"] == "scheduled"
    assert first["red_flag_questions"] == shown_questions(EVERYONE)
    assert dt.datetime.fromisoformat(first["scheduled_at"]) == this_week[0].scheduled_at


def test_plans_for_a_guardian_need_the_patient(as_user, guardian, patient, plan, other_patient):
    client = as_user(guardian)
    assert "patient" in problem(client.get(f"{BASE}/plans"), 400)["errors"]
    assert client.get(f"{BASE}/plans?patient={patient.pk}").json()["plans"][0]["id"] == plan.pk
    problem(client.get(f"{BASE}/plans?patient={other_patient.pk}"), 404)
    assert "patient" in problem(client.get(f"{BASE}/plans?patient=first"), 400)["errors"]


def test_plans_with_nothing_active(as_user, portal_user):
    assert as_user(portal_user).get(f"{BASE}/plans").json()["plans"] == []


def build_plans(patient, *, plans, items, sessions_per_plan):
    """Active plans, each with ``items`` items and ``sessions_per_plan`` sessions spread over this week."""
    today = patient.local_today()
    for _ in range(plans):
        plan = active_plan(patient, items=items)
        for index in range(sessions_per_plan):
            factories.SessionFactory(
                prescription=plan,
                local_date=today + dt.timedelta(days=index % 7),
                local_time=dt.time(8 + index // 7, 0),
            )


def test_plans_run_constant_queries(api, portal_user, patient, count_queries):
    """The whole request as a portal app makes it, token authentication included."""
    from knox.models import AuthToken

    _, token = AuthToken.objects.create(user=portal_user)
    api.credentials(HTTP_AUTHORIZATION=f"Token {token}")
    url = f"{BASE}/plans"
    build_plans(patient, plans=1, items=1, sessions_per_plan=1)
    small = count_queries(lambda: api.get(url))

    Prescription.objects.all().update(status=Prescription.Status.COMPLETED)
    build_plans(patient, plans=3, items=8, sessions_per_plan=14)
    response = api.get(url)
    assert [len(p["items"]) for p in response.json()["plans"]] == [8, 8, 8]
    assert [len(p["sessions"]) for p in response.json()["plans"]] == [14, 14, 14]
    large = count_queries(lambda: api.get(url))
    # Issue 20: the token with its user, staff membership and grants with their patients (one statement); the
    # access-log insert with the plans, their items and stretches, the week's sessions, the red-flag questions and the
    # patient's diagnoses (one statement, JSON built by PostgreSQL); no transaction of its own (no BEGIN, no COMMIT).
    assert small == large == 2


def test_a_plans_read_whose_log_cannot_be_written_serves_nothing(as_user, portal_user, patient):
    """The plans and their access-log row are one statement: when the row cannot be written, nothing is read."""
    build_plans(patient, plans=1, items=1, sessions_per_plan=1)
    with connection.cursor() as cursor:  # stands for log storage that refuses the row
        cursor.execute("ALTER TABLE patients_accesslog ADD CONSTRAINT refuse CHECK (what <> 'api:portal-plans')")
    with pytest.raises(IntegrityError), transaction.atomic():
        as_user(portal_user).get(f"{BASE}/plans")


def test_plans_of_a_user_whose_only_patient_is_archived_are_gone(as_user, portal_user, patient, therapist):
    from patients.services import patient_archive

    patient_archive(patient=patient, by=therapist)
    problem(as_user(portal_user).get(f"{BASE}/plans"), 404)
    assert as_user(portal_user).get(f"{BASE}/me").json()["patients"] == []


# --- sessions -------------------------------------------------------------------------------------------


def test_sessions_filter_by_local_date_range_and_status(as_user, portal_user, patient, plan):
    today = patient.local_today()
    week = sessions_for(plan, 7, first=today - dt.timedelta(days=3))
    Session.objects.filter(pk=week[0].pk).update(status=Status.COMPLETED)
    Session.objects.filter(pk=week[1].pk).update(status=Status.SKIPPED)
    client = as_user(portal_user)

    everything = client.get(f"{BASE}/sessions/").json()
    assert everything["count"] == 7 and set(everything) == {"count", "next", "previous", "results"}
    assert everything["results"][0] == {
        "id": week[0].pk,
        "patient": patient.pk,
        "prescription": plan.pk,
        "local_date": week[0].local_date.isoformat(),
        "local_time": "08:00:00",
        "scheduled_at": everything["results"][0]["scheduled_at"],
        "status": "completed",
        "red_flag_questions": shown_questions(EVERYONE),
    }
    tomorrow = today + dt.timedelta(days=1)
    ranged = client.get(f"{BASE}/sessions/", {"from": today.isoformat(), "to": tomorrow.isoformat()})
    assert [s["id"] for s in ranged.json()["results"]] == [week[3].pk, week[4].pk]
    done = client.get(f"{BASE}/sessions/?status=completed&status=skipped").json()
    assert [s["id"] for s in done["results"]] == [week[0].pk, week[1].pk]
    assert client.get(f"{BASE}/sessions/?patient={patient.pk}").json()["count"] == 7


def test_sessions_bad_filters_are_field_errors(as_user, portal_user):
    query = {"from": "tuesday", "to": "2026-02-30", "status": "done", "patient": "1.5"}
    body = problem(as_user(portal_user).get(f"{BASE}/sessions/", query), 400)
    assert set(body["errors"]) == {"from", "to", "status", "patient"}


def test_a_guardian_lists_both_childrens_sessions(as_user, guardian, patient, plan, clinic):
    sessions_for(plan, 2)
    sibling = PortalAccess.objects.filter(user=guardian).exclude(patient=patient).get().patient
    sessions_for(active_plan(sibling), 3)
    client = as_user(guardian)
    assert client.get(f"{BASE}/sessions/").json()["count"] == 5
    assert client.get(f"{BASE}/sessions/?patient={sibling.pk}").json()["count"] == 3


@pytest.mark.parametrize("rows", [1, 14])
def test_sessions_list_runs_constant_queries(as_user, portal_user, plan, count_queries, rows):
    sessions_for(plan, rows)
    client = as_user(portal_user)
    client.get(f"{BASE}/sessions/")  # warm up the staff-membership cache on the user
    assert client.get(f"{BASE}/sessions/").json()["count"] == rows
    # portal access check, count, page, the red-flag questions, the page's diagnoses and plan regions, access log:
    # whatever the number of rows
    assert count_queries(lambda: client.get(f"{BASE}/sessions/")) == 7


# --- log ------------------------------------------------------------------------------------------------


def test_log_a_session(as_user, portal_user, session, plan):
    first, second = plan.items.order_by("order", "id")
    response = as_user(portal_user).post(
        f"{BASE}/sessions/{session.pk}/log",
        logged(
            session,
            pain_before=3,
            pain_after=2,
            difficulty=2,
            item_completion={str(first.pk): True},
            hurt_items=[second.pk],
            note="ok",
        ),
    )
    assert response.status_code == 201, response.json()
    body = response.json()
    assert body["session"] == session.pk
    assert body["item_completion"] == {str(first.pk): True} and body["hurt_items"] == [second.pk]
    assert body["advice"] is None and body["signals"] == []
    assert body["answers"] == dict.fromkeys(EVERYONE, False) and body["difficulty"] == 2
    assert body["red_flag_questions"] == shown_questions(EVERYONE)
    assert dt.datetime.fromisoformat(body["logged_at"]).utcoffset() is not None
    session.refresh_from_db()
    assert session.status == Status.COMPLETED


def test_a_guardian_logs_for_a_child(as_user, guardian, session, patient):
    response = as_user(guardian).post(f"{BASE}/sessions/{session.pk}/log", logged(session))
    assert response.status_code == 201
    assert SessionLog.objects.get().logged_by == guardian


def test_a_session_shows_the_questions_its_log_asks(as_user, portal_user, patient, stretch):
    """Any client asks exactly these: everyone's, plus a neck plan's and a diagnosis's own."""
    plan = active_plan(patient, items=0)
    factories.PrescriptionItemFactory(prescription=plan, stretch=stretch("chin-tuck"))
    factories.PatientDiagnosisFactory(patient=patient, diagnosis=Diagnosis.objects.get(code="Z33.1"))
    (session,) = sessions_for(plan, 1)
    client = as_user(portal_user)
    body = client.get(f"{BASE}/sessions/{session.pk}").json()
    expected = [
        *EVERYONE,
        "clumsy_hands_or_unsteady_walking",
        "arm_weakness",
        "neck_stretch_vascular_symptoms",
        "pregnancy_bleeding_or_fluid",
        "pregnancy_painful_contractions",
        "pregnancy_baby_moving_less",
        "calf_pain_or_swelling",
        "chest_pain_or_breathless",
    ]
    assert body["id"] == session.pk and body["red_flag_questions"] == shown_questions(expected)
    assert client.get(f"{BASE}/sessions/").json()["results"][0]["red_flag_questions"] == body["red_flag_questions"]
    (plan_out,) = client.get(f"{BASE}/plans").json()["plans"]
    assert plan_out["sessions"][0]["red_flag_questions"] == body["red_flag_questions"]

    answers = {question["slug"]: False for question in body["red_flag_questions"]}
    response = client.post(f"{BASE}/sessions/{session.pk}/log", logged(session, answers=answers))
    assert response.status_code == 201, response.json()


@pytest.mark.parametrize(
    ("values", "advice", "kinds"),
    [
        ({"pain_before": 5, "pain_after": 5}, None, []),
        ({"pain_before": 5, "pain_after": 6}, "above the 5/10", ["pain_escalation"]),
        ({"pain_before": 7, "pain_after": 6}, PAIN_ADVICE, ["pain_escalation"]),
        ({"pain_before": 3, "pain_after": 5}, "went up by 2 points", ["pain_escalation"]),
        ({"yes": "progressive_leg_weakness"}, "cauda equina", ["red_flag_symptom"]),
        ({"yes": "spreading_symptoms"}, "Stop the stretch that makes", ["red_flag_symptom"]),
    ],
)
def test_log_advice_and_flags(as_user, portal_user, session, patient, values, advice, kinds):
    values = dict(values)
    answers = factories.no_red_flags(session, **({values.pop("yes"): True} if "yes" in values else {}))
    response = as_user(portal_user).post(
        f"{BASE}/sessions/{session.pk}/log", logged(session, answers=answers, **values)
    )
    assert response.status_code == 201
    body = response.json()
    if advice is None:
        assert body["advice"] is None and body["signals"] == []
    else:
        assert advice in body["advice"]
        assert " ".join(signal["advice"] for signal in body["signals"]) == body["advice"]
    assert [f.kind for f in SafetyFlag.objects.filter(patient=patient)] == kinds


def test_an_unanswered_red_flag_question_is_refused_not_read_as_no(as_user, portal_user, session):
    """Unknown means the risky case: a log that skips a red-flag question is a 400 naming it, and nothing is logged."""
    answers = {"saddle_numbness": False, "arm_weakness": False}  # arm weakness: a neck plan's question
    body = problem(
        as_user(portal_user).post(f"{BASE}/sessions/{session.pk}/log", logged(session, answers=answers)), 400
    )
    assert body["errors"] == {
        **{f"answers.{slug}": [NOT_ANSWERED] for slug in EVERYONE if slug != "saddle_numbness"},
        "answers.arm_weakness": [NOT_ASKED],
    }
    session.refresh_from_db()
    assert session.status == Session.Status.SCHEDULED and not SessionLog.objects.exists()


def test_log_bad_input_names_the_fields(as_user, portal_user, session, patient):
    stranger = active_plan(patient).items.get()
    client = as_user(portal_user)
    body = problem(
        client.post(
            f"{BASE}/sessions/{session.pk}/log",
            {"pain_before": 11, "difficulty": 9, "answers": {"saddle_numbness": "x"}, "hurt_items": [0]},
        ),
        400,
    )
    assert set(body["errors"]) == {
        "pain_before",
        "pain_after",
        "difficulty",
        "answers.saddle_numbness",
        "hurt_items[0]",
    }
    body = problem(client.post(f"{BASE}/sessions/{session.pk}/log", {"pain_before": 1, "pain_after": 1}), 400)
    assert set(body["errors"]) == {"answers"}  # required
    too_many = {f"q{n}": False for n in range(51)}
    body = problem(client.post(f"{BASE}/sessions/{session.pk}/log", logged(session, answers=too_many)), 400)
    assert set(body["errors"]) == {"answers"}
    for field, value in (("item_completion", {str(stranger.pk): True}), ("hurt_items", [stranger.pk])):
        body = problem(client.post(f"{BASE}/sessions/{session.pk}/log", logged(session, **{field: value})), 400)
        assert set(body["errors"]) == {field}
    assert not SessionLog.objects.exists()


@pytest.mark.parametrize(
    ("status", "reason"),
    [
        (Status.BLOCKED, "on hold"),
        (Status.CANCELLED, "cancelled"),
        (Status.COMPLETED, "already logged"),
        (Status.SKIPPED, "skipped"),
        (Status.MISSED, "missed"),
    ],
)
def test_log_and_skip_refuse_with_the_reason(as_user, portal_user, session, status, reason):
    Session.objects.filter(pk=session.pk).update(status=status)
    client = as_user(portal_user)
    body = problem(client.post(f"{BASE}/sessions/{session.pk}/log", logged(session)), 409)
    assert body["type"].endswith("/state-conflict") and reason in body["detail"]
    body = problem(client.post(f"{BASE}/sessions/{session.pk}/skip", {}), 409)
    assert reason in body["detail"]


@pytest.mark.parametrize(("days", "reason"), [(1, "yet"), (-2, "no longer")])
def test_log_and_skip_refuse_outside_the_window(as_user, portal_user, plan, patient, days, reason):
    (session,) = sessions_for(plan, 1, first=patient.local_today() + dt.timedelta(days=days))
    client = as_user(portal_user)
    response = client.post(f"{BASE}/sessions/{session.pk}/log", logged(session))
    assert reason in problem(response, 409)["detail"]
    assert reason in problem(client.post(f"{BASE}/sessions/{session.pk}/skip", {}), 409)["detail"]


# --- skip -----------------------------------------------------------------------------------------------


def test_skip_a_session(as_user, portal_user, session, patient):
    response = as_user(portal_user).post(f"{BASE}/sessions/{session.pk}/skip", {"reason": "Travelling"})
    assert response.status_code == 200
    body = response.json()
    assert body["id"] == session.pk and body["status"] == "skipped" and body["patient"] == patient.pk
    assert body["red_flag_questions"] == shown_questions(EVERYONE)
    (later,) = sessions_for(session.prescription, 1, first=patient.local_today() - dt.timedelta(days=1))
    too_long = as_user(portal_user).post(f"{BASE}/sessions/{later.pk}/skip", {"reason": "x" * 501})
    assert "reason" in problem(too_long, 400)["errors"]


# --- preferences ----------------------------------------------------------------------------------------


def test_preferences_read(as_user, portal_user, patient):
    body = as_user(portal_user).get(f"{BASE}/preferences").json()
    assert body["patient"] == patient.pk and body["preferred_channel"] == "none"
    assert body["email"] == patient.email and body["email_consent"] is False and body["email_consent_at"] is None
    assert body["timezone"] == "America/New_York"


def test_preferences_consent_is_timestamped_by_the_service(as_user, portal_user, patient):
    client = as_user(portal_user)
    response = client.patch(
        f"{BASE}/preferences",
        {"email_consent": True, "preferred_channel": "email", "quiet_hours_start": "21:00", "quiet_hours_end": "07:30"},
    )
    assert response.status_code == 200, response.json()
    body = response.json()
    assert body["email_consent"] is True and body["email_consent_at"] and body["preferred_channel"] == "email"
    assert body["quiet_hours_start"] == "21:00:00" and body["quiet_hours_end"] == "07:30:00"
    # withdrawing consent is never refused: reminders fall back to none
    body = client.patch(f"{BASE}/preferences", {"email_consent": False}).json()
    assert body["email_consent"] is False and body["preferred_channel"] == "none"
    patient.refresh_from_db()
    assert patient.email_consent_at is not None and not patient.email_consent


@pytest.mark.parametrize(
    ("change", "fields"),
    [
        ({"timezone": "Mars/Olympus"}, {"timezone"}),
        ({"preferred_channel": "pigeon"}, {"preferred_channel"}),
        ({"quiet_hours_start": "22:00"}, {"quiet_hours_end"}),  # both or neither
        ({"sms_consent": True, "preferred_channel": "sms"}, {"preferred_channel"}),  # no phone on file
        ({"preferred_channel": "email"}, {"preferred_channel"}),  # no consent
    ],
)
def test_preferences_bad_changes_name_the_fields(as_user, portal_user, patient, change, fields):
    body = problem(as_user(portal_user).patch(f"{BASE}/preferences", change), 400)
    assert set(body["errors"]) == fields


def test_a_zone_change_is_announced(as_user, portal_user, patient, django_capture_on_commit_callbacks):
    heard = []

    def listener(sender, patient_id, **kwargs):
        heard.append(patient_id)

    signals.patient_zone_changed.connect(listener)
    try:
        with django_capture_on_commit_callbacks(execute=True):
            response = as_user(portal_user).patch(f"{BASE}/preferences", {"timezone": "Pacific/Kiritimati"})
    finally:
        signals.patient_zone_changed.disconnect(listener)
    assert response.status_code == 200 and response.json()["timezone"] == "Pacific/Kiritimati"
    assert heard == [patient.pk]


def test_preferences_for_a_guardian_need_the_patient(as_user, guardian, patient, other_patient):
    client = as_user(guardian)
    assert "patient" in problem(client.get(f"{BASE}/preferences"), 400)["errors"]
    assert client.get(f"{BASE}/preferences?patient={patient.pk}").json()["patient"] == patient.pk
    problem(client.patch(f"{BASE}/preferences?patient={other_patient.pk}", {"sms_consent": True}), 404)
    response = client.patch(f"{BASE}/preferences?patient={patient.pk}", {"quiet_hours_start": None})
    assert response.status_code == 200


def test_a_question_whose_diagnoses_cannot_be_read_is_asked_of_everyone_and_breaks_nothing(
    as_user, portal_user, patient
):
    """Raw SQL may store what the admin refuses (here a huge number a strict JSON parser rejects, beside an entry that
    is no condition): that question is asked of everyone (unknown means the risky case), and nothing else breaks."""
    from django.db import connection

    from prescriptions.models import RedFlagQuestion

    build_plans(patient, plans=1, items=1, sessions_per_plan=1)
    question = RedFlagQuestion.objects.filter(active=True).exclude(diagnoses=[]).first()
    with connection.cursor() as cursor:
        cursor.execute(
            "UPDATE prescriptions_redflagquestion SET diagnoses = %s::jsonb WHERE id = %s",
            ['[{"code": "Z99.9", "until_day": 1e400}, "not an object"]', question.pk],
        )
    response = as_user(portal_user).get(f"{BASE}/plans")
    assert response.status_code == 200
    [session] = response.json()["plans"][0]["sessions"]
    assert question.slug in [q["slug"] for q in session["red_flag_questions"]]
