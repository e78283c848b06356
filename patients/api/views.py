"""Staff endpoints for patients, scoped to the caller's clinic."""

from __future__ import annotations

from django.shortcuts import get_object_or_404
from drf_spectacular.utils import extend_schema
from rest_framework import status
from rest_framework.response import Response

from clinic.api.views import StaffAPIView, StaffListView
from patients import services
from patients.api.filters import PatientFilter
from patients.api.serializers import PatientIn, PatientOut
from patients.models import Patient


def clinic_patients(clinic_id: int):
    return Patient.objects.filter(clinic_id=clinic_id)


class PatientListView(StaffListView):
    serializer_class = PatientOut
    filterset_class = PatientFilter

    def get_queryset(self):
        return clinic_patients(self.clinic_id).order_by("last_name", "first_name", "id")

    @extend_schema(request=PatientIn, responses={201: PatientOut}, summary="Register a patient")
    def post(self, request):
        data = PatientIn(data=request.data, context={"request": request})
        data.is_valid(raise_exception=True)
        patient = services.patient_create(clinic=self.membership.clinic, by=request.user, **data.validated_data)
        return Response(PatientOut(patient).data, status=status.HTTP_201_CREATED)


class PatientDetailView(StaffAPIView):
    @extend_schema(responses={200: PatientOut}, summary="A patient")
    def get(self, request, patient_id: int):
        return Response(PatientOut(get_object_or_404(clinic_patients(self.clinic_id), pk=patient_id)).data)

    @extend_schema(request=PatientIn(partial=True), responses={200: PatientOut}, summary="Change a patient")
    def patch(self, request, patient_id: int):
        patient = get_object_or_404(clinic_patients(self.clinic_id), pk=patient_id)
        data = PatientIn(data=request.data, partial=True, context={"request": request})
        data.is_valid(raise_exception=True)
        patient = services.patient_update(patient=patient, by=request.user, **data.validated_data)
        return Response(PatientOut(patient).data)


class PatientArchiveView(StaffAPIView):
    @extend_schema(request=None, responses={200: PatientOut}, summary="Archive a patient (no hard delete)")
    def post(self, request, patient_id: int):
        patient = get_object_or_404(clinic_patients(self.clinic_id), pk=patient_id)
        return Response(PatientOut(services.patient_archive(patient=patient, by=request.user)).data)
