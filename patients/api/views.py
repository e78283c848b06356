"""Staff endpoints for patients, scoped to the caller's clinic."""

from __future__ import annotations

from django.db.models import F
from django.shortcuts import get_object_or_404
from django.utils.functional import cached_property
from drf_spectacular.utils import extend_schema
from rest_framework import status
from rest_framework.response import Response

from clinic.policy import Action
from patients import services
from patients.api.base import StaffAPIView, StaffListView
from patients.api.filters import (
    ClearanceFilter,
    EpisodeFilter,
    PatientDiagnosisFilter,
    PatientFilter,
    PortalAccessFilter,
)
from patients.api.serializers import (
    ClearanceIn,
    ClearanceOut,
    ClearanceRevokeIn,
    EpisodeDischargeIn,
    EpisodeIn,
    EpisodeOut,
    MobilityAssessmentIn,
    MobilityAssessmentOut,
    PatientDiagnosisChangeIn,
    PatientDiagnosisIn,
    PatientDiagnosisOut,
    PatientIn,
    PatientOut,
    PatientPortalAccessIn,
    PatientPortalAccessOut,
    PortalAccessRevokeIn,
    PortalPasswordResetOut,
)
from patients.models import Clearance, Episode, MobilityAssessment, Patient, PatientDiagnosis, PortalAccess


def clinic_patients(clinic_id: int):
    return Patient.objects.filter(clinic_id=clinic_id)


class PatientListView(StaffListView):
    shows_patients = "objects"  # the page's patients
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
    shows_patients = "url"

    @extend_schema(responses={200: PatientOut}, summary="A patient")
    def get(self, request, patient_id: int):
        return Response(PatientOut(get_object_or_404(clinic_patients(self.clinic_id), pk=patient_id)).data)

    @extend_schema(request=PatientIn(partial=True), responses={200: PatientOut}, summary="Change a patient")
    def patch(self, request, patient_id: int):
        patient = get_object_or_404(clinic_patients(self.clinic_id), pk=patient_id)
        data = PatientIn(
            data=request.data, partial=True, context={"request": request, "stored_timezone": patient.timezone}
        )
        data.is_valid(raise_exception=True)
        patient = services.patient_update(patient=patient, by=request.user, **data.validated_data)
        return Response(PatientOut(patient).data)


class PatientArchiveView(StaffAPIView):
    @extend_schema(request=None, responses={200: PatientOut}, summary="Archive a patient (no hard delete)")
    def post(self, request, patient_id: int):
        patient = get_object_or_404(clinic_patients(self.clinic_id), pk=patient_id)
        return Response(PatientOut(services.patient_archive(patient=patient, by=request.user)).data)


# --- A patient's clinical record ------------------------------------------------------------------------
# Every row below hangs off a patient of the caller's clinic: another clinic's patient, or a row of another
# patient, is a 404. Reads are open to every staff role; writes name their roles (403 otherwise), and the
# services check the same roles again.


class PatientRecordListView(StaffListView):
    """A list of one patient's rows; ``rows(patient)`` gives the queryset."""

    shows_patients = "url"  # every row is the URL's patient's (404 for a patient of another clinic)
    model: type

    @cached_property
    def patient(self) -> Patient:
        return get_object_or_404(clinic_patients(self.clinic_id), pk=self.kwargs["patient_id"])

    def rows(self, patient: Patient):
        raise NotImplementedError

    def get_queryset(self):
        if getattr(self, "swagger_fake_view", False):  # schema generation: no caller, no patient
            return self.model.objects.none()
        return self.rows(self.patient)

    def validated(self, serializer_class) -> dict:
        context = {"request": self.request, "patient": self.patient}
        data = serializer_class(data=self.request.data, context=context)
        data.is_valid(raise_exception=True)
        return data.validated_data


def patient_of_clinic(view, patient_id: int) -> Patient:
    return get_object_or_404(clinic_patients(view.clinic_id), pk=patient_id)


class EpisodeListView(PatientRecordListView):
    model = Episode
    serializer_class = EpisodeOut
    filterset_class = EpisodeFilter
    write_action = Action.RECORD_EPISODE

    def rows(self, patient):
        return patient.episodes.order_by("-opened_on", "-id")

    @extend_schema(summary="A patient's episodes of care, newest first")
    def get(self, request, *args, **kwargs):
        return super().get(request, *args, **kwargs)

    @extend_schema(request=EpisodeIn, responses={201: EpisodeOut}, summary="Open an episode (therapists)")
    def post(self, request, patient_id: int):
        fields = self.validated(EpisodeIn)
        episode = services.episode_open(patient=self.patient, by=request.user, **fields)
        return Response(EpisodeOut(episode).data, status=status.HTTP_201_CREATED)


class EpisodeDischargeView(StaffAPIView):
    write_action = Action.RECORD_EPISODE

    @extend_schema(request=EpisodeDischargeIn, responses={200: EpisodeOut}, summary="Discharge an episode")
    def post(self, request, patient_id: int, episode_id: int):
        episode = get_object_or_404(
            Episode.objects.select_related("patient").filter(patient=patient_of_clinic(self, patient_id)),
            pk=episode_id,
        )
        data = EpisodeDischargeIn(data=request.data)
        data.is_valid(raise_exception=True)
        episode = services.episode_discharge(episode=episode, by=request.user, **data.validated_data)
        return Response(EpisodeOut(episode).data)


class PatientDiagnosisListView(PatientRecordListView):
    model = PatientDiagnosis
    serializer_class = PatientDiagnosisOut
    filterset_class = PatientDiagnosisFilter
    write_action = Action.RECORD_DIAGNOSIS

    def rows(self, patient):
        return patient.diagnoses.select_related("diagnosis").order_by(F("onset_date").desc(nulls_last=True), "-id")

    @extend_schema(summary="A patient's diagnoses, latest onset first")
    def get(self, request, *args, **kwargs):
        return super().get(request, *args, **kwargs)

    @extend_schema(request=PatientDiagnosisIn, responses={201: PatientDiagnosisOut}, summary="Add a diagnosis")
    def post(self, request, patient_id: int):
        fields = self.validated(PatientDiagnosisIn)
        row = services.patient_diagnosis_add(patient=self.patient, by=request.user, **fields)
        return Response(PatientDiagnosisOut(row).data, status=status.HTTP_201_CREATED)


class PatientDiagnosisDetailView(StaffAPIView):
    write_action = Action.RECORD_DIAGNOSIS

    @extend_schema(
        request=PatientDiagnosisChangeIn,
        responses={200: PatientDiagnosisOut},
        summary="Change a diagnosis's phase, qualifier, onset or resolution",
    )
    def patch(self, request, patient_id: int, diagnosis_id: int):
        row = get_object_or_404(
            PatientDiagnosis.objects.select_related("patient").filter(patient=patient_of_clinic(self, patient_id)),
            pk=diagnosis_id,
        )
        data = PatientDiagnosisChangeIn(data=request.data)
        data.is_valid(raise_exception=True)
        row = services.patient_diagnosis_update(patient_diagnosis=row, by=request.user, **data.validated_data)
        row = PatientDiagnosis.objects.select_related("diagnosis").get(pk=row.pk)
        return Response(PatientDiagnosisOut(row).data)


class MobilityAssessmentListView(PatientRecordListView):
    model = MobilityAssessment
    serializer_class = MobilityAssessmentOut
    write_action = Action.ASSESS_MOBILITY

    def rows(self, patient):
        return patient.mobility_assessments.select_related("level").order_by("-assessed_at", "-id")

    @extend_schema(summary="A patient's mobility assessments, newest first (the first is current)")
    def get(self, request, *args, **kwargs):
        return super().get(request, *args, **kwargs)

    @extend_schema(
        request=MobilityAssessmentIn, responses={201: MobilityAssessmentOut}, summary="Record a mobility assessment"
    )
    def post(self, request, patient_id: int):
        fields = self.validated(MobilityAssessmentIn)
        assessment = services.mobility_assess(patient=self.patient, by=request.user, **fields)
        return Response(MobilityAssessmentOut(assessment).data, status=status.HTTP_201_CREATED)


def effective_clearance_id(patient: Patient) -> int | None:
    """The id of the clearance in force today in the patient's zone (one lookup per request, not per row)."""
    clearance = Clearance.objects.effective_on(patient, patient.local_today())
    return clearance.pk if clearance else None


def clearance_out(clearance: Clearance, patient: Patient) -> dict:
    context = {"effective_clearance_id": effective_clearance_id(patient)}
    return ClearanceOut(clearance, context=context).data


class ClearanceListView(PatientRecordListView):
    model = Clearance
    serializer_class = ClearanceOut
    filterset_class = ClearanceFilter
    write_action = Action.RECORD_CLEARANCE

    def rows(self, patient):
        return patient.clearances.prefetch_related("restricted_tags").order_by("-recorded_at", "-id")

    def get_serializer_context(self) -> dict:
        context = super().get_serializer_context()
        if not getattr(self, "swagger_fake_view", False):
            context["effective_clearance_id"] = effective_clearance_id(self.patient)
        return context

    @extend_schema(summary="A patient's clearances, newest first, with the one in force today marked")
    def get(self, request, *args, **kwargs):
        return super().get(request, *args, **kwargs)

    @extend_schema(
        request=ClearanceIn, responses={201: ClearanceOut}, summary="Record a clearance (front desk, therapists)"
    )
    def post(self, request, patient_id: int):
        fields = self.validated(ClearanceIn)
        clearance = services.clearance_record(patient=self.patient, by=request.user, **fields)
        return Response(clearance_out(clearance, self.patient), status=status.HTTP_201_CREATED)


class ClearanceRevokeView(StaffAPIView):
    write_action = Action.REVOKE_CLEARANCE

    @extend_schema(request=ClearanceRevokeIn, responses={200: ClearanceOut}, summary="Revoke a clearance from now on")
    def post(self, request, patient_id: int, clearance_id: int):
        patient = patient_of_clinic(self, patient_id)
        clearance = get_object_or_404(Clearance.objects.filter(patient=patient), pk=clearance_id)
        clearance.patient = patient
        data = ClearanceRevokeIn(data=request.data)
        data.is_valid(raise_exception=True)
        clearance = services.clearance_revoke(clearance=clearance, by=request.user, **data.validated_data)
        return Response(clearance_out(clearance, patient))


class PortalAccessListView(PatientRecordListView):
    model = PortalAccess
    serializer_class = PatientPortalAccessOut
    filterset_class = PortalAccessFilter
    write_action = Action.GRANT_PORTAL_ACCESS

    def rows(self, patient):
        return patient.portal_access.select_related("user").order_by("created_at", "id")

    @extend_schema(summary="Who may use the portal for this patient")
    def get(self, request, *args, **kwargs):
        return super().get(request, *args, **kwargs)

    @extend_schema(
        request=PatientPortalAccessIn,
        responses={201: PatientPortalAccessOut},
        summary="Grant portal access: to an existing portal login, or to a new one (give a password)",
    )
    def post(self, request, patient_id: int):
        fields = self.validated(PatientPortalAccessIn)
        if "password" in fields:
            user = services.portal_user_create(patient=self.patient, by=request.user, **fields)
        else:
            user = services.portal_access_grant(
                patient=self.patient, username=fields["username"], relationship=fields["relationship"], by=request.user
            ).user
        access = PortalAccess.objects.select_related("user").get(
            patient=self.patient, user=user, revoked_at__isnull=True
        )
        return Response(PatientPortalAccessOut(access).data, status=status.HTTP_201_CREATED)


class _PortalAccessAction(StaffAPIView):
    """One live-or-revoked grant of a patient of the staff member's clinic; anything else is a 404."""

    write_action = Action.GRANT_PORTAL_ACCESS

    def access(self, patient_id: int, access_id: int) -> PortalAccess:
        patient = patient_of_clinic(self, patient_id)
        access = get_object_or_404(PortalAccess.objects.filter(patient=patient).select_related("user"), pk=access_id)
        access.patient = patient
        return access


class PortalAccessRevokeView(_PortalAccessAction):
    @extend_schema(
        request=PortalAccessRevokeIn,
        responses={200: PatientPortalAccessOut},
        summary="Revoke a portal grant, kept for the record: its login's tokens stop working for this patient",
    )
    def post(self, request, patient_id: int, access_id: int):
        access = self.access(patient_id, access_id)
        data = PortalAccessRevokeIn(data=request.data)
        data.is_valid(raise_exception=True)
        access = services.portal_access_revoke(access=access, by=request.user, **data.validated_data)
        return Response(PatientPortalAccessOut(access).data)


class PortalPasswordResetView(_PortalAccessAction):
    @extend_schema(
        request=None,
        responses={200: PortalPasswordResetOut},
        summary="Give the grant's login a temporary password, shown once; its API tokens end (logged)",
    )
    def post(self, request, patient_id: int, access_id: int):
        password = services.portal_password_reset(access=self.access(patient_id, access_id), by=request.user)
        return Response(PortalPasswordResetOut({"temporary_password": password}).data)
