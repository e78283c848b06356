"""Outcome measures (issue 18) in the API: what is due, answering it, and the scores over time.

- Portal (the patient, or a guardian for a ward, chosen with ``?patient=`` as the other portal reads):
  ``GET /portal/measures``, ``POST /portal/measures/{id}/responses``, ``GET /portal/outcomes``. A licensed
  instrument whose wording the clinic has not loaded is not offered to the patient.
- Staff, scoped to the caller's clinic: ``GET /patients/{id}/measures`` (every role),
  ``POST /patients/{id}/measures/{id}/responses`` (answers taken in the clinic: therapists and the front desk),
  ``GET /patients/{id}/outcomes`` (therapists and clinic admins), ``PUT /patients/{id}/episodes/{id}/instruments``
  (therapists).

Another patient's or another clinic's row is a 404; a measure not waiting for answers a 409; answers that cannot be
scored a 400 naming the field (``answers.<item id>``, ``answers``, ``activities``).
"""

from __future__ import annotations

from collections.abc import Sequence

from django.http import Http404
from django.shortcuts import get_object_or_404
from drf_spectacular.utils import extend_schema
from rest_framework import serializers, status
from rest_framework.response import Response

from clinic import scoring
from clinic.api.problems import ProblemSerializer
from clinic.policy import Action
from patients.api.base import PortalAPIView, StaffAPIView
from patients.models import Episode, Patient
from prescriptions.api.portal import PATIENT_PARAMETER, PortalPatientChoice
from prescriptions.models import MeasureDue, MeasureResponse
from prescriptions.selectors.measures import (
    episode_instruments,
    patient_measures_due,
    patient_outcomes,
    wording_for,
)
from prescriptions.services.measures import MAX_ACTIVITY_LENGTH, episode_instruments_set, measure_respond

MAX_ANSWERS = 20  # more than any instrument's items: the rest is refused before scoring
MAX_ACTIVITIES = 10  # the PSFS takes 3 to 5: the service names the rule; this only bounds the body

# --- Serializers ------------------------------------------------------------------------------------------


class InstrumentOut(serializers.Serializer):
    code = serializers.CharField(help_text="nprs, psfs, odi or ndi.")
    name = serializers.CharField()
    abbreviation = serializers.CharField()
    higher_is_worse = serializers.BooleanField(help_text="A higher score is worse (all but the PSFS).")
    meaningful_change = serializers.CharField(help_text="The meaningful change, in words (both ways).")


class MeasureItemOut(serializers.Serializer):
    id = serializers.CharField(help_text="The key of its answer in `answers`.")
    low = serializers.IntegerField()
    high = serializers.IntegerField()
    text = serializers.CharField(allow_blank=True, help_text="The question as worded; blank when not loaded.")
    levels = serializers.DictField(
        child=serializers.CharField(), help_text='Answer → its label, e.g. {"0": "No pain", "10": "Worst pain"}.'
    )


class MeasureDueOut(serializers.Serializer):
    id = serializers.IntegerField()
    instrument = InstrumentOut()
    occasion = serializers.ChoiceField(choices=MeasureDue.Occasion.choices)
    due_on = serializers.DateField(help_text="In the patient's zone.")
    instructions = serializers.CharField(allow_blank=True)
    items = MeasureItemOut(
        many=True,
        help_text="The items to answer, in order. PSFS: `activity_1`… rate the activities in order; at baseline all "
        "five (rate as many as the activities named), later only as many as the baseline named.",
    )
    activities = serializers.ListField(
        child=serializers.CharField(),
        help_text="PSFS: the activities named at baseline, to rate again in order; [] otherwise and at baseline.",
    )
    needs_activities = serializers.BooleanField(
        help_text="PSFS at baseline: name 3 to 5 activities in the response's `activities`."
    )


class StaffMeasureDueOut(MeasureDueOut):
    wording_missing = serializers.BooleanField(
        help_text="A licensed instrument whose wording the clinic has not loaded: the texts are blank and the patient "
        "is not offered it; answers taken on the clinic's licensed paper form may still be entered."
    )


class MeasureResponseIn(serializers.Serializer):
    answers = serializers.DictField(
        child=serializers.IntegerField(allow_null=True),
        help_text="Item id → a whole number in the item's range, or null for a skipped ODI or NDI section (at most "
        "two). Items left out count as skipped.",
    )
    activities = serializers.ListField(
        child=serializers.CharField(max_length=MAX_ACTIVITY_LENGTH),
        required=False,
        max_length=MAX_ACTIVITIES,
        help_text="PSFS baseline only: 3 to 5 activities, rated in order as `activity_1`…; later responses rate the "
        "baseline's (leave this out, or repeat them unchanged).",
    )

    def validate_answers(self, value: dict) -> dict:
        if len(value) > MAX_ANSWERS or any(len(key) > 60 for key in value):
            raise serializers.ValidationError(
                f"Answer the questionnaire's items: at most {MAX_ANSWERS} item ids of up to 60 characters."
            )
        return value


class MeasureResponseOut(serializers.Serializer):
    id = serializers.IntegerField()
    instrument = InstrumentOut()
    occasion = serializers.ChoiceField(choices=MeasureDue.Occasion.choices, source="due.occasion")
    taken_at = serializers.DateTimeField()
    score = serializers.DecimalField(
        max_digits=5,
        decimal_places=1,
        help_text="NPRS: the rating; PSFS: the mean of the activities; ODI: per cent; NDI: raw 0–50.",
    )
    percent = serializers.DecimalField(
        max_digits=5, decimal_places=1, allow_null=True, help_text="ODI and NDI (raw × 2): per cent; null otherwise."
    )
    change = serializers.DecimalField(
        max_digits=5,
        decimal_places=1,
        allow_null=True,
        help_text="The score minus the episode's baseline score for the instrument; null for the baseline itself.",
    )
    improved = serializers.BooleanField(help_text="A meaningful improvement from baseline.")
    worsened = serializers.BooleanField(help_text="A meaningful worsening from baseline (the therapist is flagged).")
    threshold = serializers.CharField(
        allow_blank=True, help_text='The meaningful change it was judged by, e.g. "10 points"; blank at baseline.'
    )
    via = serializers.ChoiceField(choices=MeasureResponse.Via.choices)


class OutcomeOut(serializers.Serializer):
    instrument = InstrumentOut()
    responses = MeasureResponseOut(many=True, help_text="Oldest first.")


class PortalOutcomeOut(OutcomeOut):
    chart = serializers.CharField(help_text="The scores over time as an accessible SVG chart (the portal's session).")


class EpisodeInstrumentsIn(serializers.Serializer):
    instruments = serializers.ListField(
        child=serializers.SlugField(max_length=10),
        max_length=len(scoring.CODES),
        help_text="Instrument codes (nprs, psfs, odi, ndi); [] for the default from the diagnoses' body regions.",
    )


class EpisodeInstrumentsOut(serializers.Serializer):
    instruments = serializers.ListField(child=serializers.CharField(), help_text="The codes in force.")
    chosen = serializers.BooleanField(help_text="The therapist chose them; false: the default for the diagnoses.")


# --- Building the bodies ----------------------------------------------------------------------------------


def _baseline_activities(dues: Sequence[MeasureDue]) -> dict[int, list[str]]:
    """Episode id → the activities its PSFS baseline named (one query, whatever is due)."""
    episodes = {due.episode_id for due in dues}
    baselines = (
        MeasureResponse.objects.filter(episode_id__in=episodes, instrument__code=scoring.PSFS)
        .order_by("episode_id", "taken_at", "id")
        .distinct("episode_id")
        .values_list("episode_id", "activities")
    )
    return dict(baselines)


def due_blocks(patient: Patient, *, staff: bool) -> list[dict]:
    """The patient's measures waiting for answers, with their wording: three queries whatever is due. The patient's
    list leaves out a licensed instrument whose wording the clinic has not loaded; staff see it, marked."""
    dues = list(patient_measures_due(patient))
    if not dues:
        return []
    instruments = list({due.instrument_id: due.instrument for due in dues}.values())
    wording = wording_for(clinic_id=patient.clinic_id, instruments=instruments)
    named = _baseline_activities(dues)
    blocks = []
    for due in dues:
        instrument = due.instrument
        text = wording.get(instrument.pk)
        if text is None and not staff:
            continue
        items = instrument.items
        activities: list[str] = []
        if instrument.code == scoring.PSFS and due.episode_id in named:
            activities = list(named[due.episode_id])
            items = items[: len(activities)]
        texts = (text or {}).get("items", {})
        block = {
            "id": due.pk,
            "instrument": instrument,
            "occasion": due.occasion,
            "due_on": due.due_on,
            "instructions": (text or {}).get("instructions", ""),
            "items": [
                {
                    "id": item["id"],
                    "low": item["low"],
                    "high": item["high"],
                    "text": texts.get(item["id"], {}).get("text", ""),
                    "levels": texts.get(item["id"], {}).get("levels", {}),
                }
                for item in items
            ],
            "activities": activities,
            "needs_activities": instrument.code == scoring.PSFS and due.episode_id not in named,
        }
        if staff:
            block["wording_missing"] = text is None
        blocks.append(block)
    return blocks


def outcome_blocks(patient: Patient, *, chart: bool) -> list[dict]:
    """Each instrument the patient answered (for ``OutcomeOut``), with its responses in order: one query whatever the
    history."""
    blocks = []
    for outcome in patient_outcomes(patient):
        block = {
            "instrument": outcome.instrument,
            "responses": outcome.responses,
        }
        if chart:
            block["chart"] = f"/portal/outcomes/{outcome.instrument.code}.svg?patient={patient.pk}"
        blocks.append(block)
    return blocks


def _respond(request, due: MeasureDue, via: str) -> Response:
    data = MeasureResponseIn(data=request.data)
    data.is_valid(raise_exception=True)
    response = measure_respond(
        due=due,
        answers=data.validated_data["answers"],
        activities=data.validated_data.get("activities"),
        by=request.user,
        via=via,
    )
    return Response(MeasureResponseOut(response).data, status=status.HTTP_201_CREATED)


RESPOND_DESCRIPTION = (
    "Scores the answers as published and compares them with the episode's first response to the instrument; a "
    "meaningful worsening raises one `outcome_worsening` flag for the therapist. 400 naming the field "
    "(`answers.<item id>`: unknown or out of range; `answers`: too many ODI/NDI sections skipped; `activities`: not 3 "
    "to 5 at the PSFS baseline, or not the baseline's later); 409 when the measure is not waiting for answers (already "
    "answered, missed or cancelled)."
)

# --- Portal -----------------------------------------------------------------------------------------------


class PortalMeasureListView(PortalPatientChoice, PortalAPIView):
    shows_patients = "objects"  # the chosen patient

    @extend_schema(
        parameters=[PATIENT_PARAMETER],
        responses={200: MeasureDueOut(many=True)},
        summary="My questionnaires waiting for answers",
        description="Oldest first. A licensed questionnaire whose wording the clinic has not loaded is not listed.",
    )
    def get(self, request):
        patient = self.chosen_patient()
        self.shown(patient)
        return Response(MeasureDueOut(due_blocks(patient, staff=False), many=True).data)


class PortalMeasureResponseView(PortalAPIView):
    @extend_schema(
        request=MeasureResponseIn,
        responses={201: MeasureResponseOut, 409: ProblemSerializer},
        summary="Answer a questionnaire",
        description=RESPOND_DESCRIPTION + " 404 for a questionnaire of someone else, or one not offered to you.",
    )
    def post(self, request, measure_id: int):
        patients = self.portal_patients()
        due = get_object_or_404(
            MeasureDue.objects.filter(patient__in=patients).select_related("instrument", "patient"), pk=measure_id
        )
        if not wording_for(clinic_id=due.patient.clinic_id, instruments=[due.instrument]):
            raise Http404  # not offered to the patient: the clinic has not loaded its licensed wording
        return _respond(request, due, MeasureResponse.Via.PORTAL)


class PortalOutcomeListView(PortalPatientChoice, PortalAPIView):
    shows_patients = "objects"  # the chosen patient

    @extend_schema(
        parameters=[PATIENT_PARAMETER],
        responses={200: PortalOutcomeOut(many=True)},
        summary="My questionnaire scores over time, with the change from my first",
    )
    def get(self, request):
        patient = self.chosen_patient()
        self.shown(patient)
        return Response(PortalOutcomeOut(outcome_blocks(patient, chart=True), many=True).data)


# --- Staff ------------------------------------------------------------------------------------------------


def _clinic_patient(view, patient_id: int) -> Patient:
    return get_object_or_404(Patient.objects.filter(clinic_id=view.clinic_id), pk=patient_id)


class PatientMeasureListView(StaffAPIView):
    shows_patients = "url"

    @extend_schema(
        responses={200: StaffMeasureDueOut(many=True)},
        summary="A patient's outcome measures waiting for answers (every staff role)",
        description="Oldest first, open episodes only, with the clinic's wording; a licensed instrument whose wording "
        "the clinic has not loaded is listed with blank texts and `wording_missing`.",
    )
    def get(self, request, patient_id: int):
        patient = _clinic_patient(self, patient_id)
        return Response(StaffMeasureDueOut(due_blocks(patient, staff=True), many=True).data)


class PatientMeasureResponseView(StaffAPIView):
    write_action = Action.RECORD_MEASURE

    @extend_schema(
        request=MeasureResponseIn,
        responses={201: MeasureResponseOut, 409: ProblemSerializer},
        summary="Enter a patient's answers taken in the clinic (therapist, front desk)",
        description=RESPOND_DESCRIPTION,
    )
    def post(self, request, patient_id: int, measure_id: int):
        patient = _clinic_patient(self, patient_id)
        due = get_object_or_404(
            MeasureDue.objects.filter(patient=patient).select_related("instrument", "patient"), pk=measure_id
        )
        return _respond(request, due, MeasureResponse.Via.CLINIC)


class PatientOutcomeListView(StaffAPIView):
    shows_patients = "url"
    read_action = Action.VIEW_OUTCOMES

    @extend_schema(
        responses={200: OutcomeOut(many=True)},
        summary="A patient's outcome measures over time (therapist, clinic admin)",
        description="Each instrument answered, its responses oldest first: the score, the change from the episode's "
        "baseline and whether it crossed the instrument's meaningful change, better or worse.",
    )
    def get(self, request, patient_id: int):
        patient = _clinic_patient(self, patient_id)
        return Response(OutcomeOut(outcome_blocks(patient, chart=False), many=True).data)


class EpisodeInstrumentsView(StaffAPIView):
    write_action = Action.CHOOSE_MEASURES

    @extend_schema(
        request=EpisodeInstrumentsIn,
        responses={200: EpisodeInstrumentsOut},
        summary="Choose the outcome measures an episode uses (therapist)",
        description="[] goes back to the default for the diagnoses' body regions. What is due follows at once: due "
        "measures of an instrument dropped are cancelled, and a new one's fall due. 400 for an unknown code.",
    )
    def put(self, request, patient_id: int, episode_id: int):
        patient = _clinic_patient(self, patient_id)
        episode = get_object_or_404(Episode.objects.filter(patient=patient).select_related("patient"), pk=episode_id)
        data = EpisodeInstrumentsIn(data=request.data)
        data.is_valid(raise_exception=True)
        episode = episode_instruments_set(episode=episode, codes=data.validated_data["instruments"], by=request.user)
        body = {"instruments": episode_instruments(episode), "chosen": bool(episode.instruments)}
        return Response(EpisodeInstrumentsOut(body).data)
