"""Staff endpoints for protocol templates (issue 17): the global templates (read-only) plus the clinic's own.

Therapists and clinic admins read and write (``Action.EDIT_TEMPLATES``); the front desk is refused (403): a
template is clinical content it does not prescribe from. Another clinic's template is a 404; changing a global one
is a 403 (``clinic.services.template_update``): copy it into the clinic's own instead. Every change bumps the
template's ``version``.
"""

from __future__ import annotations

from typing import Any

import django_filters
from django.db.models import Prefetch
from django.shortcuts import get_object_or_404
from drf_spectacular.utils import extend_schema
from rest_framework import serializers, status
from rest_framework.response import Response

from clinic import services
from clinic.api.catalog import DosedItemIn, DosedItemOut, hold_seconds_field
from clinic.api.inputs import TimesOfDayField, WeekdaysField, validated
from clinic.api.views import ClinicAPIView, ClinicListView
from clinic.models import Diagnosis, Phase, ProtocolTemplate, ProtocolTemplateItem
from clinic.policy import Action

MAX_WEEKS = 104


def visible_templates(clinic_id: int | None):
    """The global templates plus the clinic's own with their diagnoses and items: constant queries per page."""
    items = ProtocolTemplateItem.objects.select_related("stretch").order_by("order", "id")
    return (
        ProtocolTemplate.objects.visible_to(clinic_id)
        .prefetch_related("diagnoses", Prefetch("items", items))
        .order_by("name", "id")
    )


# --- Out -----------------------------------------------------------------------------------------------


class TemplateItemOut(DosedItemOut):
    class Meta:
        model = ProtocolTemplateItem
        fields = DosedItemOut.FIELDS
        read_only_fields = fields


class TemplateOut(serializers.ModelSerializer):
    diagnoses = serializers.SlugRelatedField(
        slug_field="code", many=True, read_only=True, help_text="ICD-10-CM codes it targets."
    )
    phase = serializers.ChoiceField(choices=Phase.choices, allow_blank=True, read_only=True, help_text="Empty: any.")
    is_global = serializers.BooleanField(read_only=True, help_text="Ships with Limber for every clinic (read-only).")
    items = TemplateItemOut(many=True, read_only=True)

    class Meta:
        model = ProtocolTemplate
        fields = [
            "id", "slug", "name", "description", "diagnoses", "phase", "days_of_week", "times", "weeks", "version",
            "clinic", "is_global", "source", "review_note", "items", "created_at", "updated_at",
        ]  # fmt: skip
        read_only_fields = fields


# --- In ------------------------------------------------------------------------------------------------


class TemplateItemIn(DosedItemIn):
    """A stretch and its dose; an omitted hold, reps or sets takes the stretch's default."""

    hold_seconds = hold_seconds_field(help_text="Seconds. Omitted: the stretch's.")

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        attrs.setdefault("hold_seconds", attrs["stretch"].default_hold_seconds)
        return super().validate(attrs)


class TemplatePatchIn(serializers.Serializer):
    """A change to a template: only the fields given change; ``items``, when given, replace all items."""

    slug = serializers.SlugField(max_length=80, required=False)
    name = serializers.CharField(max_length=200, required=False)
    description = serializers.CharField(max_length=5000, required=False, allow_blank=True)
    diagnoses = serializers.SlugRelatedField(
        slug_field="code",
        queryset=Diagnosis.objects.all(),
        many=True,
        required=False,
        help_text="ICD-10-CM codes, e.g. M54.50; at least one.",
    )
    phase = serializers.ChoiceField(choices=Phase.choices, required=False, allow_blank=True, help_text="Empty: any.")
    days_of_week = WeekdaysField(required=False, help_text="Suggested ISO weekdays: 1 = Monday … 7 = Sunday.")
    times = TimesOfDayField(required=False, help_text='Suggested local times of day, e.g. ["08:00", "18:30"].')
    weeks = serializers.IntegerField(
        min_value=1, max_value=MAX_WEEKS, required=False, allow_null=True, help_text="Null: open-ended."
    )
    source = serializers.CharField(max_length=300, required=False, allow_blank=True)
    items = TemplateItemIn(many=True, min_length=1, max_length=50, required=False)


class TemplateIn(TemplatePatchIn):
    slug = serializers.SlugField(max_length=80, required=False, help_text="Omitted: made from the name.")
    name = serializers.CharField(max_length=200)
    diagnoses = serializers.SlugRelatedField(
        slug_field="code", queryset=Diagnosis.objects.all(), many=True, help_text="ICD-10-CM codes; at least one."
    )
    days_of_week = WeekdaysField(help_text="Suggested ISO weekdays: 1 = Monday … 7 = Sunday.")
    times = TimesOfDayField(help_text='Suggested local times of day, e.g. ["08:00", "18:30"].')
    items = TemplateItemIn(many=True, min_length=1, max_length=50)


def _items(rows: list[dict[str, Any]]) -> list[services.TemplateItemIn]:
    return [services.TemplateItemIn(**row) for row in rows]


# --- Filters -------------------------------------------------------------------------------------------


class TemplateFilter(django_filters.FilterSet):
    diagnosis = django_filters.CharFilter(
        field_name="diagnoses__code", distinct=True, help_text="ICD-10-CM code, e.g. M54.50."
    )
    phase = django_filters.ChoiceFilter(choices=Phase.choices, help_text="Exactly this phase (not the any-phase ones).")

    class Meta:
        model = ProtocolTemplate
        fields = ["diagnosis", "phase"]


# --- Views ---------------------------------------------------------------------------------------------


class TemplateScoped:
    shows_patients = None  # the catalog: no patient data
    read_action = Action.EDIT_TEMPLATES  # who writes templates reads them: therapists and clinic admins
    write_action = Action.EDIT_TEMPLATES

    def body(self, template_id: int, status_code: int = status.HTTP_200_OK) -> Response:
        return Response(TemplateOut(visible_templates(self.clinic_id).get(pk=template_id)).data, status=status_code)


class TemplateListView(TemplateScoped, ClinicListView):
    serializer_class = TemplateOut
    filterset_class = TemplateFilter

    def get_queryset(self):
        return visible_templates(self.clinic_id)

    @extend_schema(summary="Protocol templates: the global ones plus the clinic's own")
    def get(self, request, *args, **kwargs):
        return super().get(request, *args, **kwargs)

    @extend_schema(request=TemplateIn, responses={201: TemplateOut}, summary="Add a template of the clinic's own")
    def post(self, request):
        data = dict(validated(TemplateIn(data=request.data, context={"request": request})))
        data["items"] = _items(data["items"])
        template = services.template_create(clinic=self.membership.clinic, by=request.user, **data)
        return self.body(template.pk, status.HTTP_201_CREATED)


class TemplateDetailView(TemplateScoped, ClinicAPIView):
    @extend_schema(responses={200: TemplateOut}, summary="A protocol template with its items")
    def get(self, request, template_id: int):
        return Response(TemplateOut(get_object_or_404(visible_templates(self.clinic_id), pk=template_id)).data)

    @extend_schema(
        request=TemplatePatchIn,
        responses={200: TemplateOut},
        summary="Change a template of the clinic's own (a global one: 403); its version goes up by one",
    )
    def patch(self, request, template_id: int):
        template = get_object_or_404(ProtocolTemplate.objects.visible_to(self.clinic_id), pk=template_id)
        data = dict(validated(TemplatePatchIn(data=request.data, context={"request": request})))
        if "items" in data:
            data["items"] = _items(data["items"])
        services.template_update(template=template, by=request.user, **data)
        return self.body(template_id)
