"""The front desk's patient screens: the list with its clearance badge, the change form and the portal-login page.

Every write goes through ``patients.services``; the prescriptions app adds its columns (open flags), filters and
inlines to ``PatientAdmin`` (DESIGN §1).
"""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib import admin, messages
from django.contrib.admin import helpers
from django.contrib.admin.utils import unquote
from django.contrib.auth.validators import UnicodeUsernameValidator
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction
from django.http import Http404, HttpResponseRedirect
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils import formats, timezone
from django.utils.decorators import method_decorator
from django.utils.html import format_html
from django.views.decorators.debug import sensitive_post_parameters, sensitive_variables

from clinic.admin_base import (
    ClinicScopedAdmin,
    NewPasswordForm,
    ReadOnlyInline,
    ServiceFormAdmin,
    ServiceModelForm,
    ZoneInput,
    clinic_id_of,
    run_service_action,
    show_refusal,
)
from clinic.errors import DomainError
from clinic.models import Clinic, StaffMembership
from patients import audit, services
from patients.admin.reads import PatientReadsLogged
from patients.clearance import EXPIRING_WITHIN_DAYS
from patients.clearance_states import clearance_states_today
from patients.models import (
    Clearance,
    Episode,
    MobilityAssessment,
    Patient,
    PatientDiagnosis,
    PortalAccess,
)
from patients.selectors import self_login_taken

# --- The list's badge and filters -----------------------------------------------------------------------


CLEARANCE_BADGES = {
    "revoked": ("Revoked", "#b00020"),
    "expired": ("Expired", "#b00020"),
    "insufficient_authority": ("Insufficient authority", "#b00020"),
    "not_yet_valid": ("Not yet valid", "#b26a00"),
    "restricted": ("Restricted", "#b26a00"),
    "expiring": ("Expiring", "#b26a00"),
    "none": ("None", "#666666"),
    "cleared": ("Cleared", "#1b7f3b"),
}


ARCHIVED_BADGE_STYLE = (
    "font-size: 0.75rem; padding: 0 0.4em; border: 1px solid #666666; border-radius: 0.6em; color: #666666"
)


def staff_name(user) -> str:
    """A staff member as the front desk calls them: their full name, else their username."""
    return user.get_full_name() or user.get_username()


class ClearanceTodayFilter(admin.SimpleListFilter):
    """By the badge's main state."""

    title = "clearance today"
    parameter_name = "clearance"

    def lookups(self, request, model_admin):
        return [
            ("cleared", "Cleared"),
            ("expiring", f"Expiring within {EXPIRING_WITHIN_DAYS} days"),
            ("restricted", "Restricted"),
            ("insufficient_authority", "Insufficient authority"),
            ("not_yet_valid", "Not yet valid"),
            ("none", "None"),
            ("expired", "Expired"),
            ("revoked", "Revoked"),
        ]

    def queryset(self, request, queryset):
        if self.value() in CLEARANCE_BADGES:
            return queryset.filter(clearance_states__0=self.value())
        return queryset


class ArchivedFilter(admin.SimpleListFilter):
    title = "archived"
    parameter_name = "archived"

    def lookups(self, request, model_admin):
        return [("no", "No"), ("yes", "Yes")]

    def queryset(self, request, queryset):
        if self.value() == "no":
            return queryset.filter(archived_at__isnull=True)
        if self.value() == "yes":
            return queryset.filter(archived_at__isnull=False)
        return queryset


class PrimaryTherapistFilter(admin.SimpleListFilter):
    title = "primary therapist"
    parameter_name = "therapist"

    def lookups(self, request, model_admin):
        memberships = StaffMembership.objects.filter(role=StaffMembership.Role.THERAPIST).select_related("user")
        clinic_id = clinic_id_of(request.user)
        if not request.user.is_superuser:
            memberships = memberships.filter(clinic_id=clinic_id)
        return [(str(m.user_id), staff_name(m.user)) for m in memberships]

    def queryset(self, request, queryset):
        if self.value():
            return queryset.filter(primary_therapist_id=self.value())
        return queryset


# --- Inlines --------------------------------------------------------------------------------------------


class ClearanceInline(ReadOnlyInline):
    """Newest first; clearances are recorded and revoked on the Clearance screens (through the services)."""

    model = Clearance
    fk_name = "patient"
    fields = [
        "status", "restrictions", "profession", "professional_name", "valid_from", "valid_until", "recorded_at",
        "revoked_at",
    ]  # fmt: skip
    ordering = ["-recorded_at", "-id"]
    show_change_link = True

    def get_queryset(self, request):
        return super().get_queryset(request).prefetch_related("restricted_tags")

    @admin.display(description="Restricted movements")
    def restrictions(self, clearance: Clearance) -> str:
        return ", ".join(tag.name for tag in clearance.restricted_tags.all()) or "—"


# A read-only foreign key shows as a link to its row's admin page, whether or not the reader may open it; staff may
# not open users (``auth``), so the inlines name people as text.


class EpisodeInline(ReadOnlyInline):
    model = Episode
    fields = ["title", "opened_on", "discharged_on", "therapist"]

    def get_queryset(self, request):
        return super().get_queryset(request).select_related("primary_therapist")

    @admin.display(description="Primary therapist")
    def therapist(self, episode: Episode) -> str | None:
        return staff_name(episode.primary_therapist) if episode.primary_therapist else None


class DiagnosisInline(ReadOnlyInline):
    model = PatientDiagnosis
    fk_name = "patient"
    fields = ["diagnosis", "phase", "qualifier", "onset_date", "resolved_date"]

    def get_queryset(self, request):
        return super().get_queryset(request).select_related("diagnosis")


class MobilityInline(ReadOnlyInline):
    model = MobilityAssessment
    fields = ["level", "assessed_at", "assessor", "notes"]

    def get_queryset(self, request):
        return super().get_queryset(request).select_related("level", "assessed_by")

    @admin.display(description="Assessed by")
    def assessor(self, assessment: MobilityAssessment) -> str:
        return staff_name(assessment.assessed_by)


class PortalAccessInline(ReadOnlyInline):
    """Who may use the portal for this patient; logins are created on the patient's "Portal login" page.

    Each live login links to its "Reset password" and "Revoke access" pages; revoked grants stay listed, marked.
    """

    model = PortalAccess
    fk_name = "patient"
    fields = ["login", "relationship", "created_at", "status", "manage"]
    ordering = ["created_at", "id"]
    verbose_name = "portal login"
    verbose_name_plural = "portal logins"

    def get_queryset(self, request):
        return super().get_queryset(request).select_related("user", "revoked_by")

    @admin.display(description="Username")
    def login(self, access: PortalAccess) -> str:
        return access.user.get_username()

    @admin.display(description="Access")
    def status(self, access: PortalAccess) -> str:
        if not access.is_revoked:
            return "Active"
        return format_html(
            '<strong class="portal-access-revoked" style="color: #b00020">Revoked</strong> {} by {}: {}',
            f"{access.revoked_at:%Y-%m-%d}",
            staff_name(access.revoked_by) if access.revoked_by else "—",
            access.revoke_reason,
        )

    @admin.display(description="")
    def manage(self, access: PortalAccess) -> str:
        if access.is_revoked or access.pk is None:
            return ""
        name = f"{self.admin_site.name}:patients_patient_portal_%s"
        return format_html(
            '<a href="{}">Reset password</a> · <a href="{}">Revoke access</a>',
            reverse(name % "reset", args=[access.patient_id, access.pk]),
            reverse(name % "revoke", args=[access.patient_id, access.pk]),
        )


# --- Portal logins --------------------------------------------------------------------------------------

PORTAL_PASSWORD_FIELDS = ("password", "password_confirmation")


class _ForPatient(forms.Form):
    """A portal form of one patient: a second "self" login is refused on the field (the service's constraint
    would refuse it anyway, without naming the field)."""

    def __init__(self, *args, patient: Patient, **kwargs):
        super().__init__(*args, **kwargs)
        self.patient = patient

    def clean_relationship(self) -> str:
        relationship = self.cleaned_data["relationship"]
        if self_login_taken(patient=self.patient, relationship=relationship):
            raise ValidationError("This patient already has their own portal login.")
        return relationship


class PortalLoginForm(_ForPatient, NewPasswordForm):
    """A new portal login for the patient; ``portal_user_create`` validates the username and the password."""

    username = forms.CharField(
        max_length=150,
        validators=[UnicodeUsernameValidator()],  # early, so it is not only reported once the password passes
        help_text="Letters, digits and @ . + - _ only.",
    )
    email = forms.EmailField(required=False, help_text="Optional.")
    relationship = forms.ChoiceField(choices=PortalAccess.Relationship.choices)

    field_order = ["username", "email", "relationship", "password", "password_confirmation"]


class PortalGrantForm(_ForPatient):
    """Give an existing portal login (a guardian's, say) access to one more patient: ``portal_access_grant``."""

    username = forms.CharField(
        max_length=150, help_text="The username of an existing portal login of this clinic's patients."
    )
    relationship = forms.ChoiceField(choices=PortalAccess.Relationship.choices)


class PortalRevokeForm(forms.Form):
    """Why a portal grant is revoked: ``portal_access_revoke`` requires it and bounds it."""

    reason = forms.CharField(
        widget=forms.Textarea(attrs={"rows": 3}),
        help_text="For example: the patient turned 18 and has their own login now.",
    )


# --- Patients -------------------------------------------------------------------------------------------


class PatientForm(ServiceModelForm):
    """Validated by ``patient_create_check`` or ``patient_update_check``: the checks of the service that saves it."""

    class Meta:
        model = Patient
        fields = [
            "clinic", "mrn", "first_name", "last_name", "date_of_birth", "timezone", "primary_therapist",
            "email", "phone", "email_consent", "sms_consent", "preferred_channel",
            "quiet_hours_start", "quiet_hours_end",
        ]  # fmt: skip
        widgets = {"timezone": ZoneInput}
        # In the clinic's words (issue 15, item 4): what to type, and what the system does with it.
        labels = {
            "mrn": "MRN",
            "timezone": "Time zone",
            "email_consent": "Reminders by email",
            "sms_consent": "Reminders by text message",
            "preferred_channel": "Preferred reminder channel",
            "quiet_hours_start": "Quiet from",
            "quiet_hours_end": "Quiet until",
        }
        help_texts = {
            "mrn": "The patient's medical record number; unique in this clinic.",
            "timezone": "Where the patient lives: start typing a city, e.g. Chicago. Session times and reminders "
            "follow this zone.",
            "primary_therapist": "Who prescribes for this patient and sees their safety flags first.",
            "phone": "For text reminders, with the country code, e.g. +1 312 555 0142.",
            "email_consent": "Tick only when the patient has agreed; the date is kept.",
            "sms_consent": "Tick only when the patient has agreed; the date is kept.",
            "preferred_channel": "Used when the patient agreed to both.",
            "quiet_hours_start": "No reminder is sent between these two times of the patient's day, e.g. 21:00 "
            "to 08:00. Leave both empty for none.",
        }

    @property
    def registering(self) -> bool:
        return self.instance._state.adding

    def service_fields(self) -> dict[str, Any]:
        """What the service is given: every field when registering, what changed on a change."""
        names = self.cleaned_data if self.registering else self.changed_data
        return {name: self.cleaned_data[name] for name in names if name in services.PATIENT_FIELDS}

    def clinic(self) -> Clinic:
        """The clinic a new patient is registered into: the superuser's choice, else the staff member's own."""
        return self.cleaned_data.get("clinic") or self.by.membership.clinic

    def check(self) -> None:
        if self.registering:
            services.patient_create_check(clinic=self.clinic(), **self.service_fields())
        else:
            services.patient_update_check(patient=self.instance, **self.service_fields())


def _consent_recorded(given: bool, at) -> str:
    """When consent was given (or withdrawn), in the clinic's time."""
    if at is None:
        return "Not recorded"
    return f"{'Given' if given else 'Withdrawn'} {formats.date_format(timezone.localtime(at), 'DATETIME_FORMAT')}"


@admin.register(Patient)
class PatientAdmin(PatientReadsLogged, ServiceFormAdmin, ClinicScopedAdmin):
    read_what = "patient"
    form = PatientForm
    # Fits 1366 px without scrolling sideways (issue 15, item 2): email and phone are searched, not shown; being
    # archived is a badge beside the name, only where it applies. The prescriptions app adds open flags and the
    # next session.
    list_display = ["mrn", "patient_name", "clearance_badge", "therapist"]
    list_display_links = ["mrn", "patient_name"]
    list_filter = [ArchivedFilter, PrimaryTherapistFilter, ClearanceTodayFilter]
    list_select_related = ["primary_therapist"]
    search_fields = ["first_name", "last_name", "mrn", "phone", "email"]
    search_help_text = "Name, MRN, phone or email."
    readonly_fields = ["email_consent_recorded", "sms_consent_recorded", "archived_at", "created_at", "updated_at"]
    inlines = [ClearanceInline, EpisodeInline, DiagnosisInline, MobilityInline, PortalAccessInline]
    actions = ["archive", "restore"]
    scoped_choices = {"primary_therapist": "membership__clinic"}

    def patient_id_of(self, obj) -> int:
        return obj.pk

    def get_queryset(self, request):
        return super().get_queryset(request).annotate(clearance_states=clearance_states_today())

    def changelist_view(self, request, extra_context=None):
        """The desk's main list gets the screen's width (1366 px, issue 15, item 2): no navigation sidebar here (the
        breadcrumbs and the index lead everywhere else)."""
        return super().changelist_view(request, {"is_nav_sidebar_enabled": False, **(extra_context or {})})

    def get_inlines(self, request, obj):
        """Registering shows only what registration needs: a new patient has no rows to list yet."""
        return [] if obj is None else super().get_inlines(request, obj)

    def get_readonly_fields(self, request, obj=None):
        """Timestamps and consent times have no value before the patient is registered: not shown then."""
        return [] if obj is None else super().get_readonly_fields(request, obj)

    def get_fields(self, request, obj=None):
        fields = list(super().get_fields(request, obj))
        if not request.user.is_superuser or obj is not None:
            fields.remove("clinic")  # staff register into their own clinic; a patient never moves clinic
        return fields

    def formfield_for_foreignkey(self, db_field, request, **kwargs):
        formfield = super().formfield_for_foreignkey(db_field, request, **kwargs)
        if db_field.name == "primary_therapist" and formfield is not None:
            formfield.queryset = formfield.queryset.filter(membership__role=StaffMembership.Role.THERAPIST).order_by(
                "last_name", "first_name", "username"
            )
            formfield.label_from_instance = staff_name  # as the list and its filter call them
        return formfield

    def has_delete_permission(self, request, obj=None) -> bool:
        return False  # archive instead

    @admin.display(description="Email consent recorded")
    def email_consent_recorded(self, patient: Patient) -> str:
        return _consent_recorded(patient.email_consent, patient.email_consent_at)

    @admin.display(description="Text consent recorded")
    def sms_consent_recorded(self, patient: Patient) -> str:
        return _consent_recorded(patient.sms_consent, patient.sms_consent_at)

    @admin.display(description="Clearance today", ordering="clearance_states")
    def clearance_badge(self, patient: Patient) -> str:
        """The main state as a coloured badge; the lesser states that also apply in small text beside it."""
        first, *lesser = getattr(patient, "clearance_states", None) or ["none"]
        label, colour = CLEARANCE_BADGES[first]
        badge = format_html('<strong style="color: {}">{}</strong>', colour, label)
        if not lesser:
            return badge
        also = ", ".join(CLEARANCE_BADGES[state][0].lower() for state in lesser)
        return format_html('{} <small style="color: #666666">{}</small>', badge, also)

    @admin.display(description="Patient", ordering="last_name")
    def patient_name(self, patient: Patient) -> str:
        """The name as "Last, First", with an "archived" badge only on an archived patient's row."""
        name = f"{patient.last_name}, {patient.first_name}"
        if not patient.is_archived:
            return name
        return format_html('{} <span class="patient-archived" style="{}">archived</span>', name, ARCHIVED_BADGE_STYLE)

    @admin.display(description="Primary therapist", ordering="primary_therapist__last_name")
    def therapist(self, patient: Patient) -> str | None:
        therapist = patient.primary_therapist
        return staff_name(therapist) if therapist is not None else None  # None: the admin's empty mark

    def save_through_service(self, request, form: PatientForm, change: bool) -> Patient:
        if change:
            return services.patient_update(patient=form.instance, by=request.user, **form.service_fields())
        return services.patient_create(clinic=form.clinic(), by=request.user, **form.service_fields())

    @admin.action(description="Archive selected patients", permissions=["change"])
    def archive(self, request, queryset):
        run_service_action(
            self, request, queryset, lambda p: services.patient_archive(patient=p, by=request.user), done="Archived"
        )

    @admin.action(description="Restore selected archived patients", permissions=["change"])
    def restore(self, request, queryset):
        run_service_action(
            self, request, queryset, lambda p: services.patient_restore(patient=p, by=request.user), done="Restored"
        )

    # Portal logins: a page of its own, linked from the change page's object tools.

    def get_urls(self):
        portal_login = self.admin_site.admin_view(self.portal_login_view)  # it logs its own read
        name = f"{self.opts.app_label}_{self.opts.model_name}_portal_login"
        reset = self.admin_site.admin_view(self.portal_reset_view)  # these log their own reads too
        revoke = self.admin_site.admin_view(self.portal_revoke_view)
        one_login = "<path:object_id>/portal-login/<int:access_id>"
        return [
            path(f"{one_login}/reset/", reset, name=f"{self.opts.app_label}_{self.opts.model_name}_portal_reset"),
            path(f"{one_login}/revoke/", revoke, name=f"{self.opts.app_label}_{self.opts.model_name}_portal_revoke"),
            path("<path:object_id>/portal-login/", portal_login, name=name),
            *super().get_urls(),
        ]

    def has_portal_login_permission(self, request) -> bool:
        return request.user.has_perm("patients.add_portalaccess")

    @method_decorator(sensitive_post_parameters(*PORTAL_PASSWORD_FIELDS))
    def portal_login_view(self, request, object_id):
        """Create a portal login for the patient, or give an existing login access to them.

        Another clinic's patient is not found (404), as on the change page; an archived patient is refused.
        """
        if not self.has_portal_login_permission(request):
            raise PermissionDenied
        patient = self.get_object(request, unquote(object_id))
        if patient is None:
            raise Http404("No such patient.")
        change_url = reverse(f"{self.admin_site.name}:patients_patient_change", args=[patient.pk])
        if patient.is_archived:
            self.message_user(
                request, f"{patient} is archived: restore the patient before giving portal access.", messages.ERROR
            )
            return HttpResponseRedirect(change_url)

        granting = request.method == "POST" and "_grant" in request.POST
        posted = request.POST if request.method == "POST" else None
        create_form = PortalLoginForm(None if granting else posted, patient=patient)
        grant_form = PortalGrantForm(posted if granting else None, patient=patient, prefix="grant")
        if posted is not None:
            if granting:
                done = self._portal_grant(request, patient, grant_form)
            else:
                done = self._portal_login_create(request, patient, create_form)
            if done:
                self.message_user(request, done, messages.SUCCESS)
                return HttpResponseRedirect(change_url)
        else:
            create_form.initial["relationship"] = (
                PortalAccess.Relationship.GUARDIAN
                if self_login_taken(patient=patient, relationship=PortalAccess.Relationship.SELF)
                else PortalAccess.Relationship.SELF
            )
            grant_form.initial["relationship"] = PortalAccess.Relationship.GUARDIAN

        context = {
            **self.admin_site.each_context(request),
            "title": f"Portal login for {patient}",
            "opts": self.opts,
            "original": patient,
            "has_view_permission": self.has_view_permission(request, patient),
            "create_form": create_form,
            "create_admin_form": helpers.AdminForm(
                create_form, [("New portal login", {"fields": list(create_form.fields)})], {}
            ),
            "grant_form": grant_form,
            "grant_admin_form": helpers.AdminForm(
                grant_form,
                [
                    (
                        "Or: an existing portal login",
                        {
                            "fields": list(grant_form.fields),
                            "description": "For example a guardian who already has a login for another child.",
                        },
                    )
                ],
                {},
            ),
        }
        with transaction.atomic():  # the page shows the patient: its read is logged with it (DESIGN §7)
            audit.log_admin_read(request, patient.pk, what="admin:portal-login")
            response = TemplateResponse(request, "admin/patients/patient/portal_login.html", context)
            response.render()
        return response

    @sensitive_variables("data")
    def _portal_login_create(self, request, patient: Patient, form: PortalLoginForm) -> str | None:
        """``portal_user_create``; returns the success message, or None with the refusal on the form."""
        if not form.is_valid():
            return None
        data = form.cleaned_data
        try:
            user = services.portal_user_create(
                patient=patient,
                by=request.user,
                username=data["username"],
                password=data["password"],
                email=data["email"],
                relationship=data["relationship"],
            )
        except (ValidationError, DomainError) as error:
            show_refusal(form, error)
            return None
        return f"Portal login {user.get_username()} created for {patient}."

    # One portal login of the patient: reset its password, or revoke its access.

    def _portal_access_of(self, request, object_id, access_id: int) -> tuple[Patient, PortalAccess]:
        """The patient (scoped: another clinic's is 404) and one of its grants (another patient's is 404)."""
        if not self.has_portal_login_permission(request):
            raise PermissionDenied
        patient = self.get_object(request, unquote(object_id))
        if patient is None:
            raise Http404("No such patient.")
        access = patient.portal_access.select_related("user").filter(pk=access_id).first()
        if access is None:
            raise Http404("No such portal login.")
        return patient, access

    def _portal_access_page(
        self, request, patient: Patient, access: PortalAccess, *, log_read: bool = True, **context
    ) -> TemplateResponse:
        """The page of one grant; ``log_read=False`` only where the service already logged this patient."""
        context = {
            **self.admin_site.each_context(request),
            "opts": self.opts,
            "original": patient,
            "access": access,
            "has_view_permission": self.has_view_permission(request, patient),
            "change_url": reverse(f"{self.admin_site.name}:patients_patient_change", args=[patient.pk]),
            **context,
        }
        with transaction.atomic():  # the page shows the patient: its read is logged with it (DESIGN §7)
            if log_read:
                audit.log_admin_read(request, patient.pk, what="admin:portal-login")
            response = TemplateResponse(request, "admin/patients/patient/portal_access.html", context)
            response.render()
        return response

    def portal_reset_view(self, request, object_id, access_id: int):
        """Confirm, then ``portal_password_reset``: the temporary password is shown on this response only."""
        patient, access = self._portal_access_of(request, object_id, access_id)
        form = forms.Form(request.POST if request.method == "POST" else None)
        title = f"Reset the password of {access.user.get_username()}"
        if request.method == "POST":
            try:
                password = services.portal_password_reset(access=access, by=request.user)
            except (ValidationError, DomainError) as error:
                show_refusal(form, error)
            else:  # shown on this response only; not logged again as a read: the service logged the reset
                title = f"Temporary password for {access.user.get_username()}"
                return self._portal_access_page(
                    request, patient, access, log_read=False, title=title, action="reset", password=password
                )
        return self._portal_access_page(request, patient, access, title=title, action="reset", form=form)

    def portal_revoke_view(self, request, object_id, access_id: int):
        """Ask for the reason, then ``portal_access_revoke``; back to the patient's page."""
        patient, access = self._portal_access_of(request, object_id, access_id)
        form = PortalRevokeForm(request.POST if request.method == "POST" else None)
        if request.method == "POST" and form.is_valid():
            try:
                services.portal_access_revoke(access=access, by=request.user, reason=form.cleaned_data["reason"])
            except (ValidationError, DomainError) as error:
                show_refusal(form, error)
            else:
                self.message_user(
                    request, f"Portal access of {access.user.get_username()} to {patient} revoked.", messages.SUCCESS
                )
                return HttpResponseRedirect(
                    reverse(f"{self.admin_site.name}:patients_patient_change", args=[patient.pk])
                )
        title = f"Revoke the portal access of {access.user.get_username()}"
        admin_form = helpers.AdminForm(form, [(None, {"fields": list(form.fields)})], {})
        return self._portal_access_page(
            request, patient, access, title=title, action="revoke", form=form, admin_form=admin_form
        )

    def _portal_grant(self, request, patient: Patient, form: PortalGrantForm) -> str | None:
        """``portal_access_grant``; returns the success message, or None with the refusal on the form."""
        if not form.is_valid():
            return None
        try:  # which logins may be granted is the service's rule, as in the API
            access = services.portal_access_grant(
                patient=patient,
                username=form.cleaned_data["username"],
                relationship=form.cleaned_data["relationship"],
                by=request.user,
            )
        except (ValidationError, DomainError) as error:
            show_refusal(form, error)
            return None
        return f"Portal access for {access.user.get_username()} granted to {patient}."
