"""Protocol templates in the admin (issue 17): the global templates, read-only, beside the clinic's own, which its
therapists and clinic admin add and change, items included, through ``clinic.services`` (every change bumps the
version). Another clinic's templates are not found. Imported by ``clinic.admin``, which registers the models."""

from __future__ import annotations

from django import forms
from django.contrib import admin
from django.core.exceptions import ValidationError

from clinic import services
from clinic.admin_base import ClinicScopedAdmin, ServiceFormAdmin, ServiceModelForm, _RefusedOnSave, clinic_id_of
from clinic.models import ProtocolTemplate, ProtocolTemplateItem

ITEM_FIELDS = ["order", "stretch", "hold_seconds", "reps", "sets", "side", "notes"]
# The item's progression rule (``DosedItem``), as columns of the inline: label, and how the service names it.
PROGRESSION_COLUMNS = {
    "progress_every_weeks": ("Progress every (weeks)", "progression.every_weeks"),
    "progress_hold_seconds": ("+ hold (s)", "progression.hold_seconds"),
    "progress_reps": ("+ reps", "progression.reps"),
    "progress_sets": ("+ sets", "progression.sets"),
    "progress_max_hold_seconds": ("Up to hold (s)", "progression.max_hold_seconds"),
    "progress_max_reps": ("Up to reps", "progression.max_reps"),
    "progress_max_sets": ("Up to sets", "progression.max_sets"),
}
PROGRESSION_FIELDS = list(PROGRESSION_COLUMNS)
INCREMENT_FIELDS = ["progress_hold_seconds", "progress_reps", "progress_sets"]
# What a refusal's key names, in the inline's words ("items[0].progression.max_hold_seconds" → "up to hold (s)").
COLUMN_LABELS = {
    **{key: f"progression, {label.lower()}" for label, key in PROGRESSION_COLUMNS.values()},
    **{name: f"progression, {label.lower()}" for name, (label, _) in PROGRESSION_COLUMNS.items()},
}


def _admin_refusal(error: ValidationError) -> ValidationError:
    """The service's refusal with each item's errors named in words ("Item 2: …"; a rule's field by its column,
    "Item 2, progression, up to hold (s): …"), for the form's top."""
    if not hasattr(error, "error_dict"):
        return error
    fields: dict[str, list[str]] = {}
    for name, errors in error.message_dict.items():
        if name.startswith("items["):
            index = int(name[len("items[") : name.index("]")])
            column = COLUMN_LABELS.get(name[name.index("]") + 2 :])
            where = f"Item {index + 1}, {column}" if column else f"Item {index + 1}"
            fields.setdefault("__all__", []).extend(f"{where}: {message}" for message in errors)
        else:
            fields.setdefault(name, []).extend(errors)
    return ValidationError(fields)


def _writable(request, template: ProtocolTemplate | None) -> bool:
    """Global templates are read-only but to superusers: a clinic copies one into its own to change it."""
    return template is None or template.clinic_id is not None or request.user.is_superuser


class TemplateForm(ServiceModelForm):
    """The template's own fields; its items are the inline's. The service validates both together when saving."""

    class Meta:
        model = ProtocolTemplate
        fields = "__all__"

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        by = self.by
        if self.instance._state.adding and self.instance.clinic_id is None and by is not None and not by.is_superuser:
            self.instance.clinic_id = clinic_id_of(self.by)  # the slug is unique in the editor's clinic

    def check(self) -> None:
        pass  # the service checks the template with its items (``ProtocolTemplateAdmin.save_related``)


class TemplateItemForm(forms.ModelForm):
    """An item with its dose and its progression rule: a row without "every (weeks)" has no rule; an increment left
    blank adds nothing."""

    class Meta:
        model = ProtocolTemplateItem
        fields = [*ITEM_FIELDS, *PROGRESSION_FIELDS]
        labels = {name: label for name, (label, _) in PROGRESSION_COLUMNS.items()}

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        for name in PROGRESSION_FIELDS:
            field = self.fields.get(name)
            if field is not None:
                field.required = False
                field.widget.attrs.setdefault("style", "width: 4em")

    def clean(self):
        cleaned = super().clean()
        for name in INCREMENT_FIELDS:
            if name in self.fields and cleaned.get(name) is None and name not in self.errors:
                cleaned[name] = 0
        rest = [name for name in PROGRESSION_FIELDS if name != "progress_every_weeks" and cleaned.get(name)]
        if cleaned.get("progress_every_weeks") is None and rest and "progress_every_weeks" not in self.errors:
            self.add_error(
                "progress_every_weeks",
                "Say every how many weeks the dose progresses, or leave the rule's fields empty.",
            )
        return cleaned


def progression_in(data: dict) -> services.ProgressionIn | None:
    """An inline row's rule as the service takes it; None without "every (weeks)"."""
    if data.get("progress_every_weeks") is None:
        return None
    return services.ProgressionIn(
        every_weeks=data["progress_every_weeks"],
        hold_seconds=data.get("progress_hold_seconds") or 0,
        reps=data.get("progress_reps") or 0,
        sets=data.get("progress_sets") or 0,
        max_hold_seconds=data.get("progress_max_hold_seconds"),
        max_reps=data.get("progress_max_reps"),
        max_sets=data.get("progress_max_sets"),
    )


class ProtocolTemplateItemInline(admin.TabularInline):
    """The items with their progression rules: every N weeks from the plan's start, add to the hold, repetitions
    or sets, up to the maxima (blank: the stretch's bounds)."""

    model = ProtocolTemplateItem
    form = TemplateItemForm
    fields = [*ITEM_FIELDS, *PROGRESSION_FIELDS]
    extra = 1
    ordering = ["order", "id"]

    def formfield_for_foreignkey(self, db_field, request, **kwargs):
        formfield = super().formfield_for_foreignkey(db_field, request, **kwargs)
        if db_field.name == "stretch" and formfield is not None and not request.user.is_superuser:
            formfield.queryset = formfield.queryset.visible_to(clinic_id_of(request.user))
        return formfield

    def has_add_permission(self, request, obj=None) -> bool:
        return _writable(request, obj) and super().has_add_permission(request, obj)

    def has_change_permission(self, request, obj=None) -> bool:
        return _writable(request, obj) and super().has_change_permission(request, obj)

    def has_delete_permission(self, request, obj=None) -> bool:
        # Removing an item is a change of the template (the service replaces its items), not a delete of a row.
        return obj is not None and self.has_change_permission(request, obj)


class ProtocolTemplateAdmin(ServiceFormAdmin, ClinicScopedAdmin):
    include_global = True
    form = TemplateForm
    inlines = [ProtocolTemplateItemInline]
    list_display = ["name", "phase", "weeks", "version", "clinic", "diagnosis_codes"]
    list_filter = ["phase", "clinic"]
    list_select_related = ["clinic"]
    search_fields = ["name", "slug", "diagnoses__code"]
    filter_horizontal = ["diagnoses"]
    readonly_fields = ["version", "review_note"]

    def get_queryset(self, request):
        return super().get_queryset(request).prefetch_related("diagnoses")

    @admin.display(description="Diagnoses")
    def diagnosis_codes(self, template: ProtocolTemplate) -> str:
        return ", ".join(sorted(d.code for d in template.diagnoses.all()))

    def get_fields(self, request, obj=None):
        fields = ["name", "slug", "description", "diagnoses", "phase", "days_of_week", "times", "weeks", "source"]
        if request.user.is_superuser:
            fields.insert(0, "clinic")  # blank: a global template
        return [*fields, "version", "review_note"]

    def has_change_permission(self, request, obj=None) -> bool:
        return _writable(request, obj) and super().has_change_permission(request, obj)

    def has_delete_permission(self, request, obj=None) -> bool:
        return False  # a plan records the template it came from

    def save_form(self, request, form, change):
        return form.save(commit=False)  # saved with its items in save_related, through the service

    def save_related(self, request, form, formsets, change):
        (items,) = formsets
        rows = sorted(
            (
                (f.cleaned_data.get("order") or 0, index, f.cleaned_data)
                for index, f in enumerate(items.forms)
                if f.cleaned_data and not f.cleaned_data.get("DELETE") and f.cleaned_data.get("stretch") is not None
            ),
            key=lambda row: row[:2],
        )
        template_items = [
            services.TemplateItemIn(
                stretch=data["stretch"],
                reps=data["reps"],
                sets=data.get("sets") or 1,
                hold_seconds=data.get("hold_seconds"),
                side=data.get("side") or ProtocolTemplateItem._meta.get_field("side").default,
                notes=data.get("notes") or "",
                progression=progression_in(data),
            )
            for _, _, data in rows
        ]
        fields = {name: form.cleaned_data[name] for name in services.TEMPLATE_FIELDS if name in form.cleaned_data}
        diagnoses = list(form.cleaned_data.get("diagnoses") or [])
        try:
            if change:
                if form.has_changed() or items.has_changed():
                    services.template_update(
                        template=form.instance, by=request.user, items=template_items, diagnoses=diagnoses, **fields
                    )
            else:
                clinic = form.cleaned_data.get("clinic") if request.user.is_superuser else None
                if clinic is None and not request.user.is_superuser:
                    clinic = request.user.membership.clinic
                saved = services.template_create(
                    clinic=clinic, by=request.user, items=template_items, diagnoses=diagnoses, **fields
                )
                form.instance.pk, form.instance.version = saved.pk, saved.version
                form.instance._state.adding = False
        except ValidationError as error:
            raise _RefusedOnSave(_admin_refusal(error)) from error
        items.new_objects, items.changed_objects, items.deleted_objects = [], [], []
