"""Login/logout for portal and staff users, and their passwords.

Two ways to sign in, one set of rules: a knox token (hashed at rest, expiring, revocable) for API clients, and a
Django session (cookie, CSRF required) for the browser portal, lasting as long as a token (``SESSION_COOKIE_AGE``
from ``API_TOKEN_TTL_HOURS``). Failed logins count towards the django-axes lockout (settings AXES_*), exactly as
the admin's do: the request goes to ``authenticate`` so axes sees who and from where, and a locked-out pair gets a
429 problem. Both logins and the three password endpoints share the "login" throttle.
"""

from __future__ import annotations

from axes.helpers import get_cool_off, get_lockout_message
from django.contrib.auth import authenticate, login, logout, update_session_auth_hash
from drf_spectacular.utils import OpenApiResponse, extend_schema, inline_serializer
from knox.views import LoginView as KnoxLoginView
from knox.views import LogoutAllView as KnoxLogoutAllView
from knox.views import LogoutView as KnoxLogoutView
from rest_framework import exceptions, serializers, status
from rest_framework.authentication import SessionAuthentication
from rest_framework.permissions import AllowAny
from rest_framework.response import Response
from rest_framework.views import APIView

from clinic.api.authentication import TokenAuthentication
from clinic.api.client_ip import LoginRateThrottle
from clinic.api.problems import ProblemSerializer
from clinic.api.views import Contextual
from clinic.services import auth_password_change, auth_password_reset_confirm, auth_password_reset_request


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


def role_of(user) -> str:
    membership = getattr(user, "membership", None)
    return membership.role if membership else "portal"


LOGIN_429 = OpenApiResponse(
    ProblemSerializer,
    description="Too many attempts from this client (throttled), or this username is locked out for "
    "this client after repeated failed logins (type …/locked-out). Retry-After gives the wait at most.",
)
THROTTLED_429 = OpenApiResponse(ProblemSerializer, description="Too many attempts from this client (Retry-After).")
CSRF_403 = OpenApiResponse(
    ProblemSerializer, description="No valid CSRF token: send the page's token in the X-CSRFToken header."
)


class Anonymous:
    """Before anyone is signed in: no authentication, anyone may call, counted by the login throttle (shared by every
    way in: token and session login, password reset and its confirmation)."""

    authentication_classes: list = []
    permission_classes = [AllowAny]
    throttle_classes = [LoginRateThrottle]
    throttle_scope = "login"


class LoginView(Anonymous, KnoxLoginView):
    @extend_schema(
        request=LoginIn,
        responses={200: TokenOut, 400: ProblemSerializer, 429: LOGIN_429},
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
        return {"token": token, "expiry": instance.expiry, "role": role_of(request.user)}


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


# --- Browser sessions ----------------------------------------------------------------------------------------


def enforce_csrf(request) -> None:
    """Refuse a POST without the page's CSRF token (403 problem), signed in or not. DRF checks CSRF only for a
    request its session authentication signed in; the session login needs it too, or another site could sign a
    browser in to the attacker's account (login CSRF)."""
    SessionAuthentication().enforce_csrf(request)


class SessionOut(serializers.Serializer):
    role = serializers.CharField(help_text="therapist, front_desk, clinic_admin, or portal.")
    expiry = serializers.DateTimeField(help_text="When the session ends (API_TOKEN_TTL_HOURS after the login).")


class SessionLoginView(Anonymous, APIView):
    """Sign a browser in: a new session (key and CSRF token rotated), the same lockout, throttle and problems as
    the token login. The page then navigates to pick up the rotated CSRF token."""

    @extend_schema(
        request=LoginIn,
        responses={200: SessionOut, 400: ProblemSerializer, 403: CSRF_403, 429: LOGIN_429},
        auth=[],
        summary="Sign in with a session cookie (browsers; CSRF required)",
    )
    def post(self, request, format=None):
        enforce_csrf(request)
        data = LoginIn(data=request.data, context={"request": request})
        data.is_valid(raise_exception=True)
        user = data.validated_data["user"]
        login(request, user)  # rotates the session key and the CSRF token; axes logs the login
        return Response(SessionOut({"role": role_of(user), "expiry": request.session.get_expiry_date()}).data)


class SessionLogoutView(APIView):
    """End this browser's session (no-op without one). CSRF required."""

    authentication_classes = [SessionAuthentication]
    permission_classes = [AllowAny]

    @extend_schema(request=None, responses={204: None, 403: CSRF_403}, summary="Sign out of this session")
    def post(self, request, format=None):
        enforce_csrf(request)
        logout(request)
        return Response(status=status.HTTP_204_NO_CONTENT)


# --- Passwords -----------------------------------------------------------------------------------------------


def _password_field(**kwargs) -> serializers.CharField:
    return serializers.CharField(style={"input_type": "password"}, trim_whitespace=False, max_length=4096, **kwargs)


class PasswordChangeIn(serializers.Serializer):
    old_password = _password_field()
    new_password = _password_field(help_text="Checked by the password validators.")


class PasswordResetIn(serializers.Serializer):
    email = serializers.EmailField(max_length=254)


class PasswordResetConfirmIn(serializers.Serializer):
    uid = serializers.CharField(max_length=64, help_text="The <uidb64> part of the emailed link.")
    token = serializers.CharField(max_length=128, help_text="The <token> part of the emailed link.")
    new_password = _password_field(help_text="Checked by the password validators.")


RESET_ACCEPTED = (
    "If an active login has this address, a link to reset its password is on its way. It works once and expires."
)
ResetAcceptedOut = inline_serializer("PasswordResetAccepted", {"detail": serializers.CharField()})


class PasswordChangeView(Contextual, APIView):
    """The signed-in user (session or token) changes their password. Their other API tokens end (the token this
    request came with stays), as do their other browser sessions; this session stays signed in."""

    throttle_classes = [LoginRateThrottle]
    throttle_scope = "login"

    @extend_schema(
        request=PasswordChangeIn,
        responses={
            204: None,
            400: OpenApiResponse(ProblemSerializer, description="Wrong old_password, or new_password refused."),
            401: ProblemSerializer,
            403: CSRF_403,
            429: THROTTLED_429,
        },
        summary="Change my password",
    )
    def post(self, request, format=None):
        data = PasswordChangeIn(data=request.data)
        data.is_valid(raise_exception=True)
        by_session = isinstance(request.successful_authenticator, SessionAuthentication)
        auth_password_change(
            user=request.user,
            old_password=data.validated_data["old_password"],
            new_password=data.validated_data["new_password"],
            keep_token=None if by_session else request.auth,
        )
        if by_session:
            update_session_auth_hash(request, request.user)  # this session survives the new password hash
        return Response(status=status.HTTP_204_NO_CONTENT)


class PasswordResetView(Anonymous, Contextual, APIView):
    """Ask for a password reset link by email. The answer is the same whether or not the address is known."""

    @extend_schema(
        request=PasswordResetIn,
        responses={202: ResetAcceptedOut, 400: ProblemSerializer, 429: THROTTLED_429},
        auth=[],
        summary="Email me a password reset link",
    )
    def post(self, request, format=None):
        data = PasswordResetIn(data=request.data)
        data.is_valid(raise_exception=True)
        auth_password_reset_request(email=data.validated_data["email"])
        return Response({"detail": RESET_ACCEPTED}, status=status.HTTP_202_ACCEPTED)


class PasswordResetConfirmView(Anonymous, Contextual, APIView):
    """Set a new password with an emailed link's uid and token (once). Every API token of the user ends."""

    @extend_schema(
        request=PasswordResetConfirmIn,
        responses={
            204: None,
            400: OpenApiResponse(
                ProblemSerializer, description="The link is invalid or expired (token), or new_password is refused."
            ),
            429: THROTTLED_429,
        },
        auth=[],
        summary="Set a new password from a reset link",
    )
    def post(self, request, format=None):
        data = PasswordResetConfirmIn(data=request.data)
        data.is_valid(raise_exception=True)
        auth_password_reset_confirm(**data.validated_data)
        return Response(status=status.HTTP_204_NO_CONTENT)
