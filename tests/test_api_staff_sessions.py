"""Staff sessions list (every staff role) and a patient's adherence (therapist, clinic admin)."""

from __future__ import annotations

import datetime as dt

import pytest

from prescriptions.models import Prescription, SafetyFlag, Session
from tests import factories

S = Session.Status
STAFF = ["therapist", "front_desk", "clinic_admin"]
SESSIONS = "/api/v1/sessions/"


def adherence_url(patient, query: str = "") -> str:
    return f"/api/v1/patients/{patient.pk}/adherence{query}"


@pytest.fixture
def plan(patient, therapist):
    return factories.PrescriptionFactory(
        episode__patient=patient, therapist=therapist, status=Prescription.Status.ACTIVE
    )


@pytest.fixture
def session_on(plan, today):
    """``session_on(days from today, status, hour=8, prescription=plan)``."""

    def make(days: int, status: str = S.SCHEDULED, hour: int = 8, prescription=None) -> Session:
        return factories.SessionFactory(
            prescription=prescription or plan,
            local_date=today + dt.timedelta(days=days),
            local_time=dt.time(hour, 0),
            status=status,
        )

    return make


def logged(session: Session, before: int, after: int):
    return factories.SessionLogFactory(session=session, pain_before=before, pain_after=after)


# --- sessions -------------------------------------------------------------------------------------


@pytest.mark.parametrize("role", STAFF)
def test_every_staff_role_lists_the_clinics_sessions(request, as_user, role, session_on, other_clinic):
    mine = session_on(1)
    factories.SessionFactory(prescription__episode__patient=factories.PatientFactory(clinic=other_clinic))

    response = as_user(request.getfixturevalue(role)).get(SESSIONS)

    assert response.status_code == 200
    assert [row["id"] for row in response.json()["results"]] == [mine.pk]


def test_a_session_shows_its_patient_plan_local_time_and_unresolved_flags(as_user, front_desk, patient, plan, today):
    session = factories.SessionFactory(
        prescription=plan, local_date=today + dt.timedelta(days=2), local_time=dt.time(18, 30), status=S.BLOCKED
    )
    open_flag = factories.SafetyFlagFactory(patient=patient)
    acknowledged = factories.SafetyFlagFactory(patient=patient, status=SafetyFlag.Status.ACKNOWLEDGED)
    resolved = factories.SafetyFlagFactory(patient=patient, resolved=True)
    for flag in (open_flag, acknowledged, resolved):
        flag.sessions.add(session)

    (row,) = as_user(front_desk).get(SESSIONS).json()["results"]

    assert row["id"] == session.pk
    assert row["patient"] == patient.pk and row["patient_name"] == patient.full_name
    assert row["prescription"] == plan.pk
    assert row["local_date"] == (today + dt.timedelta(days=2)).isoformat() and row["local_time"] == "18:30:00"
    assert dt.datetime.fromisoformat(row["scheduled_at"]) == session.scheduled_at
    assert row["status"] == "blocked"
    assert row["unresolved_flags"] == sorted([open_flag.pk, acknowledged.pk])


def test_sessions_are_listed_in_time_order(as_user, front_desk, session_on):
    later, earlier, evening = session_on(3), session_on(1), session_on(1, hour=19)
    results = as_user(front_desk).get(SESSIONS).json()["results"]
    assert [row["id"] for row in results] == [earlier.pk, evening.pk, later.pk]
    assert all(row["unresolved_flags"] == [] for row in results)


def test_session_filters(as_user, therapist, patient, plan, session_on, other_patient):
    past = session_on(-3, S.MISSED)
    done = session_on(-1, S.COMPLETED)
    blocked = session_on(2, S.BLOCKED)
    upcoming = session_on(5)
    second_plan = factories.PrescriptionFactory(episode__patient=patient, status=Prescription.Status.ACTIVE)
    same_patient_other_plan = session_on(1, prescription=second_plan)
    theirs = session_on(1, prescription=factories.PrescriptionFactory(episode__patient=other_patient))
    today = patient.local_today()
    client = as_user(therapist)

    def ids(query: str) -> set[int]:
        response = client.get(SESSIONS + query)
        assert response.status_code == 200, response.json()
        return {row["id"] for row in response.json()["results"]}

    assert ids(f"?patient={other_patient.pk}") == {theirs.pk}
    assert ids(f"?patient={patient.pk}") == {past.pk, done.pk, blocked.pk, upcoming.pk, same_patient_other_plan.pk}
    assert ids(f"?prescription={plan.pk}") == {past.pk, done.pk, blocked.pk, upcoming.pk}
    assert ids("?status=blocked") == {blocked.pk}
    assert ids("?status=missed&status=completed") == {past.pk, done.pk}
    assert ids(f"?date_from={today.isoformat()}&prescription={plan.pk}") == {blocked.pk, upcoming.pk}
    assert ids(f"?date_to={(today - dt.timedelta(days=1)).isoformat()}") == {past.pk, done.pk}
    yesterday, in_two_days = today - dt.timedelta(days=1), today + dt.timedelta(days=2)
    window = f"?date_from={yesterday.isoformat()}&date_to={in_two_days.isoformat()}"
    assert ids(window) == {done.pk, blocked.pk, same_patient_other_plan.pk, theirs.pk}


@pytest.mark.parametrize(
    ("query", "field"),
    [
        ("?status=lost", "status"),
        ("?date_from=yesterday", "date_from"),
        ("?date_to=2025-02-30", "date_to"),
        ("?patient=one", "patient"),
        ("?prescription=1.5", "prescription"),
    ],
)
def test_bad_session_filters_are_a_400_naming_the_field(as_user, front_desk, query, field):
    response = as_user(front_desk).get(SESSIONS + query)
    assert response.status_code == 400
    assert set(response.json()["errors"]) == {field}


def test_sessions_of_another_clinic_stay_invisible_even_when_asked_for(as_user, other_therapist, session_on, patient):
    session_on(1)
    client = as_user(other_therapist)
    assert client.get(SESSIONS).json()["count"] == 0
    assert client.get(f"{SESSIONS}?patient={patient.pk}").json()["count"] == 0


def test_sessions_refuse_portal_users_and_anonymous(as_user, api, portal_user):
    assert as_user(portal_user).get(SESSIONS).status_code == 403
    api.force_authenticate(None)
    assert api.get(SESSIONS).status_code == 401


def test_session_list_runs_constant_queries(as_user, front_desk, clinic, count_queries, today):
    def add_sessions(n: int) -> None:
        for i in range(n):
            patient = factories.PatientFactory(clinic=clinic)
            plan = factories.PrescriptionFactory(episode__patient=patient, status=Prescription.Status.ACTIVE)
            session = factories.SessionFactory(
                prescription=plan, local_date=today + dt.timedelta(days=i % 5), status=S.BLOCKED
            )
            for kind in (SafetyFlag.Kind.MOBILITY, SafetyFlag.Kind.CONTRAINDICATION):
                factories.SafetyFlagFactory(patient=patient, kind=kind).sessions.add(session)

    client = as_user(front_desk)
    client.get(SESSIONS)  # the membership is then cached on the user
    add_sessions(1)
    one = count_queries(lambda: client.get(SESSIONS))
    add_sessions(9)
    ten = count_queries(lambda: client.get(SESSIONS))

    assert client.get(SESSIONS).json()["count"] == 10
    assert one == ten == 3  # count + page (patient joined, flag ids as an array subquery) + access log


# --- adherence ------------------------------------------------------------------------------------


@pytest.mark.parametrize("role", ["therapist", "clinic_admin"])
def test_therapists_and_clinic_admins_see_adherence(request, as_user, role, patient):
    response = as_user(request.getfixturevalue(role)).get(adherence_url(patient))
    assert response.status_code == 200, response.json()
    assert response.json()["patient"] == patient.pk


def test_front_desk_and_portal_users_may_not_see_adherence(as_user, front_desk, portal_user, patient):
    assert as_user(front_desk).get(adherence_url(patient)).status_code == 403
    assert as_user(portal_user).get(adherence_url(patient)).status_code == 403


def test_adherence_needs_a_login(api, patient):
    api.force_authenticate(None)
    assert api.get(adherence_url(patient)).status_code == 401


def test_another_clinics_patient_is_a_404(as_user, other_therapist, patient):
    assert as_user(other_therapist).get(adherence_url(patient)).status_code == 404
    assert as_user(other_therapist).get("/api/v1/patients/999999/adherence").status_code == 404


def test_counts_and_completion_rate(as_user, therapist, patient, plan, session_on, other_patient):
    for days in (-10, -8, -6):
        session_on(days, S.COMPLETED)
    session_on(-5, S.MISSED)
    session_on(-4, S.SKIPPED)
    session_on(-3, S.SCHEDULED)  # its time has come: due, not yet logged
    session_on(-2, S.BLOCKED)
    session_on(-1, S.CANCELLED)
    session_on(2, S.SCHEDULED)  # not due yet
    session_on(3, S.BLOCKED)
    session_on(-40, S.MISSED)  # outside the window
    session_on(-5, S.COMPLETED, prescription=factories.PrescriptionFactory(episode__patient=other_patient))
    today = patient.local_today()

    body = as_user(therapist).get(adherence_url(patient, f"?to={(today + dt.timedelta(days=3)).isoformat()}")).json()

    assert body["from"] == (today - dt.timedelta(days=24)).isoformat()
    assert body["to"] == (today + dt.timedelta(days=3)).isoformat()
    assert {key: body[key] for key in ("scheduled", "completed", "missed", "skipped", "blocked", "cancelled")} == {
        "scheduled": 6,
        "completed": 3,
        "missed": 1,
        "skipped": 1,
        "blocked": 2,
        "cancelled": 1,
    }
    assert body["completion_rate"] == 0.6


def test_default_window_is_the_last_28_days_up_to_the_patients_today(as_user, therapist, patient, session_on):
    session_on(-27, S.COMPLETED)
    session_on(-28, S.COMPLETED)
    session_on(1, S.CANCELLED)
    today = patient.local_today()

    body = as_user(therapist).get(adherence_url(patient)).json()

    assert (body["from"], body["to"]) == ((today - dt.timedelta(days=27)).isoformat(), today.isoformat())
    assert body["completed"] == 1 and body["cancelled"] == 0 and body["completion_rate"] == 1.0


def test_only_from_runs_to_today(as_user, therapist, patient):
    today = patient.local_today()
    start = today - dt.timedelta(days=100)
    body = as_user(therapist).get(adherence_url(patient, f"?from={start.isoformat()}")).json()
    assert (body["from"], body["to"]) == (start.isoformat(), today.isoformat())


def test_no_sessions_means_no_rate_and_no_trend(as_user, therapist, patient):
    body = as_user(therapist).get(adherence_url(patient)).json()
    assert body["scheduled"] == body["completed"] == 0
    assert body["completion_rate"] is None
    assert body["pain"] == [] and body["trend"] is None
    assert body["first_third_pain"] is None and body["last_third_pain"] is None


@pytest.mark.parametrize(
    ("query", "field"),
    [
        ("?from=2025-03-02&to=2025-03-01", "to"),
        ("?from=2024-01-01&to=2025-01-01", "from"),  # 367 days
        ("?from=someday", "from"),
        ("?to=2025-13-01", "to"),
    ],
)
def test_bad_windows_are_a_400(as_user, therapist, patient, query, field):
    response = as_user(therapist).get(adherence_url(patient, query))
    assert response.status_code == 400
    assert response["Content-Type"] == "application/problem+json"
    assert set(response.json()["errors"]) == {field}


def test_a_window_of_366_days_is_allowed(as_user, therapist, patient):
    response = as_user(therapist).get(adherence_url(patient, "?from=2024-01-01&to=2024-12-31"))  # a leap year
    assert response.status_code == 200


def test_a_window_at_the_start_of_the_calendar_is_cut_there(as_user, therapist, patient):
    body = as_user(therapist).get(adherence_url(patient, "?to=0001-01-10")).json()
    assert (body["from"], body["to"]) == ("0001-01-01", "0001-01-10")


def test_a_future_from_without_to_is_after_today(as_user, therapist, patient):
    tomorrow = patient.local_today() + dt.timedelta(days=1)
    response = as_user(therapist).get(adherence_url(patient, f"?from={tomorrow.isoformat()}"))
    assert response.status_code == 400 and set(response.json()["errors"]) == {"to"}


def test_pain_is_averaged_per_logged_day(as_user, therapist, patient, session_on):
    logged(session_on(-3, S.COMPLETED, hour=8), 4, 2)
    logged(session_on(-3, S.COMPLETED, hour=18), 5, 4)
    logged(session_on(-1, S.COMPLETED), 3, 1)
    session_on(-2, S.MISSED)

    body = as_user(therapist).get(adherence_url(patient)).json()

    today = patient.local_today()
    assert body["pain"] == [
        {"date": (today - dt.timedelta(days=3)).isoformat(), "logs": 2, "pain_before": 4.5, "pain_after": 3.0},
        {"date": (today - dt.timedelta(days=1)).isoformat(), "logs": 1, "pain_before": 3.0, "pain_after": 1.0},
    ]
    assert body["trend"] == "improving"  # three logs: the first (3.0) against the last (2.0), one point down
    assert (body["first_third_pain"], body["last_third_pain"]) == (3.0, 2.0)


@pytest.mark.parametrize(
    ("first", "last", "trend"),
    [((6, 6), (2, 3), "improving"), ((2, 3), (6, 5), "worsening"), ((4, 4), (4, 5), "stable")],
)
def test_trend_compares_the_first_and_last_third(as_user, therapist, patient, session_on, first, last, trend):
    for days in (-9, -8, -7):
        logged(session_on(days, S.COMPLETED), *first)
    for days in (-6, -5, -4):
        logged(session_on(days, S.COMPLETED), 9, 9)  # the middle third does not count
    for days in (-3, -2, -1):
        logged(session_on(days, S.COMPLETED), *last)

    body = as_user(therapist).get(adherence_url(patient)).json()

    assert body["trend"] == trend
    assert body["first_third_pain"] == sum(first) / 2 and body["last_third_pain"] == sum(last) / 2


def test_fewer_than_three_logs_have_no_trend(as_user, therapist, patient, session_on):
    logged(session_on(-2, S.COMPLETED), 8, 8)
    logged(session_on(-1, S.COMPLETED), 1, 1)
    body = as_user(therapist).get(adherence_url(patient)).json()
    assert body["trend"] is None and len(body["pain"]) == 2


def test_adherence_runs_constant_queries(as_user, therapist, patient, session_on, count_queries):
    statuses = [S.COMPLETED, S.MISSED, S.SKIPPED, S.BLOCKED, S.CANCELLED, S.SCHEDULED]

    def add_days(days: range) -> None:
        for day in days:
            status = statuses[(day - 1) % len(statuses)]
            session = session_on(-day, status)
            if status == S.COMPLETED:
                logged(session, day % 10, (day + 3) % 10)

    client = as_user(therapist)
    url = adherence_url(patient)
    client.get(url)  # the membership is then cached on the user
    add_days(range(1, 4))
    small = count_queries(lambda: client.get(url))
    add_days(range(4, 28))
    large = count_queries(lambda: client.get(url))

    assert client.get(url).json()["completed"] == 5
    # patient, status counts, pain per day, first and last third, measures (counts, latest), access log
    assert small == large == 7
