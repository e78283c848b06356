"""Starting a real clinic (issue 15, item 6): ``clinic_create`` (the service and ``manage.py clinic_create``) makes
the clinic and its first clinic admin; clinic admins add their staff in the admin (``staff_add``)."""

from __future__ import annotations

import io

import pytest
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.core.cache import cache
from django.core.exceptions import PermissionDenied, ValidationError
from django.core.management import call_command
from django.core.management.base import CommandError

from clinic import services
from clinic.management.commands import clinic_create as command
from clinic.models import Clinic, Profession, StaffMembership, validate_phone
from tests import factories

Role = StaffMembership.Role
PASSWORD = "stretch-every-morning-42"
STAFF = "/admin/clinic/staffmembership/"
ADD = f"{STAFF}add/"


@pytest.fixture(autouse=True)
def _fresh_login_throttle():
    cache.clear()
    yield
    cache.clear()


def start(**overrides):
    fields = {
        "name": "Lakeside Physio",
        "timezone": "America/Chicago",
        "phone": "+1 (312) 555-0199",
        "address": "12 Harbor Road\nChicago, IL 60601",
        "admin_username": "dana.owner",
        "admin_password": PASSWORD,
        "admin_email": "dana@lakeside.example",
        "admin_first_name": "Dana",
        "admin_last_name": "Owner",
    }
    return services.clinic_create(**(fields | overrides))


def counts() -> tuple[int, int, int]:
    return Clinic.objects.count(), get_user_model().objects.count(), StaffMembership.objects.count()


def groups_of(user) -> set[str]:
    return set(user.groups.values_list("name", flat=True))


# --- The service: the clinic and its first clinic admin ----------------------------------------------------


@pytest.mark.django_db
def test_clinic_create_makes_the_clinic_and_its_first_clinic_admin():
    clinic = start()

    clinic.refresh_from_db()
    assert (clinic.name, clinic.timezone, clinic.phone) == ("Lakeside Physio", "America/Chicago", "+1 (312) 555-0199")
    assert clinic.address == "12 Harbor Road\nChicago, IL 60601"
    admin = get_user_model().objects.get(username="dana.owner")
    assert admin.is_staff and admin.is_active and not admin.is_superuser
    assert admin.check_password(PASSWORD) and admin.email == "dana@lakeside.example"
    assert (admin.first_name, admin.last_name) == ("Dana", "Owner")
    assert (admin.membership.clinic, admin.membership.role) == (clinic, Role.CLINIC_ADMIN)
    assert groups_of(admin) == {"clinic_admin"}


@pytest.mark.parametrize(
    ("overrides", "field"),
    [
        ({"name": "Taken Clinic"}, "name"),
        ({"name": "  "}, "name"),
        ({"timezone": "EST5EDT"}, "timezone"),
        ({"timezone": "Mars/Olympus_Mons"}, "timezone"),
        ({"phone": ""}, "phone"),
        ({"phone": "call the front desk"}, "phone"),
        ({"phone": "123"}, "phone"),
        ({"admin_username": "taken.user"}, "admin_username"),
        ({"admin_username": "has spaces!"}, "admin_username"),
        ({"admin_password": "short"}, "admin_password"),
        ({"admin_password": "password123"}, "admin_password"),  # a common password
        ({"admin_password": "dana.owner1"}, "admin_password"),  # too like the username
        ({"admin_email": "not-an-email"}, "admin_email"),
    ],
)
@pytest.mark.django_db
def test_clinic_create_refuses_on_the_field_and_writes_nothing(overrides, field):
    factories.ClinicFactory(name="Taken Clinic")
    factories.UserFactory(username="taken.user")
    before = counts()

    with pytest.raises(ValidationError) as refused:
        start(**overrides)

    assert set(refused.value.message_dict) == {field}
    assert counts() == before


@pytest.mark.django_db
def test_clinic_create_names_every_refusal_at_once():
    with pytest.raises(ValidationError) as refused:
        start(timezone="Japan", phone="", admin_password="1234")
    assert set(refused.value.message_dict) == {"timezone", "phone", "admin_password"}
    assert counts() == (0, 0, 0)


@pytest.mark.parametrize("value", ["+1 312 555 0142", "(03) 9123 4567", "030.1234.5678", "+44 20 7946 0958"])
def test_dialable_phones_pass(value):
    validate_phone(value)


@pytest.mark.parametrize(
    "value", ["555", "+1 312 555 0142 ext 4", "1234567890123456", "++1 312 555 0142", "tel:12345678"]
)
def test_undialable_phones_are_refused(value):
    with pytest.raises(ValidationError):
        validate_phone(value)


# --- The command ---------------------------------------------------------------------------------------------


def argv(*extra: str) -> list[str]:
    return [
        "--name", "Lakeside Physio", "--timezone", "America/Chicago", "--phone", "+1 312 555 0199",
        "--address", "12 Harbor Road, Chicago", "--admin-username", "dana.owner",
        "--admin-email", "dana@lakeside.example",
        *extra,
    ]  # fmt: skip


class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


@pytest.mark.django_db
def test_the_command_reads_the_password_from_a_file(tmp_path):
    secret = tmp_path / "password"
    secret.write_text(PASSWORD + "\n")
    out = io.StringIO()

    call_command("clinic_create", *argv("--password-file", str(secret)), stdout=out)

    clinic = Clinic.objects.get(name="Lakeside Physio")
    assert (clinic.phone, clinic.address) == ("+1 312 555 0199", "12 Harbor Road, Chicago")
    admin = get_user_model().objects.get(username="dana.owner")
    assert admin.check_password(PASSWORD) and admin.membership.role == Role.CLINIC_ADMIN
    assert groups_of(admin) == {"clinic_admin"}
    assert "Log in at:" in out.getvalue() and "/admin/" in out.getvalue()
    assert PASSWORD not in out.getvalue()


@pytest.mark.django_db
def test_the_command_reads_the_password_from_standard_input_with_a_dash():
    stdin = io.StringIO(PASSWORD + "\n")
    call_command("clinic_create", *argv("--password-file", "-"), stdin=stdin, stdout=io.StringIO())
    assert get_user_model().objects.get(username="dana.owner").check_password(PASSWORD)


@pytest.mark.django_db
def test_the_command_prompts_twice_on_a_terminal(monkeypatch):
    prompts = []

    def getpass(prompt):
        prompts.append(prompt)
        return PASSWORD

    monkeypatch.setattr(command.getpass, "getpass", getpass)

    call_command("clinic_create", *argv(), stdin=Terminal(), stdout=io.StringIO())

    assert len(prompts) == 2
    assert get_user_model().objects.get(username="dana.owner").check_password(PASSWORD)


@pytest.mark.django_db
def test_two_different_passwords_at_the_prompt_create_nothing(monkeypatch):
    answers = iter([PASSWORD, PASSWORD + "x"])
    monkeypatch.setattr(command.getpass, "getpass", lambda prompt: next(answers))

    with pytest.raises(CommandError, match="differ"):
        call_command("clinic_create", *argv(), stdin=Terminal(), stdout=io.StringIO())
    assert counts() == (0, 0, 0)


@pytest.mark.django_db
def test_without_a_terminal_or_a_file_the_command_refuses(monkeypatch):
    monkeypatch.setattr(command.getpass, "getpass", pytest.fail)  # never prompts

    with pytest.raises(CommandError, match="--password-file"):
        call_command("clinic_create", *argv(), stdin=io.StringIO(PASSWORD), stdout=io.StringIO())
    assert counts() == (0, 0, 0)


@pytest.mark.parametrize("option", ["--password", "--admin-password"])
@pytest.mark.django_db
def test_there_is_no_password_argument(option):
    """Refused without echoing the password back, and never read as ``--password-file`` (no abbreviations)."""
    for given in ([option, PASSWORD], [f"{option}={PASSWORD}"]):
        with pytest.raises(CommandError, match="There is no --password option") as refused:
            call_command("clinic_create", *argv(*given), stdout=io.StringIO())
        assert PASSWORD not in str(refused.value)
    with pytest.raises(CommandError, match="unrecognized arguments"):
        call_command("clinic_create", *argv("--password-f", "/dev/null"), stdout=io.StringIO())
    assert counts() == (0, 0, 0)


@pytest.mark.django_db
def test_the_command_reports_each_refusal_by_its_option_and_creates_nothing(tmp_path):
    secret = tmp_path / "password"
    secret.write_text("1234\n")
    argv_ = argv("--password-file", str(secret))
    argv_[argv_.index("--timezone") + 1] = "EST5EDT"

    with pytest.raises(CommandError) as refused:
        call_command("clinic_create", *argv_, stdout=io.StringIO())

    message = str(refused.value)
    assert "Nothing was created" in message and "--timezone: 'EST5EDT'" in message and "password: " in message
    assert counts() == (0, 0, 0)


@pytest.mark.django_db
def test_an_empty_or_missing_password_file_is_refused(tmp_path):
    empty = tmp_path / "empty"
    empty.write_text("")
    for path in (empty, tmp_path / "missing"):
        with pytest.raises(CommandError, match="password"):
            call_command("clinic_create", *argv("--password-file", str(path)), stdout=io.StringIO())
    assert counts() == (0, 0, 0)


def test_a_refusal_exits_non_zero(catalog, capsys, monkeypatch):
    """From the command line (``run_from_argv``): the refusal on stderr, exit status 1."""
    monkeypatch.setattr("sys.stdin", io.StringIO(PASSWORD))
    with pytest.raises(SystemExit) as exited:
        command.Command().run_from_argv(["manage.py", "clinic_create", *argv()])
    assert exited.value.code == 1
    assert "--password-file" in capsys.readouterr().err
    assert counts() == (0, 0, 0)


# --- The service: a clinic admin adds staff ---------------------------------------------------------------


def new_member(**overrides) -> dict[str, str]:
    fields = {
        "username": "theo.marsh",
        "first_name": "Theo",
        "last_name": "Marsh",
        "email": "theo@example.test",
        "password": PASSWORD,
        "role": Role.THERAPIST,
    }
    return fields | overrides


@pytest.mark.django_db
def test_a_clinic_admin_adds_staff_with_their_role_group(clinic, clinic_admin):
    membership = services.staff_add(clinic=clinic, by=clinic_admin, **new_member())

    user = membership.user
    assert (membership.clinic, membership.role, membership.profession) == (
        clinic,
        Role.THERAPIST,
        Profession.PHYSICAL_THERAPIST,
    )
    assert user.is_staff and not user.is_superuser and user.check_password(PASSWORD)
    assert (user.first_name, user.last_name, user.email) == ("Theo", "Marsh", "theo@example.test")
    assert groups_of(user) == {"therapist"}


@pytest.mark.parametrize("role", [Role.FRONT_DESK, Role.THERAPIST])
@pytest.mark.django_db
def test_only_a_clinic_admin_adds_staff(clinic, role):
    by = factories.MembershipFactory(clinic=clinic, role=role).user
    before = counts()
    with pytest.raises(PermissionDenied):
        services.staff_add(clinic=clinic, by=by, **new_member())
    assert counts() == before


@pytest.mark.django_db
def test_another_clinics_admin_cannot_add_to_this_clinic(clinic, other_clinic):
    theirs = factories.MembershipFactory(clinic=other_clinic, role=Role.CLINIC_ADMIN).user
    before = counts()
    with pytest.raises(PermissionDenied):
        services.staff_add(clinic=clinic, by=theirs, **new_member())
    assert counts() == before


@pytest.mark.parametrize(
    ("overrides", "field"),
    [
        ({"username": "taken.user"}, "username"),
        ({"username": ""}, "username"),
        ({"first_name": " "}, "first_name"),
        ({"last_name": ""}, "last_name"),
        ({"email": "nope"}, "email"),
        ({"password": "theo.marsh"}, "password"),
        ({"password": "12345678901"}, "password"),
        ({"role": "owner"}, "role"),
        ({"profession": "wizard"}, "profession"),
    ],
)
@pytest.mark.django_db
def test_staff_add_refuses_on_the_field_and_writes_nothing(clinic, clinic_admin, overrides, field):
    factories.UserFactory(username="taken.user")
    before = counts()
    with pytest.raises(ValidationError) as refused:
        services.staff_add(clinic=clinic, by=clinic_admin, **new_member(**overrides))
    assert set(refused.value.message_dict) == {field}
    assert counts() == before


# --- The admin: one form adds the login, the membership and the role ---------------------------------------


def add_form(**overrides) -> dict[str, str]:
    data = {
        "username": "theo.marsh",
        "first_name": "Theo",
        "last_name": "Marsh",
        "email": "theo@example.test",
        "password": PASSWORD,
        "password_confirmation": PASSWORD,
        "role": "therapist",
        "profession": "",
    }
    return data | overrides


def test_a_clinic_admin_adds_staff_in_the_admin_and_they_can_log_in(staff_client, clinic_admin, clinic, client):
    admin_client = staff_client(clinic_admin)
    page = admin_client.get(ADD)
    assert page.status_code == 200
    fields = set(page.context["adminform"].form.fields)
    assert {"username", "password", "password_confirmation", "role"} <= fields
    assert "clinic" not in fields and "user" not in fields  # their own clinic; the login is created here

    response = admin_client.post(ADD, add_form())

    assert response.status_code == 302
    user = get_user_model().objects.get(username="theo.marsh")
    assert (user.membership.clinic, user.membership.role) == (clinic, Role.THERAPIST)
    assert user.is_staff and groups_of(user) == {"therapist"}

    admin_client.logout()
    signed_in = client.post("/admin/login/?next=/admin/", {"username": "theo.marsh", "password": PASSWORD})
    assert signed_in.status_code == 302 and signed_in["Location"] == "/admin/"
    assert client.get("/admin/").status_code == 200
    assert client.get("/admin/patients/patient/").status_code == 200  # the therapist group's permissions


@pytest.mark.parametrize(
    ("overrides", "field"),
    [
        ({"password_confirmation": PASSWORD + "!"}, "password_confirmation"),
        ({"password": "12345678901", "password_confirmation": "12345678901"}, "password"),
        ({"username": "taken.user"}, "username"),
        ({"username": "not valid!"}, "username"),
        ({"first_name": ""}, "first_name"),
        ({"role": ""}, "role"),
    ],
)
def test_the_add_form_shows_refusals_on_their_fields_and_writes_nothing(staff_client, clinic_admin, overrides, field):
    factories.UserFactory(username="taken.user")
    before = counts()

    response = staff_client(clinic_admin).post(ADD, add_form(**overrides))

    assert response.status_code == 200
    assert field in response.context["adminform"].form.errors
    assert counts() == before


def test_the_front_desk_may_not_add_staff(staff_client, front_desk):
    client = staff_client(front_desk)
    before = counts()
    assert client.get(ADD).status_code == 403
    assert client.post(ADD, add_form()).status_code == 403
    assert counts() == before


def test_another_clinics_admin_adds_only_to_their_own_clinic(staff_client, clinic, other_clinic):
    theirs = factories.MembershipFactory(clinic=other_clinic, role=Role.CLINIC_ADMIN).user

    response = staff_client(theirs).post(ADD, add_form(clinic=str(clinic.pk)))  # a clinic field they do not have

    assert response.status_code == 302
    assert not StaffMembership.objects.filter(clinic=clinic).exists()
    assert get_user_model().objects.get(username="theo.marsh").membership.clinic == other_clinic


def test_a_superuser_picks_the_clinic(client, clinic, other_clinic):
    client.force_login(factories.UserFactory(is_staff=True, is_superuser=True))
    assert "clinic" in client.get(ADD).context["adminform"].form.fields

    response = client.post(ADD, add_form(clinic=str(other_clinic.pk), role="front_desk"))

    assert response.status_code == 302
    user = get_user_model().objects.get(username="theo.marsh")
    assert (user.membership.clinic, user.membership.role) == (other_clinic, Role.FRONT_DESK)
    assert groups_of(user) == {"front_desk"}


def test_a_membership_change_page_still_edits_the_role(staff_client, clinic_admin, front_desk):
    membership = front_desk.membership
    client = staff_client(clinic_admin)
    page = client.get(f"{STAFF}{membership.pk}/change/")
    assert page.status_code == 200

    data = {"user": front_desk.pk, "clinic": membership.clinic_id, "role": "front_desk"}
    data["profession"] = "athletic_trainer"
    response = client.post(f"{STAFF}{membership.pk}/change/", data)
    assert response.status_code == 302, response.context["adminform"].form.errors
    membership.refresh_from_db()
    assert membership.profession == "athletic_trainer"


# --- The clinic's phone and address in the admin, and the demo's -------------------------------------------


def test_the_clinic_admin_page_requires_a_phone(client, clinic, django_user_model):
    client.force_login(django_user_model.objects.create_superuser("root-15", "root@example.test", PASSWORD))
    url = f"/admin/clinic/clinic/{clinic.pk}/change/"
    form = {
        "name": clinic.name,
        "timezone": clinic.timezone,
        "address": "1 Main Street",
        "progression_min_adherence": 60,
    }

    refused = client.post(url, {**form, "phone": ""})
    assert refused.status_code == 200 and "phone" in refused.context["adminform"].form.errors
    assert client.post(url, {**form, "phone": "no number"}).status_code == 200

    assert client.post(url, {**form, "phone": "+1 212 555 0111"}).status_code == 302
    clinic.refresh_from_db()
    assert (clinic.phone, clinic.address) == ("+1 212 555 0111", "1 Main Street")


@pytest.mark.django_db
def test_the_demo_clinic_is_started_like_a_real_one():
    from prescriptions.demo import CLINIC_NAME, load_demo

    load_demo()

    clinic = Clinic.objects.get(name=CLINIC_NAME)
    assert clinic.phone and clinic.address
    validate_phone(clinic.phone)
    admin = get_user_model().objects.get(username="clinicadmin")
    assert (admin.membership.clinic, admin.membership.role) == (clinic, Role.CLINIC_ADMIN)
    assert groups_of(admin) == {"clinic_admin"} and (admin.first_name, admin.last_name) == ("Cleo", "Nguyen")
    assert Group.objects.get(name="therapist").user_set.filter(username="therapist").exists()
