"""OpenAPI: every operation documents the problem-details 4xx answers it can give."""

from __future__ import annotations

import copy

from django.core.exceptions import FieldDoesNotExist
from django.db import models
from drf_spectacular.extensions import OpenApiAuthenticationExtension, OpenApiSerializerFieldExtension
from drf_spectacular.openapi import AutoSchema
from drf_spectacular.utils import OpenApiResponse
from rest_framework import serializers

from clinic.api.problems import ProblemSerializer


def _is_problem(serializer) -> bool:
    if isinstance(serializer, OpenApiResponse):  # a problem with its own description is still a problem
        serializer = serializer.response
    cls = serializer if isinstance(serializer, type) else type(serializer)
    return isinstance(cls, type) and issubclass(cls, ProblemSerializer)


def _model_field_is_blank(field) -> bool:
    """Whether ``field`` (of a model serializer) reads a text column that may hold ``""``."""
    parent = getattr(field, "parent", None)
    if not isinstance(parent, serializers.ModelSerializer) or field.source == "*":
        return False
    model, model_field = parent.Meta.model, None
    for attr in field.source_attrs:
        if model is None:
            return False
        try:
            model_field = model._meta.get_field(attr)
        except FieldDoesNotExist:
            return False
        model = model_field.related_model
    return bool(model_field and model_field.blank and isinstance(model_field, models.CharField | models.TextField))


def _as_documented(field):
    """DRF drops ``allow_blank`` from read-only model fields, so a blank column (an email, a diagnosis's phase)
    would be declared as a format or an enum that ``""`` breaks: document the field as it really answers."""
    if (
        field.read_only
        and isinstance(field, serializers.CharField | serializers.ChoiceField)
        and not field.allow_blank
        and _model_field_is_blank(field)
    ):
        field = copy.copy(field)
        field.allow_blank = True
    return field


class LimberAutoSchema(AutoSchema):
    def _map_serializer_field(self, field, direction, bypass_extensions=False):
        return super()._map_serializer_field(_as_documented(field), direction, bypass_extensions)

    def _insert_field_validators(self, field, schema):
        return super()._insert_field_validators(_as_documented(field), schema)

    def _get_response_for_code(self, serializer, status_code, media_types=None, direction="response"):
        if _is_problem(serializer):
            media_types = ["application/problem+json"]
        return super()._get_response_for_code(serializer, status_code, media_types, direction)

    def _get_response_bodies(self, direction: str = "response") -> dict:
        responses = super()._get_response_bodies(direction)
        codes = ["400", "401", "403", "404"]
        if self.method in ("POST", "PUT", "PATCH", "DELETE"):
            codes.append("409")
        if self.method in ("POST", "PUT", "PATCH"):
            codes.append("413")  # a body over DATA_UPLOAD_MAX_MEMORY_SIZE
        for code in codes:
            if code not in responses:
                responses[code] = self._get_response_for_code(
                    ProblemSerializer, code, media_types=["application/problem+json"]
                )
        return responses


class KnoxTokenScheme(OpenApiAuthenticationExtension):
    target_class = "clinic.api.authentication.TokenAuthentication"
    name = "knoxApiToken"

    def get_security_definition(self, auto_schema: AutoSchema) -> dict:
        return {
            "type": "apiKey",
            "in": "header",
            "name": "Authorization",
            "description": 'Token from POST /api/v1/auth/login, sent as "Authorization: Token <token>".',
        }


class LocalTimeFieldExtension(OpenApiSerializerFieldExtension):
    """Local wall-clock times ("08:00:00") carry no offset, so they are not RFC 3339 ``format: time``."""

    target_class = "rest_framework.fields.TimeField"
    match_subclasses = True

    def map_serializer_field(self, auto_schema: AutoSchema, direction: str) -> dict:
        return {
            "type": "string",
            "pattern": r"^([01]\d|2[0-3]):[0-5]\d(:[0-5]\d(\.\d{1,6})?)?$",
            "example": "08:00:00",
            "description": "Local time of day in the patient's zone, without an offset.",
        }
