"""Every write to the patient side happens here: keyword-only, atomic, validated, signals after commit."""

from __future__ import annotations

import datetime as dt
import logging
import secrets
from collections.abc import Iterable
from typing import Any

from django.contrib.auth import get_user_model
from django.contrib.auth.password_validation import validate_password
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import IntegrityError, transaction
from django.dispatch import Signal
from django.utils import timezone
from django.views.decorators.debug import sensitive_variables

from clinic import bounds, outbox
from clinic.errors import StateConflict
from clinic.models import Clinic, Contraindication, Diagnosis, MobilityLevel, MovementTag
from clinic.policy import Action, Role, require
from patients import audit, signals
from patients.models import (
    Channel,
    Clearance,
    Episode,
    MobilityAssessment,
    Patient,
    PatientDiagnosis,
    PortalAccess,
    RecheckRequest,
)
from patients.selectors import portal_login_of_clinic

logger = logging.getLogger(__name__)


PATIENT_FIELDS = {
    "mrn", "first_name", "last_name", "date_of_birth", "timezone", "email", "phone",
    "email_consent", "sms_consent", "preferred_channel", "quiet_hours_start", "quiet_hours_end",
    "primary_therapist",
}  # fmt: skip
PREFERENCE_FIELDS = {
    "email", "phone", "email_consent", "sms_consent", "preferred_channel", "quiet_hours_start", "quiet_hours_end",
}  # fmt: skip


def _announce(signal: Signal, **ids: int) -> None:
    def send() -> None:
        # send_robust: one failing receiver must not keep the others from hearing about the change.
        for receiver, error in signal.send_robust(sender=Patient, **ids):
            if isinstance(error, Exception):
                logger.error("Receiver %r failed for %r", receiver, ids, exc_info=error)

    transaction.on_commit(send, robust=True)


def recheck_request(*, patient_ids: Iterable[int], reason: str) -> None:
    """Record, in the caller's transaction, that these patients' active plans must be re-checked by the gate.

    The transactional outbox (DESIGN §10): every write that can change a gate fact calls this before it
    commits, so the re-check cannot be lost to a broker outage; the per-minute drain runs it if the
    after-commit fast path did not.
    """
    outbox.request(RecheckRequest, key="patient_id", values=patient_ids, reason=reason)


def _fact_changed(signal: Signal, reason: str, **ids: int) -> None:
    """A gate fact of the patient changed: the outbox row in this transaction, the signal after commit."""
    recheck_request(patient_ids=[ids["patient_id"]], reason=reason)
    _announce(signal, **ids)


def _save(instance, *, update_fields: Iterable[str] | None = None) -> None:
    """Validate then save; unique violations that raced past validation become field errors."""
    instance.full_clean()
    _write(instance, update_fields=update_fields)


def _write(instance, *, update_fields: Iterable[str] | None = None) -> None:
    """Save a validated instance; a unique violation that raced past validation becomes a ValidationError."""
    try:
        with transaction.atomic():
            instance.save(update_fields=list(update_fields) if update_fields is not None else None)
    except IntegrityError as exc:
        raise ValidationError(f"This change conflicts with an existing record: {exc.__cause__ or exc}") from exc


def _stamp_consent(patient: Patient, before: dict[str, Any]) -> None:
    now = timezone.now()
    for channel in ("email", "sms"):
        if getattr(patient, f"{channel}_consent") != before.get(f"{channel}_consent"):
            setattr(patient, f"{channel}_consent_at", now)


def _check_therapist(clinic: Clinic, user) -> None:
    if user is None:
        return
    membership = getattr(user, "membership", None)
    if membership is None or membership.clinic_id != clinic.pk or membership.role != Role.THERAPIST:
        raise ValidationError({"primary_therapist": "Choose a therapist of this clinic."})


def _check_preferences(patient: Patient) -> None:
    if patient.preferred_channel in ("email", "sms") and not patient.consented_to(patient.preferred_channel):
        raise ValidationError(
            {
                "preferred_channel": f"The patient has not consented to {patient.preferred_channel} reminders, "
                "or no address is on file for it."
            }  # fmt: skip
        )


def _check_birth_date(patient: Patient) -> None:
    """Born on or after 1900-01-01 and not after today in the patient's zone (the latest zone on earth if
    the zone itself is invalid: full_clean names that)."""
    born = patient.date_of_birth
    if not isinstance(born, dt.date):
        return  # missing or not a date: full_clean names it
    try:
        today = patient.local_today()
    except Exception:  # noqa: BLE001 - an unknown zone; full_clean refuses it with its own message
        today = (timezone.now() + dt.timedelta(hours=14)).date()
    if born > today:
        raise ValidationError({"date_of_birth": "A date of birth cannot be in the future."})
    if born < bounds.EARLIEST_DATE:
        raise ValidationError({"date_of_birth": f"Give a date of birth on or after {bounds.EARLIEST_DATE}."})


# --- Patients ---------------------------------------------------------------------------------------


@transaction.atomic
def patient_create(*, clinic: Clinic, by, **fields: Any) -> Patient:
    """Register a patient. Consent flags given as True are timestamped now."""
    require(Action.REGISTER_PATIENT, by, clinic)
    patient = patient_create_check(clinic=clinic, **fields)
    _write(patient)
    return patient


def patient_create_check(*, clinic: Clinic, **fields: Any) -> Patient:
    """What ``patient_create`` refuses, without writing: the validated patient it would save, or the refusal.

    ``patient_create`` calls it, and so does the admin's form (its validation is the service's own checks).
    """
    unknown = set(fields) - PATIENT_FIELDS
    if unknown:
        raise ValidationError(dict.fromkeys(sorted(unknown), "Unknown field."))
    patient = Patient(clinic=clinic, **fields)
    _stamp_consent(patient, {"email_consent": False, "sms_consent": False})
    _check_therapist(clinic, patient.primary_therapist)
    _check_preferences(patient)
    _check_birth_date(patient)
    patient.full_clean()
    return patient


@transaction.atomic
def patient_update(*, patient: Patient, by, **fields: Any) -> Patient:
    """Change a patient's details, contact, consent or preferences; announces zone/preference changes."""
    require(Action.REGISTER_PATIENT, by, patient.clinic_id)
    return _apply_changes(patient, fields, allowed=PATIENT_FIELDS)


def patient_update_check(*, patient: Patient, **fields: Any) -> Patient:
    """What ``patient_update`` refuses, without writing: the validated patient as it would be saved, or the refusal.

    It locks the patient's row: call it in the transaction that writes (as the admin's form does, whose validation
    is the service's own checks), and the patient cannot be archived between the check and the write.
    """
    return _changes_checked(patient, fields, allowed=PATIENT_FIELDS)[0]


def _apply_changes(patient: Patient, fields: dict[str, Any], *, allowed: set[str]) -> Patient:
    """Check, save, announce — shared by staff and portal updates."""
    patient, before = _changes_checked(patient, fields, allowed=allowed)
    _write(patient)
    changed = {name for name in PATIENT_FIELDS if getattr(patient, name) != before[name]}
    if "timezone" in changed:  # local dates move: the gate's "today" and every session's date with them
        _fact_changed(signals.patient_zone_changed, "time zone changed", patient_id=patient.pk)
    if changed & PREFERENCE_FIELDS:
        _announce(signals.patient_preferences_changed, patient_id=patient.pk)
    return patient


def _changes_checked(patient: Patient, fields: dict[str, Any], *, allowed: set[str]) -> tuple[Patient, dict[str, Any]]:
    """Lock, apply, stamp consent, validate: the changed patient (not saved) and its values before the change.

    Withdrawing consent is never refused: if it withdraws the preferred channel and no other channel is
    chosen in the same change, reminders fall back to none.
    """
    unknown = set(fields) - allowed
    if unknown:
        raise ValidationError(dict.fromkeys(sorted(unknown), "Unknown field."))
    patient = Patient.objects.select_for_update().get(pk=patient.pk)
    if patient.is_archived:
        raise StateConflict("This patient is archived; restore them before changing their record.")
    before = {name: getattr(patient, name) for name in PATIENT_FIELDS}
    for name, value in fields.items():
        setattr(patient, name, value)
    channel = patient.preferred_channel
    if "preferred_channel" not in fields and channel in ("email", "sms") and not getattr(patient, f"{channel}_consent"):
        patient.preferred_channel = Channel.NONE
    _stamp_consent(patient, before)
    if "primary_therapist" in fields:
        _check_therapist(patient.clinic, patient.primary_therapist)
    _check_preferences(patient)
    if "date_of_birth" in fields:
        _check_birth_date(patient)
    patient.full_clean()
    return patient, before


@transaction.atomic
def patient_archive(*, patient: Patient, by) -> Patient:
    """Archive instead of delete. Apps that hold the patient's live work refuse through ``patient_archiving`` (a
    patient with an active or paused plan cannot be archived: ``prescriptions.receivers.patients``)."""
    require(Action.REGISTER_PATIENT, by, patient.clinic_id)
    patient = Patient.objects.select_for_update().get(pk=patient.pk)
    if patient.is_archived:
        raise StateConflict("This patient is already archived.")
    signals.patient_archiving.send(sender=Patient, patient_id=patient.pk)  # a receiver may refuse (StateConflict)
    patient.archived_at = timezone.now()
    patient.save(update_fields=["archived_at", "updated_at"])
    _announce(signals.patient_archived, patient_id=patient.pk)
    return patient


@transaction.atomic
def patient_restore(*, patient: Patient, by) -> Patient:
    require(Action.REGISTER_PATIENT, by, patient.clinic_id)
    patient = Patient.objects.select_for_update().get(pk=patient.pk)
    if not patient.is_archived:
        raise StateConflict("This patient is not archived.")
    patient.archived_at = None
    patient.save(update_fields=["archived_at", "updated_at"])
    return patient


NO_SUCH_PORTAL_LOGIN = "No such portal login; create a new login instead."
USERNAME_NOT_AVAILABLE = "This username is not available; choose another."


@transaction.atomic
def portal_access_grant(*, patient: Patient, username: str, relationship: str, by) -> PortalAccess:
    """Give an existing portal login access to one more patient of the clinic (a guardian's second child).

    Only a login ``portal_login_of_clinic`` finds (all its grants are patients of this clinic): anything
    else — another clinic's login, a staff account, a name that does not exist — is the one refusal
    ``NO_SUCH_PORTAL_LOGIN``. Not for an archived patient.
    """
    require(Action.GRANT_PORTAL_ACCESS, by, patient.clinic_id)
    patient = _live(patient)  # the portal hides archived patients: access to one would be a dead login
    user = portal_login_of_clinic(username=username, clinic_id=patient.clinic_id)
    if user is None:
        raise ValidationError({"username": NO_SUCH_PORTAL_LOGIN})
    if patient.portal_access.filter(
        user=user, revoked_at__isnull=True
    ).exists():  # a login of this clinic: it may say so
        raise ValidationError({"username": "This login already has access to this patient."})
    return _portal_access_add(patient, user, relationship)


def _portal_access_add(patient: Patient, user, relationship: str) -> PortalAccess:
    access = PortalAccess(patient=patient, user=user, relationship=relationship)
    _save(access)
    return access


@sensitive_variables("password")
@transaction.atomic
def portal_user_create(*, patient: Patient, by, username: str, password: str, email: str = "", relationship: str):
    """Create a portal login (not staff) and grant it access to ``patient``. Not for an archived patient.

    A username taken anywhere (any clinic, staff or portal) is the one refusal ``USERNAME_NOT_AVAILABLE``:
    it reveals that the name is not available, never whose it is or where.
    """
    require(Action.GRANT_PORTAL_ACCESS, by, patient.clinic_id)
    patient = _live(patient)  # refuse before the username and password are checked, not after
    User = get_user_model()
    if User.objects.filter(username=username).exists():
        raise ValidationError({"username": USERNAME_NOT_AVAILABLE})
    user = User(username=username, email=email, is_staff=False)
    try:
        validate_password(password, user)
    except ValidationError as exc:
        raise ValidationError({"password": exc.messages}) from exc
    user.set_password(password)
    user.full_clean(validate_unique=False)  # checked above; a race is caught below with the same answer
    try:
        with transaction.atomic():
            user.save()
    except IntegrityError as exc:
        raise ValidationError({"username": USERNAME_NOT_AVAILABLE}) from exc
    _portal_access_add(patient, user, relationship)
    return user


@transaction.atomic
def portal_access_revoke(*, access: PortalAccess, by, reason: str) -> PortalAccess:
    """Revoke a portal grant (a guardian's access when the child turns 18), keeping it for the record.

    From the commit on, the grant gives nothing: the login's tokens stop working for this patient (they still
    work for its other live grants; a login left without any gets 403 from the portal).
    """
    require(Action.GRANT_PORTAL_ACCESS, by, access.patient.clinic_id)
    access = PortalAccess.objects.select_for_update().get(pk=access.pk)
    if access.is_revoked:
        raise StateConflict("This portal access is already revoked.")
    reason = (reason or "").strip()
    if not reason:
        raise ValidationError({"reason": "Say why the portal access is revoked."})
    bounds.check_reason("reason", reason)
    access.revoked_at = timezone.now()
    access.revoked_by = by
    access.revoke_reason = reason
    _save(access, update_fields=["revoked_at", "revoked_by", "revoke_reason"])
    return access


TEMPORARY_PASSWORD_ALPHABET = "abcdefghjkmnpqrstuvwxyz23456789"  # no 0/o, 1/l/i: read out over the phone
PASSWORD_RESET_LOGGED_AS = "admin:portal-password-reset"


def _temporary_password(user) -> str:
    """Three groups of five random characters (about 74 bits), checked by Django's validators like any password."""
    for _ in range(10):
        password = "-".join("".join(secrets.choice(TEMPORARY_PASSWORD_ALPHABET) for _ in range(5)) for _ in range(3))
        try:
            validate_password(password, user)
        except ValidationError:
            continue
        return password
    raise RuntimeError("No temporary password passed the password validators.")  # a misconfiguration, not input


@sensitive_variables("password")
@transaction.atomic
def portal_password_reset(*, access: PortalAccess, by) -> str:
    """Give the grant's login a new random temporary password, and return it: the only time it is shown.

    Only a login of ``by``'s clinic (``portal_login_of_clinic``: every live grant of it a patient of this clinic)
    through a live grant; anything else is refused as ``NO_SUCH_PORTAL_LOGIN``. The auth user is not tracked by
    the change trail, so the reset is recorded in the access log (``PASSWORD_RESET_LOGGED_AS``) for the patient,
    with who did it and when.
    """
    require(Action.GRANT_PORTAL_ACCESS, by, access.patient.clinic_id)
    access = PortalAccess.objects.select_for_update().select_related("user", "patient").get(pk=access.pk)
    if access.is_revoked:
        raise StateConflict("This portal access is revoked; its login is not reset from here.")
    login = portal_login_of_clinic(username=access.user.get_username(), clinic_id=access.patient.clinic_id)
    if login is None or login.pk != access.user_id:
        raise ValidationError(NO_SUCH_PORTAL_LOGIN)
    user = login
    password = _temporary_password(user)
    user.set_password(password)
    user.save(update_fields=["password"])
    user.auth_token_set.all().delete()  # a reset may follow a leaked password: its API sessions end with it
    audit.access_log_record(actor=by, patient_ids=[access.patient_id], what=PASSWORD_RESET_LOGGED_AS)
    return password


# --- Episodes -----------------------------------------------------------------------------------------


def _live(patient: Patient) -> Patient:
    """Lock the patient row and refuse if archived (a stale copy in the caller's hands can't slip past)."""
    patient = Patient.objects.select_for_update().get(pk=patient.pk)
    if patient.is_archived:
        raise StateConflict("This patient is archived.")
    return patient


@transaction.atomic
def episode_open(
    *, patient: Patient, by, title: str, opened_on: dt.date | None = None, primary_therapist=None
) -> Episode:
    require(Action.RECORD_EPISODE, by, patient.clinic_id)
    patient = _live(patient)
    _check_therapist(patient.clinic, primary_therapist)
    bounds.check_dates(opened_on=opened_on)
    episode = Episode(
        patient=patient,
        title=title,
        opened_on=opened_on or patient.local_today(),
        primary_therapist=primary_therapist or by,
    )
    _save(episode)
    return episode


@transaction.atomic
def episode_discharge(*, episode: Episode, by, discharged_on: dt.date | None = None) -> Episode:
    require(Action.RECORD_EPISODE, by, episode.patient.clinic_id)
    episode = Episode.objects.select_for_update().get(pk=episode.pk)
    if not episode.is_open:
        raise StateConflict("This episode is already discharged.")
    if episode.prescriptions.filter(status__in=("active", "paused")).exists():
        raise StateConflict("This episode has an active or paused plan; complete or cancel it first.")
    bounds.check_dates(discharged_on=discharged_on)
    episode.discharged_on = discharged_on or episode.patient.local_today()
    _save(episode, update_fields=["discharged_on", "updated_at"])
    return episode


# --- Diagnoses and mobility ---------------------------------------------------------------------------


@transaction.atomic
def patient_diagnosis_add(
    *,
    patient: Patient,
    by,
    diagnosis: Diagnosis,
    phase: str = "",
    qualifier: str = "",
    onset_date: dt.date | None = None,
    resolved_date: dt.date | None = None,
    episode: Episode | None = None,
) -> PatientDiagnosis:
    require(Action.RECORD_DIAGNOSIS, by, patient.clinic_id)
    patient = _live(patient)
    if episode is not None and episode.patient_id != patient.pk:
        raise ValidationError({"episode": "That episode belongs to another patient."})
    bounds.check_dates(onset_date=onset_date, resolved_date=resolved_date)
    row = PatientDiagnosis(
        patient=patient,
        episode=episode,
        diagnosis=diagnosis,
        phase=phase,
        qualifier=qualifier,
        onset_date=onset_date,
        resolved_date=resolved_date,
        recorded_by=by,
    )
    _check_qualifier(row, patient.clinic_id)
    _save(row)
    _fact_changed(signals.diagnosis_changed, "diagnosis added", patient_id=patient.pk, patient_diagnosis_id=row.pk)
    return row


def _check_qualifier(row: PatientDiagnosis, clinic_id: int) -> None:
    """A qualifier must be one the catalog knows for this diagnosis (a contraindication row names it).

    Unknown means the risky case: an unrecorded qualifier applies every qualified row of the diagnosis. A
    recorded qualifier lifts the rows of the others, so one that does not belong to the diagnosis (an
    "anterior approach" on a spinal surgery) would lift them all: refused.
    """
    if not row.qualifier:
        return
    known = sorted(
        set(
            Contraindication.objects.visible_to(clinic_id)
            .filter(diagnosis_id=row.diagnosis_id)
            .exclude(qualifier="")
            .values_list("qualifier", flat=True)
        )
    )
    if row.qualifier not in known:
        allowed = ", ".join(q.replace("_", " ") for q in known) or "none (leave it empty)"
        raise ValidationError(
            {"qualifier": f"Not a qualifier of {row.diagnosis.code} {row.diagnosis.name}. Choose one of: {allowed}."}
        )


DIAGNOSIS_CHANGEABLE = {"phase", "qualifier", "onset_date", "resolved_date"}


@transaction.atomic
def patient_diagnosis_update(*, patient_diagnosis: PatientDiagnosis, by, **fields: Any) -> PatientDiagnosis:
    """Change phase, qualifier, onset or resolution (the diagnosis code itself is never rewritten)."""
    require(Action.RECORD_DIAGNOSIS, by, patient_diagnosis.patient.clinic_id)
    unknown = set(fields) - DIAGNOSIS_CHANGEABLE
    if unknown:
        raise ValidationError(dict.fromkeys(sorted(unknown), "This field cannot be changed."))
    bounds.check_dates(onset_date=fields.get("onset_date"), resolved_date=fields.get("resolved_date"))
    row = PatientDiagnosis.objects.select_for_update().get(pk=patient_diagnosis.pk)
    for name, value in fields.items():
        setattr(row, name, value)
    if "qualifier" in fields:
        _check_qualifier(row, row.patient.clinic_id)
    _save(row)
    _fact_changed(
        signals.diagnosis_changed, "diagnosis changed", patient_id=row.patient_id, patient_diagnosis_id=row.pk
    )
    return row


@transaction.atomic
def mobility_assess(
    *, patient: Patient, by, level: MobilityLevel, assessed_at: dt.datetime | None = None, notes: str = ""
) -> MobilityAssessment:
    """Record an assessment; the latest one is the patient's current mobility."""
    require(Action.ASSESS_MOBILITY, by, patient.clinic_id)
    patient = _live(patient)
    assessment = MobilityAssessment(
        patient=patient, level=level, assessed_by=by, assessed_at=assessed_at or timezone.now(), notes=notes
    )
    if assessment.assessed_at > timezone.now() + dt.timedelta(minutes=5):
        raise ValidationError({"assessed_at": "An assessment cannot be in the future."})
    bounds.check_dates(assessed_at=assessment.assessed_at.astimezone(dt.UTC).date())  # no zone: year 1 overflows
    _save(assessment)
    _fact_changed(signals.mobility_changed, "mobility assessed", patient_id=patient.pk, assessment_id=assessment.pk)
    return assessment


# --- Clearances ---------------------------------------------------------------------------------------


@transaction.atomic
def clearance_record(
    *,
    patient: Patient,
    by,
    professional_name: str,
    profession: str,
    status: str,
    valid_from: dt.date,
    valid_until: dt.date,
    restricted_tags: Iterable[MovementTag] = (),
    document_reference: str = "",
    notes: str = "",
) -> Clearance:
    """Record a clearance letter. A later clearance supersedes earlier ones from its validity on.

    Its dates lie between 1900 and 2999 and it is valid for at most ``bounds.MAX_CLEARANCE_YEARS`` years.
    """
    require(Action.RECORD_CLEARANCE, by, patient.clinic_id)
    tags = list(restricted_tags)
    clearance = clearance_record_check(
        patient=patient,
        by=by,
        professional_name=professional_name,
        profession=profession,
        status=status,
        valid_from=valid_from,
        valid_until=valid_until,
        restricted_tags=tags,
        document_reference=document_reference,
        notes=notes,
    )
    _write(clearance)
    clearance.restricted_tags.set(tags)
    _fact_changed(
        signals.clearance_changed, "clearance recorded", patient_id=clearance.patient_id, clearance_id=clearance.pk
    )
    return clearance


def clearance_record_check(
    *,
    patient: Patient,
    by,
    professional_name: str,
    profession: str,
    status: str,
    valid_from: dt.date,
    valid_until: dt.date,
    restricted_tags: Iterable[MovementTag] = (),
    document_reference: str = "",
    notes: str = "",
) -> Clearance:
    """What ``clearance_record`` refuses, without writing: the validated clearance it would record (its restricted
    movements aside), or the refusal.

    It locks the patient's row: call it in the transaction that writes (as the admin's form does, whose validation
    is the service's own checks), and the patient cannot be archived between the check and the write.
    """
    patient = _live(patient)
    bounds.check_dates(valid_from=valid_from, valid_until=valid_until)
    if valid_until > bounds.years_after(valid_from, bounds.MAX_CLEARANCE_YEARS):
        raise ValidationError(
            {"valid_until": f"A clearance is valid for at most {bounds.MAX_CLEARANCE_YEARS} years; record a new one."}
        )
    tags = list(restricted_tags)
    if status == Clearance.Status.RESTRICTED and not tags:
        raise ValidationError({"restricted_tags": "A restricted clearance names the movements it restricts."})
    if status == Clearance.Status.CLEARED and tags:
        raise ValidationError({"restricted_tags": "A full clearance has no restrictions; use status restricted."})
    clearance = Clearance(
        patient=patient,
        professional_name=professional_name,
        profession=profession,
        status=status,
        valid_from=valid_from,
        valid_until=valid_until,
        document_reference=document_reference,
        notes=notes,
        recorded_by=by,
        recorded_at=timezone.now(),
    )
    clearance.full_clean()
    return clearance


@transaction.atomic
def clearance_revoke(*, clearance: Clearance, by, reason: str) -> Clearance:
    """Revoke a clearance from now on; it no longer counts for today or any later day."""
    require(Action.REVOKE_CLEARANCE, by, clearance.patient.clinic_id)
    clearance = Clearance.objects.select_for_update().get(pk=clearance.pk)
    if clearance.is_revoked:
        raise StateConflict("This clearance is already revoked.")
    if not reason or not reason.strip():
        raise ValidationError({"reason": "Say why the clearance is revoked."})
    bounds.check_reason("reason", reason.strip())
    clearance.revoked_at = timezone.now()
    clearance.revoked_by = by
    clearance.revoke_reason = reason.strip()
    _save(clearance, update_fields=["revoked_at", "revoked_by", "revoke_reason"])
    _fact_changed(
        signals.clearance_changed, "clearance revoked", patient_id=clearance.patient_id, clearance_id=clearance.pk
    )
    return clearance


# --- Portal -------------------------------------------------------------------------------------------

PORTAL_PREFERENCE_FIELDS = {
    "preferred_channel", "email_consent", "sms_consent", "quiet_hours_start", "quiet_hours_end", "timezone",
}  # fmt: skip


@transaction.atomic
def patient_preferences_update(*, patient: Patient, by, **fields: Any) -> Patient:
    """The patient, or their guardian or caregiver, changes reminder channel, consent, quiet hours or zone.

    Consent changes are timestamped. Withdrawing consent is never refused: if it withdraws the preferred
    channel and no other channel is chosen in the same change, reminders fall back to none. As
    ``patient_update``: a zone change announces ``patient_zone_changed`` (future sessions are re-timed),
    a contact or reminder change ``patient_preferences_changed``.
    """
    require_portal_access(by, patient.pk, doing="change these preferences")
    return _apply_changes(patient, fields, allowed=PORTAL_PREFERENCE_FIELDS)


def require_portal_access(user, patient_id: int, *, doing: str = "do this") -> None:
    """Raise PermissionDenied unless ``user`` is an active portal user granted access to the patient."""
    allowed = (
        user is not None
        and getattr(user, "is_authenticated", False)
        and user.is_active
        and PortalAccess.objects.filter(user=user, patient_id=patient_id, revoked_at__isnull=True).exists()
    )
    if not allowed:
        raise PermissionDenied(f"Only the patient, or their guardian or caregiver, may {doing}.")
