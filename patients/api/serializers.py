from __future__ import annotations

from django.contrib.auth import get_user_model
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from clinic.api.inputs import plausible_date
from clinic.bounds import MAX_REASON_LENGTH
from clinic.models import (
    Diagnosis,
    MobilityLevel,
    MovementTag,
    Phase,
    Profession,
    Qualifier,
    ZoneFieldMixin,
)
from patients.models import (
    Channel,
    Clearance,
    Episode,
    MobilityAssessment,
    Patient,
    PatientDiagnosis,
    PortalAccess,
)
from patients.selectors import self_login_taken


class PatientOut(serializers.ModelSerializer):
    class Meta:
        model = Patient
        fields = [
            "id", "mrn", "first_name", "last_name", "date_of_birth", "timezone", "email", "phone",
            "email_consent", "email_consent_at", "sms_consent", "sms_consent_at", "preferred_channel",
            "quiet_hours_start", "quiet_hours_end", "primary_therapist", "archived_at", "created_at", "updated_at",
        ]  # fmt: skip
        read_only_fields = fields


@extend_schema_field(OpenApiTypes.INT)
class TherapistField(serializers.PrimaryKeyRelatedField):
    """A therapist of the caller's clinic (others are 'does not exist')."""

    def get_queryset(self):
        membership = getattr(self.context["request"], "membership", None)
        clinic_id = membership.clinic_id if membership else None
        return get_user_model().objects.filter(membership__clinic_id=clinic_id, membership__role="therapist")


class PatientIn(ZoneFieldMixin, serializers.Serializer):
    mrn = serializers.CharField(max_length=32)
    first_name = serializers.CharField(max_length=100)
    last_name = serializers.CharField(max_length=100)
    date_of_birth = serializers.DateField(
        validators=[plausible_date], help_text="From 1900-01-01 to today (in the patient's zone)."
    )
    timezone = serializers.CharField(max_length=64)  # ZoneFieldMixin
    email = serializers.EmailField(required=False, allow_blank=True)
    phone = serializers.CharField(max_length=32, required=False, allow_blank=True)
    email_consent = serializers.BooleanField(required=False)
    sms_consent = serializers.BooleanField(required=False)
    preferred_channel = serializers.ChoiceField(choices=Channel.choices, required=False)
    quiet_hours_start = serializers.TimeField(required=False, allow_null=True)
    quiet_hours_end = serializers.TimeField(required=False, allow_null=True)
    primary_therapist = TherapistField(required=False, allow_null=True)


# --- A patient's clinical record: episodes, diagnoses, mobility, clearances, portal access ------------------


def _clinic_id(context: dict) -> int | None:
    membership = getattr(context["request"], "membership", None)
    return membership.clinic_id if membership else None


class EpisodeOut(serializers.ModelSerializer):
    is_open = serializers.BooleanField(read_only=True)

    class Meta:
        model = Episode
        fields = [
            "id", "patient", "title", "opened_on", "discharged_on", "is_open", "primary_therapist",
            "created_at", "updated_at",
        ]  # fmt: skip
        read_only_fields = fields


class EpisodeIn(serializers.Serializer):
    title = serializers.CharField(max_length=200)
    opened_on = serializers.DateField(
        required=False, validators=[plausible_date], help_text="Defaults to today in the patient's zone."
    )
    primary_therapist = TherapistField(required=False, allow_null=True, help_text="Defaults to the caller.")


class EpisodeDischargeIn(serializers.Serializer):
    discharged_on = serializers.DateField(
        required=False, validators=[plausible_date], help_text="Defaults to today in the patient's zone."
    )


@extend_schema_field(
    {
        "oneOf": [{"type": "integer"}, {"type": "string"}],
        "description": "The diagnosis's ICD-10-CM code (e.g. M51.26) or its id.",
    }
)
class DiagnosisField(serializers.Field):
    """A catalog diagnosis by ICD-10-CM code or by id."""

    default_error_messages = {
        "invalid": "Give a diagnosis code (e.g. M51.26) or id.",
        "does_not_exist": "No diagnosis with the code or id {value}.",
    }

    def to_internal_value(self, data) -> Diagnosis:
        if isinstance(data, bool) or not isinstance(data, int | str) or not str(data).strip():
            self.fail("invalid")
        value = str(data).strip()
        lookup = {"pk": int(value)} if value.isdigit() else {"code": value.upper()}
        try:
            return Diagnosis.objects.get(**lookup)
        except (Diagnosis.DoesNotExist, OverflowError):
            self.fail("does_not_exist", value=value)

    def to_representation(self, value: Diagnosis) -> int:
        return value.pk


@extend_schema_field(OpenApiTypes.INT)
class ClinicEpisodeField(serializers.PrimaryKeyRelatedField):
    """An episode of the caller's clinic; the service refuses one of another patient."""

    def get_queryset(self):
        return Episode.objects.filter(patient__clinic_id=_clinic_id(self.context))


class PatientDiagnosisOut(serializers.ModelSerializer):
    code = serializers.CharField(source="diagnosis.code", read_only=True)
    name = serializers.CharField(source="diagnosis.name", read_only=True)

    class Meta:
        model = PatientDiagnosis
        fields = [
            "id", "patient", "diagnosis", "code", "name", "phase", "qualifier", "onset_date", "resolved_date",
            "episode", "recorded_by", "created_at", "updated_at",
        ]  # fmt: skip
        read_only_fields = fields


class PatientDiagnosisChangeIn(serializers.Serializer):
    phase = serializers.ChoiceField(choices=Phase.choices, required=False, allow_blank=True)
    qualifier = serializers.ChoiceField(choices=Qualifier.choices, required=False, allow_blank=True)
    onset_date = serializers.DateField(required=False, allow_null=True, validators=[plausible_date])
    resolved_date = serializers.DateField(required=False, allow_null=True, validators=[plausible_date])

    def validate(self, attrs: dict) -> dict:
        if not attrs:
            raise serializers.ValidationError("Give at least one of phase, qualifier, onset_date, resolved_date.")
        return attrs


class PatientDiagnosisIn(PatientDiagnosisChangeIn):
    diagnosis = DiagnosisField()
    episode = ClinicEpisodeField(required=False, allow_null=True)

    def validate(self, attrs: dict) -> dict:
        return attrs


class MobilityAssessmentOut(serializers.ModelSerializer):
    level = serializers.IntegerField(source="level.level", read_only=True, help_text="1 (very limited) … 5.")
    level_name = serializers.CharField(source="level.name", read_only=True)

    class Meta:
        model = MobilityAssessment
        fields = ["id", "patient", "level", "level_name", "assessed_by", "assessed_at", "notes"]
        read_only_fields = fields


class MobilityAssessmentIn(serializers.Serializer):
    level = serializers.IntegerField(min_value=1, max_value=5, help_text="Mobility level 1 (very limited) … 5.")
    assessed_at = serializers.DateTimeField(required=False, help_text="Defaults to now.")
    notes = serializers.CharField(required=False, allow_blank=True)

    def validate_level(self, value: int) -> MobilityLevel:
        try:
            return MobilityLevel.objects.get(level=value)
        except MobilityLevel.DoesNotExist:
            raise serializers.ValidationError(f"No mobility level {value}.") from None


class ClearanceOut(serializers.ModelSerializer):
    restricted_tags = serializers.SlugRelatedField(
        many=True, read_only=True, slug_field="slug", help_text="Movement tags the professional ruled out."
    )
    is_revoked = serializers.BooleanField(read_only=True)
    effective_today = serializers.SerializerMethodField(
        help_text="Whether this is the clearance in force today (the patient's local date)."
    )

    class Meta:
        model = Clearance
        fields = [
            "id", "patient", "professional_name", "profession", "status", "restricted_tags", "valid_from",
            "valid_until", "document_reference", "notes", "recorded_by", "recorded_at", "is_revoked", "revoked_at",
            "revoked_by", "revoke_reason", "effective_today",
        ]  # fmt: skip
        read_only_fields = fields

    def get_effective_today(self, clearance: Clearance) -> bool:
        # Computed once per request by the view, never per row.
        return clearance.pk == self.context.get("effective_clearance_id")


class ClearanceIn(serializers.Serializer):
    professional_name = serializers.CharField(max_length=200)
    profession = serializers.ChoiceField(choices=Profession.choices)
    status = serializers.ChoiceField(choices=Clearance.Status.choices)
    valid_from = serializers.DateField(validators=[plausible_date])
    valid_until = serializers.DateField(
        validators=[plausible_date], help_text="At most 5 years after valid_from (a longer letter: record a new one)."
    )
    restricted_tags = serializers.SlugRelatedField(
        many=True,
        slug_field="slug",
        queryset=MovementTag.objects.all(),
        required=False,
        help_text="Movement-tag slugs (e.g. lumbar_flexion); only with status restricted.",
    )
    document_reference = serializers.CharField(max_length=200, required=False, allow_blank=True)
    notes = serializers.CharField(required=False, allow_blank=True)


class ClearanceRevokeIn(serializers.Serializer):
    reason = serializers.CharField(max_length=MAX_REASON_LENGTH, help_text="Why the clearance no longer holds.")


class PatientPortalAccessOut(serializers.ModelSerializer):
    """A grant; a revoked one is kept for the record (``revoked_at`` set) and gives nothing."""

    username = serializers.CharField(source="user.username", read_only=True)
    email = serializers.CharField(source="user.email", read_only=True)

    class Meta:
        model = PortalAccess
        fields = ["id", "patient", "user", "username", "email", "relationship", "created_at", "revoked_at"]
        read_only_fields = fields


class PortalAccessRevokeIn(serializers.Serializer):
    reason = serializers.CharField(
        max_length=MAX_REASON_LENGTH, help_text="Why the access ends, e.g. the patient turned 18."
    )


class PortalPasswordResetOut(serializers.Serializer):
    temporary_password = serializers.CharField(
        help_text="Shown this once (the response is not cached); the login's API tokens have ended."
    )


class PatientPortalAccessIn(serializers.Serializer):
    """Without a password: grant access to an existing portal login. With one: create the login, then grant."""

    username = serializers.CharField(max_length=150)
    relationship = serializers.ChoiceField(choices=PortalAccess.Relationship.choices)
    password = serializers.CharField(
        write_only=True,
        required=False,
        trim_whitespace=False,
        style={"input_type": "password"},
        help_text="Only to create a new portal login; never returned.",
    )
    email = serializers.EmailField(required=False, allow_blank=True, help_text="Only with a new login.")

    def validate(self, attrs: dict) -> dict:
        # Field-named answers for what the model's constraints would refuse anyway (the service still checks).
        patient = self.context["patient"]
        if self_login_taken(patient=patient, relationship=attrs["relationship"]):
            raise serializers.ValidationError({"relationship": "This patient already has their own portal login."})
        if "password" in attrs:
            return attrs
        if attrs.get("email"):
            raise serializers.ValidationError({"email": "An email is only set on a new login (give a password)."})
        return attrs  # which existing logins may be granted is the service's rule (portal_access_grant)
