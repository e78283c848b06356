"""The patient-side services (DESIGN §2–3): who may write, what is validated, what is announced after commit."""

from __future__ import annotations

import datetime as dt
import re
from zoneinfo import ZoneInfo

import pytest
from django.contrib.auth import get_user_model
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import ProgrammingError, connection, transaction
from django.db.models import ProtectedError
from django.utils import timezone

from clinic.errors import StateConflict
from clinic.models import Diagnosis, MovementTag
from patients import services, signals
from patients.models import Clearance, Episode, MobilityAssessment, Patient, PatientDiagnosis, PortalAccess
from prescriptions.models import Prescription
from tests import factories

pytestmark = pytest.mark.django_db

STAFF_ROLES = ["front_desk", "therapist", "clinic_admin"]
NOT_CLINICAL = ["front_desk", "clinic_admin"]


def new_patient(**overrides):
    fields = {
        "mrn": "NEW-001",
        "first_name": "Rosa",
        "last_name": "Delgado",
        "date_of_birth": dt.date(1975, 2, 3),
        "timezone": "America/Chicago",
    }
    return fields | overrides


@pytest.fixture
def portal_user(patient):
    return factories.PortalAccessFactory(patient=patient).user


@pytest.fixture
def listen():
    """Connect a recording receiver to a signal; returns the list of kwargs it was sent with."""
    connected = []

    def connect(signal):
        calls = []

        def receiver(sender, **kwargs):
            kwargs.pop("signal", None)
            calls.append(kwargs)

        signal.connect(receiver, sender=Patient, weak=False)
        connected.append((signal, receiver))
        return calls

    yield connect
    for signal, receiver in connected:
        signal.disconnect(receiver, sender=Patient)


@pytest.fixture
def lumbar_flexion(db):
    return MovementTag.objects.get(slug="lumbar_flexion")


@pytest.fixture
def spinal_rotation(db):
    return MovementTag.objects.get(slug="spinal_rotation")


@pytest.fixture
def disc(db):
    return Diagnosis.objects.get(code="M51.26")


def clearance_fields(**overrides):
    today = timezone.localdate()
    fields = {
        "professional_name": "Dr. Lena Okafor",
        "profession": "physician",
        "status": Clearance.Status.CLEARED,
        "valid_from": today - dt.timedelta(days=10),
        "valid_until": today + dt.timedelta(days=90),
    }
    return fields | overrides


def error_fields(excinfo) -> set[str]:
    return set(excinfo.value.message_dict)


# --- patient_create -------------------------------------------------------------------------------


@pytest.mark.parametrize("role", STAFF_ROLES)
def test_any_staff_of_the_clinic_registers_a_patient(request, clinic, role):
    by = request.getfixturevalue(role)

    patient = services.patient_create(clinic=clinic, by=by, **new_patient())

    patient.refresh_from_db()
    assert patient.clinic == clinic
    assert patient.mrn == "NEW-001"
    assert patient.timezone == "America/Chicago"
    assert not patient.is_archived
    assert patient.email_consent_at is None
    assert patient.sms_consent_at is None


@pytest.mark.parametrize("who", ["other_therapist", "portal_user"])
def test_outsiders_cannot_register_a_patient(request, clinic, who):
    by = request.getfixturevalue(who)
    before = Patient.objects.count()

    with pytest.raises(PermissionDenied):
        services.patient_create(clinic=clinic, by=by, **new_patient())

    assert Patient.objects.count() == before


def test_given_consent_is_timestamped(clinic, front_desk):
    started = timezone.now()

    patient = services.patient_create(
        clinic=clinic,
        by=front_desk,
        **new_patient(
            email="rosa@example.test",
            phone="+15555550123",
            email_consent=True,
            sms_consent=True,
            preferred_channel="sms",
        ),
    )

    patient.refresh_from_db()
    assert started <= patient.email_consent_at <= timezone.now()
    assert started <= patient.sms_consent_at <= timezone.now()
    assert patient.consented_to("sms")
    assert patient.consented_to("email")


def test_consent_not_given_is_not_timestamped(clinic, front_desk):
    patient = services.patient_create(
        clinic=clinic, by=front_desk, **new_patient(email="rosa@example.test", email_consent=True)
    )

    assert patient.email_consent_at is not None
    assert patient.sms_consent_at is None


@pytest.mark.parametrize(
    "contact",
    [
        {"preferred_channel": "email", "email": "rosa@example.test"},
        {"preferred_channel": "email", "email_consent": True, "email": ""},
        {"preferred_channel": "sms", "phone": "+15555550123"},
        {"preferred_channel": "sms", "sms_consent": True, "phone": ""},
    ],
    ids=["email-no-consent", "email-no-address", "sms-no-consent", "sms-no-number"],
)
def test_preferred_channel_needs_consent_and_an_address(clinic, front_desk, contact):
    with pytest.raises(ValidationError) as excinfo:
        services.patient_create(clinic=clinic, by=front_desk, **new_patient(**contact))

    assert "preferred_channel" in error_fields(excinfo)
    assert not Patient.objects.filter(mrn="NEW-001").exists()


def test_no_reminders_needs_no_consent(clinic, front_desk):
    patient = services.patient_create(clinic=clinic, by=front_desk, **new_patient(preferred_channel="none"))
    assert patient.preferred_channel == "none"


def test_mrn_is_unique_within_the_clinic(clinic, front_desk):
    services.patient_create(clinic=clinic, by=front_desk, **new_patient())
    before = Patient.objects.count()

    with pytest.raises(ValidationError) as excinfo:
        services.patient_create(clinic=clinic, by=front_desk, **new_patient(first_name="Other"))

    assert "MRN already exists" in str(excinfo.value)
    assert Patient.objects.count() == before
    assert not Patient.objects.filter(first_name="Other").exists()


def test_same_mrn_in_another_clinic_is_fine(clinic, other_clinic, front_desk, other_therapist):
    mine = services.patient_create(clinic=clinic, by=front_desk, **new_patient())
    theirs = services.patient_create(clinic=other_clinic, by=other_therapist, **new_patient())

    assert mine.mrn == theirs.mrn
    assert mine.pk != theirs.pk


def test_unknown_field_is_refused(clinic, front_desk):
    with pytest.raises(ValidationError) as excinfo:
        services.patient_create(clinic=clinic, by=front_desk, **new_patient(archived_at=timezone.now()))

    assert error_fields(excinfo) == {"archived_at"}
    assert not Patient.objects.filter(mrn="NEW-001").exists()


@pytest.mark.parametrize("zone", ["Mars/Olympus_Mons", "EST5EDT6", "", "america/new_york"])
def test_time_zone_must_be_iana(clinic, front_desk, zone):
    with pytest.raises(ValidationError) as excinfo:
        services.patient_create(clinic=clinic, by=front_desk, **new_patient(timezone=zone))

    assert "timezone" in error_fields(excinfo)
    assert not Patient.objects.filter(mrn="NEW-001").exists()


@pytest.mark.parametrize(
    ("quiet", "missing"),
    [
        ({"quiet_hours_start": dt.time(21, 0)}, "quiet_hours_end"),
        ({"quiet_hours_end": dt.time(7, 0)}, "quiet_hours_start"),
    ],
    ids=["only-start", "only-end"],
)
def test_quiet_hours_need_both_ends(clinic, front_desk, quiet, missing):
    with pytest.raises(ValidationError, match="both the start and the end of quiet hours") as excinfo:
        services.patient_create(clinic=clinic, by=front_desk, **new_patient(**quiet))

    assert missing in error_fields(excinfo)
    assert not Patient.objects.filter(mrn="NEW-001").exists()


def test_quiet_hours_may_span_midnight(clinic, front_desk):
    patient = services.patient_create(
        clinic=clinic,
        by=front_desk,
        **new_patient(quiet_hours_start=dt.time(21, 0), quiet_hours_end=dt.time(7, 0)),
    )
    assert (patient.quiet_hours_start, patient.quiet_hours_end) == (dt.time(21, 0), dt.time(7, 0))


def test_primary_therapist_must_be_a_therapist_of_the_clinic(clinic, front_desk, other_therapist, therapist):
    with pytest.raises(ValidationError) as excinfo:
        services.patient_create(clinic=clinic, by=front_desk, **new_patient(primary_therapist=other_therapist))
    assert "primary_therapist" in error_fields(excinfo)

    with pytest.raises(ValidationError):
        services.patient_create(clinic=clinic, by=front_desk, **new_patient(primary_therapist=front_desk))

    patient = services.patient_create(clinic=clinic, by=front_desk, **new_patient(primary_therapist=therapist))
    assert patient.primary_therapist == therapist


# --- patient_update -------------------------------------------------------------------------------


def test_consent_withdrawal_restamps_the_time(clinic, front_desk):
    patient = services.patient_create(
        clinic=clinic,
        by=front_desk,
        **new_patient(email="rosa@example.test", phone="+15555550123", email_consent=True, sms_consent=True),
    )
    given_email, given_sms = patient.email_consent_at, patient.sms_consent_at

    services.patient_update(patient=patient, by=front_desk, first_name="Rosalind")
    patient.refresh_from_db()
    assert (patient.email_consent_at, patient.sms_consent_at) == (given_email, given_sms)

    services.patient_update(patient=patient, by=front_desk, email_consent=False)
    patient.refresh_from_db()
    assert patient.email_consent is False
    assert patient.email_consent_at > given_email
    assert patient.sms_consent_at == given_sms
    assert not patient.consented_to("email")


def test_giving_consent_later_stamps_it(patient, front_desk):
    assert patient.email_consent_at is None

    updated = services.patient_update(patient=patient, by=front_desk, email_consent=True, preferred_channel="email")

    assert updated.email_consent_at is not None
    assert updated.consented_to("email")


def test_withdrawing_consent_of_the_preferred_channel_is_never_refused(patient, front_desk):
    """A patient's withdrawal of consent is honoured at once; reminders fall back to none."""
    services.patient_update(patient=patient, by=front_desk, email_consent=True, preferred_channel="email")

    updated = services.patient_update(patient=patient, by=front_desk, email_consent=False)

    assert updated.email_consent is False
    assert updated.email_consent_at is not None
    assert updated.preferred_channel == "none"


def test_choosing_an_unconsented_channel_is_refused(patient, front_desk):
    with pytest.raises(ValidationError) as excinfo:
        services.patient_update(patient=patient, by=front_desk, preferred_channel="sms")

    assert "preferred_channel" in error_fields(excinfo)


def test_zone_change_is_announced_after_commit_only(patient, front_desk, listen, django_capture_on_commit_callbacks):
    zone_changed = listen(signals.patient_zone_changed)
    preferences_changed = listen(signals.patient_preferences_changed)

    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        services.patient_update(patient=patient, by=front_desk, timezone="Pacific/Auckland")
        assert zone_changed == []  # not before the commit

    assert callbacks  # sent from an on-commit callback
    assert zone_changed == [{"patient_id": patient.pk}]
    assert preferences_changed == []
    patient.refresh_from_db()
    assert patient.timezone == "Pacific/Auckland"


def test_same_zone_again_announces_nothing(patient, front_desk, listen, django_capture_on_commit_callbacks):
    zone_changed = listen(signals.patient_zone_changed)

    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        services.patient_update(patient=patient, by=front_desk, timezone=patient.timezone)

    assert callbacks == []
    assert zone_changed == []


def test_refused_update_announces_nothing(patient, front_desk, listen, django_capture_on_commit_callbacks):
    zone_changed = listen(signals.patient_zone_changed)

    with django_capture_on_commit_callbacks(execute=True) as callbacks, pytest.raises(ValidationError):
        services.patient_update(patient=patient, by=front_desk, timezone="Atlantis/Capital")

    assert callbacks == []
    assert zone_changed == []
    patient.refresh_from_db()
    assert patient.timezone == "America/New_York"


@pytest.mark.parametrize(
    "change",
    [
        {"quiet_hours_start": dt.time(22, 0), "quiet_hours_end": dt.time(6, 30)},
        {"phone": "+15555550199"},
        {"email_consent": True},
    ],
    ids=["quiet-hours", "phone", "consent"],
)
def test_preference_change_is_announced_after_commit(
    patient, front_desk, listen, django_capture_on_commit_callbacks, change
):
    preferences_changed = listen(signals.patient_preferences_changed)
    zone_changed = listen(signals.patient_zone_changed)

    with django_capture_on_commit_callbacks(execute=True):
        services.patient_update(patient=patient, by=front_desk, **change)
        assert preferences_changed == []

    assert preferences_changed == [{"patient_id": patient.pk}]
    assert zone_changed == []


def test_name_change_announces_nothing(patient, front_desk, listen, django_capture_on_commit_callbacks):
    preferences_changed = listen(signals.patient_preferences_changed)

    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        services.patient_update(patient=patient, by=front_desk, last_name="Nakamura")

    assert callbacks == []
    assert preferences_changed == []


def test_archived_patient_cannot_be_updated(patient, front_desk):
    services.patient_archive(patient=patient, by=front_desk)

    with pytest.raises(StateConflict):
        services.patient_update(patient=patient, by=front_desk, first_name="Changed")

    patient.refresh_from_db()
    assert patient.first_name != "Changed"


def test_update_refuses_unknown_fields_and_outsiders(patient, front_desk, other_therapist, portal_user):
    with pytest.raises(ValidationError) as excinfo:
        services.patient_update(patient=patient, by=front_desk, clinic_id=99)
    assert error_fields(excinfo) == {"clinic_id"}

    for outsider in (other_therapist, portal_user):
        with pytest.raises(PermissionDenied):
            services.patient_update(patient=patient, by=outsider, first_name="Changed")


# --- patient_archive / patient_restore ------------------------------------------------------------


@pytest.mark.parametrize("role", STAFF_ROLES)
def test_archive_and_restore(request, patient, role, listen, django_capture_on_commit_callbacks):
    by = request.getfixturevalue(role)
    archived = listen(signals.patient_archived)

    with django_capture_on_commit_callbacks(execute=True):
        services.patient_archive(patient=patient, by=by)
        assert archived == []

    patient.refresh_from_db()
    assert patient.is_archived
    assert archived == [{"patient_id": patient.pk}]
    assert patient not in Patient.objects.active()

    services.patient_restore(patient=patient, by=by)
    patient.refresh_from_db()
    assert not patient.is_archived
    assert patient in Patient.objects.active()


def test_archive_twice_is_a_conflict(patient, front_desk):
    services.patient_archive(patient=patient, by=front_desk)
    archived_at = Patient.objects.get(pk=patient.pk).archived_at

    with pytest.raises(StateConflict):
        services.patient_archive(patient=patient, by=front_desk)

    assert Patient.objects.get(pk=patient.pk).archived_at == archived_at


def test_restore_of_a_patient_not_archived_is_a_conflict(patient, front_desk):
    with pytest.raises(StateConflict):
        services.patient_restore(patient=patient, by=front_desk)


def test_outsiders_cannot_archive(patient, other_therapist, portal_user):
    for outsider in (other_therapist, portal_user):
        with pytest.raises(PermissionDenied):
            services.patient_archive(patient=patient, by=outsider)
    patient.refresh_from_db()
    assert not patient.is_archived


@pytest.mark.parametrize("status", [Prescription.Status.ACTIVE, Prescription.Status.PAUSED])
def test_patient_with_a_live_plan_cannot_be_archived(patient, front_desk, status):
    factories.PrescriptionFactory(episode__patient=patient, status=status)

    with pytest.raises(StateConflict):
        services.patient_archive(patient=patient, by=front_desk)

    patient.refresh_from_db()
    assert not patient.is_archived


@pytest.mark.parametrize(
    "status", [Prescription.Status.DRAFT, Prescription.Status.COMPLETED, Prescription.Status.CANCELLED]
)
def test_patient_with_only_ended_or_draft_plans_can_be_archived(patient, front_desk, status):
    factories.PrescriptionFactory(episode__patient=patient, status=status)

    assert services.patient_archive(patient=patient, by=front_desk).is_archived


def test_the_database_refuses_to_delete_a_patient(patient):
    with (
        pytest.raises(ProgrammingError, match=re.escape("pgtrigger: Cannot delete rows from patients_patient table")),
        transaction.atomic(),
    ):
        Patient.objects.filter(pk=patient.pk).delete()

    assert Patient.objects.filter(pk=patient.pk).exists()


def test_the_database_refuses_to_delete_a_clearance(patient, front_desk, lumbar_flexion):
    clearance = services.clearance_record(
        patient=patient, by=front_desk, **clearance_fields(status="restricted", restricted_tags=[lumbar_flexion])
    )

    with pytest.raises(ProtectedError), transaction.atomic():
        Clearance.objects.filter(pk=clearance.pk).delete()
    with (
        pytest.raises(ProgrammingError, match=re.escape("pgtrigger: Cannot delete rows from patients_clearance table")),
        transaction.atomic(),
        connection.cursor() as cursor,
    ):
        cursor.execute("DELETE FROM patients_clearance WHERE id = %s", [clearance.pk])

    clearance.refresh_from_db()
    assert list(clearance.restricted_tags.all()) == [lumbar_flexion]


# --- portal_access_grant --------------------------------------------------------------------------


def _login_of(patient, relationship="guardian"):
    """An existing portal login with a grant for ``patient``."""
    return factories.PortalAccessFactory(patient=patient, relationship=relationship).user


def test_portal_access_for_self_and_guardian(clinic, front_desk):
    child = factories.PatientFactory(clinic=clinic, date_of_birth=dt.date(2014, 6, 1))
    parent = _login_of(factories.PatientFactory(clinic=clinic))  # the guardian of an older sibling
    teen_user = services.portal_user_create(
        patient=child, by=front_desk, username="teen", password="stretch-every-morning-42", relationship="self"
    )

    guardian = services.portal_access_grant(
        patient=child, username=parent.username, relationship="guardian", by=front_desk
    )

    assert (guardian.user, guardian.relationship) == (parent, "guardian")
    assert set(PortalAccess.objects.filter(patient=child).values_list("user", flat=True)) == {teen_user.pk, parent.pk}


@pytest.mark.parametrize(
    "who", ["therapist", "other_therapist", "clinic_admin", "other_clinic_login", "two_clinic_login", "no_grants",
            "inactive", "nobody"],
)  # fmt: skip
def test_only_a_login_of_the_clinic_is_granted_and_every_other_name_is_not_found(
    request, clinic, other_clinic, patient, front_desk, who
):
    """The portal-grant rule: every refusal is the same "no such portal login", and nothing is written."""
    theirs = factories.PatientFactory(clinic=other_clinic)
    username = {
        "therapist": lambda: request.getfixturevalue("therapist").username,
        "other_therapist": lambda: request.getfixturevalue("other_therapist").username,
        "clinic_admin": lambda: request.getfixturevalue("clinic_admin").username,
        "other_clinic_login": lambda: _login_of(theirs).username,
        "two_clinic_login": lambda: (
            factories.PortalAccessFactory(
                patient=theirs, user=_login_of(factories.PatientFactory(clinic=clinic))
            ).user.username
        ),
        "no_grants": lambda: factories.UserFactory().username,
        "inactive": lambda: (
            factories.PortalAccessFactory(
                patient=factories.PatientFactory(clinic=clinic), user=factories.UserFactory(is_active=False)
            ).user.username
        ),
        "nobody": lambda: "nobody",
    }[who]()
    before = set(PortalAccess.objects.values_list("pk", flat=True))

    with pytest.raises(ValidationError) as excinfo:
        services.portal_access_grant(patient=patient, username=username, relationship="guardian", by=front_desk)

    assert excinfo.value.message_dict == {"username": [services.NO_SUCH_PORTAL_LOGIN]}
    assert set(PortalAccess.objects.values_list("pk", flat=True)) == before


def test_a_login_whose_grants_are_all_in_the_clinic_is_granted(clinic, patient, front_desk):
    login = _login_of(factories.PatientFactory(clinic=clinic))
    factories.PortalAccessFactory(
        patient=factories.PatientFactory(clinic=clinic, archived_at=timezone.now()), user=login
    )

    access = services.portal_access_grant(
        patient=patient, username=login.username, relationship="guardian", by=front_desk
    )

    assert (access.patient, access.user) == (patient, login)


def test_duplicate_grant_is_refused(patient, front_desk):
    parent = _login_of(patient)

    with pytest.raises(ValidationError):
        services.portal_access_grant(patient=patient, username=parent.username, relationship="caregiver", by=front_desk)

    assert PortalAccess.objects.filter(patient=patient, user=parent).count() == 1


def test_a_patient_has_one_self_account(patient, other_patient, front_desk):
    services.portal_user_create(
        patient=patient, by=front_desk, username="own", password="stretch-every-morning-42", relationship="self"
    )

    with pytest.raises(ValidationError):
        services.portal_access_grant(
            patient=patient, username=_login_of(other_patient).username, relationship="self", by=front_desk
        )

    assert PortalAccess.objects.filter(patient=patient).count() == 1


def test_only_clinic_staff_grant_portal_access(patient, other_patient, other_therapist, portal_user):
    login = _login_of(other_patient)
    for outsider in (other_therapist, portal_user):
        with pytest.raises(PermissionDenied):
            services.portal_access_grant(patient=patient, username=login.username, relationship="guardian", by=outsider)


def test_front_desk_creates_a_portal_login(patient, front_desk):
    user = services.portal_user_create(
        patient=patient,
        by=front_desk,
        username="rosa.delgado",
        password="stretch-every-morning-42",
        email="rosa@example.test",
        relationship="self",
    )

    user.refresh_from_db()
    assert not user.is_staff
    assert not user.is_superuser
    assert user.check_password("stretch-every-morning-42")
    assert PortalAccess.objects.get(user=user).patient == patient


def test_portal_login_username_must_be_free(patient, front_desk):
    factories.UserFactory(username="taken")

    with pytest.raises(ValidationError) as excinfo:
        services.portal_user_create(
            patient=patient, by=front_desk, username="taken", password="stretch-every-morning-42", relationship="self"
        )

    assert excinfo.value.message_dict == {"username": [services.USERNAME_NOT_AVAILABLE]}
    assert not PortalAccess.objects.filter(patient=patient).exists()


@pytest.mark.parametrize("who", ["other_therapist", "portal_user"])
def test_refused_portal_login_leaves_no_account_behind(request, patient, who):
    User = get_user_model()

    with pytest.raises(PermissionDenied):
        services.portal_user_create(
            patient=patient,
            by=request.getfixturevalue(who),
            username="sneaky",
            password="stretch-every-morning-42",
            relationship="guardian",
        )

    assert not User.objects.filter(username="sneaky").exists()


def test_refused_grant_leaves_no_account_behind(patient, front_desk):
    _login_of(patient, relationship="self")

    with pytest.raises(ValidationError):
        services.portal_user_create(
            patient=patient,
            by=front_desk,
            username="second-self",
            password="stretch-every-morning-42",
            relationship="self",
        )

    assert not get_user_model().objects.filter(username="second-self").exists()


def test_an_archived_patient_gets_no_portal_login_or_access(patient, front_desk):
    services.patient_archive(patient=patient, by=front_desk)
    existing = _login_of(factories.PatientFactory(clinic=patient.clinic))

    with pytest.raises(StateConflict, match="archived"):
        services.portal_user_create(
            patient=patient, by=front_desk, username="late", password="stretch-every-morning-42", relationship="self"
        )
    with pytest.raises(StateConflict, match="archived"):
        services.portal_access_grant(
            patient=patient, username=existing.username, relationship="guardian", by=front_desk
        )

    assert not get_user_model().objects.filter(username="late").exists()
    assert not PortalAccess.objects.filter(patient=patient).exists()


@pytest.mark.parametrize("password", ["1234", "password", "rosa.delgado"])
def test_portal_login_password_must_pass_the_configured_validators(patient, front_desk, password):
    with pytest.raises(ValidationError) as excinfo:
        services.portal_user_create(
            patient=patient, by=front_desk, username="rosa.delgado", password=password, relationship="self"
        )

    assert "password" in str(excinfo.value).lower()
    assert not get_user_model().objects.filter(username="rosa.delgado").exists()


# --- episode_open / episode_discharge -------------------------------------------------------------


def test_therapist_opens_an_episode(patient, therapist):
    episode = services.episode_open(patient=patient, by=therapist, title="Lumbar strain")

    episode.refresh_from_db()
    assert episode.opened_on == patient.local_today()
    assert episode.primary_therapist == therapist
    assert episode.is_open


@pytest.mark.parametrize("role", NOT_CLINICAL)
def test_only_a_therapist_opens_an_episode(request, patient, role):
    with pytest.raises(PermissionDenied):
        services.episode_open(patient=patient, by=request.getfixturevalue(role), title="Lumbar strain")
    assert not Episode.objects.filter(patient=patient).exists()


def test_episode_therapist_must_belong_to_the_clinic(patient, therapist, other_therapist):
    with pytest.raises(ValidationError) as excinfo:
        services.episode_open(patient=patient, by=therapist, title="Neck", primary_therapist=other_therapist)
    assert "primary_therapist" in error_fields(excinfo)


def test_no_episode_for_an_archived_patient(patient, therapist):
    services.patient_archive(patient=patient, by=therapist)
    patient.refresh_from_db()

    with pytest.raises(StateConflict):
        services.episode_open(patient=patient, by=therapist, title="Neck")


def test_discharge_once(patient, therapist):
    episode = services.episode_open(patient=patient, by=therapist, title="Neck", opened_on=dt.date(2025, 1, 6))

    discharged = services.episode_discharge(episode=episode, by=therapist)
    assert discharged.discharged_on == patient.local_today()

    with pytest.raises(StateConflict):
        services.episode_discharge(episode=episode, by=therapist, discharged_on=dt.date(2025, 2, 1))
    episode.refresh_from_db()
    assert episode.discharged_on == patient.local_today()


def test_only_a_therapist_discharges(patient, therapist, front_desk):
    episode = services.episode_open(patient=patient, by=therapist, title="Neck")

    with pytest.raises(PermissionDenied):
        services.episode_discharge(episode=episode, by=front_desk)

    episode.refresh_from_db()
    assert episode.is_open


@pytest.mark.parametrize("status", [Prescription.Status.ACTIVE, Prescription.Status.PAUSED])
def test_episode_with_a_live_plan_cannot_be_discharged(patient, therapist, status):
    episode = services.episode_open(patient=patient, by=therapist, title="Neck")
    factories.PrescriptionFactory(episode=episode, status=status)

    with pytest.raises(StateConflict):
        services.episode_discharge(episode=episode, by=therapist)

    episode.refresh_from_db()
    assert episode.is_open


def test_discharge_cannot_precede_opening(patient, therapist):
    episode = services.episode_open(patient=patient, by=therapist, title="Neck", opened_on=dt.date(2025, 3, 10))

    with pytest.raises(ValidationError, match="Discharge cannot be before the episode opened") as excinfo:
        services.episode_discharge(episode=episode, by=therapist, discharged_on=dt.date(2025, 3, 9))

    assert "discharged_on" in error_fields(excinfo)
    episode.refresh_from_db()
    assert episode.is_open
    assert services.episode_discharge(episode=episode, by=therapist, discharged_on=dt.date(2025, 3, 10)).discharged_on


# --- patient_diagnosis_add / patient_diagnosis_update ---------------------------------------------


def test_therapist_adds_a_diagnosis(patient, therapist, disc, listen, django_capture_on_commit_callbacks):
    episode = services.episode_open(patient=patient, by=therapist, title="Disc")
    changed = listen(signals.diagnosis_changed)

    with django_capture_on_commit_callbacks(execute=True):
        row = services.patient_diagnosis_add(
            patient=patient,
            by=therapist,
            diagnosis=disc,
            phase="acute",
            onset_date=dt.date(2025, 3, 1),
            episode=episode,
        )
        assert changed == []

    assert changed == [{"patient_id": patient.pk, "patient_diagnosis_id": row.pk}]
    row.refresh_from_db()
    assert (row.diagnosis, row.phase, row.episode, row.recorded_by) == (disc, "acute", episode, therapist)


@pytest.mark.parametrize("role", NOT_CLINICAL)
def test_only_a_therapist_adds_a_diagnosis(request, patient, disc, role):
    with pytest.raises(PermissionDenied):
        services.patient_diagnosis_add(patient=patient, by=request.getfixturevalue(role), diagnosis=disc)
    assert not PatientDiagnosis.objects.filter(patient=patient).exists()


def test_diagnosis_episode_must_be_the_patients(clinic, patient, therapist, disc):
    other_patients_episode = factories.EpisodeFactory(patient=factories.PatientFactory(clinic=clinic))

    with pytest.raises(ValidationError) as excinfo:
        services.patient_diagnosis_add(patient=patient, by=therapist, diagnosis=disc, episode=other_patients_episode)

    assert "episode" in error_fields(excinfo)
    assert not PatientDiagnosis.objects.filter(patient=patient).exists()


def test_diagnosis_cannot_resolve_before_onset(patient, therapist, disc, listen, django_capture_on_commit_callbacks):
    changed = listen(signals.diagnosis_changed)

    with (
        django_capture_on_commit_callbacks(execute=True),
        pytest.raises(ValidationError, match="resolve before") as excinfo,
    ):
        services.patient_diagnosis_add(
            patient=patient,
            by=therapist,
            diagnosis=disc,
            onset_date=dt.date(2025, 3, 10),
            resolved_date=dt.date(2025, 3, 9),
        )

    assert "resolved_date" in error_fields(excinfo)
    assert not PatientDiagnosis.objects.filter(patient=patient).exists()
    assert changed == []


def test_therapist_updates_a_diagnosis(patient, therapist, disc, listen, django_capture_on_commit_callbacks):
    row = services.patient_diagnosis_add(
        patient=patient, by=therapist, diagnosis=disc, phase="acute", onset_date=dt.date(2025, 3, 1)
    )
    changed = listen(signals.diagnosis_changed)

    with django_capture_on_commit_callbacks(execute=True):
        services.patient_diagnosis_update(
            patient_diagnosis=row, by=therapist, phase="subacute", resolved_date=dt.date(2025, 5, 1)
        )
        assert changed == []

    assert changed == [{"patient_id": patient.pk, "patient_diagnosis_id": row.pk}]
    row.refresh_from_db()
    assert (row.phase, row.resolved_date, row.diagnosis) == ("subacute", dt.date(2025, 5, 1), disc)


@pytest.mark.parametrize(
    ("code", "qualifier", "allowed"),
    [
        ("Z98.890", "cervical_fusion", True),
        ("Z98.890", "lumbar_discectomy", True),
        ("Z98.890", "anterior_approach", False),  # would lift every spinal-surgery row
        ("Z96.641", "posterior_approach", True),
        ("Z96.641", "lumbar_fusion", False),
        ("M54.50", "posterior_approach", False),  # no row of low back pain is qualified
    ],
)
def test_a_qualifier_must_belong_to_the_diagnosis(patient, therapist, code, qualifier, allowed):
    diagnosis = Diagnosis.objects.get(code=code)
    if allowed:
        row = services.patient_diagnosis_add(patient=patient, by=therapist, diagnosis=diagnosis, qualifier=qualifier)
        assert row.qualifier == qualifier
        return
    with pytest.raises(ValidationError) as excinfo:
        services.patient_diagnosis_add(patient=patient, by=therapist, diagnosis=diagnosis, qualifier=qualifier)
    assert error_fields(excinfo) == {"qualifier"}
    assert not PatientDiagnosis.objects.filter(patient=patient).exists()

    row = services.patient_diagnosis_add(patient=patient, by=therapist, diagnosis=diagnosis)  # unknown: fine
    with pytest.raises(ValidationError) as excinfo:
        services.patient_diagnosis_update(patient_diagnosis=row, by=therapist, qualifier=qualifier)
    assert error_fields(excinfo) == {"qualifier"}
    row.refresh_from_db()
    assert row.qualifier == ""


@pytest.mark.parametrize("field", ["diagnosis", "diagnosis_id", "patient", "recorded_by"])
def test_diagnosis_code_and_owner_cannot_be_changed(patient, therapist, disc, field):
    row = services.patient_diagnosis_add(patient=patient, by=therapist, diagnosis=disc)
    other = {
        "diagnosis": Diagnosis.objects.get(code="M54.2"),
        "diagnosis_id": Diagnosis.objects.get(code="M54.2").pk,
        "patient": factories.PatientFactory(clinic=patient.clinic),
        "recorded_by": therapist,
    }[field]

    with pytest.raises(ValidationError) as excinfo:
        services.patient_diagnosis_update(patient_diagnosis=row, by=therapist, **{field: other})

    assert error_fields(excinfo) == {field}
    row.refresh_from_db()
    assert (row.diagnosis, row.patient) == (disc, patient)


def test_diagnosis_update_cannot_resolve_before_onset(patient, therapist, disc):
    row = services.patient_diagnosis_add(patient=patient, by=therapist, diagnosis=disc, onset_date=dt.date(2025, 3, 10))

    with pytest.raises(ValidationError):
        services.patient_diagnosis_update(patient_diagnosis=row, by=therapist, resolved_date=dt.date(2025, 3, 1))

    row.refresh_from_db()
    assert row.resolved_date is None


@pytest.mark.parametrize("role", NOT_CLINICAL)
def test_only_a_therapist_updates_a_diagnosis(request, patient, therapist, disc, role):
    row = services.patient_diagnosis_add(patient=patient, by=therapist, diagnosis=disc, phase="acute")

    with pytest.raises(PermissionDenied):
        services.patient_diagnosis_update(patient_diagnosis=row, by=request.getfixturevalue(role), phase="chronic")

    row.refresh_from_db()
    assert row.phase == "acute"


# --- mobility_assess ------------------------------------------------------------------------------


def test_never_assessed_means_no_mobility(patient):
    assert patient.current_mobility is None


def test_therapist_assesses_mobility(patient, therapist, mobility, listen, django_capture_on_commit_callbacks):
    changed = listen(signals.mobility_changed)

    with django_capture_on_commit_callbacks(execute=True):
        assessment = services.mobility_assess(patient=patient, by=therapist, level=mobility(2), notes="Uses a cane.")
        assert changed == []

    assert changed == [{"patient_id": patient.pk, "assessment_id": assessment.pk}]
    assert assessment.assessed_by == therapist
    assert patient.current_mobility == mobility(2)


@pytest.mark.parametrize("role", NOT_CLINICAL)
def test_only_a_therapist_assesses_mobility(request, patient, mobility, role):
    with pytest.raises(PermissionDenied):
        services.mobility_assess(patient=patient, by=request.getfixturevalue(role), level=mobility(3))
    assert patient.current_mobility is None


def test_latest_assessment_counts_not_the_last_recorded(patient, therapist, mobility):
    now = timezone.now()
    services.mobility_assess(patient=patient, by=therapist, level=mobility(4), assessed_at=now - dt.timedelta(days=1))
    services.mobility_assess(patient=patient, by=therapist, level=mobility(2), assessed_at=now - dt.timedelta(days=3))

    assert patient.current_mobility == mobility(4)

    services.mobility_assess(patient=patient, by=therapist, level=mobility(5), assessed_at=now)
    assert patient.current_mobility == mobility(5)


def test_same_assessed_time_is_decided_by_the_later_row(patient, therapist, mobility):
    at = timezone.now() - dt.timedelta(hours=2)
    services.mobility_assess(patient=patient, by=therapist, level=mobility(5), assessed_at=at)
    services.mobility_assess(patient=patient, by=therapist, level=mobility(1), assessed_at=at)

    assert patient.current_mobility == mobility(1)


def test_assessment_cannot_be_in_the_future(patient, therapist, mobility, listen, django_capture_on_commit_callbacks):
    changed = listen(signals.mobility_changed)

    with django_capture_on_commit_callbacks(execute=True), pytest.raises(ValidationError) as excinfo:
        services.mobility_assess(
            patient=patient, by=therapist, level=mobility(3), assessed_at=timezone.now() + dt.timedelta(hours=1)
        )

    assert "assessed_at" in error_fields(excinfo)
    assert not MobilityAssessment.objects.filter(patient=patient).exists()
    assert changed == []


def test_no_assessment_for_an_archived_patient(patient, therapist, mobility):
    services.patient_archive(patient=patient, by=therapist)
    patient.refresh_from_db()

    with pytest.raises(StateConflict):
        services.mobility_assess(patient=patient, by=therapist, level=mobility(3))


# --- clearance_record / clearance_revoke ----------------------------------------------------------


def clearance_rows() -> tuple[int, int]:
    return Clearance.objects.count(), Clearance.restricted_tags.through.objects.count()


@pytest.mark.parametrize("role", ["front_desk", "therapist"])
def test_front_desk_and_therapist_record_clearances(request, patient, role, lumbar_flexion, spinal_rotation):
    by = request.getfixturevalue(role)

    clearance = services.clearance_record(
        patient=patient,
        by=by,
        **clearance_fields(status="restricted", restricted_tags=[lumbar_flexion, spinal_rotation]),
    )

    clearance.refresh_from_db()
    assert clearance.recorded_by == by
    assert clearance.recorded_at is not None
    assert set(clearance.restricted_tags.all()) == {lumbar_flexion, spinal_rotation}
    assert Clearance.objects.effective_on(patient, patient.local_today()) == clearance


@pytest.mark.parametrize("who", ["clinic_admin", "other_therapist", "portal_user"])
def test_others_cannot_record_clearances(request, patient, who):
    before = clearance_rows()

    with pytest.raises(PermissionDenied):
        services.clearance_record(patient=patient, by=request.getfixturevalue(who), **clearance_fields())

    assert clearance_rows() == before


def test_restricted_clearance_names_its_restrictions(patient, front_desk):
    before = clearance_rows()

    with pytest.raises(ValidationError) as excinfo:
        services.clearance_record(patient=patient, by=front_desk, **clearance_fields(status="restricted"))

    assert error_fields(excinfo) == {"restricted_tags"}
    assert clearance_rows() == before


def test_full_clearance_has_no_restrictions(patient, front_desk, lumbar_flexion):
    before = clearance_rows()

    with pytest.raises(ValidationError) as excinfo:
        services.clearance_record(
            patient=patient, by=front_desk, **clearance_fields(status="cleared", restricted_tags=[lumbar_flexion])
        )

    assert error_fields(excinfo) == {"restricted_tags"}
    assert clearance_rows() == before


def test_clearance_cannot_end_before_it_starts(patient, front_desk, lumbar_flexion):
    before = clearance_rows()

    with pytest.raises(ValidationError, match="cannot end before it starts") as excinfo:
        services.clearance_record(
            patient=patient,
            by=front_desk,
            **clearance_fields(
                status="restricted",
                restricted_tags=[lumbar_flexion],
                valid_from=dt.date(2025, 3, 10),
                valid_until=dt.date(2025, 3, 9),
            ),
        )

    assert "valid_until" in error_fields(excinfo)
    assert clearance_rows() == before


def test_clearance_valid_for_a_single_day(patient, front_desk):
    clearance = services.clearance_record(
        patient=patient,
        by=front_desk,
        **clearance_fields(valid_from=dt.date(2025, 3, 10), valid_until=dt.date(2025, 3, 10)),
    )
    assert Clearance.objects.effective_on(patient, dt.date(2025, 3, 10)) == clearance


def test_failure_after_the_clearance_row_leaves_nothing_behind(
    patient, front_desk, listen, django_capture_on_commit_callbacks
):
    changed = listen(signals.clearance_changed)
    before = clearance_rows()
    unsaved_tag = MovementTag(slug="not_in_the_vocabulary", name="Not saved")

    with django_capture_on_commit_callbacks(execute=True), pytest.raises(ValueError, match="unsaved|None"):
        services.clearance_record(
            patient=patient, by=front_desk, **clearance_fields(status="restricted", restricted_tags=[unsaved_tag])
        )

    assert clearance_rows() == before
    assert changed == []


def test_no_clearance_for_an_archived_patient(patient, front_desk):
    services.patient_archive(patient=patient, by=front_desk)
    patient.refresh_from_db()

    with pytest.raises(StateConflict):
        services.clearance_record(patient=patient, by=front_desk, **clearance_fields())


def test_clearance_changes_are_announced_after_commit(
    patient, front_desk, therapist, listen, django_capture_on_commit_callbacks
):
    changed = listen(signals.clearance_changed)

    with django_capture_on_commit_callbacks(execute=True):
        clearance = services.clearance_record(patient=patient, by=front_desk, **clearance_fields())
        assert changed == []
    assert changed == [{"patient_id": patient.pk, "clearance_id": clearance.pk}]

    with django_capture_on_commit_callbacks(execute=True):
        services.clearance_revoke(clearance=clearance, by=therapist, reason="Surgeon withdrew clearance.")
        assert len(changed) == 1
    assert changed[1] == {"patient_id": patient.pk, "clearance_id": clearance.pk}


@pytest.mark.parametrize("role", ["front_desk", "therapist"])
def test_revoke(request, patient, front_desk, role):
    by = request.getfixturevalue(role)
    clearance = services.clearance_record(patient=patient, by=front_desk, **clearance_fields())
    started = timezone.now()

    services.clearance_revoke(clearance=clearance, by=by, reason="  New MRI shows a fracture.  ")

    clearance.refresh_from_db()
    assert clearance.is_revoked
    assert started <= clearance.revoked_at <= timezone.now()
    assert clearance.revoked_by == by
    assert clearance.revoke_reason == "New MRI shows a fracture."


@pytest.mark.parametrize("reason", ["", "   ", None])
def test_revoke_needs_a_reason(patient, front_desk, reason, listen, django_capture_on_commit_callbacks):
    clearance = services.clearance_record(patient=patient, by=front_desk, **clearance_fields())
    changed = listen(signals.clearance_changed)

    with django_capture_on_commit_callbacks(execute=True), pytest.raises(ValidationError) as excinfo:
        services.clearance_revoke(clearance=clearance, by=front_desk, reason=reason)

    assert error_fields(excinfo) == {"reason"}
    clearance.refresh_from_db()
    assert not clearance.is_revoked
    assert changed == []


def test_revoke_twice_is_a_conflict(patient, front_desk, therapist):
    clearance = services.clearance_record(patient=patient, by=front_desk, **clearance_fields())
    services.clearance_revoke(clearance=clearance, by=front_desk, reason="Wrong patient.")
    first = Clearance.objects.get(pk=clearance.pk)

    with pytest.raises(StateConflict):
        services.clearance_revoke(clearance=clearance, by=therapist, reason="Again.")

    clearance.refresh_from_db()
    assert (clearance.revoked_at, clearance.revoked_by, clearance.revoke_reason) == (
        first.revoked_at,
        front_desk,
        "Wrong patient.",
    )


@pytest.mark.parametrize("who", ["clinic_admin", "other_therapist", "portal_user"])
def test_others_cannot_revoke(request, patient, front_desk, who):
    clearance = services.clearance_record(patient=patient, by=front_desk, **clearance_fields())

    with pytest.raises(PermissionDenied):
        services.clearance_revoke(clearance=clearance, by=request.getfixturevalue(who), reason="No.")

    clearance.refresh_from_db()
    assert not clearance.is_revoked


# --- Clearance.objects.effective_on ---------------------------------------------------------------

MARCH_1 = dt.date(2025, 3, 1)
MARCH_31 = dt.date(2025, 3, 31)


def recorded(day: dt.date, hour: int = 12) -> dt.datetime:
    return dt.datetime.combine(day, dt.time(hour), tzinfo=dt.UTC)


def test_nothing_in_force_without_a_clearance(patient):
    assert Clearance.objects.effective_on(patient, MARCH_1) is None


@pytest.mark.parametrize(
    ("day", "in_force"),
    [
        (dt.date(2025, 2, 28), False),
        (MARCH_1, True),
        (dt.date(2025, 3, 15), True),
        (MARCH_31, True),
        (dt.date(2025, 4, 1), False),
    ],
)
def test_validity_edges_are_inclusive(patient, day, in_force):
    clearance = factories.ClearanceFactory(
        patient=patient, valid_from=MARCH_1, valid_until=MARCH_31, recorded_at=recorded(dt.date(2025, 2, 27))
    )

    assert Clearance.objects.effective_on(patient, day) == (clearance if in_force else None)


def test_another_patients_clearance_never_counts(clinic, patient):
    factories.ClearanceFactory(
        patient=factories.PatientFactory(clinic=clinic), valid_from=MARCH_1, valid_until=MARCH_31
    )
    assert Clearance.objects.effective_on(patient, dt.date(2025, 3, 15)) is None


def test_a_later_recorded_clearance_supersedes_without_merging(patient, lumbar_flexion, spinal_rotation):
    broad = factories.ClearanceFactory(
        patient=patient, status="restricted", valid_from=MARCH_1, valid_until=MARCH_31, recorded_at=recorded(MARCH_1)
    )
    broad.restricted_tags.set([lumbar_flexion])
    narrow = factories.ClearanceFactory(
        patient=patient,
        status="restricted",
        valid_from=dt.date(2025, 3, 10),
        valid_until=dt.date(2025, 3, 20),
        recorded_at=recorded(dt.date(2025, 3, 9)),
    )
    narrow.restricted_tags.set([spinal_rotation])

    assert Clearance.objects.effective_on(patient, dt.date(2025, 3, 9)) == broad
    in_force = Clearance.objects.effective_on(patient, dt.date(2025, 3, 10))
    assert in_force == narrow
    assert list(in_force.restricted_tags.all()) == [spinal_rotation]
    assert Clearance.objects.effective_on(patient, dt.date(2025, 3, 20)) == narrow
    assert Clearance.objects.effective_on(patient, dt.date(2025, 3, 21)) == broad


def test_recording_order_not_validity_start_decides(patient):
    recorded_later = factories.ClearanceFactory(
        patient=patient, valid_from=MARCH_1, valid_until=MARCH_31, recorded_at=recorded(dt.date(2025, 3, 5))
    )
    factories.ClearanceFactory(
        patient=patient,
        valid_from=dt.date(2025, 3, 3),
        valid_until=MARCH_31,
        recorded_at=recorded(dt.date(2025, 3, 2)),
    )

    assert Clearance.objects.effective_on(patient, dt.date(2025, 3, 15)) == recorded_later


def test_a_revoked_later_clearance_falls_back_to_the_earlier(patient, therapist):
    earlier = factories.ClearanceFactory(
        patient=patient, valid_from=MARCH_1, valid_until=MARCH_31, recorded_at=recorded(MARCH_1)
    )
    later = factories.ClearanceFactory(
        patient=patient,
        valid_from=MARCH_1,
        valid_until=MARCH_31,
        recorded_at=recorded(dt.date(2025, 3, 5)),
        revoked_at=dt.datetime(2025, 3, 12, 15, 0, tzinfo=patient.zone),
        revoked_by=therapist,
        revoke_reason="Letter was for another patient.",
    )

    assert Clearance.objects.effective_on(patient, dt.date(2025, 3, 11)) == later
    assert Clearance.objects.effective_on(patient, dt.date(2025, 3, 12)) == earlier
    assert Clearance.objects.effective_on(patient, dt.date(2025, 3, 20)) == earlier


def test_revoked_today_counts_for_yesterday_only(patient, front_desk):
    today = patient.local_today()
    yesterday = today - dt.timedelta(days=1)
    clearance = services.clearance_record(
        patient=patient,
        by=front_desk,
        **clearance_fields(valid_from=today - dt.timedelta(days=5), valid_until=today + dt.timedelta(days=5)),
    )

    services.clearance_revoke(clearance=clearance, by=front_desk, reason="Physician withdrew it.")

    assert Clearance.objects.effective_on(patient, yesterday) == clearance
    assert Clearance.objects.effective_on(patient, today) is None
    assert Clearance.objects.effective_on(patient, today + dt.timedelta(days=1)) is None


@pytest.mark.parametrize(
    ("zone", "revoked_local"),
    [
        # 08:00 on 10 March in Auckland (UTC+13) is still 9 March in UTC.
        ("Pacific/Auckland", dt.datetime(2025, 3, 10, 8, 0)),
        # 20:00 on 10 March in Los Angeles (UTC-7) is already 11 March in UTC.
        ("America/Los_Angeles", dt.datetime(2025, 3, 10, 20, 0)),
    ],
)
def test_revocation_date_is_the_patients_local_date(clinic, therapist, zone, revoked_local):
    patient = factories.PatientFactory(clinic=clinic, timezone=zone)
    revoked_at = revoked_local.replace(tzinfo=ZoneInfo(zone))
    assert revoked_at.astimezone(dt.UTC).date() != revoked_local.date()  # the test is only meaningful if so
    clearance = factories.ClearanceFactory(
        patient=patient,
        valid_from=MARCH_1,
        valid_until=MARCH_31,
        recorded_at=recorded(MARCH_1),
        revoked_at=revoked_at,
        revoked_by=therapist,
        revoke_reason="Withdrawn by phone.",
    )

    assert Clearance.objects.effective_on(patient, dt.date(2025, 3, 9)) == clearance
    assert Clearance.objects.effective_on(patient, dt.date(2025, 3, 10)) is None
    assert Clearance.objects.effective_on(patient, dt.date(2025, 3, 11)) is None


@pytest.mark.parametrize(
    ("revoked_local", "in_force_on_the_10th"),
    [
        (dt.datetime(2025, 3, 10, 23, 59, 59, 999999), False),
        (dt.datetime(2025, 3, 11, 0, 0), True),
    ],
    ids=["last-instant-of-the-day", "next-local-midnight"],
)
def test_revocation_at_local_midnight(clinic, therapist, revoked_local, in_force_on_the_10th):
    patient = factories.PatientFactory(clinic=clinic, timezone="Pacific/Auckland")
    clearance = factories.ClearanceFactory(
        patient=patient,
        valid_from=MARCH_1,
        valid_until=MARCH_31,
        recorded_at=recorded(MARCH_1),
        revoked_at=revoked_local.replace(tzinfo=patient.zone),
        revoked_by=therapist,
        revoke_reason="Withdrawn.",
    )

    assert Clearance.objects.effective_on(patient, dt.date(2025, 3, 10)) == (
        clearance if in_force_on_the_10th else None
    )
