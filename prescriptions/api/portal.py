"""The patient portal: for users a PortalAccess row grants patients to (self, guardian, caregiver).

Another patient's row is a 404, staff get 403, anonymous callers 401. Every write goes through a service.
"""

from __future__ import annotations

import django_filters
from django import forms
from django.core.exceptions import ValidationError
from django.http import Http404
from django.shortcuts import get_object_or_404
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import generics, serializers, status
from rest_framework.response import Response

from clinic.api.inputs import IdField
from clinic.api.problems import ProblemSerializer
from clinic.models import Clinic, Stretch, ZoneFieldMixin
from patients import services as patient_services
from patients.api.base import PortalAPIView, PortalScoped
from patients.models import Channel, Patient, PortalAccess
from patients.selectors import grants_in_care
from prescriptions.gate import pain
from prescriptions.models import PrescriptionItem, Session
from prescriptions.selectors.portal import portal_plans, portal_sessions
from prescriptions.selectors.red_flags import with_questions
from prescriptions.services.sessions import ANSWERS_MAX, session_log_create, session_skip

PATIENT_PARAMETER = OpenApiParameter(
    "patient",
    OpenApiTypes.INT,
    description="Which patient; required when you may see several (a guardian of two children, say).",
)

# --- Serializers ------------------------------------------------------------------------------------------


class PortalClinicOut(serializers.Serializer):
    name = serializers.CharField()
    phone = serializers.CharField(
        allow_blank=True, help_text="The number to call: the portal's stop message shows it (blank if none on file)."
    )


class PortalPatientOut(serializers.Serializer):
    id = serializers.IntegerField()
    first_name = serializers.CharField()
    last_name = serializers.CharField()
    relationship = serializers.ChoiceField(choices=PortalAccess.Relationship.choices)
    timezone = serializers.CharField()
    clinic = PortalClinicOut(help_text="The patient's clinic: who to call.")


class PortalPainScaleOut(serializers.Serializer):
    """The pain rules' thresholds (prescriptions.gate.pain): a portal asks its questions without a rule of its own."""

    ask_which_hurt_above = serializers.IntegerField(
        help_text="Pain after a session above this (0–10) is more than acceptable: ask which stretches hurt."
    )
    stop_at = serializers.IntegerField(help_text="Pain at or above this (0–10) means stop and call the clinic.")


class PortalMeOut(serializers.Serializer):
    id = serializers.IntegerField()
    username = serializers.CharField()
    email = serializers.EmailField(allow_blank=True)
    first_name = serializers.CharField(allow_blank=True)
    last_name = serializers.CharField(allow_blank=True)
    patients = PortalPatientOut(many=True)
    pain = PortalPainScaleOut()


class PortalStretchOut(serializers.Serializer):
    slug = serializers.SlugField()
    name = serializers.CharField()
    steps = serializers.ListField(child=serializers.CharField())
    position = serializers.ChoiceField(choices=Stretch.Position.choices)
    kind = serializers.ChoiceField(choices=Stretch.Kind.choices)


class PortalPlanItemOut(serializers.Serializer):
    id = serializers.IntegerField()
    order = serializers.IntegerField()
    hold_seconds = serializers.IntegerField(allow_null=True, help_text="Seconds to hold; null for dynamic stretches.")
    reps = serializers.IntegerField()
    sets = serializers.IntegerField()
    side = serializers.ChoiceField(choices=PrescriptionItem.Side.choices)
    notes = serializers.CharField(allow_blank=True)
    progression_text = serializers.CharField(
        allow_blank=True,
        help_text='How the dose grows, e.g. "every 2 weeks: +5 s hold, +1 rep (up to 45 s)"; "" when it stays. The'
        " dose above is the current one: each step makes a new version of the plan.",
    )
    stretch = PortalStretchOut()


class PortalRedFlagQuestionOut(serializers.Serializer):
    slug = serializers.SlugField(help_text="The key of its answer in the log's `answers`.")
    text = serializers.CharField(help_text="Ask it as written; the patient answers yes or no.")


RED_FLAG_QUESTIONS_HELP = (
    "The red-flag questions a log of this session must answer, in the order to ask them: chosen by the patient's "
    "diagnoses on the session's date and the plan's stretches (everyone's, neck plans', pregnancy's, after "
    "surgery's, a hip replacement's)."
)


class PortalPlanSessionOut(serializers.Serializer):
    id = serializers.IntegerField()
    local_date = serializers.DateField(help_text="In the patient's zone.")
    local_time = serializers.TimeField(help_text="In the patient's zone.")
    scheduled_at = serializers.DateTimeField()
    status = serializers.ChoiceField(choices=Session.Status.choices)
    red_flag_questions = PortalRedFlagQuestionOut(many=True, help_text=RED_FLAG_QUESTIONS_HELP)


class PortalPlanOut(serializers.Serializer):
    id = serializers.IntegerField()
    version = serializers.IntegerField(
        help_text="1 as first prescribed; each change by the therapist or dose progression step adds one."
    )
    start_date = serializers.DateField()
    end_date = serializers.DateField(allow_null=True)
    days_of_week = serializers.ListField(child=serializers.IntegerField(), help_text="1 = Monday … 7 = Sunday.")
    times = serializers.ListField(child=serializers.TimeField(), help_text="Local times of day.")
    notes = serializers.CharField(allow_blank=True)
    items = PortalPlanItemOut(many=True)
    sessions = PortalPlanSessionOut(many=True, help_text="Today and the next six days, in the patient's zone.")


class PortalPlanPatientOut(serializers.Serializer):
    id = serializers.IntegerField()
    first_name = serializers.CharField()
    last_name = serializers.CharField()
    timezone = serializers.CharField()


class PortalPlansOut(serializers.Serializer):
    patient = PortalPlanPatientOut()
    local_today = serializers.DateField(help_text="Today in the patient's zone.")
    plans = PortalPlanOut(many=True, help_text="Active plans only.")


class PortalSessionOut(serializers.Serializer):
    id = serializers.IntegerField()
    patient = serializers.IntegerField(source="patient_id")
    prescription = serializers.IntegerField(source="prescription_id")
    local_date = serializers.DateField()
    local_time = serializers.TimeField()
    scheduled_at = serializers.DateTimeField()
    status = serializers.ChoiceField(choices=Session.Status.choices)
    red_flag_questions = PortalRedFlagQuestionOut(many=True, help_text=RED_FLAG_QUESTIONS_HELP)


class PortalSessionLogIn(serializers.Serializer):
    pain_before = serializers.IntegerField(min_value=0, max_value=10, help_text="NPRS 0 (none) – 10 (worst).")
    pain_after = serializers.IntegerField(min_value=0, max_value=10, help_text="NPRS 0 (none) – 10 (worst).")
    difficulty = serializers.IntegerField(
        min_value=1, max_value=5, required=False, allow_null=True, help_text="1 (easy) – 5 (very hard)."
    )
    item_completion = serializers.DictField(
        child=serializers.BooleanField(),
        required=False,
        help_text="Plan item id → done? Only items of this session's plan.",
    )
    hurt_items = serializers.ListField(
        child=IdField(),
        required=False,
        max_length=100,
        help_text="Ids of this session's plan items that hurt (say which when pain after is above 5): the clinic's "
        "flag names them.",
    )
    # Every red-flag question must be answered: an unanswered one is not a "no" (unknown means the risky case).
    answers = serializers.DictField(
        child=serializers.BooleanField(),
        help_text="Question slug → yes (true) or no (false), for exactly the session's `red_flag_questions`. "
        "Required: a question left out, or one the session does not ask, is a 400 naming it (`answers.<slug>`).",
    )
    note = serializers.CharField(required=False, allow_blank=True, max_length=2000)

    def validate_answers(self, value: dict) -> dict:
        if len(value) > ANSWERS_MAX or any(len(slug) > 60 for slug in value):
            raise serializers.ValidationError(
                f"Answer the session's red-flag questions: at most {ANSWERS_MAX} slugs of up to 60 characters."
            )
        return value


class PortalLogSignalOut(serializers.Serializer):
    code = serializers.ChoiceField(choices=[code.value for code in pain.SignalCode], help_text="The rule that fired.")
    severity = serializers.ChoiceField(choices=[urgency.value for urgency in pain.Urgency])
    stop = serializers.BooleanField(help_text="Stop the stretches: the plan is on hold until the clinic calls.")
    advice = serializers.CharField(help_text="What this rule tells the patient.")


class PortalSessionLogOut(serializers.Serializer):
    id = serializers.IntegerField()
    session = serializers.IntegerField()
    logged_at = serializers.DateTimeField()
    pain_before = serializers.IntegerField()
    pain_after = serializers.IntegerField()
    difficulty = serializers.IntegerField(allow_null=True)
    item_completion = serializers.DictField(child=serializers.BooleanField())
    hurt_items = serializers.ListField(child=serializers.IntegerField())
    red_flag_questions = PortalRedFlagQuestionOut(many=True, help_text="The questions asked, as worded.")
    answers = serializers.DictField(child=serializers.BooleanField())
    note = serializers.CharField(allow_blank=True)
    advice = serializers.CharField(
        allow_null=True,
        help_text="What to do now, naming each rule that fired: seek care for a red-flag symptom, stop and call "
        "the clinic at pain 7 or more, do less of a stretch that hurt, and so on. Null when nothing fired.",
    )
    signals = PortalLogSignalOut(many=True, help_text="The rules that fired, most urgent advice first.")


class PortalSessionSkipIn(serializers.Serializer):
    reason = serializers.CharField(required=False, allow_blank=True, max_length=500)


class PortalPreferencesOut(serializers.Serializer):
    patient = serializers.IntegerField(source="pk")
    preferred_channel = serializers.ChoiceField(choices=Channel.choices)
    email = serializers.EmailField(allow_blank=True, help_text="On file at the clinic; ask them to change it.")
    phone = serializers.CharField(allow_blank=True, help_text="On file at the clinic; ask them to change it.")
    email_consent = serializers.BooleanField()
    email_consent_at = serializers.DateTimeField(allow_null=True)
    sms_consent = serializers.BooleanField()
    sms_consent_at = serializers.DateTimeField(allow_null=True)
    quiet_hours_start = serializers.TimeField(allow_null=True)
    quiet_hours_end = serializers.TimeField(allow_null=True)
    timezone = serializers.CharField()


class PortalPreferencesIn(ZoneFieldMixin, serializers.Serializer):
    preferred_channel = serializers.ChoiceField(choices=Channel.choices, required=False)
    email_consent = serializers.BooleanField(required=False)
    sms_consent = serializers.BooleanField(required=False)
    quiet_hours_start = serializers.TimeField(required=False, allow_null=True)
    quiet_hours_end = serializers.TimeField(required=False, allow_null=True)
    timezone = serializers.CharField(max_length=64, required=False)  # ZoneFieldMixin


# --- Filters ----------------------------------------------------------------------------------------------


class IdFilter(django_filters.NumberFilter):
    field_class = forms.IntegerField


class PortalSessionFilter(django_filters.FilterSet):
    patient = IdFilter(field_name="prescription__patient_id", help_text="One of your patients.")
    # "from" and "to" are Python keywords, so they can only be declared through the class namespace.
    locals()["from"] = django_filters.DateFilter(
        field_name="local_date", lookup_expr="gte", help_text="On or after this local date."
    )
    locals()["to"] = django_filters.DateFilter(
        field_name="local_date", lookup_expr="lte", help_text="On or before this local date."
    )
    status = django_filters.MultipleChoiceFilter(choices=Session.Status.choices)

    class Meta:
        model = Session
        fields: list[str] = []


# --- Views ------------------------------------------------------------------------------------------------


class PortalPatientChoice:
    """Endpoints about one patient: ``?patient=`` picks it, and may be left out when the user has only one."""

    def chosen_patient(self) -> Patient:
        patients = self.portal_patients()
        raw = self.request.query_params.get("patient")
        if raw is None or raw == "":
            if len(patients) == 1:
                return patients[0]
            if not patients:
                raise Http404
            raise ValidationError({"patient": "You may see several patients: say which one with ?patient=<id>."})
        try:
            patient_id = int(raw)
        except ValueError:
            raise ValidationError({"patient": "A patient id is a whole number."}) from None
        for patient in patients:
            if patient.pk == patient_id:
                return patient
        raise Http404


class PortalMeView(PortalAPIView):
    shows_patients = "objects"  # the patients listed

    @extend_schema(responses={200: PortalMeOut}, summary="Me and the patients I may see")
    def get(self, request):
        user = request.user
        grants = grants_in_care(self.portal_grants())
        self.shown(*(access.patient for access in grants))
        # One query for the clinics of all the patients (a guardian's children may be at two clinics).
        clinics = Clinic.objects.filter(pk__in={access.patient.clinic_id for access in grants}).in_bulk()
        patients = [
            {
                "id": access.patient.pk,
                "first_name": access.patient.first_name,
                "last_name": access.patient.last_name,
                "relationship": access.relationship,
                "timezone": access.patient.timezone,
                "clinic": {
                    "name": clinics[access.patient.clinic_id].name,
                    "phone": clinics[access.patient.clinic_id].phone,
                },
            }
            for access in grants
        ]
        return Response(
            {
                "id": user.pk,
                "username": user.get_username(),
                "email": user.email,
                "first_name": user.first_name,
                "last_name": user.last_name,
                "patients": patients,
                "pain": {"ask_which_hurt_above": pain.PAIN_ACCEPTABLE_MAX, "stop_at": pain.PAIN_STOP_AT},
            }
        )


class PortalPlansView(PortalPatientChoice, PortalAPIView):
    shows_patients = "objects"  # the chosen patient
    logs_in_read_statement = True  # the hot path (issue 20): the plans' one statement writes the access-log row

    @extend_schema(
        parameters=[PATIENT_PARAMETER],
        responses={200: PortalPlansOut},
        summary="My active plans and this week's sessions",
    )
    def get(self, request):
        patient = self.chosen_patient()
        plans = portal_plans(patient=patient, actor=request.user, logged_as=self.read_logged_as(request))
        self.shown(patient, logged=True)
        return Response(plans)


class PortalSessionListView(PortalScoped, generics.ListAPIView):
    shows_patients = "objects"  # each session's patient (``portal_sessions`` annotates ``patient_id``)
    queryset = Session.objects.none()  # the model, for the schema; get_queryset scopes every request
    serializer_class = PortalSessionOut
    filterset_class = PortalSessionFilter

    def get_queryset(self):
        return portal_sessions(user=self.request.user)

    def paginate_queryset(self, queryset):
        # The page's questions in three queries, whatever its size.
        page = super().paginate_queryset(queryset)
        return None if page is None else with_questions(page)

    @extend_schema(summary="My sessions with their red-flag questions (filter by patient, local date and status)")
    def get(self, request, *args, **kwargs):
        return super().get(request, *args, **kwargs)


def _my_session(request, session_id: int) -> Session:
    return get_object_or_404(portal_sessions(user=request.user), pk=session_id)


class PortalSessionDetailView(PortalAPIView):
    shows_patients = "objects"  # the session's patient

    @extend_schema(responses={200: PortalSessionOut}, summary="One session and the red-flag questions its log asks")
    def get(self, request, session_id: int):
        (session,) = with_questions([_my_session(request, session_id)])
        self.shown(session)
        return Response(PortalSessionOut(session).data)


class PortalSessionLogView(PortalAPIView):
    @extend_schema(
        request=PortalSessionLogIn,
        responses={201: PortalSessionLogOut, 409: ProblemSerializer},
        summary="Log a session: pain, difficulty, what I did and what hurt, the red-flag answers",
    )
    def post(self, request, session_id: int):
        session = _my_session(request, session_id)
        data = PortalSessionLogIn(data=request.data)
        data.is_valid(raise_exception=True)
        outcome = session_log_create(session=session, by=request.user, **data.validated_data)
        log = outcome.log
        body = {
            "id": log.pk,
            "session": log.session_id,
            "logged_at": log.logged_at,
            "pain_before": log.pain_before,
            "pain_after": log.pain_after,
            "difficulty": log.difficulty,
            "item_completion": log.item_completion,
            "hurt_items": log.hurt_items,
            "red_flag_questions": [{"slug": q["slug"], "text": q["text"]} for q in log.red_flag_questions],
            "answers": log.red_flag_answers,
            "note": log.note,
            "advice": outcome.advice,
            "signals": [
                {"code": s.code.value, "severity": s.severity.value, "stop": s.stop, "advice": s.advice}
                for s in sorted(outcome.signals, key=pain.advice_rank)
            ],
        }
        return Response(body, status=status.HTTP_201_CREATED)


class PortalSessionSkipView(PortalAPIView):
    @extend_schema(
        request=PortalSessionSkipIn,
        responses={200: PortalSessionOut, 409: ProblemSerializer},
        summary="Skip a session",
    )
    def post(self, request, session_id: int):
        session = _my_session(request, session_id)
        data = PortalSessionSkipIn(data=request.data)
        data.is_valid(raise_exception=True)
        session_skip(session=session, by=request.user, reason=data.validated_data.get("reason", ""))
        (session,) = with_questions([_my_session(request, session_id)])
        return Response(PortalSessionOut(session).data)


class PortalPreferencesView(PortalPatientChoice, PortalAPIView):
    shows_patients = "objects"  # the chosen patient

    @extend_schema(
        parameters=[PATIENT_PARAMETER], responses={200: PortalPreferencesOut}, summary="My reminder preferences"
    )
    def get(self, request):
        patient = self.chosen_patient()
        self.shown(patient)
        return Response(PortalPreferencesOut(patient).data)

    @extend_schema(
        parameters=[PATIENT_PARAMETER],
        request=PortalPreferencesIn,
        responses={200: PortalPreferencesOut},
        summary="Change my reminder channel, consent, quiet hours or time zone",
    )
    def patch(self, request):
        patient = self.chosen_patient()
        data = PortalPreferencesIn(data=request.data, partial=True, context={"stored_timezone": patient.timezone})
        data.is_valid(raise_exception=True)
        patient = patient_services.patient_preferences_update(patient=patient, by=request.user, **data.validated_data)
        return Response(PortalPreferencesOut(patient).data)
