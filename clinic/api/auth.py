"""Token login/logout for portal and staff users: knox tokens (hashed at rest, expiring, revocable).

Failed logins count towards the django-axes lockout (settings AXES_*), exactly as the admin's do: the
request goes to ``authenticate`` so axes sees who and from where, and a locked-out pair gets a 429 problem.
"""

from __future__ import annotations

from axes.helpers import get_cool_off, get_lockout_message
from django.contrib.auth import authenticate
from drf_spectacular.utils import OpenApiResponse, extend_schema
from knox.views import LoginView as KnoxLoginView
from knox.views import LogoutAllView as KnoxLogoutAllView
from knox.views import LogoutView as KnoxLogoutView
from rest_framework import exceptions, serializers, status
from rest_framework.permissions import AllowAny

from clinic.api.authentication import TokenAuthentication
from clinic.api.client_ip import LoginRateThrottle
from clinic.api.problems import ProblemSerializer


class LockedOut(exceptions.APIException):
    """Too many failed logins for this username from this address; ``wait`` becomes Retry-After (at most)."""

    status_code = status.HTTP_429_TOO_MANY_REQUESTS
    default_code = "locked_out"

    def __init__(self, wait: float | None) -> None:
        super().__init__(str(get_lockout_message()))
        self.wait = wait


class LoginIn(serializers.Serializer):
    username = serializers.CharField()
    password = serializers.CharField(style={"input_type": "password"}, trim_whitespace=False)

    def validate(self, attrs: dict) -> dict:
        request = self.context["request"]
        user = authenticate(request, username=attrs["username"], password=attrs["password"])
        # axes marks the request it was given (DRF's, not the Django one its middleware rewrites), so the
        # lockout is answered here as a problem rather than by the middleware's plain-text page.
        if getattr(request, "axes_locked_out", False):
            cool_off = get_cool_off(request)
            raise LockedOut(wait=cool_off.total_seconds() if cool_off else None)
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
    throttle_classes = [LoginRateThrottle]
    throttle_scope = "login"

    @extend_schema(
        request=LoginIn,
        responses={
            200: TokenOut,
            400: ProblemSerializer,
            429: OpenApiResponse(
                ProblemSerializer,
                description="Too many attempts from this client (throttled), or this username is locked out for "
                "this client after repeated failed logins (type …/locked-out). Retry-After gives the wait at most.",
            ),
        },
        auth=[],
        summary="Obtain an API token",
    )
    def post(self, request, format=None):
        data = LoginIn(data=request.data, context={"request": request})
        data.is_valid(raise_exception=True)
        request.user = data.validated_data["user"]
        response = super().post(request, format=format)
        # axes' login log (login monitoring) stores a hash of the session key and creates a session to get one;
        # a token client has no use for an empty session or its cookie.
        if not request.session.keys():
            request.session.flush()
        return response

    def get_post_response_data(self, request, token, instance) -> dict:
        membership = getattr(request.user, "membership", None)
        return {
            "token": token,
            "expiry": instance.expiry,
            "role": membership.role if membership else "portal",
        }


class LogoutView(KnoxLogoutView):
    authentication_classes = (TokenAuthentication,)

    @extend_schema(request=None, responses={204: None, 401: ProblemSerializer}, summary="Revoke this token")
    def post(self, request, format=None):
        return super().post(request, format=format)


class LogoutAllView(KnoxLogoutAllView):
    authentication_classes = (TokenAuthentication,)

    @extend_schema(request=None, responses={204: None, 401: ProblemSerializer}, summary="Revoke all my tokens")
    def post(self, request, format=None):
        return super().post(request, format=format)
