"""The WSGI application's lean twin for token API requests (issue 20): the same answer, body and headers (but the
``Vary: Cookie`` a session middleware adds to a no-store answer), and session requests keep the full stack."""

from __future__ import annotations

import io

from django.test import Client
from knox.models import AuthToken

from config import wsgi
from tests import factories

PLANS = "/api/v1/portal/plans"


def test_only_token_requests_under_the_api_take_the_lean_handler():
    token = {"PATH_INFO": "/api/v1/portal/plans", "HTTP_AUTHORIZATION": "Token abc"}
    assert wsgi.is_token_api_request(token)
    assert wsgi.is_token_api_request({**token, "HTTP_AUTHORIZATION": "token abc"})  # the scheme is case-insensitive
    assert not wsgi.is_token_api_request({**token, "HTTP_AUTHORIZATION": "Bearer abc"})
    assert not wsgi.is_token_api_request({"PATH_INFO": "/api/v1/portal/plans", "HTTP_COOKIE": "sessionid=x"})
    assert not wsgi.is_token_api_request({**token, "PATH_INFO": "/admin/"})
    lean = wsgi.token_api_application.middleware
    assert "django.contrib.sessions.middleware.SessionMiddleware" not in lean
    assert [name for name in lean if name.startswith(("django.middleware.security", "csp", "clinic.api.no_store"))]
    assert set(lean) | wsgi.SESSION_ONLY_MIDDLEWARE >= set(wsgi.settings.MIDDLEWARE)


def test_a_token_answer_is_the_same_from_both_handlers(wsgi_call, portal_user, patient):
    _, token = AuthToken.objects.create(user=portal_user)
    auth = {"HTTP_AUTHORIZATION": f"Token {token}"}
    full_status, full_headers, full_body = wsgi_call(wsgi.django_application, PLANS, **auth)
    lean_status, lean_headers, lean_body = wsgi_call(wsgi.application, PLANS, **auth)
    assert full_status == lean_status == "200 OK"
    assert lean_body == full_body
    assert full_headers.pop("Vary", "Cookie") == "Cookie"  # the full stack's session middleware touched the session
    assert lean_headers == full_headers
    assert lean_headers["Cache-Control"] == "no-store"
    # A refusal too: a bad token is a 401 problem from either.
    bad = {"HTTP_AUTHORIZATION": "Token nonsense"}
    assert wsgi_call(wsgi.application, PLANS, **bad)[0] == wsgi_call(wsgi.django_application, PLANS, **bad)[0]


def test_the_portal_web_apps_session_requests_keep_the_full_stack(wsgi_call, portal_user, patient):
    factories.PrescriptionFactory(patient=patient, status="active")
    client = Client()
    client.force_login(portal_user)
    cookie = f"sessionid={client.cookies['sessionid'].value}"
    status, headers, body = wsgi_call(wsgi.application, PLANS, HTTP_COOKIE=cookie)
    assert status == "200 OK", body
    assert b'"plans"' in body
    assert "Cookie" in headers.get("Vary", "")
    # The admin's login page, too.
    assert wsgi_call(wsgi.application, "/admin/login/")[0] == "200 OK"


def test_a_login_with_a_stale_token_attached_keeps_the_full_stack(wsgi_call, portal_user):
    """The auth endpoints use the session (a login rotates it): a client sending its old token along still logs in."""
    portal_user.set_password("a-long-enough-password-1")
    portal_user.save()
    body = f'{{"username": "{portal_user.username}", "password": "a-long-enough-password-1"}}'.encode()
    environ = {"HTTP_AUTHORIZATION": "Token stale", "PATH_INFO": "/api/v1/auth/login"}
    assert not wsgi.is_token_api_request(environ)
    status, _, answer = wsgi_call(
        wsgi.application,
        "/api/v1/auth/login",
        REQUEST_METHOD="POST",
        CONTENT_TYPE="application/json",
        CONTENT_LENGTH=str(len(body)),
        HTTP_AUTHORIZATION="Token stale",
        **{"wsgi.input": io.BytesIO(body)},
    )
    assert status == "200 OK", answer
    assert b'"token"' in answer
