"""The FHIR R4 export of a patient's program, safety state and outcomes (issue 19; docs/fhir.md).

``GET /api/v1/patients/{id}/fhir[?since=<instant>]``: therapists and clinic admins of the patient's clinic
(``Action.EXPORT_RECORD``; the front desk: 403; another clinic's patient: 404). Always ``application/fhir+json``,
whatever the client accepts; each export is a read of the patient's record, written to the access log.
"""

from __future__ import annotations

from django.shortcuts import get_object_or_404
from django.utils import timezone
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiExample, OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import serializers
from rest_framework.response import Response

from clinic.api.inputs import validated
from clinic.api.renderers import AnyAccept, FHIRJSONRenderer
from clinic.policy import Action
from patients.api.base import StaffAPIView
from patients.models import Patient
from prescriptions.fhir.mapping import bundle
from prescriptions.selectors.fhir import fhir_rows


class ExportQuery(serializers.Serializer):
    since = serializers.DateTimeField(
        required=False,
        help_text="Only what changed at or after this instant (ISO 8601; without an offset: UTC), with everything "
        "it references.",
    )


BUNDLE_EXAMPLE = {
    "resourceType": "Bundle",
    "type": "collection",
    "timestamp": "2026-11-30T15:00:00+00:00",
    "entry": [
        {
            "fullUrl": "urn:uuid:0c5e4a8e-3b8e-5f55-9c7e-1f0f8d1f3a21",
            "resource": {
                "resourceType": "Patient",
                "id": "0c5e4a8e-3b8e-5f55-9c7e-1f0f8d1f3a21",
                "identifier": [{"system": "urn:limber:clinic:1:mrn", "value": "DEMO-001"}],
                "name": [{"use": "official", "family": "Lopez", "given": ["Maria"]}],
                "birthDate": "1968-03-09",
            },
        }
    ],
}


class PatientFHIRExportView(StaffAPIView):
    shows_patients = "url"
    read_action = Action.EXPORT_RECORD
    renderer_classes = [FHIRJSONRenderer]
    content_negotiation_class = AnyAccept

    @extend_schema(
        operation_id="patients_fhir_export",
        parameters=[
            OpenApiParameter(
                "since",
                OpenApiTypes.DATETIME,
                description="Only the resources changed at or after this instant, plus every resource they "
                "reference (no reference dangles). Without it: the whole record.",
            )
        ],
        responses={
            (200, "application/fhir+json"): OpenApiResponse(
                OpenApiTypes.OBJECT,
                description="A FHIR R4 Bundle of type collection: Patient, Practitioner, Condition, CarePlan (one "
                "per plan version), ServiceRequest (one per plan item), Observation (pain before and after each "
                "logged session, each outcome score), QuestionnaireResponse, DetectedIssue (each distinct gate "
                "finding that refused or was overridden or acknowledged), Flag (restrictions in force, open safety "
                "flags) and Consent (reminder channels). Ids are urn:uuid derived from Limber's ids: the same on "
                "every export. docs/fhir.md has the mapping.",
                examples=[OpenApiExample("A trimmed bundle", value=BUNDLE_EXAMPLE)],
            ),
        },
        summary="A patient's program, safety state and outcomes as FHIR R4 (therapist, clinic admin)",
        description="For the clinic's EHR. 400 when `since` is not a date and time; 404 for a patient of another "
        "clinic; 403 for the front desk.",
    )
    def get(self, request, patient_id: int):
        patient = get_object_or_404(Patient.objects.filter(clinic_id=self.clinic_id), pk=patient_id)
        query = validated(ExportQuery(data=request.query_params))
        now = timezone.now()
        body = bundle(fhir_rows(patient, now=now), now=now, since=query.get("since"))
        return Response(body, content_type=FHIRJSONRenderer.media_type)
