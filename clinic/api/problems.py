"""Errors as RFC 9457 problem details: {"type", "title", "status", "detail", "errors"[, "findings"]}.

The one place domain exceptions become HTTP: ValidationError → 400 with field errors, PermissionDenied →
403, a row outside the caller's scope → 404, StateConflict and SafetyBlocked → 409, a body over
DATA_UPLOAD_MAX_MEMORY_SIZE → 413 (here, or in ``bad_request`` when Django refuses it before any view).
"""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.core.exceptions import PermissionDenied as DjangoPermissionDenied
from django.core.exceptions import RequestDataTooBig, SuspiciousOperation
from django.core.exceptions import ValidationError as DjangoValidationError
from django.http import Http404
from rest_framework import exceptions, serializers, status
from rest_framework.response import Response
from rest_framework.serializers import as_serializer_error
from rest_framework.views import exception_handler as drf_exception_handler

from clinic.api.inputs import flat_errors
from clinic.errors import SafetyBlocked, StateConflict

PROBLEM_BASE = "https://limber.invalid/problems/"
CONTENT_TYPE = "application/problem+json"

TITLES = {
    400: "Invalid request",
    401: "Not authenticated",
    403: "Not allowed",
    404: "Not found",
    405: "Method not allowed",
    406: "Not acceptable",
    409: "Conflict",
    413: "Request body too large",
    415: "Unsupported media type",
    429: "Too many requests",
}


def problem(status_code: int, detail: str, *, kind: str, title: str | None = None, **extra: Any) -> Response:
    body = {
        "type": PROBLEM_BASE + kind,
        "title": title or TITLES.get(status_code, "Error"),
        "status": status_code,
        "detail": detail,
        **extra,
    }
    return Response(body, status=status_code, content_type=CONTENT_TYPE)


def _flatten(detail: Any) -> Any:
    if isinstance(detail, dict):
        return {key: _flatten(value) for key, value in detail.items()}
    if isinstance(detail, list):
        return [_flatten(value) for value in detail]
    return str(detail)


def _too_large_body() -> dict:
    limit = settings.DATA_UPLOAD_MAX_MEMORY_SIZE
    return {
        "type": PROBLEM_BASE + "too-large",
        "title": TITLES[413],
        "status": 413,
        "detail": f"The request body is larger than the limit of {limit} bytes.",
        "errors": {},
    }


def exception_handler(exc: Exception, context: dict) -> Response | None:
    if isinstance(exc, RequestDataTooBig):  # raised by Django when the parser reads request.body
        return Response(_too_large_body(), status=413, content_type=CONTENT_TYPE)
    if isinstance(exc, SafetyBlocked):
        return problem(
            status.HTTP_409_CONFLICT,
            exc.detail,
            kind="safety-blocked",
            title="Refused by the safety gate",
            errors={},
            findings=exc.findings,
        )
    if isinstance(exc, StateConflict):
        return problem(status.HTTP_409_CONFLICT, exc.detail, kind="state-conflict", title="State conflict", errors={})
    if isinstance(exc, DjangoValidationError):
        exc = exceptions.ValidationError(detail=as_serializer_error(exc))
    elif isinstance(exc, DjangoPermissionDenied):
        exc = exceptions.PermissionDenied(str(exc) or None)
    elif isinstance(exc, Http404):
        exc = exceptions.NotFound()

    response = drf_exception_handler(exc, context)
    if response is None:
        return None
    if isinstance(exc, exceptions.ValidationError):
        errors = flat_errors(exc.detail)  # nested serializer errors as "items[1].reps"
        if "__all__" in errors:  # model-level errors from services read like serializer-level ones
            errors["non_field_errors"] = [*errors.get("non_field_errors", []), *errors.pop("__all__")]
        first = next(iter(errors.values()), ["Invalid input."])
        summary = first[0] if isinstance(first, list) and first and isinstance(first[0], str) else "Invalid input."
        result = problem(response.status_code, summary, kind="invalid", errors=errors)
    else:
        detail = exc.detail if isinstance(exc, exceptions.APIException) else str(exc)
        kind = getattr(exc, "default_code", "error").replace("_", "-")
        result = problem(response.status_code, str(_flatten(detail)), kind=kind, errors={})
    for header in ("WWW-Authenticate", "Retry-After", "Allow"):
        if header in response:
            result[header] = response[header]
    return result


class ProblemSerializer(serializers.Serializer):
    """RFC 9457 problem details, as every 4xx answers."""

    type = serializers.URLField()
    title = serializers.CharField()
    status = serializers.IntegerField()
    detail = serializers.CharField()
    errors = serializers.DictField(
        child=serializers.ListField(child=serializers.CharField()),
        help_text="Field name → messages (400); empty otherwise.",
    )


class FindingSerializer(serializers.Serializer):
    """One reason the safety gate objects to one item; an override or acknowledgement names its item, code, cause."""

    code = serializers.CharField()
    severity = serializers.ChoiceField(choices=["block", "warn"])
    overridable = serializers.BooleanField()
    item = serializers.IntegerField(help_text="The plan item's id: what an override or acknowledgement names.")
    item_index = serializers.IntegerField(
        min_value=0, help_text="The item's place, from 0: among the plan's items in order, or in a request's `items`."
    )
    stretch = serializers.CharField()
    cause = serializers.CharField()
    message = serializers.CharField()


class SafetyProblemSerializer(ProblemSerializer):
    """A 409 refusal by the safety gate carries the findings that refused it."""

    findings = FindingSerializer(many=True, required=False)


def bad_request(request, exception=None):
    """handler400: a request Django refuses before any view (too large a body, a bad host…) under /api/ answers
    with problem details — 413 for a body over DATA_UPLOAD_MAX_MEMORY_SIZE — other paths as Django does."""
    from django.http import JsonResponse
    from django.views.defaults import bad_request as django_bad_request

    if request.path.startswith("/api/"):
        if isinstance(exception, RequestDataTooBig):
            return JsonResponse(_too_large_body(), status=413, content_type=CONTENT_TYPE)
        detail = "The request was refused." if isinstance(exception, SuspiciousOperation) else "Bad request."
        body = {"type": PROBLEM_BASE + "bad-request", "title": TITLES[400], "status": 400, "detail": detail}
        return JsonResponse({**body, "errors": {}}, status=400, content_type=CONTENT_TYPE)
    return django_bad_request(request, exception)


def not_found(request, exception=None):
    """handler404: API paths that match no route answer with problem details, other paths as Django does."""
    from django.http import JsonResponse
    from django.views.defaults import page_not_found

    if request.path.startswith("/api/"):
        body = {
            "type": PROBLEM_BASE + "not-found",
            "title": TITLES[404],
            "status": 404,
            "detail": "Not found.",
            "errors": {},
        }
        return JsonResponse(body, status=404, content_type=CONTENT_TYPE)
    return page_not_found(request, exception)


def server_error(request):
    """handler500: an error under /api/ answers with problem details (no stack, no HTML), other paths as Django
    does. Nothing about the error is told: it is logged on the server."""
    from django.http import JsonResponse
    from django.views.defaults import server_error as django_server_error

    if request.path.startswith("/api/"):
        body = {
            "type": PROBLEM_BASE + "server-error",
            "title": "Server error",
            "status": 500,
            "detail": "The server could not answer this request; it has been logged.",
            "errors": {},
        }
        return JsonResponse(body, status=500, content_type=CONTENT_TYPE)
    return django_server_error(request)
