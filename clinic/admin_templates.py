"""Protocol templates in the admin (issue 17): the global templates, read-only, beside the clinic's own, which its
therapists and clinic admin add and change, items included, through ``clinic.services`` (every change bumps the
version). Another clinic's templates are not found. Imported by ``clinic.admin``, which registers the models."""

from __future__ import annotations

from django.contrib import admin
from django.core.exceptions import ValidationError

from clinic import services
from clinic.admin_base import ClinicScopedAdmin, ServiceFormAdmin, ServiceModelForm, _RefusedOnSave, clinic_id_of
from clinic.models import ProtocolTemplate, ProtocolTemplateItem

ITEM_FIELDS = ["order", "stretch", "hold_seconds", "reps", "sets", "side", "notes"]


def _admin_refusal(error: ValidationError) -> ValidationError:
    """The service's refusal with each item's errors named in words ("Item 2: …"), for the form's top."""
    if not hasattr(error, "error_dict"):
        return error
    fields: dict[str, list[str]] = {}
    for name, errors in error.message_dict.items():
        if name.startswith("items["):
            index = int(name[len("items[") : name.index("]")])
            fields.setdefault("__all__", []).extend(f"Item {index + 1}: {message}" for message in errors)
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


class ProtocolTemplateItemInline(admin.TabularInline):
    model = ProtocolTemplateItem
    fields = ITEM_FIELDS
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
