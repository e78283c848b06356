from typing import Any

import orjson
from rest_framework.negotiation import DefaultContentNegotiation
from rest_framework.renderers import BaseRenderer
from rest_framework.utils.encoders import JSONEncoder

_fallback = JSONEncoder()


def _default(value: Any) -> Any:
    return _fallback.default(value)


class ORJSONRenderer(BaseRenderer):
    """JSON via orjson: the portal's hot path spends much of its time serializing."""

    media_type = "application/json"
    format = "json"
    charset = None

    def render(self, data: Any, accepted_media_type: str | None = None, renderer_context: dict | None = None) -> bytes:
        if data is None:
            return b""
        return orjson.dumps(data, default=_default, option=orjson.OPT_NON_STR_KEYS)


class ProblemJSONRenderer(ORJSONRenderer):
    media_type = "application/problem+json"


class FHIRJSONRenderer(ORJSONRenderer):
    """FHIR's JSON media type (the export of issue 19)."""

    media_type = "application/fhir+json"
    format = "fhir"


class AnyAccept(DefaultContentNegotiation):
    """The view answers in its first renderer's type whatever the client asks for (``Accept: application/pdf`` or
    ``application/json`` is no 406); a problem (404, 403) sets its own content type."""

    def select_renderer(self, request, renderers, format_suffix=None):
        return renderers[0], renderers[0].media_type
