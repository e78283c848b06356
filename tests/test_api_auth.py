"""Token auth: knox tokens hashed at rest, expiring, revocable; session auth for browsers; login throttling."""

from __future__ import annotations

import datetime as dt

import pytest
from django.core.cache import cache
from django.utils import timezone
from knox.models import AuthToken

PASSWORD = "correct horse battery staple"


@pytest.fixture(autouse=True)
def _fresh_throttle():
    cache.clear()
    yield
    cache.clear()


def login(api, user, password=PASSWORD):
    return api.post("/api/v1/auth/login", {"username": user.username, "password": password})


def test_staff_login_returns_an_expiring_token_stored_hashed(api, therapist):
    response = login(api, therapist)
    assert response.status_code == 200, response.json()
    body = response.json()
    assert body["role"] == "therapist"
    assert dt.datetime.fromisoformat(body["expiry"]) > timezone.now()
    stored = AuthToken.objects.get(user=therapist)
    assert body["token"] not in (stored.digest, stored.token_key)  # only a digest and a short key are kept
    assert body["token"].startswith(stored.token_key)

    api.credentials(HTTP_AUTHORIZATION=f"Token {body['token']}")
    assert api.get("/api/v1/patients/").status_code == 200


def test_portal_login_role_is_portal(api, portal_user):
    body = login(api, portal_user).json()
    assert body["role"] == "portal"


def test_wrong_password_is_a_400_problem_without_detail_leaks(api, therapist):
    response = login(api, therapist, password="nope")
    assert response.status_code == 400
    assert response.json()["errors"] == {"non_field_errors": ["Unable to log in with these credentials."]}


def test_logout_revokes_the_token(api, therapist):
    token = login(api, therapist).json()["token"]
    api.credentials(HTTP_AUTHORIZATION=f"Token {token}")
    assert api.post("/api/v1/auth/logout").status_code == 204
    assert api.get("/api/v1/patients/").status_code == 401


def test_logout_all_revokes_every_token(api, therapist):
    first = login(api, therapist).json()["token"]
    login(api, therapist)
    api.credentials(HTTP_AUTHORIZATION=f"Token {first}")
    assert api.post("/api/v1/auth/logout-all").status_code == 204
    assert not AuthToken.objects.filter(user=therapist).exists()


def test_an_expired_token_is_refused(api, therapist):
    token = login(api, therapist).json()["token"]
    AuthToken.objects.filter(user=therapist).update(expiry=timezone.now() - dt.timedelta(seconds=1))
    api.credentials(HTTP_AUTHORIZATION=f"Token {token}")
    response = api.get("/api/v1/patients/")
    assert response.status_code == 401
    assert response.json()["type"].endswith("/authentication-failed")


def test_a_deactivated_user_cannot_log_in_or_use_a_token(api, therapist):
    token = login(api, therapist).json()["token"]
    therapist.is_active = False
    therapist.save()
    api.credentials(HTTP_AUTHORIZATION=f"Token {token}")
    assert api.get("/api/v1/patients/").status_code == 401
    api.credentials()
    assert login(api, therapist).status_code == 400


def test_session_auth_works_for_browser_users(client, therapist):
    client.force_login(therapist)
    assert client.get("/api/v1/patients/").status_code == 200


def test_login_is_throttled(api, therapist, settings):
    for _ in range(10):
        login(api, therapist, password="wrong")
    response = login(api, therapist)
    assert response.status_code == 429
    assert response.json()["status"] == 429
    assert "Retry-After" in response


def test_schema_and_docs_are_served(api):
    schema = api.get("/api/schema/")
    assert schema.status_code == 200
    assert b"/api/v1/auth/login" in schema.content
    docs = api.get("/api/docs/")
    assert docs.status_code == 200
    assert b"cdn" not in docs.content.lower()  # Swagger UI assets are served locally
