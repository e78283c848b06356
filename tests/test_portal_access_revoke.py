"""Portal logins on the patient page: "Reset password" (``portal_password_reset``) and "Revoke access"
(``portal_access_revoke``): the services, what a revoked grant's token still sees, and the admin pages."""

from __future__ import annotations

import pytest
from django.contrib.auth.password_validation import validate_password
from django.core.cache import cache
from django.core.exceptions import PermissionDenied, ValidationError
from knox.models import AuthToken

from clinic import bounds
from clinic.errors import StateConflict
from clinic.models import StaffMembership
from patients import services
from patients.models import AccessLog, PortalAccess
from patients.selectors import portal_grants, portal_login_of_clinic
from tests import factories

OLD_PASSWORD = "correct horse battery staple"  # the factories' password
BASE = "/api/v1/portal"
RESET_LOGGED = "admin:portal-password-reset"


@pytest.fixture(autouse=True)
def _fresh_login_throttle():
    cache.clear()
    yield
    cache.clear()


@pytest.fixture
def access(patient):
    return factories.PortalAccessFactory(patient=patient, relationship=PortalAccess.Relationship.GUARDIAN)


@pytest.fixture
def sibling_access(access, clinic):
    """The same guardian's grant to a second child of the clinic."""
    sibling = factories.PatientFactory(clinic=clinic, first_name="Sibling")
    return factories.PortalAccessFactory(
        user=access.user, patient=sibling, relationship=PortalAccess.Relationship.GUARDIAN
    )


@pytest.fixture
def other_desk(other_clinic):
    return factories.MembershipFactory(clinic=other_clinic, role=StaffMembership.Role.FRONT_DESK).user


def token_client(api, user):
    _, token = AuthToken.objects.create(user=user)
    api.credentials(HTTP_AUTHORIZATION=f"Token {token}")
    return api


def resets_logged(patient) -> int:
    return AccessLog.objects.filter(patient=patient, what=RESET_LOGGED).count()


# --- Revoke: the service --------------------------------------------------------------------------------


def test_revoke_keeps_the_grant_marked_and_it_grants_nothing(access, front_desk):
    revoked = services.portal_access_revoke(access=access, by=front_desk, reason="  Turned 18.  ")

    access.refresh_from_db()
    assert access.is_revoked and access.revoked_at == revoked.revoked_at
    assert (access.revoked_by, access.revoke_reason) == (front_desk, "Turned 18.")
    assert portal_grants(user=access.user) == []
    with pytest.raises(PermissionDenied):
        services.require_portal_access(access.user, access.patient_id)
    assert access.events.filter(pgh_label="update", revoked_by=front_desk).exists()  # on the change trail


def test_revoke_refusals_write_nothing(access, front_desk, other_desk):
    for reason in ["", "   "]:
        with pytest.raises(ValidationError) as refused:
            services.portal_access_revoke(access=access, by=front_desk, reason=reason)
        assert "reason" in refused.value.error_dict
    with pytest.raises(ValidationError):
        services.portal_access_revoke(access=access, by=front_desk, reason="x" * (bounds.MAX_REASON_LENGTH + 1))
    with pytest.raises(PermissionDenied):
        services.portal_access_revoke(access=access, by=other_desk, reason="Turned 18.")
    access.refresh_from_db()
    assert (access.revoked_at, access.revoked_by, access.revoke_reason) == (None, None, "")


def test_revoking_twice_is_a_conflict(access, front_desk, therapist):
    first = services.portal_access_revoke(access=access, by=front_desk, reason="Turned 18.")
    with pytest.raises(StateConflict):
        services.portal_access_revoke(access=access, by=therapist, reason="Again.")
    access.refresh_from_db()
    assert (access.revoked_at, access.revoked_by, access.revoke_reason) == (first.revoked_at, front_desk, "Turned 18.")


def test_a_revoked_grant_leaves_room_for_a_new_one(patient, front_desk):
    own = factories.PortalAccessFactory(patient=patient)  # the patient's own ("self") login
    guardian = factories.PortalAccessFactory(patient=patient, relationship=PortalAccess.Relationship.GUARDIAN)
    factories.PortalAccessFactory(user=guardian.user, patient=factories.PatientFactory(clinic=patient.clinic))
    services.portal_access_revoke(access=own, by=front_desk, reason="Wrong person.")
    services.portal_access_revoke(access=guardian, by=front_desk, reason="Turned 18.")

    again = services.portal_access_grant(
        patient=patient, username=guardian.user.username, relationship="guardian", by=front_desk
    )
    new_self = services.portal_user_create(
        patient=patient, by=front_desk, username="own.login", password="stretch-every-morning-42", relationship="self"
    )

    assert again.revoked_at is None and again.pk != guardian.pk
    assert PortalAccess.objects.filter(patient=patient).count() == 4  # the revoked two stay on record
    assert {g.patient_id for g in portal_grants(user=new_self)} == {patient.pk}


def test_a_login_whose_grants_are_all_revoked_is_no_login_of_the_clinic(access, front_desk):
    services.portal_access_revoke(access=access, by=front_desk, reason="Turned 18.")
    assert portal_login_of_clinic(username=access.user.username, clinic_id=access.patient.clinic_id) is None


# --- Reset: the service ---------------------------------------------------------------------------------


def test_reset_sets_a_temporary_password_returned_once_and_logged(access, front_desk):
    password = services.portal_password_reset(access=access, by=front_desk)

    access.user.refresh_from_db()
    assert access.user.check_password(password) and not access.user.check_password(OLD_PASSWORD)
    validate_password(password, access.user)  # Django's validators accept it
    log = AccessLog.objects.get(what=RESET_LOGGED)
    assert (log.actor, log.patient) == (front_desk, access.patient)
    assert services.portal_password_reset(access=access, by=front_desk) != password  # random each time


def test_reset_ends_the_logins_api_sessions(access, front_desk):
    from knox.models import AuthToken

    AuthToken.objects.create(user=access.user)
    assert access.user.auth_token_set.count() == 1

    services.portal_password_reset(access=access, by=front_desk)

    assert access.user.auth_token_set.count() == 0


def test_reset_works_for_a_login_whose_other_grants_are_of_this_clinic(sibling_access, access, therapist):
    password = services.portal_password_reset(access=sibling_access, by=therapist)
    access.user.refresh_from_db()
    assert access.user.check_password(password) and not access.user.check_password(OLD_PASSWORD)


def test_reset_refuses_a_login_with_a_live_grant_in_another_clinic(access, front_desk, other_clinic):
    factories.PortalAccessFactory(user=access.user, patient=factories.PatientFactory(clinic=other_clinic))

    with pytest.raises(ValidationError) as refused:
        services.portal_password_reset(access=access, by=front_desk)

    assert refused.value.messages == [services.NO_SUCH_PORTAL_LOGIN]
    access.user.refresh_from_db()
    assert access.user.check_password(OLD_PASSWORD) and resets_logged(access.patient) == 0


def test_reset_ignores_a_revoked_grant_in_another_clinic(access, front_desk, other_clinic):
    elsewhere = factories.PortalAccessFactory(user=access.user, patient=factories.PatientFactory(clinic=other_clinic))
    other_desk = factories.MembershipFactory(clinic=other_clinic, role=StaffMembership.Role.FRONT_DESK).user
    services.portal_access_revoke(access=elsewhere, by=other_desk, reason="Moved away.")

    password = services.portal_password_reset(access=access, by=front_desk)

    access.user.refresh_from_db()
    assert access.user.check_password(password)


def test_reset_refusals_write_nothing(access, front_desk, other_desk):
    with pytest.raises(PermissionDenied):
        services.portal_password_reset(access=access, by=other_desk)
    services.portal_access_revoke(access=access, by=front_desk, reason="Turned 18.")
    with pytest.raises(StateConflict):
        services.portal_password_reset(access=access, by=front_desk)
    access.user.refresh_from_db()
    assert access.user.check_password(OLD_PASSWORD) and resets_logged(access.patient) == 0


# --- The portal API: the same token after a revoke -------------------------------------------------------


def test_a_revoked_grant_sees_nothing_with_the_same_token_and_the_other_grant_still_works(
    api, access, sibling_access, front_desk
):
    patient, sibling = access.patient, sibling_access.patient
    plan = factories.PrescriptionFactory(episode__patient=patient, status="active")
    factories.PrescriptionItemFactory(prescription=plan)
    session = factories.SessionFactory(prescription=plan, local_date=patient.local_today())
    client = token_client(api, access.user)
    assert client.get(f"{BASE}/plans?patient={patient.pk}").status_code == 200
    assert client.get(f"{BASE}/sessions/{session.pk}").status_code == 200

    services.portal_access_revoke(access=access, by=front_desk, reason="Turned 18.")

    assert client.get(f"{BASE}/plans?patient={patient.pk}").status_code == 404
    assert client.get(f"{BASE}/sessions/{session.pk}").status_code == 404
    assert client.post(f"{BASE}/sessions/{session.pk}/skip", {}).status_code == 404
    assert [p["id"] for p in client.get(f"{BASE}/sessions/").json()["results"]] == []
    assert [p["id"] for p in client.get(f"{BASE}/me").json()["patients"]] == [sibling.pk]
    assert client.get(f"{BASE}/plans?patient={sibling.pk}").status_code == 200


def test_a_login_left_without_live_grants_is_refused(api, access, front_desk):
    client = token_client(api, access.user)
    assert client.get(f"{BASE}/me").status_code == 200

    services.portal_access_revoke(access=access, by=front_desk, reason="Turned 18.")

    assert client.get(f"{BASE}/me").status_code == 403
    assert client.get(f"{BASE}/plans").status_code == 403


# --- The admin: the patient page's portal logins ---------------------------------------------------------


def change_page_of(patient) -> str:
    return f"/admin/patients/patient/{patient.pk}/change/"


def reset_page_of(access) -> str:
    return f"/admin/patients/patient/{access.patient_id}/portal-login/{access.pk}/reset/"


def revoke_page_of(access) -> str:
    return f"/admin/patients/patient/{access.patient_id}/portal-login/{access.pk}/revoke/"


def test_the_patient_page_links_live_logins_and_marks_revoked_ones(staff_client, front_desk, access, patient):
    revoked = factories.PortalAccessFactory(patient=patient, relationship=PortalAccess.Relationship.CAREGIVER)
    services.portal_access_revoke(access=revoked, by=front_desk, reason="Moved away.")

    page = staff_client(front_desk).get(change_page_of(patient)).content.decode()

    assert reset_page_of(access) in page and revoke_page_of(access) in page
    assert reset_page_of(revoked) not in page and revoke_page_of(revoked) not in page
    assert revoked.user.username in page and "Revoked" in page and "Moved away." in page


def test_front_desk_resets_a_password_shown_once(staff_client, front_desk, access, api):
    client = staff_client(front_desk)
    confirm = client.get(reset_page_of(access))
    assert confirm.status_code == 200 and "Reset password" in confirm.content.decode()
    assert AccessLog.objects.filter(patient=access.patient, what="admin:portal-login").exists()

    response = client.post(reset_page_of(access))

    assert response.status_code == 200
    password = response.context["password"]
    page = response.content.decode()
    assert password in page and "it is not shown again" in page
    assert password not in client.get(reset_page_of(access)).content.decode()
    assert password not in client.get(change_page_of(access.patient)).content.decode()
    assert resets_logged(access.patient) == 1
    login = api.post("/api/v1/auth/login", {"username": access.user.username, "password": password})
    assert login.status_code == 200, login.content


def test_a_refused_reset_is_shown_on_the_page(staff_client, front_desk, access, other_clinic):
    factories.PortalAccessFactory(user=access.user, patient=factories.PatientFactory(clinic=other_clinic))

    response = staff_client(front_desk).post(reset_page_of(access))

    assert response.status_code == 200
    assert services.NO_SUCH_PORTAL_LOGIN in response.content.decode() and "password" not in response.context
    access.user.refresh_from_db()
    assert access.user.check_password(OLD_PASSWORD)


def test_front_desk_revokes_access_with_a_reason(staff_client, front_desk, access):
    client = staff_client(front_desk)
    assert client.get(revoke_page_of(access)).status_code == 200

    missing = client.post(revoke_page_of(access), {"reason": ""})
    assert missing.status_code == 200 and missing.context["form"].errors
    access.refresh_from_db()
    assert access.revoked_at is None

    response = client.post(revoke_page_of(access), {"reason": "Turned 18."})

    assert response.status_code == 302 and response["Location"] == change_page_of(access.patient)
    access.refresh_from_db()
    assert (access.revoked_by, access.revoke_reason) == (front_desk, "Turned 18.")
    again = client.post(revoke_page_of(access), {"reason": "Again."})
    assert again.status_code == 200 and "already revoked" in again.content.decode()


def test_another_clinics_desk_finds_no_such_pages(staff_client, other_desk, access):
    client = staff_client(other_desk)
    for page in (reset_page_of(access), revoke_page_of(access)):
        assert client.get(page).status_code == 404
    assert client.post(reset_page_of(access)).status_code == 404
    assert client.post(revoke_page_of(access), {"reason": "Turned 18."}).status_code == 404
    access.refresh_from_db()
    access.user.refresh_from_db()
    assert access.revoked_at is None and access.user.check_password(OLD_PASSWORD)


def test_another_patients_login_is_not_found_under_this_patient(staff_client, front_desk, access, other_patient):
    elsewhere = f"/admin/patients/patient/{other_patient.pk}/portal-login/{access.pk}/"
    client = staff_client(front_desk)
    assert client.post(f"{elsewhere}reset/").status_code == 404
    assert client.post(f"{elsewhere}revoke/", {"reason": "Turned 18."}).status_code == 404
    access.refresh_from_db()
    assert access.revoked_at is None


def test_the_pages_need_csrf(front_desk, access):
    from django.contrib.auth.models import Group
    from django.test import Client

    Group.objects.get(name=front_desk.membership.role).user_set.add(front_desk)
    checked = Client(enforce_csrf_checks=True)
    checked.force_login(front_desk)
    assert checked.post(reset_page_of(access)).status_code == 403
    assert checked.post(revoke_page_of(access), {"reason": "Turned 18."}).status_code == 403
    access.refresh_from_db()
    assert access.revoked_at is None


# --- The staff API: the same two actions for a front desk that works from its own screens ------------------


def api_url(access, action: str) -> str:
    return f"/api/v1/patients/{access.patient_id}/portal-access/{access.pk}/{action}"


def test_the_api_revokes_a_grant_and_lists_it_as_revoked(as_user, front_desk, access):
    client = as_user(front_desk)
    response = client.post(api_url(access, "revoke"), {"reason": "The patient turned 18."})
    assert response.status_code == 200, response.json()
    assert response.json()["revoked_at"] is not None
    listed = client.get(f"/api/v1/patients/{access.patient_id}/portal-access/").json()["results"]
    assert [row["revoked_at"] is not None for row in listed] == [True]

    again = client.post(api_url(access, "revoke"), {"reason": "Twice."})
    assert again.status_code == 409
    missing = client.post(api_url(factories.PortalAccessFactory(patient=access.patient), "revoke"), {})
    assert missing.status_code == 400 and set(missing.json()["errors"]) == {"reason"}


def test_the_api_resets_a_password_shown_once_and_ends_the_tokens(as_user, api, front_desk, access):
    _, token = AuthToken.objects.create(user=access.user)
    response = as_user(front_desk).post(api_url(access, "reset-password"))
    assert response.status_code == 200
    password = response.json()["temporary_password"]
    assert response["Cache-Control"] == "no-store"
    access.user.refresh_from_db()
    assert access.user.check_password(password) and not access.user.check_password(OLD_PASSWORD)
    assert not AuthToken.objects.filter(user=access.user).exists()
    assert resets_logged(access.patient) == 1

    services.portal_access_revoke(access=access, by=front_desk, reason="Moved away.")
    assert as_user(front_desk).post(api_url(access, "reset-password")).status_code == 409


def test_the_api_finds_no_grant_of_another_patient_or_clinic(as_user, front_desk, other_desk, access, other_patient):
    theirs = factories.PortalAccessFactory(patient=other_patient)
    client = as_user(front_desk)
    wrong_patient = f"/api/v1/patients/{access.patient_id}/portal-access/{theirs.pk}/revoke"
    assert client.post(wrong_patient, {"reason": "Not theirs."}).status_code == 404
    assert as_user(other_desk).post(api_url(access, "reset-password")).status_code == 404
    assert as_user(other_desk).post(api_url(access, "revoke"), {"reason": "Not theirs."}).status_code == 404
    access.refresh_from_db()
    theirs.refresh_from_db()
    assert access.revoked_at is None and theirs.revoked_at is None
    assert resets_logged(access.patient) == 0
