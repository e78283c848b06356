"""The front desk's patient screens; every write goes through ``patients.services``.

The prescriptions app adds its columns (open flags), filters and inlines to ``PatientAdmin`` (DESIGN §1).
"""

from __future__ import annotations

import datetime as dt

from django import forms
from django.contrib import admin, messages
from django.contrib.admin import helpers
from django.contrib.admin.utils import unquote
from django.contrib.auth.password_validation import password_validators_help_text_html
from django.contrib.auth.validators import UnicodeUsernameValidator
from django.contrib.postgres.fields import ArrayField
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction
from django.db.models import (
    Case,
    CharField,
    DateField,
    DateTimeField,
    Exists,
    ExpressionWrapper,
    F,
    Func,
    IntegerField,
    OuterRef,
    Q,
    Subquery,
    Value,
    When,
)
from django.db.models.functions import Cast, Coalesce
from django.http import Http404, HttpResponseRedirect
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils import timezone
from django.utils.decorators import method_decorator
from django.utils.html import format_html
from django.views.decorators.debug import sensitive_post_parameters, sensitive_variables

from clinic.admin_base import (
    ClinicScopedAdmin,
    ReadOnlyAdmin,
    ReadOnlyInline,
    ReasonActionForm,
    ServiceFormAdmin,
    clinic_id_of,
    refusal_text,
    run_service_action,
)
from clinic.errors import DomainError
from clinic.models import ClearanceAuthorityRule, MovementTag, StaffMembership
from patients import audit, services
from patients.models import (
    Clearance,
    ClearanceRestriction,
    Episode,
    MobilityAssessment,
    Patient,
    PatientDiagnosis,
    PortalAccess,
)
from patients.selectors import self_login_taken

EXPIRING_WITHIN_DAYS = 7


# --- Reads of patient data are logged ------------------------------------------------------------------


class PatientReadsLogged(admin.ModelAdmin):
    """Every admin page that shows patients' data logs the read in the same transaction (DESIGN §7).

    The page is rendered inside the transaction too (inlines read at render time), so no page goes out
    without its log row.
    """

    read_what = "patient"

    def patient_id_of(self, obj) -> int:
        return obj.patient_id

    def change_view(self, request, object_id, form_url="", extra_context=None):
        with transaction.atomic():
            response = super().change_view(request, object_id, form_url, extra_context)
            original = (getattr(response, "context_data", None) or {}).get("original")
            if original is not None:
                audit.log_admin_read(request, self.patient_id_of(original), what=f"admin:{self.read_what}-change")
                response.render()
            return response

    def changelist_view(self, request, extra_context=None):
        with transaction.atomic():
            response = super().changelist_view(request, extra_context)
            changelist = (getattr(response, "context_data", None) or {}).get("cl")
            if changelist is not None:
                audit.access_log_record(
                    actor=request.user,
                    patient_ids=[self.patient_id_of(row) for row in changelist.result_list],
                    what=f"admin:{self.read_what}-list",
                )
                response.render()
            return response

    def logged_object_read(self, view, what: str):
        """``view(request, object_id, ...)`` as a read of its object's patient: a 2xx GET logs it in its transaction."""

        def logged(request, object_id, *args, **kwargs):
            with transaction.atomic():
                response = view(request, object_id, *args, **kwargs)
                if request.method in ("GET", "HEAD") and 200 <= response.status_code < 300:
                    obj = self.get_object(request, unquote(object_id))
                    if obj is None:  # fail closed (DESIGN §10): a page of patient data not attributed is not served
                        raise PermissionDenied
                    audit.log_admin_read(request, self.patient_id_of(obj), what=f"admin:{self.read_what}-{what}")
                    if hasattr(response, "render"):
                        response.render()
                return response

        return logged

    def history_view(self, request, object_id, extra_context=None):
        view = super().history_view
        return self.logged_object_read(lambda r, o: view(r, o, extra_context), "history")(request, object_id)

    def delete_view(self, request, object_id, extra_context=None):
        view = super().delete_view
        return self.logged_object_read(lambda r, o: view(r, o, extra_context), "delete")(request, object_id)


# --- Effective clearance today, in SQL ----------------------------------------------------------------


def _local_date(zone, instant):
    """The date of ``instant`` in the IANA ``zone`` (PostgreSQL ``timezone(zone, timestamptz)``)."""
    return Cast(Func(zone, instant, function="timezone", output_field=DateTimeField()), DateField())


class _StatesThatApply(Func):
    """The states whose condition holds, in the order given, as a text array; NULL when none does."""

    template = "NULLIF(array_remove(ARRAY[%(expressions)s]::text[], NULL), '{}')"
    output_field = ArrayField(CharField())

    def __init__(self, *states: tuple[str, Q]):
        super().__init__(
            *(Case(When(condition, then=Value(state)), output_field=CharField()) for state, condition in states)
        )


def clearance_states_today(now: dt.datetime | None = None):
    """Each patient's clearance states on their local today: the one that matters most first, then the lesser.

    The gate's rule (``prescriptions.safety.clearance_states``, property-tested equal), as one expression of
    the list query. With no clearance in force: revoked, expired, not yet valid (a clearance not revoked by
    today starts later), else none. With the covering, unrevoked-by-today clearance recorded last in force:
    insufficient authority (an active diagnosis its profession may not clear today: not in its ``clearance_by``,
    or left out by an authority rule that applies today, ``safety.allowed_professions``), restricted (tags or status),
    expiring (ends within ``EXPIRING_WITHIN_DAYS``), else cleared. Revocation dates are local dates.
    """
    now_value = Value(now or timezone.now(), output_field=DateTimeField())
    clearances = Clearance.objects.filter(patient=OuterRef("pk")).alias(
        today=_local_date(OuterRef("timezone"), now_value),
        revoked_on=_local_date(OuterRef("timezone"), F("revoked_at")),
    )
    not_revoked = Q(revoked_at__isnull=True) | Q(revoked_on__gt=F("today"))
    covering = clearances.filter(valid_from__lte=F("today"), valid_until__gte=F("today"))

    # A rule of the diagnosis narrowing who may clear it that applies today and leaves the profession out: today
    # in its window of days since onset (an unrecorded onset is inside: the day is then taken to be the bound
    # itself), its other diagnosis on record (active or not) if it names one.
    days = OuterRef("days_since_onset")
    narrowing_rule = (
        ClearanceAuthorityRule.objects.filter(diagnosis=OuterRef("diagnosis"))
        .alias(
            profession_position=Func(
                F("professions"), OuterRef("profession"), function="array_position", output_field=IntegerField()
            )
        )
        .filter(profession_position__isnull=True)
        .filter(
            Q(with_diagnosis__isnull=True)
            | Exists(
                PatientDiagnosis.objects.filter(
                    patient=OuterRef(OuterRef("patient")), diagnosis=OuterRef("with_diagnosis")
                )
            )
        )
        .filter(Q(from_day__isnull=True) | Q(from_day__lte=Coalesce(days, F("from_day"), output_field=IntegerField())))
        .filter(
            Q(until_day__isnull=True) | Q(until_day__gte=Coalesce(days, F("until_day"), output_field=IntegerField()))
        )
    )
    uncleared_diagnosis = (
        PatientDiagnosis.objects.filter(patient=OuterRef("patient"))
        .alias(
            today=OuterRef("today"),
            profession=OuterRef("profession"),
            days_since_onset=Func(  # date - date is a number of days in PostgreSQL; NULL without an onset
                F("today"), F("onset_date"), template="(%(expressions)s)", arg_joiner=" - ", output_field=IntegerField()
            ),
            cleared_by_position=Func(
                F("diagnosis__clearance_by"), F("profession"), function="array_position", output_field=IntegerField()
            ),
        )
        .filter(Q(onset_date__isnull=True) | Q(onset_date__lte=F("today")))
        .filter(Q(resolved_date__isnull=True) | Q(resolved_date__gt=F("today")))
        .filter(Q(cleared_by_position__isnull=True) | Exists(narrowing_rule))
    )
    restricted = Q(status=Clearance.Status.RESTRICTED) | Exists(
        ClearanceRestriction.objects.filter(clearance=OuterRef("pk"))
    )
    expiring = Q(valid_until__lte=ExpressionWrapper(F("today") + Value(EXPIRING_WITHIN_DAYS), output_field=DateField()))
    in_force = (
        covering.filter(not_revoked)
        .annotate(
            states=Coalesce(
                _StatesThatApply(
                    ("insufficient_authority", Q(Exists(uncleared_diagnosis))),
                    ("restricted", restricted),
                    ("expiring", expiring),
                ),
                Value(["cleared"]),
                output_field=ArrayField(CharField()),
            )
        )
        .order_by("-recorded_at", "-id")
        .values("states")[:1]
    )
    missing = _StatesThatApply(
        ("revoked", Q(Exists(covering.filter(revoked_on__lte=F("today"))))),
        ("expired", Q(Exists(clearances.filter(valid_until__lt=F("today"))))),
        ("not_yet_valid", Q(Exists(clearances.filter(not_revoked, valid_from__gt=F("today"))))),
    )
    return Coalesce(
        Subquery(in_force, output_field=ArrayField(CharField())),
        missing,
        Value(["none"]),
        output_field=ArrayField(CharField()),
    )


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
        return [(str(m.user_id), m.user.get_full_name() or m.user.username) for m in memberships]

    def queryset(self, request, queryset):
        if self.value():
            return queryset.filter(primary_therapist_id=self.value())
        return queryset


# --- Inlines --------------------------------------------------------------------------------------------


class ClearanceInline(ReadOnlyInline):
    """Newest first; clearances are recorded and revoked on the Clearance screens (through the services)."""

    model = Clearance
    fk_name = "patient"
    fields = ["status", "profession", "professional_name", "valid_from", "valid_until", "recorded_at", "revoked_at"]
    ordering = ["-recorded_at", "-id"]
    show_change_link = True


class EpisodeInline(ReadOnlyInline):
    model = Episode
    fields = ["title", "opened_on", "discharged_on", "primary_therapist"]


class DiagnosisInline(ReadOnlyInline):
    model = PatientDiagnosis
    fk_name = "patient"
    fields = ["diagnosis", "phase", "qualifier", "onset_date", "resolved_date"]


class MobilityInline(ReadOnlyInline):
    model = MobilityAssessment
    fields = ["level", "assessed_at", "assessed_by", "notes"]


class PortalAccessInline(ReadOnlyInline):
    """Who may use the portal for this patient; logins are created on the patient's "Portal login" page."""

    model = PortalAccess
    fk_name = "patient"
    fields = ["user", "relationship", "created_at"]
    ordering = ["created_at", "id"]
    verbose_name = "portal login"
    verbose_name_plural = "portal logins"

    def get_queryset(self, request):
        return super().get_queryset(request).select_related("user")


# --- Portal logins --------------------------------------------------------------------------------------

PORTAL_PASSWORD_FIELDS = ("password", "password_confirmation")


class PortalLoginForm(forms.Form):
    """A new portal login for the patient; ``portal_user_create`` validates the username and the password."""

    username = forms.CharField(
        max_length=150,
        validators=[UnicodeUsernameValidator()],  # early, so it is not only reported once the password passes
        help_text="Letters, digits and @ . + - _ only.",
    )
    email = forms.EmailField(required=False, help_text="Optional.")
    relationship = forms.ChoiceField(choices=PortalAccess.Relationship.choices)
    password = forms.CharField(
        strip=False,
        widget=forms.PasswordInput(attrs={"autocomplete": "new-password"}),
        help_text=password_validators_help_text_html(),
    )
    password_confirmation = forms.CharField(
        label="Password (again)",
        strip=False,
        widget=forms.PasswordInput(attrs={"autocomplete": "new-password"}),
    )

    def __init__(self, *args, patient: Patient, **kwargs):
        super().__init__(*args, **kwargs)
        self.patient = patient

    def clean_relationship(self) -> str:
        # A field-named answer for what the service's constraint would refuse anyway.
        relationship = self.cleaned_data["relationship"]
        if self_login_taken(patient=self.patient, relationship=relationship):
            raise ValidationError("This patient already has their own portal login.")
        return relationship

    def clean(self):
        cleaned = super().clean()
        password, again = cleaned.get("password"), cleaned.get("password_confirmation")
        if password and again and password != again:
            self.add_error("password_confirmation", "The two passwords differ.")
        return cleaned


class PortalGrantForm(forms.Form):
    """Give an existing portal login (a guardian's, say) access to one more patient: ``portal_access_grant``."""

    username = forms.CharField(
        max_length=150, help_text="The username of an existing portal login of this clinic's patients."
    )
    relationship = forms.ChoiceField(choices=PortalAccess.Relationship.choices)

    def __init__(self, *args, patient: Patient, **kwargs):
        super().__init__(*args, **kwargs)
        self.patient = patient

    def clean_relationship(self) -> str:
        relationship = self.cleaned_data["relationship"]
        if self_login_taken(patient=self.patient, relationship=relationship):
            raise ValidationError("This patient already has their own portal login.")
        return relationship


def show_refusal(form: forms.Form, error: Exception, *, aliases: dict[str, str] | None = None) -> None:
    """A service's refusal on the form: field errors on their fields (``aliases`` renames), the rest on top."""
    if isinstance(error, ValidationError) and hasattr(error, "error_dict"):
        for field, errors in error.error_dict.items():
            field = (aliases or {}).get(field, field)
            form.add_error(field if field in form.fields else None, [m for e in errors for m in e.messages])
    else:
        form.add_error(None, refusal_text(error))


# --- Patients -------------------------------------------------------------------------------------------


class PatientForm(forms.ModelForm):
    class Meta:
        model = Patient
        fields = [
            "clinic", "mrn", "first_name", "last_name", "date_of_birth", "timezone", "primary_therapist",
            "email", "phone", "email_consent", "sms_consent", "preferred_channel",
            "quiet_hours_start", "quiet_hours_end",
        ]  # fmt: skip


@admin.register(Patient)
class PatientAdmin(PatientReadsLogged, ServiceFormAdmin, ClinicScopedAdmin):
    read_what = "patient"
    form = PatientForm
    list_display = [
        "mrn", "last_name", "first_name", "date_of_birth", "phone", "email", "primary_therapist",
        "clearance_badge", "is_archived",
    ]  # fmt: skip
    list_display_links = ["mrn", "last_name"]
    list_filter = [ArchivedFilter, PrimaryTherapistFilter, ClearanceTodayFilter]
    list_select_related = ["primary_therapist"]
    search_fields = ["first_name", "last_name", "mrn", "phone", "email"]
    readonly_fields = ["email_consent_at", "sms_consent_at", "archived_at", "created_at", "updated_at"]
    inlines = [ClearanceInline, EpisodeInline, DiagnosisInline, MobilityInline, PortalAccessInline]
    actions = ["archive", "restore"]
    scoped_choices = {"primary_therapist": "membership__clinic"}

    def patient_id_of(self, obj) -> int:
        return obj.pk

    def get_queryset(self, request):
        return super().get_queryset(request).annotate(clearance_states=clearance_states_today())

    def get_fields(self, request, obj=None):
        fields = list(super().get_fields(request, obj))
        if not request.user.is_superuser or obj is not None:
            fields.remove("clinic")  # staff register into their own clinic; a patient never moves clinic
        return fields

    def formfield_for_foreignkey(self, db_field, request, **kwargs):
        formfield = super().formfield_for_foreignkey(db_field, request, **kwargs)
        if db_field.name == "primary_therapist" and formfield is not None:
            formfield.queryset = formfield.queryset.filter(membership__role=StaffMembership.Role.THERAPIST)
        return formfield

    def has_delete_permission(self, request, obj=None) -> bool:
        return False  # archive instead

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

    @admin.display(description="Archived", boolean=True, ordering="archived_at")
    def is_archived(self, patient: Patient) -> bool:
        return patient.is_archived

    def save_model(self, request, obj, form, change):
        names = form.changed_data if change else form.cleaned_data
        fields = {name: form.cleaned_data[name] for name in names if name in services.PATIENT_FIELDS}
        if change:
            saved = services.patient_update(patient=obj, by=request.user, **fields)
        else:
            clinic = form.cleaned_data.get("clinic") or request.user.membership.clinic
            saved = services.patient_create(clinic=clinic, by=request.user, **fields)
        obj.__dict__.update({k: v for k, v in saved.__dict__.items() if k != "_state"})
        obj._state.adding = False

    def save_related(self, request, form, formsets, change):
        for formset in formsets:  # inlines are read-only: nothing of theirs is ever saved
            formset.new_objects, formset.changed_objects, formset.deleted_objects = [], [], []

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
        return [path("<path:object_id>/portal-login/", portal_login, name=name), *super().get_urls()]

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


# --- Clearances -----------------------------------------------------------------------------------------


class ClearanceForm(forms.ModelForm):
    restricted_movements = forms.ModelMultipleChoiceField(
        queryset=MovementTag.objects.all(),
        required=False,
        help_text="For a restricted clearance: the movements the professional ruled out.",
    )

    class Meta:
        model = Clearance
        fields = [
            "patient", "professional_name", "profession", "status", "valid_from", "valid_until",
            "document_reference", "notes",
        ]  # fmt: skip


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

    def has_delete_permission(self, request, obj=None) -> bool:
        return False

    def has_revoke_permission(self, request) -> bool:
        return request.user.has_perm("patients.change_clearance")

    @admin.display(description="Restricted movements")
    def restrictions(self, clearance: Clearance) -> str:
        return ", ".join(str(tag) for tag in clearance.restricted_tags.all()) or "—"

    def save_model(self, request, obj, form, change):
        data = form.cleaned_data
        saved = services.clearance_record(
            patient=data["patient"],
            by=request.user,
            professional_name=data["professional_name"],
            profession=data["profession"],
            status=data["status"],
            valid_from=data["valid_from"],
            valid_until=data["valid_until"],
            restricted_tags=data.get("restricted_movements") or (),
            document_reference=data.get("document_reference", ""),
            notes=data.get("notes", ""),
        )
        obj.__dict__.update({k: v for k, v in saved.__dict__.items() if k != "_state"})
        obj._state.adding = False

    def save_related(self, request, form, formsets, change):
        pass  # the service set the restricted movements; no inlines

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


# --- Browse-only patient records ------------------------------------------------------------------------


@admin.register(PortalAccess)
class PortalAccessAdmin(PatientReadsLogged, ReadOnlyAdmin):
    clinic_path = "patient__clinic"
    read_what = "portal-access"
    list_display = ["user", "patient", "relationship"]
    list_select_related = ["user", "patient"]


@admin.register(Episode)
class EpisodeAdmin(PatientReadsLogged, ReadOnlyAdmin):
    clinic_path = "patient__clinic"
    read_what = "episode"
    list_display = ["title", "patient", "opened_on", "discharged_on", "primary_therapist"]
    list_select_related = ["patient", "primary_therapist"]


@admin.register(PatientDiagnosis)
class PatientDiagnosisAdmin(PatientReadsLogged, ReadOnlyAdmin):
    clinic_path = "patient__clinic"
    read_what = "diagnosis"
    list_display = ["patient", "diagnosis", "phase", "qualifier", "onset_date", "resolved_date"]
    list_select_related = ["patient", "diagnosis"]


@admin.register(MobilityAssessment)
class MobilityAssessmentAdmin(PatientReadsLogged, ReadOnlyAdmin):
    clinic_path = "patient__clinic"
    read_what = "mobility"
    list_display = ["patient", "level", "assessed_at", "assessed_by"]
    list_select_related = ["patient", "level", "assessed_by"]
