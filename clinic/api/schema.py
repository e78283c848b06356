"""OpenAPI: every operation documents the problem-details 4xx answers it can give."""

from __future__ import annotations

from drf_spectacular.extensions import OpenApiAuthenticationExtension
from drf_spectacular.openapi import AutoSchema

from clinic.api.problems import ProblemSerializer


class LimberAutoSchema(AutoSchema):
    def _get_response_bodies(self, direction: str = "response") -> dict:
        responses = super()._get_response_bodies(direction)
        codes = ["400", "401", "403", "404"] if self.method != "GET" else ["400", "401", "403", "404"]
        if self.method in ("POST", "PUT", "PATCH", "DELETE"):
            codes.append("409")
        for code in codes:
            if code not in responses:
                responses[code] = self._get_response_for_code(
                    ProblemSerializer, code, media_types=["application/problem+json"]
                )
        return responses


class KnoxTokenScheme(OpenApiAuthenticationExtension):
    target_class = "knox.auth.TokenAuthentication"
    name = "knoxApiToken"

    def get_security_definition(self, auto_schema: AutoSchema) -> dict:
        return {
            "type": "apiKey",
            "in": "header",
            "name": "Authorization",
            "description": 'Token from POST /api/v1/auth/login, sent as "Authorization: Token <token>".',
        }
