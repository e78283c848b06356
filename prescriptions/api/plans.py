"""Staff endpoints for prescriptions: drafts, the gate's verdicts, transitions and the safety-check dry run.

Therapists and clinic admins read (front desk has no view of the plan itself, DESIGN §7 minimum necessary);
only therapists write. Another clinic's plan is a 404. An episode or patient id the caller's clinic does not
have is a 400 naming the field (``episode``, ``patient``): in a request body it is bad input, not a URL.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

import django_filters
from drf_spectacular.utils import OpenApiResponse, extend_schema, extend_schema_field
from rest_framework import serializers, status
from rest_framework.exceptions import NotFound
from rest_framework.response import Response

from clinic.api.catalog import DosedItemIn, DosedItemOut, hold_seconds_field
from clinic.api.inputs import IdField, TimesOfDayField, WeekdaysField, plausible_date, validated
from clinic.api.problems import FindingSerializer, SafetyProblemSerializer
from clinic.policy import Action
from patients.api.base import StaffAPIView, StaffListView
from patients.models import Episode, Patient
from prescriptions import dosage, services
from prescriptions.gate import rules
from prescriptions.models import GateEvaluation, GateOverride, Prescription, PrescriptionItem, ProgressionStep
from prescriptions.selectors import progression as progression_selectors
from prescriptions.selectors.plans import clinic_prescriptions, dry_run, prescription_for_staff
from prescriptions.services.progression import progression_step_apply

PROBLEM = "application/problem+json"
SAFETY_409 = {
    (409, PROBLEM): OpenApiResponse(
        SafetyProblemSerializer, description="Refused by the safety gate (with `findings`), or an illegal transition."
    )
}

# --- Out -----------------------------------------------------------------------------------------------


class PrescriptionItemOut(DosedItemOut):
    class Meta:
        model = PrescriptionItem
        fields = [*DosedItemOut.FIELDS[:-2], "dosage", *DosedItemOut.FIELDS[-2:]]  # the dose in words, then the rule
        read_only_fields = fields


class PrescriptionOut(serializers.ModelSerializer):
    items = PrescriptionItemOut(many=True, read_only=True)
    version = serializers.IntegerField(
        read_only=True, help_text="1 for a plan as first prescribed; each amendment or progression step adds one."
    )
    first_version = serializers.PrimaryKeyRelatedField(
        read_only=True, allow_null=True, help_text="The plan's first version (null: this is it)."
    )

    class Meta:
        model = Prescription
        fields = [
            "id", "patient", "episode", "therapist", "status", "start_date", "end_date", "days_of_week", "times",
            "notes", "supersedes", "version", "first_version", "template", "template_version", "materialized_through",
            "activated_at", "ended_at", "created_at", "updated_at", "items",
        ]  # fmt: skip
        read_only_fields = fields


class EvaluatedFindingOut(FindingSerializer):
    item_index = serializers.IntegerField(
        min_value=0,
        allow_null=True,
        help_text="The item's place among the plan's items, from 0 (null in evaluations stored before it was kept).",
    )
    covered = serializers.BooleanField(help_text="Covered by an override or acknowledgement of this plan.")


# "from" is a Python keyword, so the span's fields are declared by name.
GateSpanOut = type(
    "GateSpanOut",
    (serializers.Serializer,),
    {
        "__doc__": "Dates over which the patient's facts, hence the findings, stay the same.",
        "from": serializers.DateField(),
        "until": serializers.DateField(),
        "findings": EvaluatedFindingOut(many=True),
    },
)


class GateEvaluationSummaryOut(serializers.ModelSerializer):
    spans = GateSpanOut(many=True, source="findings", read_only=True)

    class Meta:
        model = GateEvaluation
        fields = [
            "id", "purpose", "evaluated_at", "evaluated_by", "on_date", "through_date", "passed", "catalog_version",
            "spans",
        ]  # fmt: skip
        read_only_fields = fields


class GateOverrideOut(serializers.ModelSerializer):
    class Meta:
        model = GateOverride
        fields = ["id", "item", "kind", "code", "cause", "reason", "by", "at", "carried_from"]
        read_only_fields = fields


class PrescriptionDetailOut(PrescriptionOut):
    latest_evaluation = GateEvaluationSummaryOut(read_only=True, allow_null=True)
    overrides = GateOverrideOut(many=True, read_only=True)

    class Meta(PrescriptionOut.Meta):
        fields = [*PrescriptionOut.Meta.fields, "latest_evaluation", "overrides"]
        read_only_fields = fields


class SafetyCheckFindingOut(FindingSerializer):
    item = serializers.IntegerField(
        allow_null=True, help_text="Always null here: a plan item id, and the dry run's items are not saved."
    )
    item_index = serializers.IntegerField(min_value=0, help_text="The item's place in the request's `items`, from 0.")


class SafetyCheckOut(serializers.Serializer):
    on_date = serializers.DateField()
    passed = serializers.BooleanField(help_text="No findings: nothing to override or acknowledge.")
    findings = SafetyCheckFindingOut(
        many=True, help_text="`item_index` names the request's item; `item` (a plan item id) is null."
    )


class DoseOut(serializers.Serializer):
    hold_seconds = serializers.IntegerField(allow_null=True, help_text="Seconds; null for a stretch without a hold.")
    reps = serializers.IntegerField()
    sets = serializers.IntegerField()


# "from" is a Python keyword, so the change's fields are declared by name.
ProgressionChangeOut = type(
    "ProgressionChangeOut",
    (serializers.Serializer,),
    {
        "__doc__": "One item a step progresses: its place in the plan, its stretch, its dose before and after.",
        "order": serializers.IntegerField(help_text="The item's place in the plan, from 1."),
        "stretch": serializers.CharField(help_text="The stretch's name."),
        "from": DoseOut(),
        "to": DoseOut(),
    },
)


class HeldBecauseOut(serializers.Serializer):
    code = serializers.ChoiceField(choices=ProgressionStep.Condition.choices)
    label = serializers.CharField()


class PlanVersionOut(serializers.Serializer):
    id = serializers.IntegerField()
    version = serializers.IntegerField()
    status = serializers.ChoiceField(choices=Prescription.Status.choices)


class ProgressionStepOut(serializers.ModelSerializer):
    held_because = serializers.SerializerMethodField(help_text="Why it waits for the therapist (empty unless held).")
    changes = ProgressionChangeOut(many=True, read_only=True)
    evidence = serializers.DictField(
        read_only=True,
        help_text="What was weighed: open flags, pain after sessions (the first week's mean and the recent logs'),"
        " adherence over the days before the step, and the gate's blocking findings when it refused.",
    )
    from_version = PlanVersionOut(read_only=True, help_text="The version the step progressed.")
    to_version = PlanVersionOut(
        read_only=True, allow_null=True, help_text="The version it made (live once applied); null while held."
    )

    class Meta:
        model = ProgressionStep
        fields = [
            "id", "on_date", "status", "held_because", "changes", "evidence", "from_version", "to_version",
            "ran_at", "applied_by", "applied_at",
        ]  # fmt: skip
        read_only_fields = fields

    @extend_schema_field(HeldBecauseOut(many=True))
    def get_held_because(self, step: ProgressionStep) -> list[dict[str, str]]:
        labels = dict(ProgressionStep.Condition.choices)
        return [{"code": code, "label": labels.get(code, code)} for code in step.held_because]


class NextStepOut(serializers.Serializer):
    on_date = serializers.DateField(help_text="The next grid date on which an item's dose would change.")
    changes = ProgressionChangeOut(many=True)


class PlanProgressionOut(serializers.Serializer):
    steps = ProgressionStepOut(many=True, help_text="Every step of the plan's versions, newest first.")
    next_step = NextStepOut(
        allow_null=True,
        help_text="The next step of the active plan as things stand, or null (not active, nothing left to progress,"
        " or the plan ends first).",
    )


# --- In ------------------------------------------------------------------------------------------------


class PrescriptionItemIn(DosedItemIn):
    """A stretch and its dosage; an omitted hold, reps or sets takes the stretch's default dosage (an omitted hold
    of a static stretch is at least 30 s for a patient aged 65 or more on the plan's start date)."""

    hold_seconds = hold_seconds_field(
        help_text="Seconds. Omitted: the stretch's default; for a static stretch and a patient aged"
        f" {dosage.OLDER_ADULT_AGE} or more on the start date, at least {dosage.OLDER_ADULT_MIN_HOLD_SECONDS} s"
        " (ACSM)."
    )
    # An omitted hold stays omitted here (DosedItemIn.validate): its default depends on the patient's age (`_items`).


def _items(data: list[dict[str, Any]], *, patient: Patient, start_date: dt.date) -> list[services.ItemIn]:
    """The validated items, an omitted hold filled with its default for ``patient``'s age on ``start_date`` (a 400 on
    ``items[i].progression.max_hold_seconds`` if the item's rule stops below that default)."""
    age = dosage.age_on(patient.date_of_birth, start_date)
    items, errors = [], {}
    for index, item in enumerate(data):
        if "hold_seconds" not in item:
            stretch = item["stretch"]
            hold = dosage.default_hold_seconds(kind=stretch.kind, stretch_default=stretch.default_hold_seconds, age=age)
            item = {**item, "hold_seconds": hold}
            rule = item.get("progression")
            if hold and rule is not None and rule.max_hold_seconds is not None and rule.max_hold_seconds < hold:
                errors[f"items[{index}].progression.max_hold_seconds"] = [
                    f"The most to progress to cannot be below the hold it starts from ({hold} s, the default)."
                ]
        items.append(services.ItemIn(**item))
    if errors:
        raise serializers.ValidationError(errors)
    return items


def _items_field(**kwargs: Any) -> PrescriptionItemIn:
    return PrescriptionItemIn(many=True, min_length=1, max_length=50, **kwargs)


TIMES_HELP = 'Local times of day in the patient\'s zone, e.g. ["08:00", "18:30"].'


class PrescriptionDraftIn(serializers.Serializer):
    """A change to a draft: only the fields given change; ``items``, when given, replace all items."""

    start_date = serializers.DateField(required=False, validators=[plausible_date])
    end_date = serializers.DateField(required=False, allow_null=True, validators=[plausible_date])
    days_of_week = WeekdaysField(required=False, help_text="ISO weekdays: 1 = Monday … 7 = Sunday.")
    times = TimesOfDayField(required=False, help_text=TIMES_HELP)
    notes = serializers.CharField(max_length=5000, required=False, allow_blank=True)
    items = _items_field(required=False)


class PrescriptionIn(PrescriptionDraftIn):
    episode = IdField(help_text="An open episode of a patient of the caller's clinic.")
    start_date = serializers.DateField(validators=[plausible_date])
    days_of_week = WeekdaysField(help_text="ISO weekdays: 1 = Monday … 7 = Sunday.")
    times = TimesOfDayField(help_text=TIMES_HELP)
    items = _items_field()

    def validate_episode(self, value: int) -> Episode:
        episode = (
            Episode.objects.filter(patient__clinic_id=self.context["clinic_id"], pk=value)
            .select_related("patient")
            .first()
        )
        if episode is None:
            raise serializers.ValidationError("No such episode among your clinic's patients.")
        return episode


class PrescriptionOverrideIn(serializers.Serializer):
    """Override a blocking finding: exactly its item, code and cause, with the clinical reason."""

    item = IdField(help_text="The finding's item (a prescription item id).")
    code = serializers.CharField(max_length=40)
    cause = serializers.CharField(max_length=120)
    reason = serializers.CharField(max_length=2000)


class PrescriptionAcknowledgementIn(serializers.Serializer):
    """Acknowledge a warning (``caution``): exactly its item, code and cause."""

    item = IdField(help_text="The finding's item (a prescription item id).")
    code = serializers.CharField(max_length=40)
    cause = serializers.CharField(max_length=120)
    reason = serializers.CharField(max_length=2000, required=False, allow_blank=True)


class PrescriptionActivateIn(serializers.Serializer):
    overrides = PrescriptionOverrideIn(many=True, required=False, max_length=200)
    acknowledgements = PrescriptionAcknowledgementIn(many=True, required=False, max_length=200)


class SafetyCheckIn(serializers.Serializer):
    patient = IdField(help_text="A patient of the caller's clinic.")
    on_date = serializers.DateField(
        required=False, validators=[plausible_date], help_text="Defaults to today in the patient's zone."
    )
    items = _items_field()

    def validate_patient(self, value: int) -> Patient:
        patient = Patient.objects.filter(clinic_id=self.context["clinic_id"], pk=value).first()
        if patient is None:
            raise serializers.ValidationError("No such patient in your clinic.")
        return patient


# --- Filters -------------------------------------------------------------------------------------------


class PrescriptionFilter(django_filters.FilterSet):
    # Plain numbers, not model choices: an id of another clinic must not answer differently from a missing one.
    patient = django_filters.NumberFilter(field_name="patient_id", help_text="Patient id.")
    episode = django_filters.NumberFilter(field_name="episode_id", help_text="Episode id.")
    status = django_filters.ChoiceFilter(choices=Prescription.Status.choices)

    class Meta:
        model = Prescription
        fields = ["patient", "status", "episode"]


# --- Views ---------------------------------------------------------------------------------------------


class PrescriptionScoped:
    read_action = Action.VIEW_PLANS
    write_action = Action.PRESCRIBE

    def input_context(self) -> dict[str, Any]:
        return {"request": self.request, "clinic_id": self.clinic_id}

    def prescription(self, prescription_id: int) -> Prescription:
        prescription = prescription_for_staff(clinic_id=self.clinic_id, pk=prescription_id)
        if prescription is None:
            raise NotFound()
        return prescription

    def detail(self, prescription_id: int, status_code: int = status.HTTP_200_OK) -> Response:
        prescription = self.prescription(prescription_id)
        self.shown(prescription)
        return Response(PrescriptionDetailOut(prescription).data, status=status_code)


class PrescriptionListView(PrescriptionScoped, StaffListView):
    shows_patients = "objects"  # each plan's patient
    serializer_class = PrescriptionOut
    filterset_class = PrescriptionFilter

    def get_queryset(self):
        return clinic_prescriptions(clinic_id=self.clinic_id)

    @extend_schema(summary="The clinic's prescriptions, with their items")
    def get(self, request, *args, **kwargs):
        return super().get(request, *args, **kwargs)

    @extend_schema(request=PrescriptionIn, responses={201: PrescriptionDetailOut}, summary="Create a draft plan")
    def post(self, request):
        data = validated(PrescriptionIn(data=request.data, context=self.input_context()))
        items = _items(data["items"], patient=data["episode"].patient, start_date=data["start_date"])
        prescription = services.prescription_create(by=request.user, **{**data, "items": items})
        return self.detail(prescription.pk, status.HTTP_201_CREATED)


class PrescriptionDetailView(PrescriptionScoped, StaffAPIView):
    shows_patients = "objects"  # the plan's patient (``detail``)

    @extend_schema(responses={200: PrescriptionDetailOut}, summary="A plan, its latest gate evaluation and overrides")
    def get(self, request, prescription_id: int):
        return self.detail(prescription_id)

    @extend_schema(
        request=PrescriptionDraftIn, responses={200: PrescriptionDetailOut}, summary="Change a draft (409 otherwise)"
    )
    def patch(self, request, prescription_id: int):
        prescription = self.prescription(prescription_id)
        data = dict(validated(PrescriptionDraftIn(data=request.data, context=self.input_context())))
        if "items" in data:
            start_date = data.get("start_date", prescription.start_date)
            data["items"] = _items(data["items"], patient=prescription.patient, start_date=start_date)
        services.prescription_update_draft(prescription=prescription, by=request.user, **data)
        return self.detail(prescription_id)


def _waivers(rows: list[dict[str, Any]]) -> list[services.WaiverIn]:
    return [services.WaiverIn(**row) for row in rows]


class PrescriptionActivateView(PrescriptionScoped, StaffAPIView):
    @extend_schema(
        request=PrescriptionActivateIn,
        responses={200: PrescriptionDetailOut, **SAFETY_409},
        summary="Activate a draft if the safety gate allows its start date",
        description=(
            "Runs the gate from the start date (or today) through the scheduling horizon. Every blocking "
            "finding on the first day must be overridden (overridable ones only, with a reason) and every "
            "warning acknowledged, each naming exactly the finding's item, code and cause; else 409 with "
            "`findings`. An override of a finding that does not exist or cannot be overridden is a 400. The "
            "evaluation is stored either way. Activating an amendment completes the plan it supersedes."
        ),
    )
    def post(self, request, prescription_id: int):
        prescription = self.prescription(prescription_id)
        data = validated(PrescriptionActivateIn(data=request.data, context=self.input_context()))
        services.prescription_activate(
            prescription=prescription,
            by=request.user,
            overrides=_waivers(data.get("overrides", [])),
            acknowledgements=_waivers(data.get("acknowledgements", [])),
        )
        return self.detail(prescription_id)


class PrescriptionPauseView(PrescriptionScoped, StaffAPIView):
    @extend_schema(request=None, responses={200: PrescriptionDetailOut}, summary="Pause an active plan")
    def post(self, request, prescription_id: int):
        services.prescription_pause(prescription=self.prescription(prescription_id), by=request.user)
        return self.detail(prescription_id)


class PrescriptionResumeView(PrescriptionScoped, StaffAPIView):
    @extend_schema(
        request=None,
        responses={200: PrescriptionDetailOut, **SAFETY_409},
        summary="Resume a paused plan if the safety gate still allows it",
    )
    def post(self, request, prescription_id: int):
        services.prescription_resume(prescription=self.prescription(prescription_id), by=request.user)
        return self.detail(prescription_id)


class PrescriptionCompleteView(PrescriptionScoped, StaffAPIView):
    @extend_schema(request=None, responses={200: PrescriptionDetailOut}, summary="Complete an active or paused plan")
    def post(self, request, prescription_id: int):
        services.prescription_complete(prescription=self.prescription(prescription_id), by=request.user)
        return self.detail(prescription_id)


class PrescriptionCancelView(PrescriptionScoped, StaffAPIView):
    @extend_schema(request=None, responses={200: PrescriptionDetailOut}, summary="Cancel a draft, active or paused")
    def post(self, request, prescription_id: int):
        services.prescription_cancel(prescription=self.prescription(prescription_id), by=request.user)
        return self.detail(prescription_id)


class PrescriptionAmendView(PrescriptionScoped, StaffAPIView):
    @extend_schema(
        request=None,
        responses={201: PrescriptionDetailOut},
        summary="Start an amendment: a draft copy that supersedes this plan once activated",
    )
    def post(self, request, prescription_id: int):
        amendment = services.prescription_amend(prescription=self.prescription(prescription_id), by=request.user)
        return self.detail(amendment.pk, status.HTTP_201_CREATED)


class PrescriptionProgressionView(PrescriptionScoped, StaffAPIView):
    shows_patients = "objects"  # the plan's patient

    @extend_schema(
        responses={200: PlanProgressionOut},
        summary="The plan's dose progression: the steps of all its versions and the next one due",
    )
    def get(self, request, prescription_id: int):
        prescription = self.prescription(prescription_id)
        steps = progression_selectors.lineage_steps(prescription)
        upcoming = None
        if prescription.status == Prescription.Status.ACTIVE:
            upcoming = progression_selectors.next_step(prescription)
        body = {
            "steps": steps,
            "next_step": None
            if upcoming is None
            else {"on_date": upcoming.on_date, "changes": [change.as_dict() for change in upcoming.changes]},
        }
        self.shown(prescription)
        return Response(PlanProgressionOut(body).data)


class ProgressionStepApplyView(PrescriptionScoped, StaffAPIView):
    @extend_schema(
        request=None,
        responses={201: PrescriptionDetailOut, **SAFETY_409},
        summary="Apply a held progression step by hand: its new version, through the safety gate",
        description=(
            "Makes the step's new version of the plan (its doses, the rest as the current version has it, the "
            "overrides carried over) and activates it through the gate, whatever held the step; the flag it raised "
            "is resolved. 201 with the new version. 409 when the step is not held, the plan has moved on (a newer "
            "version, an amendment in progress, not active), or the gate refuses (with `findings`; nothing is "
            "kept: amend the plan to override them). A step of another plan is a 404."
        ),
    )
    def post(self, request, prescription_id: int, step_id: int):
        prescription = self.prescription(prescription_id)
        step = ProgressionStep.objects.filter(pk=step_id, first_version_id=prescription.lineage_id).first()
        if step is None:
            raise NotFound()
        step = progression_step_apply(step=step, by=request.user)
        return self.detail(step.to_version_id, status.HTTP_201_CREATED)


class SafetyCheckView(StaffAPIView):
    write_action = Action.PRESCRIBE
    # Nothing is written, but the answer shows the patient's diagnoses and clearance: a read, logged as one.
    read_methods = ("POST",)
    shows_patients = "objects"

    @extend_schema(
        request=SafetyCheckIn,
        responses={200: SafetyCheckOut},
        summary="Dry run of the safety gate for a patient, stretches and a date; nothing is saved",
    )
    def post(self, request):
        data = validated(SafetyCheckIn(data=request.data, context={"request": request, "clinic_id": self.clinic_id}))
        patient = data["patient"]
        on_date = data.get("on_date") or patient.local_today()
        findings = dry_run(patient=patient, stretches=[item["stretch"] for item in data["items"]], on_date=on_date)
        self.shown(patient)
        body = {
            "on_date": on_date,
            "passed": not rules.blocks(findings, ()),
            "findings": [finding.as_dict() for finding in findings],
        }
        return Response(SafetyCheckOut(body).data)
