from __future__ import annotations

from django.contrib.auth import get_user_model
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from clinic.models import validate_timezone
from patients.models import Channel, Patient


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


class PatientIn(serializers.Serializer):
    mrn = serializers.CharField(max_length=32)
    first_name = serializers.CharField(max_length=100)
    last_name = serializers.CharField(max_length=100)
    date_of_birth = serializers.DateField()
    timezone = serializers.CharField(max_length=64, validators=[validate_timezone])
    email = serializers.EmailField(required=False, allow_blank=True)
    phone = serializers.CharField(max_length=32, required=False, allow_blank=True)
    email_consent = serializers.BooleanField(required=False)
    sms_consent = serializers.BooleanField(required=False)
    preferred_channel = serializers.ChoiceField(choices=Channel.choices, required=False)
    quiet_hours_start = serializers.TimeField(required=False, allow_null=True)
    quiet_hours_end = serializers.TimeField(required=False, allow_null=True)
    primary_therapist = TherapistField(required=False, allow_null=True)
