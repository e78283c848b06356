"""Token login/logout for portal and staff users: knox tokens (hashed at rest, expiring, revocable)."""

from __future__ import annotations

from django.contrib.auth import authenticate
from drf_spectacular.utils import extend_schema
from knox.views import LoginView as KnoxLoginView
from knox.views import LogoutAllView as KnoxLogoutAllView
from knox.views import LogoutView as KnoxLogoutView
from rest_framework import serializers
from rest_framework.permissions import AllowAny
from rest_framework.throttling import ScopedRateThrottle

from clinic.api.problems import ProblemSerializer


class LoginIn(serializers.Serializer):
    username = serializers.CharField()
    password = serializers.CharField(style={"input_type": "password"}, trim_whitespace=False)

    def validate(self, attrs: dict) -> dict:
        user = authenticate(self.context["request"], username=attrs["username"], password=attrs["password"])
        if user is None or not user.is_active:
            raise serializers.ValidationError("Unable to log in with these credentials.", code="authorization")
        attrs["user"] = user
        return attrs


class TokenOut(serializers.Serializer):
    token = serializers.CharField(help_text='Send as "Authorization: Token <token>".')
    expiry = serializers.DateTimeField(allow_null=True)
    role = serializers.CharField(help_text="therapist, front_desk, clinic_admin, or portal.")


class LoginView(KnoxLoginView):
    authentication_classes: list = []
    permission_classes = [AllowAny]
    throttle_classes = [ScopedRateThrottle]
    throttle_scope = "login"

    @extend_schema(
        request=LoginIn,
        responses={200: TokenOut, 400: ProblemSerializer, 429: ProblemSerializer},
        auth=[],
        summary="Obtain an API token",
    )
    def post(self, request, format=None):
        data = LoginIn(data=request.data, context={"request": request})
        data.is_valid(raise_exception=True)
        request.user = data.validated_data["user"]
        return super().post(request, format=format)

    def get_post_response_data(self, request, token, instance) -> dict:
        membership = getattr(request.user, "membership", None)
        return {
            "token": token,
            "expiry": instance.expiry,
            "role": membership.role if membership else "portal",
        }


class LogoutView(KnoxLogoutView):
    @extend_schema(request=None, responses={204: None, 401: ProblemSerializer}, summary="Revoke this token")
    def post(self, request, format=None):
        return super().post(request, format=format)


class LogoutAllView(KnoxLogoutAllView):
    @extend_schema(request=None, responses={204: None, 401: ProblemSerializer}, summary="Revoke all my tokens")
    def post(self, request, format=None):
        return super().post(request, format=format)
