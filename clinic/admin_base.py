"""Admin building blocks shared by the apps: clinic scoping, read-only screens, service-backed writes."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

from django import forms
from django.contrib import admin, messages
from django.contrib.admin import helpers
from django.contrib.auth.base_user import AbstractBaseUser
from django.contrib.auth.password_validation import password_validators_help_text_html
from django.core.exceptions import FieldDoesNotExist, PermissionDenied, ValidationError
from django.db import router, transaction
from django.db.models import Q, QuerySet
from django.utils.html import format_html, format_html_join
from django.utils.text import capfirst

from clinic.access import membership_of
from clinic.bounds import MAX_REASON_LENGTH
from clinic.errors import DomainError
from clinic.models import ZONES


def clinic_id_of(user) -> int | None:
    membership = membership_of(user)
    return membership.clinic_id if membership is not None else None


def scope_to_clinic(queryset: QuerySet, user, clinic_path: str, *, include_global: bool = False) -> QuerySet:
    """Rows of the user's clinic only; superusers see every clinic, anyone else without a membership nothing."""
    if user.is_superuser:
        return queryset
    clinic_id = clinic_id_of(user)
    if clinic_id is None:
        return queryset.none()
    lookup = "pk" if clinic_path == "pk" else f"{clinic_path}_id"
    condition = Q(**{lookup: clinic_id})
    if include_global:
        condition |= Q(**{f"{clinic_path}__isnull": True})
    return queryset.filter(condition)


class ClinicScopedAdmin(admin.ModelAdmin):
    """Staff see and change only their clinic's rows; another clinic's row is "not found", as if missing.

    ``clinic_path`` is the lookup from the model to its Clinic (``"pk"`` for Clinic itself); with
    ``include_global`` rows without a clinic (the global catalog) are visible too.
    """

    clinic_path = "clinic"
    include_global = False
    # Foreign keys whose choices are limited to the user's clinic: field name → lookup from that model to Clinic.
    scoped_choices: dict[str, str] = {}

    def get_queryset(self, request):
        queryset = super().get_queryset(request)
        return scope_to_clinic(queryset, request.user, self.clinic_path, include_global=self.include_global)

    def formfield_for_foreignkey(self, db_field, request, **kwargs):
        formfield = super().formfield_for_foreignkey(db_field, request, **kwargs)
        path = self.scoped_choices.get(db_field.name)
        if path is not None and formfield is not None:
            formfield.queryset = scope_to_clinic(formfield.queryset, request.user, path)
        return formfield

    # A read-only foreign key shows as a link to its row's admin page whether or not the reader may open it (Django
    # does not ask). On a detail page the reader cannot change, a foreign key to a page they may not view (a user,
    # a plan for the front desk) is shown as text instead: a person by their full name.

    def get_fieldsets(self, request, obj=None):
        fieldsets = super().get_fieldsets(request, obj)
        if obj is None or self.has_change_permission(request, obj):
            return fieldsets
        return [
            (title, {**options, "fields": [self._shown_as(request, line) for line in options["fields"]]})
            for title, options in fieldsets
        ]

    def get_form(self, request, obj=None, change=False, **kwargs):
        if kwargs.get("fields"):  # a field shown as text is read-only, never a form field
            kwargs["fields"] = [name for name in kwargs["fields"] if not str(name).endswith(AS_TEXT)]
        return super().get_form(request, obj, change=change, **kwargs)

    def _shown_as(self, request, name):
        if isinstance(name, (list, tuple)):
            return type(name)(self._shown_as(request, each) for each in name)
        if not isinstance(name, str):
            return name
        try:
            field = self.model._meta.get_field(name)
        except FieldDoesNotExist:
            return name
        if not (field.concrete and field.is_relation and (field.many_to_one or field.one_to_one)):
            return name
        related_admin = self.admin_site._registry.get(field.related_model)
        if related_admin is not None and related_admin.has_view_permission(request):
            return name
        text_name = f"{name}{AS_TEXT}"
        if not hasattr(self, text_name):
            setattr(self, text_name, _as_text(field, self.get_empty_value_display()))
        return text_name


AS_TEXT = "__as_text"


def _as_text(field, empty: str) -> Callable[[Any], str]:
    """How a read-only foreign key is shown when its page may not be opened: a person by full name, else as text."""

    def shown(obj) -> str:
        value = getattr(obj, field.name)
        if value is None:
            return empty
        if isinstance(value, AbstractBaseUser):
            return getattr(value, "get_full_name", str)() or value.get_username()
        return str(value)

    shown.short_description = capfirst(field.verbose_name)
    return shown


class ReadOnlyAdmin(ClinicScopedAdmin):
    """Browse-only: clinical rows change through services (state machines, gate, signals), never raw edits."""

    def has_add_permission(self, request, obj=None) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False

    def has_delete_permission(self, request, obj=None) -> bool:
        return False


class _ParentCachedFormSet(forms.BaseInlineFormSet):
    """Each row gets the parent row itself, not only its id: a row's ``__str__`` naming its patient (the inline
    shows it) reads no patient per row."""

    def _construct_form(self, i, **kwargs):
        form = super()._construct_form(i, **kwargs)
        if self.instance.pk is not None:
            self.fk.set_cached_value(form.instance, self.instance)
        return form


class ReadOnlyInline(admin.TabularInline):
    """An inline to read, never to edit; the parent admin's scoping already limits whose rows these are."""

    formset = _ParentCachedFormSet
    extra = 0
    can_delete = False
    show_change_link = False

    def get_readonly_fields(self, request, obj=None):
        return self.fields or []

    def has_add_permission(self, request, obj=None) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False

    def has_delete_permission(self, request, obj=None) -> bool:
        return False


def refusal_text(error: Exception) -> str:
    if isinstance(error, DomainError):
        return error.detail
    if isinstance(error, ValidationError):
        return " ".join(error.messages)
    return str(error) or "You may not do this."


def run_service_action(
    modeladmin: admin.ModelAdmin,
    request,
    rows: Iterable[Any],
    service: Callable[[Any], Any],
    *,
    done: str,
) -> None:
    """Call ``service`` per row; refusals (state, validation, role) become admin messages, never 500s."""
    succeeded = 0
    for row in rows:
        try:
            service(row)
        except (DomainError, ValidationError, PermissionDenied) as error:
            modeladmin.message_user(request, f"{row}: {refusal_text(error)}", messages.ERROR)
        else:
            succeeded += 1
    if succeeded:
        modeladmin.message_user(request, f"{done}: {succeeded}.", messages.SUCCESS)


def show_refusal(form: forms.Form, error: Exception, *, aliases: dict[str, str] | None = None) -> None:
    """A service's refusal on the form: field errors on their fields (``aliases`` renames), the rest on top."""
    if isinstance(error, ValidationError) and hasattr(error, "error_dict"):
        for field, errors in error.error_dict.items():
            field = (aliases or {}).get(field, field)
            form.add_error(field if field in form.fields else None, [m for e in errors for m in e.messages])
    else:
        form.add_error(None, refusal_text(error))


class NewPasswordForm(forms.Form):
    """A new login's password, typed twice (with the validators' rules as help); the two must be the same. The
    service validates the password itself, with its user."""

    password = forms.CharField(
        strip=False,
        widget=forms.PasswordInput(attrs={"autocomplete": "new-password"}),
        help_text=password_validators_help_text_html(),
    )
    password_confirmation = forms.CharField(
        label="Password (again)", strip=False, widget=forms.PasswordInput(attrs={"autocomplete": "new-password"})
    )

    def clean(self):
        cleaned = super().clean()
        password, again = cleaned.get("password"), cleaned.get("password_confirmation")
        if password and again and password != again:
            self.add_error("password_confirmation", "The two passwords differ.")
        return cleaned


class ZoneInput(forms.TextInput):
    """A time zone typed with suggestions: a text input bound to a ``<datalist>`` of the canonical zones
    (``clinic.models.ZONES``), so typing "Sao" offers America/Sao_Paulo. The value is validated server-side as
    before (the model's ``validate_timezone``; a row's stored legacy zone is shown and sent back unchanged)."""

    def __init__(self, attrs=None):
        super().__init__({"class": "vTextField", "autocomplete": "off", "spellcheck": "false", **(attrs or {})})

    def render(self, name, value, attrs=None, renderer=None):
        list_id = f"{(attrs or {}).get('id') or name}_zones"
        field = super().render(name, value, {**(attrs or {}), "list": list_id}, renderer)
        options = format_html_join("", '<option value="{}">', ((zone,) for zone in sorted(ZONES)))
        return format_html('{}<datalist id="{}">{}</datalist>', field, list_id, options)


class ServiceModelForm(forms.ModelForm):
    """A model form that a service saves, validated by that service's own checks.

    ``check`` calls the service's check function (``patients.services.patient_create_check``, say) with what the
    service will be given: it raises what the service would refuse and writes nothing. It runs once the fields and
    the model's own validation passed (a form with errors is not put to the service, as the service was never
    called with one), and its refusal becomes field or non-field errors in Django's normal flow.

    ``by`` is the user saving and ``refused_on_save`` a refusal the write met after this form had passed: both are
    set per request by ``ServiceFormAdmin.get_form``.
    """

    by = None
    refused_on_save: Exception | None = None

    def check(self) -> None:
        """Raise what the service would refuse for ``cleaned_data`` (ValidationError or a DomainError)."""
        raise NotImplementedError

    def _post_clean(self) -> None:
        super()._post_clean()  # the instance from the cleaned data, validated as the model validates it
        if self.errors:
            return
        try:
            self.check()
        except (ValidationError, DomainError) as error:
            show_refusal(self, error)
        if self.refused_on_save is not None and not self.errors:  # the check sees the race now, or this shows it
            show_refusal(self, self.refused_on_save)


class _RefusedOnSave(Exception):
    def __init__(self, error: ValidationError | DomainError):
        super().__init__(error)
        self.error = error


class ServiceFormAdmin(admin.ModelAdmin):
    """Add/change forms saved through a service, the Django way.

    - Validation is the form's: a ``ServiceModelForm`` runs the service's own checks, so a refusal shows on the
      form through Django's normal flow, and nothing is written.
    - ``save_form`` calls ``save_through_service`` and returns the row the service saved, which becomes the form's
      instance: Django carries on (log entry, message, redirect) with that very row. ``save_model`` writes
      nothing, and ``save_related`` saves no inline (they are read-only here; the service saved the whole row).
    - ``save_form`` runs before Django validates the inline formsets: if one is refused afterwards (a tampered
      management form), the page is shown again and ``render_change_form`` rolls the view's transaction back, so
      nothing of the refused POST stays written.
    - A refusal only the write can meet (a race since the form's check: a unique value taken meanwhile) is raised
      by the service inside the view's transaction, which rolls the attempt back. Django has no hook that turns an
      exception from saving into form errors (ticket #28619: validate in the form, which the check does), and only
      the view builds the change form with its inlines and what the user typed; so ``changeform_view`` renders the
      same POST once more, and the form shows the refusal (``refused_on_save``) instead of saving.
    """

    def save_through_service(self, request, form: ServiceModelForm, change: bool):
        """Call the service with the form's cleaned data; return the row it saved."""
        raise NotImplementedError

    def get_form(self, request, obj=None, change=False, **kwargs):
        form = super().get_form(request, obj, change=change, **kwargs)
        # ModelAdmin.get_form builds a new class on every call (modelform_factory): these are this request's.
        form.by = request.user
        form.refused_on_save = getattr(request, "_refused_on_save", None)
        return form

    def save_form(self, request, form, change):
        try:
            saved = self.save_through_service(request, form, change)
        except (ValidationError, DomainError) as error:
            raise _RefusedOnSave(error) from error
        form.instance = saved
        form.saved_by_service = True
        return saved

    def save_model(self, request, obj, form, change):
        pass  # save_form saved it, through the service

    def save_related(self, request, form, formsets, change):
        for formset in formsets:  # inlines are read-only: nothing of theirs is ever saved
            formset.new_objects, formset.changed_objects, formset.deleted_objects = [], [], []

    def render_change_form(self, request, context, add=False, change=False, form_url="", obj=None):
        response = super().render_change_form(request, context, add, change, form_url, obj)
        if getattr(context["adminform"].form, "saved_by_service", False):  # saved, then an inline formset refused
            transaction.set_rollback(True, using=router.db_for_write(self.model))
        return response

    def changeform_view(self, request, object_id=None, form_url="", extra_context=None):
        try:
            return super().changeform_view(request, object_id, form_url, extra_context)
        except _RefusedOnSave as refused:
            request._refused_on_save = refused.error
            return super().changeform_view(request, object_id, form_url, extra_context)


class ReasonActionForm(helpers.ActionForm):
    """The action bar with a free-text reason, for actions that record why (revoke, resolve)."""

    reason = forms.CharField(required=False, label="Reason", max_length=MAX_REASON_LENGTH)
