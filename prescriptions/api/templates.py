"""Staff endpoints for plans from protocol templates (issue 17).

- ``POST /prescriptions/from-template`` (therapists): a draft for a patient's episode, with the gate's dry run of
  it, so the therapist sees what this patient cannot do before activating. Activation runs the gate as for any plan.
- ``GET /patients/{id}/episodes/{id}/template-suggestions`` (therapists and clinic admins): the templates that
  target the patient's active diagnoses, each with how many findings the gate would raise for the patient today.

A template or episode id the caller's clinic does not have is a 400 naming the field; another clinic's patient or
episode in the URL is a 404; the front desk is refused (403).
"""

from __future__ import annotations

from typing import Any

from drf_spectacular.utils import extend_schema
from rest_framework import serializers, status
from rest_framework.exceptions import NotFound
from rest_framework.response import Response

from clinic.api.inputs import IdField, plausible_date, validated
from clinic.api.problems import FindingSerializer
from clinic.models import Phase, ProtocolTemplate
from clinic.policy import Action
from patients.api.base import StaffAPIView
from patients.models import Episode, Patient
from prescriptions.api.plans import PrescriptionDetailOut, PrescriptionIn, PrescriptionScoped
from prescriptions.selectors.plans import dry_run
from prescriptions.selectors.templates import template_suggestions
from prescriptions.services.templates import prescription_from_template

# --- From a template -----------------------------------------------------------------------------------


class FromTemplateIn(serializers.Serializer):
    template = IdField(help_text="A protocol template of the caller's catalog: a global one or the clinic's own.")
    episode = IdField(help_text="An open episode of a patient of the caller's clinic.")
    start_date = serializers.DateField(
        required=False, validators=[plausible_date], help_text="Defaults to today in the patient's zone."
    )

    validate_episode = PrescriptionIn.validate_episode

    def validate_template(self, value: int) -> ProtocolTemplate:
        template = ProtocolTemplate.objects.visible_to(self.context["clinic_id"]).filter(pk=value).first()
        if template is None:
            raise serializers.ValidationError("No such template in your clinic's catalog.")
        return template


class DraftSafetyCheckOut(serializers.Serializer):
    on_date = serializers.DateField(help_text="The first day the plan would run: the later of its start and today.")
    passed = serializers.BooleanField(help_text="No findings: it would activate with nothing to override.")
    findings = FindingSerializer(
        many=True, help_text="`item` is the draft's item id: what an override or acknowledgement names."
    )


class FromTemplateOut(PrescriptionDetailOut):
    safety_check = DraftSafetyCheckOut(read_only=True, help_text="The gate's dry run of the draft (nothing stored).")

    class Meta(PrescriptionDetailOut.Meta):
        fields = [*PrescriptionDetailOut.Meta.fields, "safety_check"]
        read_only_fields = fields


class PrescriptionFromTemplateView(PrescriptionScoped, StaffAPIView):
    # The draft's dry run shows the patient's diagnoses and clearance: the answer is logged as a read.
    read_methods = ("GET", "HEAD", "POST")
    shows_patients = "objects"

    @extend_schema(
        request=FromTemplateIn,
        responses={201: FromTemplateOut},
        summary="Draft a plan from a protocol template, with the safety gate's dry run of it",
        description=(
            "The draft takes the template's items (stretch, dose, side, notes), suggested days and times, and an "
            "end date when the template runs a number of weeks (the last day of the last week); it records the "
            "template and its version. Nothing bypasses the gate: `safety_check` is what it would say on the "
            "plan's first day, and activation runs it again."
        ),
    )
    def post(self, request):
        data = validated(FromTemplateIn(data=request.data, context=self.input_context()))
        draft = prescription_from_template(by=request.user, **data)
        prescription = self.prescription(draft.pk)
        items = list(prescription.items.all())
        on_date = max(prescription.start_date, prescription.patient.local_today())
        findings = dry_run(patient=prescription.patient, stretches=[item.stretch for item in items], on_date=on_date)
        prescription.safety_check = {
            "on_date": on_date,
            "passed": not findings,
            "findings": [{**f.as_dict(), "item": items[f.item_index].pk} for f in findings],
        }
        self.shown(prescription)
        return Response(FromTemplateOut(prescription).data, status=status.HTTP_201_CREATED)


# --- Suggestions ---------------------------------------------------------------------------------------


class SuggestedTemplateOut(serializers.ModelSerializer):
    phase = serializers.ChoiceField(choices=Phase.choices, allow_blank=True, read_only=True, help_text="Empty: any.")
    is_global = serializers.BooleanField(read_only=True)
    diagnoses = serializers.SlugRelatedField(
        slug_field="code", many=True, read_only=True, help_text="ICD-10-CM codes it targets."
    )

    class Meta:
        model = ProtocolTemplate
        fields = ["id", "slug", "name", "phase", "version", "weeks", "is_global", "clinic", "diagnoses"]
        read_only_fields = fields


class SuggestionOut(serializers.Serializer):
    template = SuggestedTemplateOut()
    diagnoses = serializers.ListField(
        child=serializers.CharField(), help_text="The patient's active diagnoses (codes) it targets."
    )
    findings = serializers.IntegerField(source="finding_count", help_text="Findings the gate would raise today.")
    blocking = serializers.IntegerField(help_text="Of which block activation (until overridden, where allowed).")
    warnings = serializers.IntegerField(help_text="Of which are cautions to acknowledge.")
    codes = serializers.ListField(child=serializers.CharField(), help_text="The findings' codes, without repeats.")


class TemplateSuggestionsOut(serializers.Serializer):
    on_date = serializers.DateField(help_text="Today in the patient's zone: the date the gate was asked about.")
    episode = serializers.IntegerField()
    results = SuggestionOut(many=True)


def _suggestion(suggestion) -> dict[str, Any]:
    return {
        "template": suggestion.template,
        "diagnoses": list(suggestion.diagnoses),
        "finding_count": len(suggestion.findings),
        "blocking": suggestion.blocking,
        "warnings": suggestion.warnings,
        "codes": list(dict.fromkeys(f.code.value for f in suggestion.findings)),
    }


class TemplateSuggestionsView(StaffAPIView):
    read_action = Action.VIEW_PLANS  # therapists and clinic admins: the desk does not see plans
    shows_patients = "url"

    @extend_schema(
        responses={200: TemplateSuggestionsOut},
        summary="Templates for the patient's active diagnoses, with the findings each would raise today",
        description=(
            "The templates the clinic can see that target any of the patient's diagnoses active today, in a "
            "matching phase (a template for any phase suits every diagnosis; one whose phase is not recorded "
            "suits every template). Fewest blocking findings first. One load of the gate's facts for them all."
        ),
    )
    def get(self, request, patient_id: int, episode_id: int):
        patient = Patient.objects.filter(clinic_id=self.clinic_id, pk=patient_id).first()
        if patient is None or not Episode.objects.filter(patient=patient, pk=episode_id).exists():
            raise NotFound()
        on_date = patient.local_today()
        suggestions = template_suggestions(patient=patient, on_date=on_date)
        body = {"on_date": on_date, "episode": episode_id, "results": [_suggestion(s) for s in suggestions]}
        return Response(TemplateSuggestionsOut(body).data)
