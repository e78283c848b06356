"""The front desk creates a patient's portal login in the admin (through ``portal_user_create``)."""

from __future__ import annotations

import pytest
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.contrib.messages import get_messages
from django.core.cache import cache
from django.utils import timezone

from patients.models import AccessLog, PortalAccess
from tests import factories

PASSWORD = "stretch-every-morning-42"
STAFF_ROLES = ["front_desk", "therapist", "clinic_admin"]


@pytest.fixture(autouse=True)
def _fresh_login_throttle():
    cache.clear()
    yield
    cache.clear()


def page_of(patient) -> str:
    return f"/admin/patients/patient/{patient.pk}/portal-login/"


def change_page_of(patient) -> str:
    return f"/admin/patients/patient/{patient.pk}/change/"


def new_login(**overrides) -> dict[str, str]:
    data = {
        "_create": "Create portal login",
        "username": "rosa.delgado",
        "email": "rosa@example.test",
        "relationship": "guardian",
        "password": PASSWORD,
        "password_confirmation": PASSWORD,
    }
    return data | overrides


def messages_of(response) -> list[str]:
    return [str(m) for m in get_messages(response.wsgi_request)]


def nothing_created(patient, username="rosa.delgado") -> bool:
    return (
        not get_user_model().objects.filter(username=username).exists()
        and not PortalAccess.objects.filter(patient=patient).exists()
    )


# --- Creating a login ------------------------------------------------------------------------------------


@pytest.mark.parametrize("role", STAFF_ROLES)
def test_staff_create_a_portal_login_that_works_in_the_portal(request, staff_client, api, patient, role):
    client = staff_client(request.getfixturevalue(role))
    assert page_of(patient) in client.get(change_page_of(patient)).content.decode()  # the object tool links here
    assert client.get(page_of(patient)).status_code == 200

    response = client.post(page_of(patient), new_login())

    assert response.status_code == 302
    assert response["Location"] == change_page_of(patient)
    assert f"Portal login rosa.delgado created for {patient}." in messages_of(response)
    user = get_user_model().objects.get(username="rosa.delgado")
    assert (user.is_staff, user.is_superuser, user.email) == (False, False, "rosa@example.test")
    access = PortalAccess.objects.get(user=user)
    assert (access.patient, access.relationship) == (patient, "guardian")

    login = api.post("/api/v1/auth/login", {"username": "rosa.delgado", "password": PASSWORD})
    assert login.status_code == 200, login.content
    assert login.json()["role"] == "portal"
    api.credentials(HTTP_AUTHORIZATION=f"Token {login.json()['token']}")
    assert api.get("/api/v1/portal/plans").status_code == 200


def test_the_change_page_lists_the_new_login(staff_client, front_desk, patient):
    client = staff_client(front_desk)
    client.post(page_of(patient), new_login(relationship="self"))

    page = client.get(change_page_of(patient))

    inline = next(i for i in page.context["inline_admin_formsets"] if i.opts.model is PortalAccess)
    assert [(f.instance.user.username, f.instance.relationship) for f in inline.formset] == [("rosa.delgado", "self")]
    assert "rosa.delgado" in page.content.decode()


def test_the_page_is_a_logged_read_and_never_echoes_the_password(staff_client, front_desk, patient):
    client = staff_client(front_desk)

    response = client.post(page_of(patient), new_login(password_confirmation="something-else-entirely-7"))

    assert response.status_code == 200
    assert PASSWORD not in response.content.decode()
    assert AccessLog.objects.filter(actor=front_desk, patient=patient, what="admin:portal-login").exists()


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"password": "1234", "password_confirmation": "1234"}, "password"),
        ({"password": "rosa.delgado", "password_confirmation": "rosa.delgado"}, "password"),
        ({"password_confirmation": "stretch-every-evening-42"}, "password_confirmation"),
        ({"username": "taken"}, "username"),
        ({"username": "no spaces allowed", "password": "1234", "password_confirmation": "1234"}, "username"),
        ({"email": "not-an-address"}, "email"),
        ({"relationship": "cousin"}, "relationship"),
    ],
)
def test_refusals_are_shown_on_the_form_and_nothing_is_created(staff_client, front_desk, patient, change, field):
    factories.UserFactory(username="taken")
    client = staff_client(front_desk)

    response = client.post(page_of(patient), new_login(**change))

    assert response.status_code == 200
    form = response.context["create_form"]
    assert field in form.errors, form.errors
    assert not PortalAccess.objects.filter(patient=patient).exists()
    assert not get_user_model().objects.filter(email="rosa@example.test").exists()  # the new login's address


def test_a_second_own_login_is_refused_on_the_relationship(staff_client, front_desk, patient, portal_user):
    client = staff_client(front_desk)

    response = client.post(page_of(patient), new_login(relationship="self"))

    assert response.status_code == 200
    assert "own portal login" in str(response.context["create_form"].errors["relationship"])
    assert not get_user_model().objects.filter(username="rosa.delgado").exists()
    assert list(PortalAccess.objects.filter(patient=patient).values_list("user", flat=True)) == [portal_user.pk]


# --- An existing login -----------------------------------------------------------------------------------


def test_a_guardians_login_gets_access_to_a_second_child(staff_client, front_desk, patient, other_patient):
    guardian = factories.PortalAccessFactory(patient=patient, relationship="guardian").user
    client = staff_client(front_desk)

    response = client.post(
        page_of(other_patient), {"_grant": "1", "grant-username": guardian.username, "grant-relationship": "guardian"}
    )

    assert response.status_code == 302
    assert f"Portal access for {guardian.username} granted to {other_patient}." in messages_of(response)
    assert set(PortalAccess.objects.filter(user=guardian).values_list("patient", flat=True)) == {
        patient.pk,
        other_patient.pk,
    }


@pytest.mark.parametrize("who", ["therapist", "nobody", "already"])
def test_grant_needs_a_portal_login_without_access_yet(request, staff_client, front_desk, patient, who):
    user = {
        "therapist": lambda: request.getfixturevalue("therapist"),
        "nobody": lambda: factories.UserFactory.build(username="nobody"),
        "already": lambda: request.getfixturevalue("portal_user"),
    }[who]()
    before = PortalAccess.objects.count()
    client = staff_client(front_desk)

    response = client.post(
        page_of(patient), {"_grant": "1", "grant-username": user.username, "grant-relationship": "caregiver"}
    )

    assert response.status_code == 200
    assert "username" in response.context["grant_form"].errors
    assert PortalAccess.objects.count() == before


def grant(username: str) -> dict[str, str]:
    return {"_grant": "1", "grant-username": username, "grant-relationship": "guardian"}


def test_a_login_outside_the_clinic_is_no_such_portal_login(staff_client, clinic, other_clinic, front_desk, patient):
    """The API's rule, through the admin page: one refusal for every name that is not a login of this clinic."""
    theirs = factories.PortalAccessFactory(patient=factories.PatientFactory(clinic=other_clinic)).user
    both = factories.PortalAccessFactory(patient=factories.PatientFactory(clinic=clinic)).user
    factories.PortalAccessFactory(patient=factories.PatientFactory(clinic=other_clinic), user=both)
    their_staff = factories.MembershipFactory(clinic=other_clinic, role="front_desk").user
    our_staff = factories.MembershipFactory(clinic=clinic, role="therapist").user
    strangers = [theirs, both, their_staff, our_staff, factories.UserFactory()]
    client = staff_client(front_desk)
    before = set(PortalAccess.objects.values_list("pk", flat=True))

    nobody = client.post(page_of(patient), grant("nobody-at-all"))
    responses = [client.post(page_of(patient), grant(user.username)) for user in strangers]

    for user, response in zip(strangers, responses, strict=True):
        assert response.status_code == 200, user.username
        assert response.context["grant_form"].errors == nobody.context["grant_form"].errors
        assert user.email not in response.content.decode()
        assert not messages_of(response)
    assert set(PortalAccess.objects.values_list("pk", flat=True)) == before
    assert nobody.status_code == 200
    assert nobody.context["grant_form"].errors == {"username": ["No such portal login; create a new login instead."]}


def test_a_taken_username_is_not_available_wherever_it_is_taken(staff_client, other_clinic, front_desk, patient):
    theirs = factories.PortalAccessFactory(patient=factories.PatientFactory(clinic=other_clinic)).user
    their_staff = factories.MembershipFactory(clinic=other_clinic, role="front_desk").user
    client = staff_client(front_desk)

    for user in (theirs, their_staff):
        response = client.post(page_of(patient), new_login(username=user.username))

        assert response.status_code == 200
        assert response.context["create_form"].errors == {
            "username": ["This username is not available; choose another."]
        }
        assert user.email not in response.content.decode()
    assert not PortalAccess.objects.filter(patient=patient).exists()


# --- Who may ---------------------------------------------------------------------------------------------


def test_another_clinics_patient_is_not_found(staff_client, front_desk, other_clinic):
    theirs = factories.PatientFactory(clinic=other_clinic)
    client = staff_client(front_desk)

    assert client.get(page_of(theirs)).status_code == 404
    assert client.post(page_of(theirs), new_login()).status_code == 404
    assert nothing_created(theirs)


def test_a_portal_user_is_sent_to_the_admin_login(client, patient, portal_user):
    client.force_login(portal_user)

    response = client.post(page_of(patient), new_login())

    assert response.status_code == 302
    assert response["Location"].startswith("/admin/login/")
    assert not get_user_model().objects.filter(username="rosa.delgado").exists()


def test_staff_without_a_role_group_get_403(client, front_desk, patient):
    client.force_login(front_desk)  # a membership, but none of the role group's permissions

    assert client.get(page_of(patient)).status_code == 403
    assert client.post(page_of(patient), new_login()).status_code == 403
    assert nothing_created(patient)


def test_the_link_needs_the_permission(client, front_desk, patient):
    group = Group.objects.get(name="front_desk")
    group.user_set.add(front_desk)
    group.permissions.remove(group.permissions.get(codename="add_portalaccess"))
    client.force_login(front_desk)

    page = client.get(change_page_of(patient))

    assert page.status_code == 200
    assert page_of(patient) not in page.content.decode()
    assert client.get(page_of(patient)).status_code == 403


def test_an_archived_patient_is_refused_with_a_message(staff_client, front_desk, patient):
    patient.archived_at = timezone.now()
    patient.save(update_fields=["archived_at"])
    client = staff_client(front_desk)
    assert page_of(patient) not in client.get(change_page_of(patient)).content.decode()

    for response in (client.get(page_of(patient)), client.post(page_of(patient), new_login())):
        assert response.status_code == 302
        assert response["Location"] == change_page_of(patient)
        assert any("archived" in m for m in messages_of(response))

    assert nothing_created(patient)


def test_the_portal_login_page_logs_its_read_once(staff_client, front_desk, patient):
    from patients.models import AccessLog

    before = AccessLog.objects.filter(patient=patient).count()
    assert staff_client(front_desk).get(f"/admin/patients/patient/{patient.pk}/portal-login/").status_code == 200
    assert AccessLog.objects.filter(patient=patient).count() == before + 1
