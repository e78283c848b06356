"""Browser sign-in (issue 16): session login/logout with CSRF, the same lockout and problems as the token login,
one lifetime for sessions and tokens; password change; password reset by email without enumeration."""

from __future__ import annotations

import datetime as dt
import os
import re
import subprocess
import sys

import pytest
from django.conf import settings
from django.contrib.auth import get_user_model
from django.core import mail
from django.core.cache import cache
from django.test import Client, override_settings
from django.utils import timezone
from knox.models import AuthToken

from clinic.tasks import send_password_reset
from config.celery import app
from config.settings import base
from tests import factories

PASSWORD = "correct horse battery staple"
NEW_PASSWORD = "a brand new stretchy passphrase"
LIMIT = base.AXES_FAILURE_LIMIT
COOL_OFF = base.AXES_COOLOFF_TIME
LINK = re.compile(r"/portal/reset/(?P<uid>[^/\s]+)/(?P<token>[^/\s]+)")


@pytest.fixture(autouse=True)
def _fresh_throttle():
    cache.clear()
    yield
    cache.clear()


@pytest.fixture
def browser(db):
    """A browser: the Django test client with CSRF checks on, holding the CSRF cookie a page would have given."""
    client = Client(enforce_csrf_checks=True)
    assert client.get("/admin/login/").status_code == 200  # any page that renders a CSRF token sets the cookie
    return client


def csrf(client) -> dict:
    """The header the portal's script sends: the token its page got (here: the current CSRF cookie)."""
    return {"HTTP_X_CSRFTOKEN": client.cookies[settings.CSRF_COOKIE_NAME].value}


def post(client, url, data=None, *, with_csrf=True):
    return client.post(url, data or {}, content_type="application/json", **(csrf(client) if with_csrf else {}))


def session_login(client, user_or_name, password=PASSWORD, **kwargs):
    username = getattr(user_or_name, "username", user_or_name)
    return post(client, "/api/v1/auth/session/login", {"username": username, "password": password}, **kwargs)


@pytest.fixture
def eager():
    """Tasks enqueued after commit run at once, in this process (the real enqueue path, no broker)."""
    app.conf.task_always_eager = True
    yield
    app.conf.task_always_eager = False


# --- session login and logout ----------------------------------------------------------------------------------


def test_session_login_signs_the_browser_in_for_the_portal(browser, portal_user, patient):
    before = browser.cookies[settings.CSRF_COOKIE_NAME].value
    response = session_login(browser, portal_user)
    assert response.status_code == 200, response.content
    body = response.json()
    assert body["role"] == "portal"
    expiry = dt.datetime.fromisoformat(body["expiry"])
    ttl = settings.REST_KNOX["TOKEN_TTL"]
    assert timezone.now() + ttl - dt.timedelta(minutes=1) < expiry <= timezone.now() + ttl
    assert settings.SESSION_COOKIE_NAME in response.cookies
    assert browser.cookies[settings.CSRF_COOKIE_NAME].value != before  # the CSRF token rotates with the login
    assert not AuthToken.objects.filter(user=portal_user).exists()  # no token: the cookie is the credential

    me = browser.get("/api/v1/portal/me")
    assert me.status_code == 200
    assert [row["id"] for row in me.json()["patients"]] == [patient.pk]


def test_session_login_gives_staff_their_role(browser, therapist):
    response = session_login(browser, therapist)
    assert response.status_code == 200
    assert response.json()["role"] == "therapist"
    assert browser.get("/api/v1/patients/").status_code == 200


def test_session_login_rotates_the_session_key(browser, portal_user):
    browser.session.save()  # a session fixed before the login (session fixation)
    fixed = browser.cookies[settings.SESSION_COOKIE_NAME].value
    assert session_login(browser, portal_user).status_code == 200
    assert browser.cookies[settings.SESSION_COOKIE_NAME].value != fixed


def test_session_login_without_csrf_is_refused(browser, portal_user):
    response = session_login(browser, portal_user, with_csrf=False)
    assert response.status_code == 403
    assert response["Content-Type"] == "application/problem+json"
    assert "CSRF" in response.json()["detail"]
    assert browser.get("/api/v1/portal/me").status_code in (401, 403)


def test_session_login_with_a_wrong_password_is_a_400_problem(browser, portal_user):
    response = session_login(browser, portal_user, "nope")
    assert response.status_code == 400
    assert response["Content-Type"] == "application/problem+json"
    assert response.json()["errors"] == {"non_field_errors": ["Unable to log in with these credentials."]}
    assert settings.SESSION_COOKIE_NAME not in response.cookies or not response.cookies[settings.SESSION_COOKIE_NAME]


def test_session_login_refuses_an_inactive_user(browser, portal_user):
    portal_user.is_active = False
    portal_user.save()
    assert session_login(browser, portal_user).status_code == 400


def test_session_login_locks_out_like_the_token_login(browser, portal_user):
    with override_settings(AXES_ENABLED=True, AXES_FAILURE_LIMIT=LIMIT, AXES_COOLOFF_TIME=COOL_OFF):
        for _ in range(LIMIT - 1):
            assert session_login(browser, portal_user, "wrong").status_code == 400
        locked = session_login(browser, portal_user, "wrong")
        assert locked.status_code == 429
        assert locked["Content-Type"] == "application/problem+json"
        assert locked.json()["type"].endswith("/locked-out")
        assert locked["Retry-After"] == str(int(COOL_OFF.total_seconds()))
        again = session_login(browser, portal_user)  # the right password does not help while locked
        assert again.status_code == 429
    assert browser.get("/api/v1/portal/me").status_code in (401, 403)


def test_session_and_token_logins_share_the_throttle(browser, api):
    for number in range(5):  # LOGIN_THROTTLE_RATE 10/min; no username+address pair reaches the lockout
        assert api.post("/api/v1/auth/login", {"username": f"nobody-{number}", "password": "x"}).status_code == 400
    for number in range(5, 10):
        assert session_login(browser, f"nobody-{number}", "wrong").status_code == 400
    response = session_login(browser, "nobody-else")
    assert response.status_code == 429
    assert response.json()["type"].endswith("/throttled")
    assert "Retry-After" in response


def test_session_logout_ends_the_session(browser, portal_user):
    assert session_login(browser, portal_user).status_code == 200
    assert browser.get("/api/v1/portal/me").status_code == 200
    assert post(browser, "/api/v1/auth/session/logout").status_code == 204  # with the rotated CSRF token
    assert browser.get("/api/v1/portal/me").status_code in (401, 403)


def test_session_logout_without_csrf_is_refused_and_keeps_the_session(browser, portal_user):
    assert session_login(browser, portal_user).status_code == 200
    response = post(browser, "/api/v1/auth/session/logout", with_csrf=False)
    assert response.status_code == 403
    assert browser.get("/api/v1/portal/me").status_code == 200


def test_a_session_api_write_needs_csrf(browser, portal_user):
    assert session_login(browser, portal_user).status_code == 200
    body = {"old_password": PASSWORD, "new_password": NEW_PASSWORD}
    assert post(browser, "/api/v1/auth/password/change", body, with_csrf=False).status_code == 403


def test_sessions_last_as_long_as_api_tokens():
    assert settings.REST_KNOX["TOKEN_TTL"].total_seconds() == settings.SESSION_COOKIE_AGE


def test_one_variable_sets_both_lifetimes():
    code = (
        "from django.conf import settings as s; "
        "print(s.SESSION_COOKIE_AGE, int(s.REST_KNOX['TOKEN_TTL'].total_seconds()))"
    )
    environ = {**os.environ, "DJANGO_SETTINGS_MODULE": "config.settings.test", "API_TOKEN_TTL_HOURS": "3"}
    result = subprocess.run([sys.executable, "-c", code], env=environ, capture_output=True, text=True, check=True)
    assert result.stdout.split() == ["10800", "10800"]


# --- password change ---------------------------------------------------------------------------------------------


def change(client, old=PASSWORD, new=NEW_PASSWORD, **kwargs):
    return post(client, "/api/v1/auth/password/change", {"old_password": old, "new_password": new}, **kwargs)


def test_password_change_keeps_this_session_and_ends_the_users_tokens(browser, api, portal_user):
    token = api.post("/api/v1/auth/login", {"username": portal_user.username, "password": PASSWORD}).json()["token"]
    other_browser = Client()
    other_browser.force_login(portal_user)
    assert session_login(browser, portal_user).status_code == 200

    assert change(browser).status_code == 204

    portal_user.refresh_from_db()
    assert portal_user.check_password(NEW_PASSWORD)
    assert browser.get("/api/v1/portal/me").status_code == 200  # still signed in here
    assert other_browser.get("/api/v1/portal/me").status_code in (401, 403)  # other sessions end
    api.credentials(HTTP_AUTHORIZATION=f"Token {token}")
    assert api.get("/api/v1/portal/me").status_code == 401  # and so do the API tokens
    assert not AuthToken.objects.filter(user=portal_user).exists()


def test_password_change_with_a_token_keeps_that_token_only(api, portal_user):
    def token_login():
        return api.post("/api/v1/auth/login", {"username": portal_user.username, "password": PASSWORD}).json()

    kept, other = token_login()["token"], token_login()["token"]
    api.credentials(HTTP_AUTHORIZATION=f"Token {kept}")
    body = {"old_password": PASSWORD, "new_password": NEW_PASSWORD}
    assert api.post("/api/v1/auth/password/change", body).status_code == 204
    assert api.get("/api/v1/portal/me").status_code == 200
    api.credentials(HTTP_AUTHORIZATION=f"Token {other}")
    assert api.get("/api/v1/portal/me").status_code == 401
    assert AuthToken.objects.filter(user=portal_user).count() == 1


def test_password_change_with_a_wrong_old_password_is_a_field_error(browser, portal_user):
    assert session_login(browser, portal_user).status_code == 200
    response = change(browser, old="not my password")
    assert response.status_code == 400
    assert list(response.json()["errors"]) == ["old_password"]
    portal_user.refresh_from_db()
    assert portal_user.check_password(PASSWORD)


def test_password_change_to_a_weak_password_names_the_new_password(browser, portal_user):
    assert session_login(browser, portal_user).status_code == 200
    response = change(browser, new="12345678")
    assert response.status_code == 400
    errors = response.json()["errors"]
    assert list(errors) == ["new_password"]
    assert any("too common" in message for message in errors["new_password"])
    portal_user.refresh_from_db()
    assert portal_user.check_password(PASSWORD)


def test_password_change_needs_a_signed_in_user(browser):
    response = change(browser)
    assert response.status_code == 401
    assert response["Content-Type"] == "application/problem+json"


# --- password reset by email -----------------------------------------------------------------------------------


def reset(client, email):
    return post(client, "/api/v1/auth/password/reset", {"email": email})


def confirm(client, uid, token, new_password=NEW_PASSWORD):
    return post(
        client, "/api/v1/auth/password/reset/confirm", {"uid": uid, "token": token, "new_password": new_password}
    )


def reset_link(browser, user, django_capture_on_commit_callbacks) -> dict:
    with django_capture_on_commit_callbacks(execute=True):
        assert reset(browser, user.email).status_code == 202
    assert len(mail.outbox) == 1
    return LINK.search(mail.outbox[0].body).groupdict()


@pytest.mark.usefixtures("eager")
def test_reset_answers_the_same_for_known_and_unknown_addresses(
    browser, portal_user, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True) as unknown_callbacks:
        unknown = reset(browser, "nobody@example.test")
    with django_capture_on_commit_callbacks(execute=True) as known_callbacks:
        known = reset(browser, portal_user.email.upper())  # addresses match case-insensitively
    assert unknown.status_code == known.status_code == 202
    assert unknown.content == known.content
    assert unknown.json()["detail"]
    # The same work either way (one task each, after commit): the time of the answer does not tell either.
    assert (len(unknown_callbacks), len(known_callbacks)) == (1, 1)

    assert len(mail.outbox) == 1  # sent once, by the task, to the known address only
    message = mail.outbox[0]
    assert message.to == [portal_user.email]
    assert message.from_email == settings.DEFAULT_FROM_EMAIL
    assert f"{settings.PORTAL_BASE_URL}/portal/reset/" in message.body
    assert portal_user.username in message.body
    assert "\n" not in message.subject


@pytest.mark.usefixtures("eager")
def test_staff_may_reset_too_but_not_inactive_or_passwordless_logins(
    browser, therapist, portal_user, django_capture_on_commit_callbacks
):
    reset_link(browser, therapist, django_capture_on_commit_callbacks)  # one mail for staff
    portal_user.is_active = False
    portal_user.save()
    unusable = factories.UserFactory(password=None)
    unusable.set_unusable_password()
    unusable.save()
    with django_capture_on_commit_callbacks(execute=True):
        assert reset(browser, portal_user.email).status_code == 202
        assert reset(browser, unusable.email).status_code == 202
    assert len(mail.outbox) == 1


@pytest.mark.usefixtures("eager")
def test_the_reset_link_sets_the_password_once_and_ends_the_tokens(
    browser, api, portal_user, django_capture_on_commit_callbacks
):
    token = api.post("/api/v1/auth/login", {"username": portal_user.username, "password": PASSWORD}).json()["token"]
    link = reset_link(browser, portal_user, django_capture_on_commit_callbacks)

    assert confirm(browser, **link).status_code == 204
    portal_user.refresh_from_db()
    assert portal_user.check_password(NEW_PASSWORD)
    api.credentials(HTTP_AUTHORIZATION=f"Token {token}")
    assert api.get("/api/v1/portal/me").status_code == 401

    again = confirm(browser, **link, new_password="yet another long passphrase")
    assert again.status_code == 400
    assert list(again.json()["errors"]) == ["token"]
    portal_user.refresh_from_db()
    assert portal_user.check_password(NEW_PASSWORD)
    assert session_login(browser, portal_user, NEW_PASSWORD).status_code == 200


@pytest.mark.usefixtures("eager")
def test_a_bad_reset_token_or_uid_is_a_400_on_token(browser, portal_user, django_capture_on_commit_callbacks):
    link = reset_link(browser, portal_user, django_capture_on_commit_callbacks)
    for uid, token in [(link["uid"], "abc-123"), ("!!", link["token"]), ("OTk5OTk5OQ", link["token"])]:
        response = confirm(browser, uid, token)
        assert response.status_code == 400
        assert response["Content-Type"] == "application/problem+json"
        assert list(response.json()["errors"]) == ["token"]
    portal_user.refresh_from_db()
    assert portal_user.check_password(PASSWORD)


@pytest.mark.usefixtures("eager")
def test_a_weak_new_password_is_refused_and_the_link_still_works(
    browser, portal_user, django_capture_on_commit_callbacks
):
    link = reset_link(browser, portal_user, django_capture_on_commit_callbacks)
    weak = confirm(browser, **link, new_password="password")
    assert weak.status_code == 400
    assert list(weak.json()["errors"]) == ["new_password"]
    assert confirm(browser, **link).status_code == 204


def test_reset_requests_are_throttled_like_logins(browser):
    for _ in range(10):
        assert reset(browser, "nobody@example.test").status_code == 202
    response = reset(browser, "nobody@example.test")
    assert response.status_code == 429
    assert "Retry-After" in response


def test_a_reset_mail_is_not_sent_to_a_login_deactivated_before_the_task_ran(portal_user):
    get_user_model().objects.filter(pk=portal_user.pk).update(is_active=False)
    send_password_reset.apply(args=[portal_user.pk])
    assert mail.outbox == []


def test_the_web_process_knows_the_reset_task_by_name():
    """The service enqueues it by name: a web process that never imports clinic.tasks must still know it."""
    code = (
        "import django; django.setup(); from celery import current_app; "
        "print('clinic.send_password_reset' in current_app.tasks)"
    )
    environ = {**os.environ, "DJANGO_SETTINGS_MODULE": "config.settings.test"}
    result = subprocess.run([sys.executable, "-c", code], env=environ, capture_output=True, text=True, check=True)
    assert result.stdout.split() == ["True"]
