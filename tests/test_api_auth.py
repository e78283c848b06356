"""Token auth: knox tokens hashed at rest, expiring, revocable; session auth for browsers; login throttling."""

from __future__ import annotations

import datetime as dt

import pytest
from django.core.cache import cache
from django.utils import timezone
from knox.models import AuthToken
from knox.settings import CONSTANTS

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


def test_an_expired_token_is_refused_without_a_write_and_purged_by_the_nightly_task(api, therapist, settings):
    from clinic.services import auth_tokens_purge_expired
    from clinic.tasks import purge_expired_tokens

    expired = login(api, therapist).json()["token"]
    live = login(api, therapist).json()["token"]
    key = CONSTANTS.TOKEN_KEY_LENGTH
    AuthToken.objects.filter(token_key=expired[:key]).update(expiry=timezone.now() - dt.timedelta(seconds=1))
    api.credentials(HTTP_AUTHORIZATION=f"Token {expired}")
    assert api.get("/api/v1/patients/").status_code == 401
    api.credentials(HTTP_AUTHORIZATION=f"Token {live}")
    assert api.get("/api/v1/patients/").status_code == 200
    assert AuthToken.objects.filter(user=therapist).count() == 2  # a read deletes nothing

    purge_expired_tokens()
    assert list(AuthToken.objects.filter(user=therapist).values_list("token_key", flat=True)) == [live[:key]]
    assert auth_tokens_purge_expired() == 0
    schedule = settings.CELERY_BEAT_SCHEDULE.values()
    assert "clinic.purge_expired_tokens" in {entry["task"] for entry in schedule}


@pytest.mark.parametrize("header", ["Token", "Token a b", "Token not-a-token", "Token \u00e9t\u00e9", "Bearer x"])
def test_malformed_tokens_are_refused(api, therapist, header):
    api.credentials(HTTP_AUTHORIZATION=header)
    response = api.get("/api/v1/patients/")
    assert response.status_code == 401
    assert response["Content-Type"].startswith("application/problem+json")


def test_a_token_authenticates_user_and_membership_in_one_query(api, therapist, count_queries):
    from django.test import RequestFactory

    from clinic.access import membership_of
    from clinic.api.authentication import TokenAuthentication

    token = login(api, therapist).json()["token"]
    request = RequestFactory().get("/", HTTP_AUTHORIZATION=f"Token {token}")
    found = []
    assert count_queries(lambda: found.append(TokenAuthentication().authenticate(request))) == 1
    user, auth_token = found[0]
    assert user == therapist and auth_token.user_id == therapist.pk
    assert count_queries(lambda: membership_of(user)) == 0
    assert membership_of(user).role == "therapist"


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
