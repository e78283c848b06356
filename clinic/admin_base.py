"""Admin building blocks shared by the apps: clinic scoping, read-only screens, service-backed writes."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

from django import forms
from django.contrib import admin, messages
from django.contrib.admin import helpers
from django.core.exceptions import PermissionDenied, ValidationError
from django.db.models import Q, QuerySet

from clinic.access import membership_of
from clinic.bounds import MAX_REASON_LENGTH
from clinic.errors import DomainError


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


class ReadOnlyAdmin(ClinicScopedAdmin):
    """Browse-only: clinical rows change through services (state machines, gate, signals), never raw edits."""

    def has_add_permission(self, request, obj=None) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False

    def has_delete_permission(self, request, obj=None) -> bool:
        return False


class ReadOnlyInline(admin.TabularInline):
    """An inline to read, never to edit; the parent admin's scoping already limits whose rows these are."""

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


class ServiceFormAdmin(admin.ModelAdmin):
    """Add/change forms whose ``save_model`` calls a service.

    When the service refuses (ValidationError or a domain error), the first attempt's transaction is rolled
    back and the form is shown again with the refusal as form errors, keeping what the user typed.
    """

    def changeform_view(self, request, object_id=None, form_url="", extra_context=None):
        try:
            return super().changeform_view(request, object_id, form_url, extra_context)
        except (ValidationError, DomainError) as error:
            if request.method != "POST" or getattr(request, "_service_refusal", None) is not None:
                raise
            request._service_refusal = error
            return super().changeform_view(request, object_id, form_url, extra_context)

    def get_form(self, request, obj=None, change=False, **kwargs):
        form = super().get_form(request, obj, change=change, **kwargs)
        refusal = getattr(request, "_service_refusal", None)
        if refusal is None:
            return form

        class Refused(form):
            def clean(self):
                cleaned = super().clean()
                _add_refusal(self, refusal)
                return cleaned

        return Refused


def _add_refusal(form: forms.Form, error: Exception) -> None:
    if isinstance(error, ValidationError) and hasattr(error, "error_dict"):
        for field, errors in error.error_dict.items():
            messages_ = [m for e in errors for m in e.messages]
            form.add_error(field if field in form.fields else None, messages_)
    else:
        form.add_error(None, refusal_text(error))


class ReasonActionForm(helpers.ActionForm):
    """The action bar with a free-text reason, for actions that record why (revoke, resolve)."""

    reason = forms.CharField(required=False, label="Reason", max_length=MAX_REASON_LENGTH)
