"""Clearances: recorded (``clearance_record``) and revoked (``clearance_revoke``), never edited."""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib import admin, messages
from django.contrib.admin.widgets import ForeignKeyRawIdWidget
from django.db import transaction
from django.http import Http404, HttpResponseRedirect
from django.urls import reverse

from clinic.admin_base import (
    ClinicScopedAdmin,
    ReasonActionForm,
    ServiceFormAdmin,
    ServiceModelForm,
    run_service_action,
    scope_to_clinic,
)
from clinic.models import MovementTag
from patients import audit, services
from patients.admin.reads import PatientReadsLogged
from patients.models import Clearance, Patient


class UnlabelledRawIdWidget(ForeignKeyRawIdWidget):
    """The patient's id alone: Django's label lookup is not clinic-scoped (another clinic's id would print that
    patient's name and MRN), and naming a patient here would be a read no access log records."""

    def label_and_url_for_value(self, value):
        return "", ""


class MovementChoices(forms.ModelMultipleChoiceField):
    """Movements as labelled checkboxes: the name, then what it means in plain words."""

    widget = forms.CheckboxSelectMultiple

    def label_from_instance(self, obj: MovementTag) -> str:
        return f"{obj.name} — {obj.description}" if obj.description else obj.name


class ClearanceForm(ServiceModelForm):
    """Validated by ``clearance_record_check``: the checks of the service that records it."""

    restricted_movements = MovementChoices(
        queryset=MovementTag.objects.all(),
        required=False,
        help_text="For a restricted clearance: tick each movement the professional ruled out.",
    )

    class Meta:
        model = Clearance
        fields = [
            "patient", "professional_name", "profession", "status", "valid_from", "valid_until",
            "document_reference", "notes",
        ]  # fmt: skip
        # In the clinic's words (issue 15, item 4): copied from the letter, as the letter says it.
        labels = {
            "professional_name": "Cleared by",
            "profession": "Their profession",
            "valid_from": "Valid from",
            "valid_until": "Valid until",
            "document_reference": "Letter filed as",
        }
        help_texts = {
            "professional_name": "The name on the letter, e.g. Dr. Lena Park.",
            "status": "As the letter says: cleared for stretching, or cleared except for the movements ticked below.",
            "valid_until": "The last day the letter covers; later sessions are held until a new clearance is recorded.",
            "document_reference": "Where the letter is kept: the scan's number or file name.",
        }

    def service_arguments(self) -> dict[str, Any]:
        """What ``clearance_record`` is given, besides who records it."""
        data = self.cleaned_data
        return {
            "patient": data["patient"],
            "professional_name": data["professional_name"],
            "profession": data["profession"],
            "status": data["status"],
            "valid_from": data["valid_from"],
            "valid_until": data["valid_until"],
            "restricted_tags": data.get("restricted_movements") or (),
            "document_reference": data.get("document_reference", ""),
            "notes": data.get("notes", ""),
        }

    def check(self) -> None:
        services.clearance_record_check(by=self.by, **self.service_arguments())


@admin.register(Clearance)
class ClearanceAdmin(PatientReadsLogged, ServiceFormAdmin, ClinicScopedAdmin):
    """Record a clearance letter (``clearance_record``) or revoke one (``clearance_revoke``); never edit one."""

    clinic_path = "patient__clinic"
    read_what = "clearance"
    scoped_choices = {"patient": "clinic"}
    # The patient is chosen through the (read-logged) patient list, not a drop-down of the whole clinic: a select
    # of every patient's name and MRN on the add page would be an unlogged read of them all.
    raw_id_fields = ["patient"]
    form = ClearanceForm
    list_display = [
        "patient", "status", "profession", "professional_name", "valid_from", "valid_until", "recorded_at",
        "revoked_at",
    ]  # fmt: skip
    list_filter = ["status", "profession"]
    list_select_related = ["patient"]
    search_fields = ["patient__last_name", "patient__mrn", "professional_name"]
    action_form = ReasonActionForm
    actions = ["revoke"]
    readonly_fields = ["recorded_by", "recorded_at", "revoked_at", "revoked_by", "revoke_reason", "restrictions"]

    class Media:
        css = {"all": ["patients/clearance-form.css"]}

    def get_fields(self, request, obj=None):
        if obj is None:
            return [*ClearanceForm.Meta.fields, "restricted_movements"]
        return [*ClearanceForm.Meta.fields, *self.readonly_fields]

    def get_readonly_fields(self, request, obj=None):
        if obj is None:
            return []
        return [*ClearanceForm.Meta.fields, *self.readonly_fields]

    def has_change_permission(self, request, obj=None) -> bool:
        return False  # a recorded clearance is revoked, never rewritten

    # --- Recorded from the patient's page: ``add/?patient=<id>`` --------------------------------------------

    def patient_of_request(self, request) -> Patient | None:
        """The patient named by ``?patient=`` if this user may see them (their clinic's, not archived), else None;
        an unknown, malformed or another clinic's id is refused (404), never shown."""
        value = request.GET.get("patient")
        if value is None:
            return None
        patient = getattr(request, "_patient_of_request", None)  # the view and its initial data ask once per request
        if patient is None:
            patient = (
                scope_to_clinic(Patient.objects.filter(archived_at__isnull=True), request.user, "clinic")
                .filter(pk=int(value) if value.isdigit() else None)
                .first()
            )
        if patient is None:
            raise Http404("No such patient.")
        request._patient_of_request = patient
        return patient

    def add_view(self, request, form_url="", extra_context=None):
        patient = self.patient_of_request(request)
        if patient is None:
            return super().add_view(request, form_url, extra_context)
        # The page names the patient: a read of their data, logged in the page's transaction.
        with transaction.atomic():
            context = {
                **(extra_context or {}),
                "title": f"Record a clearance for {patient.full_name}",
                # One way on: back to the patient (no "add another" or "continue editing" for a recorded letter).
                "show_save_and_add_another": False,
                "show_save_and_continue": False,
            }
            response = super().add_view(request, form_url, context)
            if hasattr(response, "render"):  # a page naming the patient (a form shown again after a refusal too)
                audit.log_admin_read(request, patient.pk, what="admin:clearance-record")
                response.render()
            return response

    def formfield_for_foreignkey(self, db_field, request, **kwargs):
        field = super().formfield_for_foreignkey(db_field, request, **kwargs)
        if db_field.name == "patient":
            field.widget = UnlabelledRawIdWidget(db_field.remote_field, self.admin_site)
        return field

    def get_changeform_initial_data(self, request):
        initial = super().get_changeform_initial_data(request)
        patient = self.patient_of_request(request)
        if patient is not None:
            initial["patient"] = patient.pk
        return initial

    def get_form(self, request, obj=None, change=False, **kwargs):
        form = super().get_form(request, obj, change=change, **kwargs)
        if obj is None and request.GET.get("patient") is not None:
            # The patient is given by the page it came from: no picker (its label lookup is not clinic-scoped).
            form.base_fields["patient"].widget = forms.HiddenInput()
        return form

    def response_add(self, request, obj, post_url_continue=None):
        if request.GET.get("patient") is None:
            return super().response_add(request, obj, post_url_continue)
        self.message_user(request, f"Clearance recorded for {obj.patient.full_name}.", messages.SUCCESS)
        return HttpResponseRedirect(reverse("admin:patients_patient_change", args=[obj.patient_id]))

    def has_delete_permission(self, request, obj=None) -> bool:
        return False

    def has_revoke_permission(self, request) -> bool:
        return request.user.has_perm("patients.change_clearance")

    @admin.display(description="Restricted movements")
    def restrictions(self, clearance: Clearance) -> str:
        return ", ".join(str(tag) for tag in clearance.restricted_tags.all()) or "—"

    def save_through_service(self, request, form: ClearanceForm, change: bool) -> Clearance:
        return services.clearance_record(by=request.user, **form.service_arguments())

    @admin.action(description="Revoke selected clearances (give the reason above)", permissions=["revoke"])
    def revoke(self, request, queryset):
        reason = request.POST.get("reason", "")
        run_service_action(
            self,
            request,
            queryset.select_related("patient"),
            lambda c: services.clearance_revoke(clearance=c, by=request.user, reason=reason),
            done="Revoked",
        )
