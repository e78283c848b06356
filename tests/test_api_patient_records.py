"""Staff endpoints for a patient's clinical record: episodes, diagnoses, mobility, clearances, portal access.

Each endpoint: allowed roles 2xx, other roles 403, another clinic's staff 404, portal users 403, anonymous 401;
rows of another patient 404; bad input 400 naming the fields; state conflicts 409; lists at constant queries.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass

import pytest
from django.contrib.auth import get_user_model
from django.utils import timezone

from clinic.models import MovementTag
from patients.models import Clearance, Episode, MobilityAssessment, PatientDiagnosis, PortalAccess
from tests import factories

ROLES = ["therapist", "front_desk", "clinic_admin"]
TODAY = timezone.localdate()


def base(patient) -> str:
    return f"/api/v1/patients/{patient.pk}"


def iso(day: dt.date) -> str:
    return day.isoformat()


@dataclass(frozen=True)
class Call:
    """One operation: ``prepare(patient, therapist)`` → (url, body); which roles may call it; the success code."""

    name: str
    method: str
    prepare: Callable
    allowed: tuple[str, ...]
    ok: int

    def __str__(self) -> str:
        return self.name


def _discharge(patient, therapist):
    episode = factories.EpisodeFactory(patient=patient, primary_therapist=therapist)
    return f"{base(patient)}/episodes/{episode.pk}/discharge", {}


def _diagnosis_patch(patient, therapist):
    row = factories.PatientDiagnosisFactory(patient=patient, recorded_by=therapist)
    return f"{base(patient)}/diagnoses/{row.pk}/", {"phase": "subacute"}


def _revoke(patient, therapist):
    clearance = factories.ClearanceFactory(patient=patient, recorded_by=therapist)
    return f"{base(patient)}/clearances/{clearance.pk}/revoke", {"reason": "The physician withdrew the letter."}


def _portal_revoke(patient, therapist):
    access = factories.PortalAccessFactory(patient=patient, relationship=PortalAccess.Relationship.GUARDIAN)
    return f"{base(patient)}/portal-access/{access.pk}/revoke", {"reason": "The patient turned 18."}


def _portal_reset(patient, therapist):
    access = factories.PortalAccessFactory(patient=patient, relationship=PortalAccess.Relationship.GUARDIAN)
    return f"{base(patient)}/portal-access/{access.pk}/reset-password", {}


NEW_CLEARANCE = {
    "professional_name": "Dr. Lena Park",
    "profession": "physician",
    "status": "restricted",
    "valid_from": iso(TODAY - dt.timedelta(days=1)),
    "valid_until": iso(TODAY + dt.timedelta(days=90)),
    "restricted_tags": ["lumbar_flexion", "spinal_rotation"],
    "document_reference": "scan-2291",
}
NEW_LOGIN = {
    "username": "guardian.rosa",
    "password": "a long and unusual phrase 71",
    "email": "rosa@example.test",
    "relationship": "guardian",
}

ANY = tuple(ROLES)
CLINICAL = ("therapist",)
KEEPERS = ("therapist", "front_desk")

CALLS = [
    Call("episodes list", "get", lambda p, t: (f"{base(p)}/episodes/", None), ANY, 200),
    Call("episode open", "post", lambda p, t: (f"{base(p)}/episodes/", {"title": "Neck pain"}), CLINICAL, 201),
    Call("episode discharge", "post", _discharge, CLINICAL, 200),
    Call("diagnoses list", "get", lambda p, t: (f"{base(p)}/diagnoses/", None), ANY, 200),
    Call(
        "diagnosis add",
        "post",
        lambda p, t: (f"{base(p)}/diagnoses/", {"diagnosis": "M51.26", "phase": "acute"}),
        CLINICAL,
        201,
    ),
    Call("diagnosis change", "patch", _diagnosis_patch, CLINICAL, 200),
    Call("mobility list", "get", lambda p, t: (f"{base(p)}/mobility-assessments/", None), ANY, 200),
    Call("mobility record", "post", lambda p, t: (f"{base(p)}/mobility-assessments/", {"level": 4}), CLINICAL, 201),
    Call("clearances list", "get", lambda p, t: (f"{base(p)}/clearances/", None), ANY, 200),
    Call("clearance record", "post", lambda p, t: (f"{base(p)}/clearances/", NEW_CLEARANCE), KEEPERS, 201),
    Call("clearance revoke", "post", _revoke, KEEPERS, 200),
    Call("portal access list", "get", lambda p, t: (f"{base(p)}/portal-access/", None), ANY, 200),
    Call("portal access grant", "post", lambda p, t: (f"{base(p)}/portal-access/", NEW_LOGIN), ANY, 201),
    Call("portal access revoke", "post", _portal_revoke, ANY, 200),
    Call("portal password reset", "post", _portal_reset, ANY, 200),
]


def send(client, call: Call, url: str, body):
    return getattr(client, call.method)(url, body) if body is not None else getattr(client, call.method)(url)


# --- Role matrix ------------------------------------------------------------------------------------------


@pytest.mark.parametrize("call", CALLS, ids=str)
@pytest.mark.parametrize("role", ROLES)
def test_roles(request, as_user, patient, therapist, call, role):
    url, body = call.prepare(patient, therapist)
    response = send(as_user(request.getfixturevalue(role)), call, url, body)
    if role in call.allowed:
        assert response.status_code == call.ok, response.json()
    else:
        assert response.status_code == 403, response.json()
        assert response["Content-Type"] == "application/problem+json"


@pytest.mark.parametrize("call", CALLS, ids=str)
def test_other_clinics_staff_get_404(as_user, patient, therapist, other_therapist, call):
    url, body = call.prepare(patient, therapist)
    response = send(as_user(other_therapist), call, url, body)
    assert response.status_code == 404
    assert response.json()["type"].endswith("/not-found")


@pytest.mark.parametrize("call", CALLS, ids=str)
def test_portal_users_get_403(as_user, patient, therapist, portal_user, call):
    url, body = call.prepare(patient, therapist)
    assert send(as_user(portal_user), call, url, body).status_code == 403


@pytest.mark.parametrize("call", CALLS, ids=str)
def test_anonymous_gets_401(as_user, patient, therapist, call):
    url, body = call.prepare(patient, therapist)
    response = send(as_user(None), call, url, body)
    assert response.status_code == 401
    assert response.json()["title"] == "Not authenticated"


@pytest.mark.parametrize("call", CALLS, ids=str)
def test_unknown_patient_is_404(as_user, patient, therapist, other_clinic, call):
    theirs = factories.PatientFactory(clinic=other_clinic)
    url, body = call.prepare(theirs, therapist)
    assert send(as_user(therapist), call, url, body).status_code == 404


def test_nested_rows_of_another_patient_are_404(as_user, patient, other_patient, therapist):
    episode = factories.EpisodeFactory(patient=other_patient)
    diagnosis = factories.PatientDiagnosisFactory(patient=other_patient, recorded_by=therapist)
    clearance = factories.ClearanceFactory(patient=other_patient, recorded_by=therapist)
    client = as_user(therapist)
    assert client.post(f"{base(patient)}/episodes/{episode.pk}/discharge").status_code == 404
    assert client.patch(f"{base(patient)}/diagnoses/{diagnosis.pk}/", {"phase": "acute"}).status_code == 404
    revoke = client.post(f"{base(patient)}/clearances/{clearance.pk}/revoke", {"reason": "Wrong patient."})
    assert revoke.status_code == 404
    episode.refresh_from_db()
    clearance.refresh_from_db()
    assert episode.discharged_on is None and clearance.revoked_at is None
    assert client.get(f"{base(patient)}/episodes/").json()["count"] == 0


# --- Episodes ---------------------------------------------------------------------------------------------


def test_open_and_discharge_an_episode(as_user, patient, therapist):
    client = as_user(therapist)
    opened = client.post(f"{base(patient)}/episodes/", {"title": "Lumbar strain", "opened_on": "2025-03-01"})
    assert opened.status_code == 201, opened.json()
    body = opened.json()
    assert body["is_open"] and body["opened_on"] == "2025-03-01" and body["primary_therapist"] == therapist.pk
    discharged = client.post(f"{base(patient)}/episodes/{body['id']}/discharge", {"discharged_on": "2025-04-02"})
    assert discharged.status_code == 200, discharged.json()
    assert discharged.json()["discharged_on"] == "2025-04-02" and not discharged.json()["is_open"]
    assert client.get(f"{base(patient)}/episodes/?open=true").json()["count"] == 0
    assert client.get(f"{base(patient)}/episodes/?open=false").json()["count"] == 1


def test_episode_bad_input_names_the_fields(as_user, patient, therapist, front_desk):
    client = as_user(therapist)
    response = client.post(
        f"{base(patient)}/episodes/", {"title": "", "opened_on": "soon", "primary_therapist": front_desk.pk}
    )
    assert response.status_code == 400
    assert set(response.json()["errors"]) == {"title", "opened_on", "primary_therapist"}
    assert not Episode.objects.exists()


def test_discharge_before_opening_is_400(as_user, patient, therapist):
    episode = factories.EpisodeFactory(patient=patient, opened_on=dt.date(2025, 5, 1))
    response = as_user(therapist).post(
        f"{base(patient)}/episodes/{episode.pk}/discharge", {"discharged_on": "2025-04-01"}
    )
    assert response.status_code == 400
    assert set(response.json()["errors"]) == {"discharged_on"}


def test_discharging_twice_is_a_conflict(as_user, patient, therapist):
    episode = factories.EpisodeFactory(patient=patient)
    client = as_user(therapist)
    assert client.post(f"{base(patient)}/episodes/{episode.pk}/discharge").status_code == 200
    again = client.post(f"{base(patient)}/episodes/{episode.pk}/discharge")
    assert again.status_code == 409 and again.json()["type"].endswith("/state-conflict")


def test_an_archived_patient_gets_no_new_episode(as_user, patient, therapist):
    patient.archived_at = timezone.now()
    patient.save()
    response = as_user(therapist).post(f"{base(patient)}/episodes/", {"title": "Too late"})
    assert response.status_code == 409


# --- Diagnoses --------------------------------------------------------------------------------------------


def test_add_a_diagnosis_by_code_or_id(as_user, patient, therapist):
    episode = factories.EpisodeFactory(patient=patient)
    client = as_user(therapist)
    by_code = client.post(
        f"{base(patient)}/diagnoses/",
        {
            "diagnosis": "z96.641",
            "qualifier": "posterior_approach",
            "onset_date": "2025-01-10",
            "episode": episode.pk,
        },
    )
    assert by_code.status_code == 201, by_code.json()
    body = by_code.json()
    assert body["code"] == "Z96.641" and body["name"] and body["episode"] == episode.pk
    assert body["qualifier"] == "posterior_approach" and body["recorded_by"] == therapist.pk
    by_id = client.post(f"{base(patient)}/diagnoses/", {"diagnosis": body["diagnosis"], "phase": "chronic"})
    assert by_id.status_code == 201 and by_id.json()["code"] == "Z96.641"
    listed = client.get(f"{base(patient)}/diagnoses/").json()
    assert listed["count"] == 2 and {row["code"] for row in listed["results"]} == {"Z96.641"}
    assert client.get(f"{base(patient)}/diagnoses/?episode={episode.pk}").json()["count"] == 1


def test_diagnosis_bad_input_names_the_fields(as_user, patient, therapist):
    response = as_user(therapist).post(
        f"{base(patient)}/diagnoses/",
        {"diagnosis": "X99.999", "phase": "forever", "qualifier": "sideways", "onset_date": "never"},
    )
    assert response.status_code == 400
    assert set(response.json()["errors"]) == {"diagnosis", "phase", "qualifier", "onset_date"}
    for junk in (None, "", True, 99999999999999999999, {"code": "M54.2"}):
        bad = as_user(therapist).post(f"{base(patient)}/diagnoses/", {"diagnosis": junk})
        assert bad.status_code == 400 and "diagnosis" in bad.json()["errors"], junk
    assert not PatientDiagnosis.objects.exists()


def test_an_episode_of_another_patient_is_400(as_user, patient, other_patient, other_clinic, therapist):
    client = as_user(therapist)
    same_clinic = factories.EpisodeFactory(patient=other_patient)
    other = factories.EpisodeFactory(patient=factories.PatientFactory(clinic=other_clinic))
    for episode in (same_clinic, other):
        response = client.post(f"{base(patient)}/diagnoses/", {"diagnosis": "M54.2", "episode": episode.pk})
        assert response.status_code == 400
        assert set(response.json()["errors"]) == {"episode"}
    huge = client.post(f"{base(patient)}/diagnoses/", {"diagnosis": "M54.2", "episode": 2**63})
    assert huge.status_code == 400 and set(huge.json()["errors"]) == {"episode"}
    assert not PatientDiagnosis.objects.exists()


def test_change_a_diagnosis(as_user, patient, therapist):
    row = factories.PatientDiagnosisFactory(patient=patient, recorded_by=therapist, onset_date=dt.date(2025, 1, 1))
    client = as_user(therapist)
    response = client.patch(
        f"{base(patient)}/diagnoses/{row.pk}/", {"phase": "subacute", "resolved_date": "2025-03-01"}
    )
    assert response.status_code == 200, response.json()
    body = response.json()
    assert body["phase"] == "subacute" and body["resolved_date"] == "2025-03-01" and body["code"] == "M54.50"
    cleared = client.patch(f"{base(patient)}/diagnoses/{row.pk}/", {"resolved_date": None})
    assert cleared.status_code == 200 and cleared.json()["resolved_date"] is None


def test_diagnosis_change_bad_input(as_user, patient, therapist):
    row = factories.PatientDiagnosisFactory(patient=patient, recorded_by=therapist, onset_date=dt.date(2025, 1, 1))
    client = as_user(therapist)
    url = f"{base(patient)}/diagnoses/{row.pk}/"
    before = client.patch(url, {"resolved_date": "2024-12-01"})
    assert before.status_code == 400 and set(before.json()["errors"]) == {"resolved_date"}
    assert set(client.patch(url, {"phase": "x"}).json()["errors"]) == {"phase"}
    assert set(client.patch(url, {}).json()["errors"]) == {"non_field_errors"}
    # the code itself is never rewritten: unknown fields are ignored, not applied
    client.patch(url, {"diagnosis": "M54.2", "phase": "acute"})
    row.refresh_from_db()
    assert row.diagnosis.code == "M54.50" and row.phase == "acute"


# --- Mobility ---------------------------------------------------------------------------------------------


def test_record_and_list_mobility_newest_first(as_user, patient, therapist, mobility, front_desk):
    factories.MobilityAssessmentFactory(
        patient=patient, level=mobility(2), assessed_by=therapist, assessed_at=timezone.now() - dt.timedelta(days=9)
    )
    response = as_user(therapist).post(
        f"{base(patient)}/mobility-assessments/", {"level": 4, "notes": "Walks 2 km without pain."}
    )
    assert response.status_code == 201, response.json()
    assert response.json()["level"] == 4 and response.json()["level_name"] == mobility(4).name
    listed = as_user(front_desk).get(f"{base(patient)}/mobility-assessments/").json()
    assert [row["level"] for row in listed["results"]] == [4, 2]
    assert patient.current_mobility.level == 4


def test_mobility_bad_input_names_the_fields(as_user, patient, therapist):
    client = as_user(therapist)
    response = client.post(f"{base(patient)}/mobility-assessments/", {"level": 9, "assessed_at": "yesterday"})
    assert response.status_code == 400
    assert set(response.json()["errors"]) == {"level", "assessed_at"}
    future = (timezone.now() + dt.timedelta(days=2)).isoformat()
    response = client.post(f"{base(patient)}/mobility-assessments/", {"level": 3, "assessed_at": future})
    assert response.status_code == 400 and set(response.json()["errors"]) == {"assessed_at"}
    assert not MobilityAssessment.objects.exists()


# --- Clearances -------------------------------------------------------------------------------------------


def test_record_a_restricted_clearance(as_user, patient, front_desk):
    response = as_user(front_desk).post(f"{base(patient)}/clearances/", NEW_CLEARANCE)
    assert response.status_code == 201, response.json()
    body = response.json()
    assert sorted(body["restricted_tags"]) == ["lumbar_flexion", "spinal_rotation"]
    assert body["effective_today"] is True and body["is_revoked"] is False and body["recorded_by"] == front_desk.pk


def test_clearance_list_is_newest_first_and_marks_the_one_in_force(as_user, patient, therapist, front_desk):
    now = timezone.now()
    older = factories.ClearanceFactory(patient=patient, recorded_by=therapist, recorded_at=now - dt.timedelta(days=20))
    newer = factories.ClearanceFactory(
        patient=patient, recorded_by=therapist, recorded_at=now - dt.timedelta(days=10), status="restricted"
    )
    newer.restricted_tags.set(MovementTag.objects.filter(slug="kneeling"))
    revoked = factories.ClearanceFactory(
        patient=patient,
        recorded_by=therapist,
        recorded_at=now - dt.timedelta(days=5),
        revoked_at=now - dt.timedelta(days=1),
        revoked_by=therapist,
        revoke_reason="Superseded by a phone call.",
    )
    rows = as_user(front_desk).get(f"{base(patient)}/clearances/").json()["results"]
    assert [row["id"] for row in rows] == [revoked.pk, newer.pk, older.pk]
    assert [row["effective_today"] for row in rows] == [False, True, False]
    assert rows[1]["restricted_tags"] == ["kneeling"]
    assert rows[0]["revoked_by"] == therapist.pk and rows[0]["revoke_reason"] == "Superseded by a phone call."
    assert rows[0]["revoked_at"] and rows[0]["is_revoked"]
    not_revoked = as_user(front_desk).get(f"{base(patient)}/clearances/?revoked=false").json()
    assert {row["id"] for row in not_revoked["results"]} == {newer.pk, older.pk}


def test_clearance_bad_input_names_the_fields(as_user, patient, therapist):
    client = as_user(therapist)
    response = client.post(
        f"{base(patient)}/clearances/",
        {**NEW_CLEARANCE, "restricted_tags": ["lumbar_flexion", "juggling"], "profession": "shaman"},
    )
    assert response.status_code == 400
    assert set(response.json()["errors"]) == {"restricted_tags", "profession"}
    missing = client.post(f"{base(patient)}/clearances/", {})
    assert set(missing.json()["errors"]) == {"professional_name", "profession", "status", "valid_from", "valid_until"}
    no_tags = client.post(f"{base(patient)}/clearances/", {**NEW_CLEARANCE, "restricted_tags": []})
    assert no_tags.status_code == 400 and set(no_tags.json()["errors"]) == {"restricted_tags"}
    backwards = client.post(
        f"{base(patient)}/clearances/", {**NEW_CLEARANCE, "valid_from": "2025-06-01", "valid_until": "2025-05-01"}
    )
    assert backwards.status_code == 400 and set(backwards.json()["errors"]) == {"valid_until"}
    assert not Clearance.objects.exists()


def test_revoke_a_clearance(as_user, patient, therapist, front_desk):
    clearance = factories.ClearanceFactory(patient=patient, recorded_by=therapist)
    client = as_user(front_desk)
    url = f"{base(patient)}/clearances/{clearance.pk}/revoke"
    blank = client.post(url, {"reason": "  "})
    assert blank.status_code == 400 and set(blank.json()["errors"]) == {"reason"}
    response = client.post(url, {"reason": "Physician withdrew it."})
    assert response.status_code == 200, response.json()
    body = response.json()
    assert body["is_revoked"] and body["revoked_by"] == front_desk.pk and body["effective_today"] is False
    assert body["revoke_reason"] == "Physician withdrew it."
    again = client.post(url, {"reason": "Twice."})
    assert again.status_code == 409 and again.json()["type"].endswith("/state-conflict")


def test_an_archived_patient_gets_no_new_clearance(as_user, patient, front_desk):
    patient.archived_at = timezone.now()
    patient.save()
    assert as_user(front_desk).post(f"{base(patient)}/clearances/", NEW_CLEARANCE).status_code == 409


# --- Portal access ----------------------------------------------------------------------------------------


def test_create_a_portal_login_never_returns_the_password(as_user, patient, front_desk):
    client = as_user(front_desk)
    response = client.post(f"{base(patient)}/portal-access/", NEW_LOGIN)
    assert response.status_code == 201, response.json()
    body = response.json()
    assert body["username"] == "guardian.rosa" and body["relationship"] == "guardian"
    assert "password" not in body and NEW_LOGIN["password"] not in response.content.decode()
    user = get_user_model().objects.get(username="guardian.rosa")
    assert user.check_password(NEW_LOGIN["password"]) and not user.is_staff
    listed = client.get(f"{base(patient)}/portal-access/")
    assert listed.json()["count"] == 1 and "password" not in listed.content.decode()


def test_no_portal_access_to_an_archived_patient(as_user, patient, other_portal_user, front_desk):
    from patients.services import patient_archive

    patient_archive(patient=patient, by=front_desk)
    client = as_user(front_desk)
    url = f"{base(patient)}/portal-access/"
    assert client.post(url, NEW_LOGIN).status_code == 409
    assert client.post(url, {"username": other_portal_user.username, "relationship": "caregiver"}).status_code == 409
    assert not get_user_model().objects.filter(username=NEW_LOGIN["username"]).exists()
    assert not PortalAccess.objects.filter(patient=patient).exists()


def test_grant_an_existing_portal_login(as_user, patient, other_portal_user, clinic_admin):
    response = as_user(clinic_admin).post(
        f"{base(patient)}/portal-access/", {"username": other_portal_user.username, "relationship": "caregiver"}
    )
    assert response.status_code == 201, response.json()
    assert response.json()["user"] == other_portal_user.pk
    assert PortalAccess.objects.filter(user=other_portal_user).count() == 2


def test_portal_access_bad_input_names_the_fields(as_user, patient, portal_user, therapist, front_desk):
    client = as_user(front_desk)
    url = f"{base(patient)}/portal-access/"
    assert set(client.post(url, {}).json()["errors"]) == {"username", "relationship"}
    unknown = client.post(url, {"username": "nobody", "relationship": "guardian"})
    assert unknown.status_code == 400 and set(unknown.json()["errors"]) == {"username"}
    staff = client.post(url, {"username": therapist.username, "relationship": "guardian"})
    assert staff.status_code == 400 and set(staff.json()["errors"]) == {"username"}
    email_only = client.post(url, {"username": portal_user.username, "relationship": "guardian", "email": "a@b.test"})
    assert set(email_only.json()["errors"]) == {"email"}
    weak = client.post(url, {**NEW_LOGIN, "password": "12345"})
    assert weak.status_code == 400 and set(weak.json()["errors"]) == {"password"}
    taken = client.post(url, {**NEW_LOGIN, "username": therapist.username})
    assert taken.status_code == 400 and set(taken.json()["errors"]) == {"username"}
    again = client.post(url, {"username": portal_user.username, "relationship": "caregiver"})
    assert again.status_code == 400 and set(again.json()["errors"]) == {"username"}
    second_self = client.post(url, {**NEW_LOGIN, "relationship": "self"})
    assert second_self.status_code == 400 and set(second_self.json()["errors"]) == {"relationship"}
    assert not get_user_model().objects.filter(username=NEW_LOGIN["username"]).exists()
    assert PortalAccess.objects.filter(patient=patient).count() == 1


def _grant(client, patient, username):
    return client.post(f"{base(patient)}/portal-access/", {"username": username, "relationship": "guardian"})


def test_front_desk_grants_a_login_of_its_own_clinic(as_user, clinic, patient, front_desk):
    """A guardian's second child: a login whose grants are all patients of this clinic (archived ones too)."""
    guardian = factories.PortalAccessFactory(patient=factories.PatientFactory(clinic=clinic), relationship="guardian")
    factories.PortalAccessFactory(
        patient=factories.PatientFactory(clinic=clinic, archived_at=timezone.now()), user=guardian.user
    )

    response = _grant(as_user(front_desk), patient, guardian.user.username)

    assert response.status_code == 201, response.json()
    assert (response.json()["user"], response.json()["email"]) == (guardian.user.pk, guardian.user.email)
    assert PortalAccess.objects.filter(user=guardian.user, patient=patient).exists()


def test_a_login_outside_the_clinic_is_no_such_portal_login(as_user, clinic, other_clinic, patient, front_desk):
    """Another clinic's login, a login of both clinics, a staff account, a login without grants and a name
    that does not exist: the same 400 body, nothing written, no email shown."""
    theirs = factories.PortalAccessFactory(patient=factories.PatientFactory(clinic=other_clinic)).user
    both = factories.PortalAccessFactory(patient=factories.PatientFactory(clinic=clinic)).user
    factories.PortalAccessFactory(patient=factories.PatientFactory(clinic=other_clinic), user=both)
    their_staff = factories.MembershipFactory(clinic=other_clinic, role="front_desk").user
    our_staff = factories.MembershipFactory(clinic=clinic, role="therapist").user
    no_grants = factories.UserFactory()
    strangers = [theirs, both, their_staff, our_staff, no_grants]
    client = as_user(front_desk)
    before = set(PortalAccess.objects.values_list("pk", flat=True))

    nobody = _grant(client, patient, "nobody-at-all")
    responses = [_grant(client, patient, user.username) for user in strangers]

    for user, response in zip(strangers, responses, strict=True):
        assert (response.status_code, response.content) == (400, nobody.content), user.username
        assert user.email not in response.content.decode()
    assert set(PortalAccess.objects.values_list("pk", flat=True)) == before
    assert nobody.status_code == 400
    assert nobody.json()["errors"] == {"username": ["No such portal login; create a new login instead."]}


def test_a_new_login_with_a_taken_username_is_not_available(as_user, other_clinic, patient, front_desk, therapist):
    theirs = factories.PortalAccessFactory(patient=factories.PatientFactory(clinic=other_clinic)).user
    their_staff = factories.MembershipFactory(clinic=other_clinic, role="front_desk").user
    client = as_user(front_desk)

    responses = [
        client.post(f"{base(patient)}/portal-access/", {**NEW_LOGIN, "username": user.username})
        for user in (theirs, their_staff, therapist)
    ]

    for response in responses:
        assert response.status_code == 400
        assert response.json()["errors"] == {"username": ["This username is not available; choose another."]}
        assert response.content == responses[0].content
    assert not PortalAccess.objects.filter(patient=patient).exists()


# --- Constant queries -------------------------------------------------------------------------------------


def _episodes(patient, therapist, n):
    factories.EpisodeFactory.create_batch(n, patient=patient, primary_therapist=therapist)


def _diagnoses(patient, therapist, n):
    episode = factories.EpisodeFactory(patient=patient)
    factories.PatientDiagnosisFactory.create_batch(n, patient=patient, recorded_by=therapist, episode=episode)


def _mobility(patient, therapist, n):
    factories.MobilityAssessmentFactory.create_batch(n, patient=patient, assessed_by=therapist)


def _clearances(patient, therapist, n):
    tags = list(MovementTag.objects.all()[:2])
    for _ in range(n):
        clearance = factories.ClearanceFactory(patient=patient, recorded_by=therapist, status="restricted")
        clearance.restricted_tags.set(tags)


def _portal(patient, therapist, n):
    factories.PortalAccessFactory(patient=patient)
    for _ in range(n - 1):
        factories.PortalAccessFactory(patient=patient, relationship="caregiver")


LISTS = {
    "episodes": _episodes,
    "diagnoses": _diagnoses,
    "mobility-assessments": _mobility,
    "clearances": _clearances,
    "portal-access": _portal,
}


@pytest.mark.parametrize("resource", LISTS)
def test_lists_run_constant_queries(as_user, clinic, therapist, front_desk, count_queries, resource):
    small, large = factories.PatientFactory(clinic=clinic), factories.PatientFactory(clinic=clinic)
    LISTS[resource](small, therapist, 1)
    LISTS[resource](large, therapist, 10)
    client = as_user(front_desk)
    counts = []
    for patient, rows in ((small, 1), (large, 10)):
        url = f"{base(patient)}/{resource}/"
        assert client.get(url).json()["count"] == rows  # warm-up: the membership is cached on the user
        counts.append(count_queries(lambda url=url: client.get(url)))
    assert counts[0] == counts[1], counts


def test_out_of_range_ids_are_404_not_500(as_user, patient, therapist):
    huge = 2**70
    client = as_user(therapist)
    assert client.get(f"/api/v1/patients/{huge}/clearances/").status_code == 404
    assert client.post(f"{base(patient)}/episodes/{huge}/discharge").status_code == 404
    assert client.patch(f"{base(patient)}/diagnoses/{huge}/", {"phase": "acute"}).status_code == 404
    assert client.post(f"{base(patient)}/clearances/{huge}/revoke", {"reason": "x"}).status_code == 404
