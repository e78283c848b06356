from django import forms
from django.contrib import admin
from django.contrib.auth.validators import UnicodeUsernameValidator
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction
from django.db.models import Q
from django.utils.decorators import method_decorator
from django.views.decorators.debug import sensitive_post_parameters

from clinic import services
from clinic.access import membership_of
from clinic.admin_base import ClinicScopedAdmin, NewPasswordForm, ServiceFormAdmin, ServiceModelForm, ZoneInput
from clinic.admin_templates import ProtocolTemplateAdmin
from clinic.models import (
    DOSE_BOUNDS,
    DOSE_BOUNDS_SOURCE,
    PRECAUTION_WINDOW_SETTINGS,
    ClearanceAuthorityRule,
    Clinic,
    Contraindication,
    Diagnosis,
    Instrument,
    InstrumentWording,
    MobilityLevel,
    MovementTag,
    ProtocolTemplate,
    StaffMembership,
    Stretch,
)
from clinic.policy import Action, may


def _bounds_words(kind: str) -> str:
    bounds = DOSE_BOUNDS[kind]
    return f"hold {bounds.hold_seconds} s, {bounds.reps} reps, {bounds.sets} sets"


class NoDeleteAdmin(admin.ModelAdmin):
    def has_delete_permission(self, request, obj=None) -> bool:
        return False


class CatalogAdmin(NoDeleteAdmin):
    """Catalog rows are saved through ``clinic.services.catalog_row_save``, which records the re-check of every
    active plan the change may affect (the gate reads these rows)."""

    def save_model(self, request, obj, form, change) -> None:
        pass  # saved together with its many-to-many fields in save_related, through the service

    def save_related(self, request, form, formsets, change) -> None:
        def save_related() -> None:
            super(CatalogAdmin, self).save_related(request, form, formsets, change)

        services.catalog_row_save(row=form.instance, by=request.user, save_related=save_related)


class ClinicCatalogAdmin(ClinicScopedAdmin, CatalogAdmin):
    """A clinic's own catalog rows beside the global ones; global rows are edited by superusers only."""

    include_global = True
    scoped_choices = {"clinic": "pk"}

    def formfield_for_foreignkey(self, db_field, request, **kwargs):
        formfield = super().formfield_for_foreignkey(db_field, request, **kwargs)
        if db_field.name == "clinic" and formfield is not None and not request.user.is_superuser:
            formfield.required = True  # staff add their own clinic's rows, never global ones
            formfield.empty_label = None
        return formfield

    def has_change_permission(self, request, obj=None) -> bool:
        if obj is not None and obj.clinic_id is None and not request.user.is_superuser:
            return False
        return super().has_change_permission(request, obj)


@admin.register(Clinic)
class ClinicAdmin(ClinicScopedAdmin, NoDeleteAdmin):
    clinic_path = "pk"
    list_display = ["name", "timezone", "phone", "created_at"]
    search_fields = ["name"]
    fieldsets = [
        (None, {"fields": ["name", "timezone", "phone", "address"]}),
        (
            "Hip precaution windows",
            {
                "fields": list(PRECAUTION_WINDOW_SETTINGS.values()),
                "description": "How long this clinic's surgeons keep hip precautions after a replacement. The gate"
                " uses these days instead of the catalog's windows for the rows marked with a precaution window;"
                " changing them re-checks every active plan of the clinic.",
            },
        ),
        (
            "Dose progression",
            {
                "fields": ["progression_min_adherence"],
                "description": "A plan's dose progression step goes ahead by itself only when the patient did at"
                " least this share of their sessions over the 14 days before it; otherwise it waits for the"
                " therapist.",
            },
        ),
    ]

    def formfield_for_dbfield(self, db_field, request, **kwargs):
        formfield = super().formfield_for_dbfield(db_field, request, **kwargs)
        if db_field.name == "phone" and formfield is not None:
            formfield.required = True  # blank only on clinics stored before issue 15: a save gives it one
        if db_field.name == "timezone" and formfield is not None:
            formfield.widget = ZoneInput()  # typed with suggestions of the canonical zones
        return formfield

    @transaction.atomic
    def save_model(self, request, obj, form, change) -> None:
        super().save_model(request, obj, form, change)
        if change and set(form.changed_data) & set(PRECAUTION_WINDOW_SETTINGS.values()):
            services.catalog_recheck_request(clinic_id=obj.pk, reason="clinic precaution window changed")


# NewPasswordForm first: its clean() runs before ModelForm's, which ends the chain.
class StaffAddForm(NewPasswordForm, ServiceModelForm):
    """A new member of staff in one step: their login (username, name, email, password twice), their clinic (a
    superuser's choice; a clinic admin's own clinic) and their role. Validated by ``staff_add_check`` and saved by
    ``staff_add``, which puts them in the role's group."""

    username = forms.CharField(
        max_length=150,
        validators=[UnicodeUsernameValidator()],
        help_text="What they log in with. Letters, digits and @ . + - _ only.",
    )
    first_name = forms.CharField(max_length=150)
    last_name = forms.CharField(max_length=150)
    email = forms.EmailField(required=False, help_text="Optional.")

    class Meta:
        model = StaffMembership
        fields = ["clinic", "role", "profession"]

    def clinic(self):
        """The clinic the member joins: the superuser's choice, else the clinic admin's own."""
        if self.cleaned_data.get("clinic") is not None:
            return self.cleaned_data["clinic"]
        membership = membership_of(self.by)
        if membership is None:
            raise PermissionDenied("Only staff of a clinic may add its staff.")
        return membership.clinic

    def service_fields(self) -> dict[str, str]:
        return {name: self.cleaned_data.get(name) or "" for name in services.STAFF_FIELDS}

    def check(self) -> None:
        services.staff_add_check(clinic=self.clinic(), **self.service_fields())


@admin.register(StaffMembership)
class StaffMembershipAdmin(ServiceFormAdmin, ClinicScopedAdmin, NoDeleteAdmin):
    """Adding a member of staff creates their login, membership and role group at once (``staff_add``), in the clinic
    admin's own clinic; a membership's change page changes its role and profession (``staff_role_change``: the role
    group follows)."""

    scoped_choices = {"clinic": "pk"}
    list_display = ["user", "clinic", "role", "profession"]
    list_filter = ["role", "clinic"]
    list_select_related = ["user", "clinic"]
    search_fields = ["user__username", "user__email"]
    add_form = StaffAddForm

    def get_fieldsets(self, request, obj=None):
        if obj is not None:
            return super().get_fieldsets(request, obj)
        login = ["username", "first_name", "last_name", "email", "password", "password_confirmation"]
        membership = ["role", "profession"] if not request.user.is_superuser else ["clinic", "role", "profession"]
        return [("Login", {"fields": login}), ("Membership", {"fields": membership})]

    def get_form(self, request, obj=None, change=False, **kwargs):
        if obj is None:
            kwargs["form"] = self.add_form
        return super().get_form(request, obj, change=change, **kwargs)

    def get_fields(self, request, obj=None):
        if obj is not None:
            return ["member", "clinic", "role", "profession"]
        return super().get_fields(request, obj)

    def get_readonly_fields(self, request, obj=None):
        # A membership is its user's in its clinic for good: only its role and profession change.
        return ["member", "clinic"] if obj is not None else []

    @admin.display(description="Member")
    def member(self, membership: StaffMembership) -> str:
        """The person by name, as text: the user admin is the superuser's, a link there would be a 403."""
        user = membership.user
        return f"{user.get_full_name() or user.get_username()} ({user.get_username()})"

    @method_decorator(sensitive_post_parameters("password", "password_confirmation"))
    def changeform_view(self, request, object_id=None, form_url="", extra_context=None):
        return super().changeform_view(request, object_id, form_url, extra_context)

    def save_through_service(self, request, form, change: bool):
        if change:
            return services.staff_role_change(
                membership=form.instance,
                by=request.user,
                role=form.cleaned_data["role"],
                profession=form.cleaned_data.get("profession") or "",
            )
        return services.staff_add(clinic=form.clinic(), by=request.user, **form.service_fields())

    def formfield_for_foreignkey(self, db_field, request, **kwargs):
        field = super().formfield_for_foreignkey(db_field, request, **kwargs)
        membership = getattr(request.user, "membership", None)
        if db_field.name == "user" and not request.user.is_superuser and membership is not None:
            # Only this clinic's staff, or staff accounts not yet in any clinic: never other clinics' users
            # or patients' portal logins.
            field.queryset = field.queryset.filter(
                Q(membership__clinic_id=membership.clinic_id)
                | Q(membership__isnull=True, is_staff=True, is_superuser=False, portal_accesses__isnull=True)
            ).distinct()
        return field


@admin.register(MovementTag)
class MovementTagAdmin(CatalogAdmin):
    list_display = ["slug", "name"]


@admin.register(MobilityLevel)
class MobilityLevelAdmin(CatalogAdmin):
    list_display = ["level", "name", "description"]


@admin.register(Diagnosis)
class DiagnosisAdmin(CatalogAdmin):
    list_display = ["code", "name", "body_region", "clearance_by"]
    search_fields = ["code", "name"]


@admin.register(ClearanceAuthorityRule)
class ClearanceAuthorityRuleAdmin(CatalogAdmin):
    """Who may clear a diagnosis while a window of days since onset or another diagnosis applies: global rows, so
    superusers edit them (``catalog_row_save``), and every save re-checks every clinic's active plans."""

    list_display = ["diagnosis", "professions", "from_day", "until_day", "with_diagnosis", "source"]
    list_select_related = ["diagnosis", "with_diagnosis"]
    search_fields = ["diagnosis__code", "diagnosis__name"]


class StretchForm(forms.ModelForm):
    """A stretch's default dose must be one its own bounds allow (``Stretch.dose_errors``): a plan made with the
    defaults would otherwise be refused. (Its fields are the admin's fieldsets.)"""

    def _post_clean(self) -> None:
        super()._post_clean()
        stretch = self.instance
        if stretch.kind not in DOSE_BOUNDS or any(f"default_{name}" in self.errors for name in DOSE_FIELDS):
            return
        errors = stretch.dose_errors(
            hold_seconds=stretch.default_hold_seconds, reps=stretch.default_reps, sets=stretch.default_sets
        )
        for name, message in errors.items():
            self.add_error(f"default_{name}" if f"default_{name}" in self.fields else None, message)


DOSE_FIELDS = ("hold_seconds", "reps", "sets")


@admin.register(Stretch)
class StretchAdmin(ClinicCatalogAdmin):
    """A stretch with its default dose and the most a plan, template or progression may give of it (blank: its
    kind's bound, ``DOSE_BOUNDS``; the bounds in force are shown beside)."""

    form = StretchForm
    list_display = ["name", "slug", "clinic", "kind", "position", "body_region", "min_mobility", "bounds_in_force"]
    list_filter = ["kind", "body_region", "position", "clinic"]
    list_select_related = ["clinic", "min_mobility"]
    search_fields = ["name", "slug"]
    filter_horizontal = ["tags"]
    readonly_fields = ["bounds_in_force"]
    fieldsets = [
        (None, {"fields": ["clinic", "slug", "name", "steps", "body_region", "position", "kind", "tags"]}),
        ("Who may do it", {"fields": ["min_mobility"]}),
        ("Default dose", {"fields": ["default_hold_seconds", "default_reps", "default_sets"]}),
        (
            "Dose bounds",
            {
                "fields": ["max_hold_seconds", "max_reps", "max_sets", "bounds_in_force"],
                "description": "The most a plan, a template or a dose progression may give of this stretch. Blank:"
                f" the default of its kind — static: {_bounds_words('static')}; dynamic: {_bounds_words('dynamic')}"
                f" ({DOSE_BOUNDS_SOURCE}).",
            },
        ),
        ("Review", {"fields": ["source", "review_note"]}),
    ]

    @admin.display(description="Bounds in force")
    def bounds_in_force(self, stretch: Stretch) -> str:
        """What plans are held to: the row's own bounds, else its kind's."""
        if stretch.pk is None or stretch.kind not in DOSE_BOUNDS:
            return "—"
        bounds = stretch.dose_bounds
        return f"hold ≤ {bounds.hold_seconds} s, ≤ {bounds.reps} reps, ≤ {bounds.sets} sets"


@admin.register(Contraindication)
class ContraindicationAdmin(ClinicCatalogAdmin):
    list_display = ["diagnosis", "tag", "stretch", "severity", "phase", "qualifier", "from_day", "until_day", "clinic"]
    list_filter = ["severity", "phase", "clinic"]
    list_select_related = ["diagnosis", "tag", "stretch", "clinic"]


# Protocol templates (issue 17): their admin lives in clinic.admin_templates.
admin.site.register(ProtocolTemplate, ProtocolTemplateAdmin)


# --- Outcome measures (issue 18): the instruments, and each clinic's licensed wording ---------------------------


@admin.register(Instrument)
class InstrumentAdmin(NoDeleteAdmin):
    """The four outcome measures, seeded by migration: staff read them; only superusers change one, and never its code
    or items (the scoring and every stored answer depend on them)."""

    list_display = ["abbreviation", "name", "code", "licensed", "higher_is_worse", "meaningful_change"]
    fields = [
        "code",
        "name",
        "abbreviation",
        "items",
        "licensed",
        "higher_is_worse",
        "meaningful_change",
        "wording",
        "source",
        "review_note",
    ]

    def get_readonly_fields(self, request, obj=None):
        return ["code", "items"] if obj is not None else []

    def has_add_permission(self, request) -> bool:
        return request.user.is_superuser and super().has_add_permission(request)

    def has_change_permission(self, request, obj=None) -> bool:
        return request.user.is_superuser and super().has_change_permission(request, obj)


class InstrumentWordingForm(ServiceModelForm):
    """A clinic's licensed wording of a licensed instrument, checked by ``instrument_wording_check`` and saved by
    ``instrument_wording_load``: a clinic admin's own clinic (a superuser chooses), once per instrument."""

    class Meta:
        model = InstrumentWording
        fields = ["clinic", "instrument", "wording", "licence"]

    def clinic(self) -> Clinic:
        """The clinic the wording is for: the row's own, the superuser's choice, else the clinic admin's own."""
        if self.instance.pk is not None:
            return self.instance.clinic
        if self.cleaned_data.get("clinic") is not None:
            return self.cleaned_data["clinic"]
        membership = membership_of(self.by)
        if membership is None:
            raise PermissionDenied("Only staff of a clinic may load its wording.")
        return membership.clinic

    def instrument(self) -> Instrument:
        return self.instance.instrument if self.instance.pk is not None else self.cleaned_data["instrument"]

    def check(self) -> None:
        clinic, instrument = self.clinic(), self.instrument()
        if self.instance.pk is None and InstrumentWording.objects.filter(clinic=clinic, instrument=instrument).exists():
            raise ValidationError(
                {"instrument": f"{clinic} has loaded its {instrument} wording already: change that one instead."}
            )
        services.instrument_wording_check(
            instrument=instrument, wording=self.cleaned_data.get("wording"), licence=self.cleaned_data["licence"]
        )


@admin.register(InstrumentWording)
class InstrumentWordingAdmin(ServiceFormAdmin, ClinicScopedAdmin, NoDeleteAdmin):
    """The ODI and NDI texts are copyrighted: each clinic loads the wording it is licensed to use (here, or with
    ``manage.py load_instrument_wording``). Clinic admins see and load their own clinic's; another clinic's is not
    found."""

    form = InstrumentWordingForm
    scoped_choices = {"clinic": "pk"}
    list_display = ["instrument", "clinic", "licence", "loaded_by_name", "loaded_at"]
    list_filter = ["instrument", "clinic"]
    list_select_related = ["instrument", "clinic", "loaded_by"]
    readonly_fields = ["loaded_by_name", "loaded_at"]

    def get_fields(self, request, obj=None):
        if obj is not None:
            return ["clinic", "instrument", "wording", "licence", "loaded_by_name", "loaded_at"]
        if request.user.is_superuser:
            return ["clinic", "instrument", "wording", "licence"]
        return ["instrument", "wording", "licence"]

    def get_readonly_fields(self, request, obj=None):
        # A row is its clinic's wording of its instrument for good: only the text and the licence change.
        return [*self.readonly_fields, "clinic", "instrument"] if obj is not None else self.readonly_fields

    def formfield_for_foreignkey(self, db_field, request, **kwargs):
        formfield = super().formfield_for_foreignkey(db_field, request, **kwargs)
        if db_field.name == "instrument" and formfield is not None:
            formfield.queryset = formfield.queryset.filter(licensed=True)  # a free one's wording ships
        if db_field.name == "clinic" and formfield is not None:
            formfield.required = True
        return formfield

    def has_add_permission(self, request) -> bool:
        return super().has_add_permission(request) and may(Action.LOAD_WORDING, request.user)

    def has_change_permission(self, request, obj=None) -> bool:
        return super().has_change_permission(request, obj) and may(Action.LOAD_WORDING, request.user)

    @admin.display(description="Loaded by")
    def loaded_by_name(self, row: InstrumentWording) -> str:
        """The person by name, as text: the user admin is the superuser's, a link there would be a 403."""
        user = row.loaded_by
        if user is None:
            return "The server's operator (manage.py load_instrument_wording)" if row.pk else "—"
        return user.get_full_name() or user.get_username()

    def save_through_service(self, request, form, change: bool):
        return services.instrument_wording_load(
            clinic=form.clinic(),
            instrument=form.instrument(),
            wording=form.cleaned_data["wording"],
            licence=form.cleaned_data["licence"],
            by=request.user,
        )
