"""Staff endpoints for sessions, safety flags and a patient's adherence, scoped to the caller's clinic."""

from __future__ import annotations

import django_filters
from django import forms
from django.shortcuts import get_object_or_404
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema, extend_schema_field
from rest_framework import serializers
from rest_framework.response import Response

from clinic.bounds import MAX_REASON_LENGTH
from clinic.policy import Action
from patients.api.base import StaffAPIView, StaffListView
from patients.models import Patient
from prescriptions import services
from prescriptions.api.measures import InstrumentOut
from prescriptions.models import SafetyFlag, Session
from prescriptions.selectors.adherence import (
    DEFAULT_WINDOW_DAYS,
    MAX_WINDOW_DAYS,
    TREND_THRESHOLD,
    Trend,
    adherence_window,
    patient_adherence,
)
from prescriptions.selectors.flags import clinic_flags, clinic_sessions

# --- Filters --------------------------------------------------------------------------------------


@extend_schema_field(OpenApiTypes.INT)
class IdFilter(django_filters.NumberFilter):
    field_class = forms.IntegerField


class StaffSessionFilter(django_filters.FilterSet):
    patient = IdFilter(field_name="prescription__patient_id", help_text="A patient's id.")
    prescription = IdFilter(field_name="prescription_id", help_text="A prescription's id.")
    status = django_filters.MultipleChoiceFilter(
        choices=Session.Status.choices, distinct=False, help_text="One or more statuses."
    )
    date_from = django_filters.DateFilter(
        field_name="local_date", lookup_expr="gte", help_text="First local date (the patient's zone), inclusive."
    )
    date_to = django_filters.DateFilter(
        field_name="local_date", lookup_expr="lte", help_text="Last local date (the patient's zone), inclusive."
    )

    class Meta:
        model = Session
        fields: list[str] = []


class SafetyFlagFilter(django_filters.FilterSet):
    kind = django_filters.MultipleChoiceFilter(
        choices=SafetyFlag.Kind.choices, distinct=False, help_text="One or more kinds."
    )
    status = django_filters.MultipleChoiceFilter(
        choices=SafetyFlag.Status.choices, distinct=False, help_text="One or more statuses."
    )
    severity = django_filters.MultipleChoiceFilter(
        choices=SafetyFlag.Severity.choices, distinct=False, help_text="One or more severities."
    )
    patient = IdFilter(field_name="patient_id", help_text="A patient's id.")

    class Meta:
        model = SafetyFlag
        fields: list[str] = []


# --- Serializers ----------------------------------------------------------------------------------


@extend_schema_field(
    {"type": "string", "pattern": r"^([01][0-9]|2[0-3]):[0-5][0-9]:[0-5][0-9]$", "example": "08:00:00"}
)
class WallClockTimeField(serializers.TimeField):
    """A local time of day without an offset: JSON Schema's ``time`` format would demand one."""


class StaffSessionOut(serializers.Serializer):
    id = serializers.IntegerField()
    patient = serializers.IntegerField(source="prescription.patient_id")
    patient_name = serializers.CharField(source="prescription.patient.full_name")
    prescription = serializers.IntegerField(source="prescription_id")
    local_date = serializers.DateField(help_text="In the patient's zone.")
    local_time = WallClockTimeField(help_text="In the patient's zone.")
    scheduled_at = serializers.DateTimeField()
    status = serializers.ChoiceField(choices=Session.Status.choices)
    unresolved_flags = serializers.ListField(
        child=serializers.IntegerField(),
        source="flag_ids",
        help_text="Ids of the unresolved safety flags listing this session (a blocked session stays blocked "
        "while any lists it).",
    )


@extend_schema_field({"type": "string", "nullable": True})
class UserNameField(serializers.Field):
    """A user's full name, or their username when they have none."""

    def to_representation(self, user) -> str:
        return user.get_full_name() or user.get_username()


class SafetyFlagOut(serializers.Serializer):
    id = serializers.IntegerField()
    patient = serializers.IntegerField(source="patient_id")
    patient_name = serializers.CharField(source="patient.full_name")
    prescription = serializers.IntegerField(source="prescription_id", allow_null=True)
    kind = serializers.ChoiceField(choices=SafetyFlag.Kind.choices)
    cause_key = serializers.CharField(help_text="What raised it, e.g. prescription:12 or log:77.")
    severity = serializers.ChoiceField(choices=SafetyFlag.Severity.choices)
    status = serializers.ChoiceField(choices=SafetyFlag.Status.choices)
    summary = serializers.CharField()
    details = serializers.JSONField()
    sessions = serializers.ListField(
        child=serializers.IntegerField(), source="session_ids", help_text="Ids of the sessions the flag lists."
    )
    detected_at = serializers.DateTimeField()
    acknowledged_by = serializers.IntegerField(source="acknowledged_by_id", allow_null=True)
    acknowledged_by_name = UserNameField(source="acknowledged_by")
    acknowledged_at = serializers.DateTimeField(allow_null=True)
    resolved_by = serializers.IntegerField(
        source="resolved_by_id", allow_null=True, help_text="Null when open or resolved automatically."
    )
    resolved_by_name = UserNameField(source="resolved_by")
    resolved_at = serializers.DateTimeField(allow_null=True)
    resolution = serializers.CharField(help_text="Empty until resolved.")


class SafetyFlagResolveIn(serializers.Serializer):
    resolution = serializers.CharField(max_length=MAX_REASON_LENGTH, help_text="How the flag was resolved.")


def _keyword_fields(fields: dict, **renamed: serializers.Field) -> dict:
    """Serializer fields named ``from`` and ``to`` (Python keywords can't be declared in a class body), first."""
    return {**renamed, **fields}


class AdherenceWindowIn(serializers.Serializer):
    def get_fields(self) -> dict:
        return _keyword_fields(
            super().get_fields(),
            **{
                "from": serializers.DateField(
                    required=False,
                    help_text=f"First local date, inclusive; default: {DEFAULT_WINDOW_DAYS - 1} days before `to`.",
                ),
                "to": serializers.DateField(
                    required=False,
                    help_text=f"Last local date, inclusive; default: the patient's local today. The window spans at "
                    f"most {MAX_WINDOW_DAYS} days.",
                ),
            },
        )


class AdherencePainDayOut(serializers.Serializer):
    date = serializers.DateField(help_text="The sessions' local date.")
    logs = serializers.IntegerField()
    pain_before = serializers.FloatField(help_text="Average NPRS (0–10) before the session.")
    pain_after = serializers.FloatField(help_text="Average NPRS (0–10) after the session.")


class AdherenceLatestMeasureOut(serializers.Serializer):
    instrument = InstrumentOut()
    taken_at = serializers.DateTimeField()
    score = serializers.DecimalField(max_digits=5, decimal_places=1)
    percent = serializers.DecimalField(max_digits=5, decimal_places=1, allow_null=True)
    change = serializers.DecimalField(
        max_digits=5, decimal_places=1, allow_null=True, help_text="From the episode's baseline; null at baseline."
    )
    improved = serializers.BooleanField(help_text="A meaningful improvement from baseline.")
    worsened = serializers.BooleanField(help_text="A meaningful worsening from baseline.")
    threshold = serializers.CharField(allow_blank=True, help_text="The meaningful change it was judged by.")


class AdherenceMeasuresOut(serializers.Serializer):
    due = serializers.IntegerField(help_text="Outcome measures that fell due in the window, still waiting.")
    done = serializers.IntegerField(help_text="Those answered.")
    missed = serializers.IntegerField(help_text="Those left unanswered until the next fell due.")
    latest = AdherenceLatestMeasureOut(
        many=True,
        help_text="Per instrument (by code), the latest response taken by the window's last day: its score, change "
        "from baseline and whether it crossed the meaningful change.",
    )


class AdherenceOut(serializers.Serializer):
    patient = serializers.IntegerField(source="patient_id")
    scheduled = serializers.IntegerField(
        help_text="Sessions in the window that were due: completed, missed or skipped ones, and scheduled ones "
        "whose time has come. Blocked and cancelled sessions were never due."
    )
    completed = serializers.IntegerField()
    missed = serializers.IntegerField()
    skipped = serializers.IntegerField()
    blocked = serializers.IntegerField()
    cancelled = serializers.IntegerField()
    completion_rate = serializers.FloatField(
        allow_null=True, help_text="completed / (completed + missed + skipped), 0–1; null when that is 0."
    )
    pain = AdherencePainDayOut(many=True, source="pain_days", help_text="Per logged day, oldest first.")
    first_third_pain = serializers.FloatField(
        allow_null=True,
        help_text="Mean NPRS ((before + after) / 2) of the first third of the logs in the window, in session "
        "order; null with fewer than three logs.",
    )
    last_third_pain = serializers.FloatField(allow_null=True, help_text="The same for the last third of the logs.")
    trend = serializers.ChoiceField(
        choices=Trend.CHOICES,
        allow_null=True,
        help_text=f"`improving` when last_third_pain is at least {TREND_THRESHOLD:g} NPRS point below "
        f"first_third_pain, `worsening` when at least {TREND_THRESHOLD:g} above, `stable` otherwise; null with "
        "fewer than three logs.",
    )
    measures = AdherenceMeasuresOut(help_text="The outcome measures (issue 18) of the window.")

    def get_fields(self) -> dict:
        return _keyword_fields(
            super().get_fields(),
            **{
                "from": serializers.DateField(source="start", help_text="First local date of the window."),
                "to": serializers.DateField(source="end", help_text="Last local date of the window."),
            },
        )


# --- Views ----------------------------------------------------------------------------------------


class StaffSessionListView(StaffListView):
    shows_patients = "objects"  # each session's patient
    serializer_class = StaffSessionOut
    filterset_class = StaffSessionFilter

    def patient_of(self, session: Session) -> int:
        return session.prescription.patient_id

    def get_queryset(self):
        return clinic_sessions(clinic_id=self.clinic_id)

    @extend_schema(summary="Sessions of the clinic's patients")
    def get(self, request, *args, **kwargs):
        return super().get(request, *args, **kwargs)


class SafetyFlagListView(StaffListView):
    shows_patients = "objects"  # each flag's patient
    serializer_class = SafetyFlagOut
    filterset_class = SafetyFlagFilter

    def get_queryset(self):
        return clinic_flags(clinic_id=self.clinic_id)

    @extend_schema(summary="Safety flags of the clinic's patients, newest first")
    def get(self, request, *args, **kwargs):
        return super().get(request, *args, **kwargs)


class SafetyFlagDetailView(StaffAPIView):
    shows_patients = "objects"  # the flag's patient

    @extend_schema(responses={200: SafetyFlagOut}, summary="A safety flag")
    def get(self, request, flag_id: int):
        flag = get_object_or_404(clinic_flags(clinic_id=self.clinic_id), pk=flag_id)
        self.shown(flag)
        return Response(SafetyFlagOut(flag).data)


class SafetyFlagAcknowledgeView(StaffAPIView):
    write_action = Action.ACKNOWLEDGE_FLAG

    @extend_schema(
        request=None,
        responses={200: SafetyFlagOut},
        summary="Acknowledge an open flag (front desk or therapist)",
        description="409 when the flag is not open.",
    )
    def post(self, request, flag_id: int):
        flags = clinic_flags(clinic_id=self.clinic_id)
        flag = services.flag_acknowledge(flag=get_object_or_404(flags, pk=flag_id), by=request.user)
        return Response(SafetyFlagOut(flags.get(pk=flag.pk)).data)


class SafetyFlagResolveView(StaffAPIView):
    write_action = Action.RESOLVE_FLAG

    @extend_schema(
        request=SafetyFlagResolveIn,
        responses={200: SafetyFlagOut},
        summary="Resolve a flag, saying how (therapist)",
        description="Future blocked sessions of an active plan that no other unresolved flag lists are "
        "scheduled again. 409 when the flag is already resolved.",
    )
    def post(self, request, flag_id: int):
        flags = clinic_flags(clinic_id=self.clinic_id)
        flag = get_object_or_404(flags, pk=flag_id)
        data = SafetyFlagResolveIn(data=request.data)
        data.is_valid(raise_exception=True)
        flag = services.flag_resolve(flag=flag, by=request.user, **data.validated_data)
        return Response(SafetyFlagOut(flags.get(pk=flag.pk)).data)


class PatientAdherenceView(StaffAPIView):
    shows_patients = "url"
    read_action = Action.VIEW_ADHERENCE

    @extend_schema(
        parameters=[AdherenceWindowIn],
        responses={200: AdherenceOut},
        summary="A patient's adherence and pain trend over a window of local dates (therapist, clinic admin)",
        description=f"Default window: the last {DEFAULT_WINDOW_DAYS} days up to the patient's local today. "
        f"400 when `from` is after `to` or the window is longer than {MAX_WINDOW_DAYS} days.",
    )
    def get(self, request, patient_id: int):
        patient = get_object_or_404(Patient.objects.filter(clinic_id=self.clinic_id), pk=patient_id)
        query = AdherenceWindowIn(data=request.query_params)
        query.is_valid(raise_exception=True)
        start, end = adherence_window(
            patient=patient, start=query.validated_data.get("from"), end=query.validated_data.get("to")
        )
        return Response(AdherenceOut(patient_adherence(patient=patient, start=start, end=end)).data)
