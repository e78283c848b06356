"""Staff flag endpoints: list/detail for every staff role, acknowledge (front desk, therapist), resolve (therapist)."""

from __future__ import annotations

import datetime as dt

import pytest
from django.utils import timezone

from prescriptions.models import Prescription, SafetyFlag, Session
from tests import factories

Kind = SafetyFlag.Kind
Status = SafetyFlag.Status
STAFF = ["therapist", "front_desk", "clinic_admin"]


def flags_url(flag=None, action: str = "") -> str:
    return "/api/v1/flags/" if flag is None else f"/api/v1/flags/{flag.pk}/{action}"


@pytest.fixture
def flag(patient):
    return factories.SafetyFlagFactory(patient=patient)


@pytest.fixture
def theirs(other_clinic):
    return factories.SafetyFlagFactory(patient=factories.PatientFactory(clinic=other_clinic))


# --- list and detail ------------------------------------------------------------------------------


@pytest.mark.parametrize("role", STAFF)
def test_every_staff_role_lists_and_reads_the_clinics_flags(request, as_user, role, flag, theirs):
    client = as_user(request.getfixturevalue(role))

    listed = client.get(flags_url())
    detail = client.get(flags_url(flag))

    assert listed.status_code == 200
    assert [row["id"] for row in listed.json()["results"]] == [flag.pk]
    assert detail.status_code == 200 and detail.json()["id"] == flag.pk


def test_a_flag_shows_what_staff_need(as_user, therapist, front_desk, patient, today):
    plan = factories.PrescriptionFactory(episode__patient=patient, status=Prescription.Status.ACTIVE)
    sessions = [
        factories.SessionFactory(prescription=plan, local_date=today + dt.timedelta(days=n), status="blocked")
        for n in (1, 2)
    ]
    front_desk.first_name, front_desk.last_name = "Dana", "Lee"
    front_desk.save()
    flag = factories.SafetyFlagFactory(
        patient=patient,
        prescription=plan,
        kind=Kind.MOBILITY,
        cause_key=f"prescription:{plan.pk}",
        summary="Mobility is below a stretch's minimum.",
        details={"findings": [{"code": "mobility_below_minimum"}]},
        status=Status.ACKNOWLEDGED,
        acknowledged_by=front_desk,
        acknowledged_at=timezone.now(),
    )
    flag.sessions.add(*sessions)

    body = as_user(therapist).get(flags_url(flag)).json()

    assert body["patient"] == patient.pk and body["patient_name"] == patient.full_name
    assert body["prescription"] == plan.pk and body["kind"] == "mobility" and body["severity"] == "warning"
    assert body["status"] == "acknowledged" and body["cause_key"] == f"prescription:{plan.pk}"
    assert body["summary"] == "Mobility is below a stretch's minimum."
    assert body["details"] == {"findings": [{"code": "mobility_below_minimum"}]}
    assert body["sessions"] == sorted(s.pk for s in sessions)
    assert body["acknowledged_by"] == front_desk.pk and body["acknowledged_by_name"] == "Dana Lee"
    assert body["acknowledged_at"] and body["detected_at"]
    assert body["resolved_by"] is None and body["resolved_by_name"] is None and body["resolved_at"] is None
    assert body["resolution"] == ""


def test_flags_are_listed_newest_first(as_user, front_desk, patient):
    now = timezone.now()
    old = factories.SafetyFlagFactory(patient=patient, detected_at=now - dt.timedelta(days=2))
    new = factories.SafetyFlagFactory(patient=patient, detected_at=now)
    middle = factories.SafetyFlagFactory(patient=patient, detected_at=now - dt.timedelta(days=1))

    results = as_user(front_desk).get(flags_url()).json()["results"]

    assert [row["id"] for row in results] == [new.pk, middle.pk, old.pk]


def test_filters(as_user, front_desk, patient, other_patient):
    pain = factories.SafetyFlagFactory(patient=patient, kind=Kind.PAIN_ESCALATION, severity="warning")
    red = factories.SafetyFlagFactory(patient=patient, kind=Kind.RED_FLAG_SYMPTOM, severity="urgent")
    done = factories.SafetyFlagFactory(patient=other_patient, kind=Kind.MOBILITY, severity="info", resolved=True)
    client = as_user(front_desk)

    def ids(query: str) -> set[int]:
        response = client.get(flags_url() + query)
        assert response.status_code == 200, response.json()
        return {row["id"] for row in response.json()["results"]}

    assert ids("?kind=pain_escalation") == {pain.pk}
    assert ids("?kind=pain_escalation&kind=red_flag_symptom") == {pain.pk, red.pk}
    assert ids("?severity=urgent") == {red.pk}
    assert ids("?status=resolved") == {done.pk}
    assert ids("?status=open&status=acknowledged") == {pain.pk, red.pk}
    assert ids(f"?patient={other_patient.pk}") == {done.pk}
    assert ids(f"?patient={patient.pk}&severity=warning") == {pain.pk}


@pytest.mark.parametrize(
    ("query", "field"),
    [
        ("?kind=sunburn", "kind"),
        ("?status=closed", "status"),
        ("?severity=mild", "severity"),
        ("?patient=x", "patient"),
    ],
)
def test_bad_filters_are_a_400_naming_the_field(as_user, front_desk, query, field):
    response = as_user(front_desk).get(flags_url() + query)
    assert response.status_code == 400
    assert response["Content-Type"] == "application/problem+json"
    assert set(response.json()["errors"]) == {field}


def test_other_clinics_flags_are_invisible(as_user, therapist, theirs):
    client = as_user(therapist)
    assert client.get(flags_url()).json()["count"] == 0
    assert client.get(flags_url(theirs)).status_code == 404
    assert client.post(flags_url(theirs, "acknowledge")).status_code == 404
    assert client.post(flags_url(theirs, "resolve"), {"resolution": "Done."}).status_code == 404
    theirs.refresh_from_db()
    assert theirs.status == Status.OPEN


def test_portal_users_are_refused_and_anonymous_must_log_in(as_user, api, portal_user, flag):
    client = as_user(portal_user)
    for response in (
        client.get(flags_url()),
        client.get(flags_url(flag)),
        client.post(flags_url(flag, "acknowledge")),
        client.post(flags_url(flag, "resolve"), {"resolution": "Done."}),
    ):
        assert response.status_code == 403
    api.force_authenticate(None)
    for response in (
        api.get(flags_url()),
        api.get(flags_url(flag)),
        api.post(flags_url(flag, "acknowledge")),
        api.post(flags_url(flag, "resolve"), {"resolution": "Done."}),
    ):
        assert response.status_code == 401
    flag.refresh_from_db()
    assert flag.status == Status.OPEN


def test_list_runs_constant_queries(as_user, front_desk, therapist, clinic, count_queries, today):
    def add_flags(n: int) -> None:
        for _ in range(n):
            patient = factories.PatientFactory(clinic=clinic)
            plan = factories.PrescriptionFactory(episode__patient=patient, status=Prescription.Status.ACTIVE)
            flag = factories.SafetyFlagFactory(
                patient=patient,
                prescription=plan,
                status=Status.RESOLVED,
                acknowledged_by=front_desk,
                acknowledged_at=timezone.now(),
                resolved_by=therapist,
                resolved_at=timezone.now(),
                resolution="Done.",
            )
            flag.sessions.add(
                *(factories.SessionFactory(prescription=plan, local_date=today + dt.timedelta(days=d)) for d in (1, 2))
            )

    client = as_user(front_desk)
    client.get(flags_url())  # the membership is then cached on the user
    add_flags(1)
    one = count_queries(lambda: client.get(flags_url()))
    add_flags(9)
    ten = count_queries(lambda: client.get(flags_url()))

    assert client.get(flags_url()).json()["count"] == 10
    assert one == ten == 3  # count + page (patients, users and session ids joined in) + access log


# --- acknowledge ----------------------------------------------------------------------------------


@pytest.mark.parametrize("role", ["front_desk", "therapist"])
def test_front_desk_and_therapists_acknowledge(request, as_user, role, flag):
    user = request.getfixturevalue(role)

    response = as_user(user).post(flags_url(flag, "acknowledge"))

    assert response.status_code == 200, response.json()
    body = response.json()
    assert body["status"] == "acknowledged" and body["acknowledged_by"] == user.pk and body["acknowledged_at"]
    flag.refresh_from_db()
    assert flag.status == Status.ACKNOWLEDGED


def test_clinic_admins_may_not_acknowledge(as_user, clinic_admin, flag):
    response = as_user(clinic_admin).post(flags_url(flag, "acknowledge"))
    assert response.status_code == 403
    flag.refresh_from_db()
    assert flag.status == Status.OPEN


@pytest.mark.parametrize("resolved", [False, True])
def test_acknowledging_a_flag_that_is_not_open_is_a_409(as_user, front_desk, patient, resolved):
    flag = factories.SafetyFlagFactory(
        patient=patient, **({"resolved": True} if resolved else {"status": Status.ACKNOWLEDGED})
    )
    response = as_user(front_desk).post(flags_url(flag, "acknowledge"))
    assert response.status_code == 409
    assert response.json()["type"].endswith("/state-conflict")


def test_acknowledging_an_unknown_flag_is_a_404(as_user, front_desk):
    assert as_user(front_desk).post("/api/v1/flags/999999/acknowledge").status_code == 404


# --- resolve --------------------------------------------------------------------------------------


def test_a_therapist_resolves_and_blocked_sessions_are_released(as_user, therapist, patient, today):
    plan = factories.PrescriptionFactory(episode__patient=patient, status=Prescription.Status.ACTIVE)
    blocked = factories.SessionFactory(prescription=plan, local_date=today + dt.timedelta(days=1), status="blocked")
    flag = factories.SafetyFlagFactory(patient=patient, prescription=plan)
    flag.sessions.add(blocked)

    response = as_user(therapist).post(flags_url(flag, "resolve"), {"resolution": "Override recorded."})

    assert response.status_code == 200, response.json()
    body = response.json()
    assert body["status"] == "resolved" and body["resolution"] == "Override recorded."
    assert body["resolved_by"] == therapist.pk and body["resolved_at"] and body["sessions"] == [blocked.pk]
    blocked.refresh_from_db()
    assert blocked.status == Session.Status.SCHEDULED


@pytest.mark.parametrize("role", ["front_desk", "clinic_admin"])
def test_only_therapists_resolve(request, as_user, role, flag):
    response = as_user(request.getfixturevalue(role)).post(flags_url(flag, "resolve"), {"resolution": "Done."})
    assert response.status_code == 403
    flag.refresh_from_db()
    assert flag.status == Status.OPEN


@pytest.mark.parametrize("payload", [{}, {"resolution": ""}, {"resolution": "   "}, {"resolution": None}])
def test_resolving_without_a_resolution_is_a_400(as_user, therapist, flag, payload):
    response = as_user(therapist).post(flags_url(flag, "resolve"), payload)
    assert response.status_code == 400
    assert set(response.json()["errors"]) == {"resolution"}
    flag.refresh_from_db()
    assert flag.status == Status.OPEN


def test_resolving_a_resolved_flag_is_a_409(as_user, therapist, patient):
    flag = factories.SafetyFlagFactory(patient=patient, resolved=True)
    response = as_user(therapist).post(flags_url(flag, "resolve"), {"resolution": "Again."})
    assert response.status_code == 409
    assert response.json()["type"].endswith("/state-conflict")
    flag.refresh_from_db()
    assert flag.resolution == "The cause is gone."
