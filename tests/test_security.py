"""Security hardening (issue 6): Argon2, login lockout (django-axes) on the admin and the token login, the
production deploy check, CSP on the only HTML we serve (admin, Swagger UI), and no secrets in logs."""

from __future__ import annotations

import datetime as dt
import json
import logging
import os
import subprocess
import sys
from html.parser import HTMLParser

import pytest
from axes.models import AccessAttempt, AccessLog
from axes.utils import reset
from django.conf import settings
from django.contrib.staticfiles import finders
from django.core.cache import cache
from django.db.models import F
from django.test import override_settings
from knox.models import AuthToken

from config.settings import base
from tests import factories

PASSWORD = "correct horse battery staple"
LIMIT = base.AXES_FAILURE_LIMIT
COOL_OFF = base.AXES_COOLOFF_TIME
ARGON2 = "django.contrib.auth.hashers.Argon2PasswordHasher"


def _production_env() -> dict[str, str]:
    environ = {k: v for k, v in os.environ.items() if k not in {"SECRET_KEY", "ALLOWED_HOSTS"}}
    environ.update(
        DJANGO_SETTINGS_MODULE="config.settings.production",
        SECRET_KEY="test-only-throwaway-key-never-deployed-5b2e9c7a1f4d8e3b6a0c9f2d7e4b1a8c",
        ALLOWED_HOSTS="limber.example",
    )
    return environ


def _run(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, *args],
        env=_production_env(),
        cwd=settings.BASE_DIR,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


@pytest.fixture(scope="module")
def production() -> dict:
    """The production settings that matter here, read in a process started with them."""
    script = """
import json, django
django.setup()
from django.conf import settings as s
from django.contrib.auth.hashers import make_password
print(json.dumps({
    "hashers": s.PASSWORD_HASHERS,
    "hash": make_password("x"),
    "backends": s.AUTHENTICATION_BACKENDS,
    "middleware": s.MIDDLEWARE,
    "csp": s.CONTENT_SECURITY_POLICY,
    "static": s.STORAGES["staticfiles"]["BACKEND"],
    "cookies": [s.SESSION_COOKIE_SECURE, s.SESSION_COOKIE_HTTPONLY, s.CSRF_COOKIE_SECURE, s.CSRF_COOKIE_HTTPONLY],
    "frame": s.X_FRAME_OPTIONS,
    "referrer": s.SECURE_REFERRER_POLICY,
    "axes": [s.AXES_ENABLED, s.AXES_FAILURE_LIMIT, s.AXES_LOCKOUT_PARAMETERS, s.AXES_RESET_ON_SUCCESS],
}))
"""
    result = _run("-c", script)
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


# --- Argon2 ----------------------------------------------------------------------------------------


def test_argon2_is_the_default_hasher_in_base_and_production(production):
    assert base.PASSWORD_HASHERS[0] == ARGON2
    assert production["hashers"][0] == ARGON2
    assert production["hash"].startswith("argon2$argon2id$")
    assert "django.contrib.auth.hashers.PBKDF2PasswordHasher" in production["hashers"]  # old hashes still verify


# --- deploy check and production headers ---------------------------------------------------------


def test_production_settings_pass_the_deploy_check():
    result = _run("manage.py", "check", "--deploy", "--fail-level", "WARNING")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "no issues" in result.stdout


def test_production_cookies_frames_referrer_and_lockout(production):
    assert production["cookies"] == [True, True, True, True]
    assert production["frame"] == "DENY"
    assert production["referrer"] == "same-origin"
    assert production["backends"][0] == "axes.backends.AxesStandaloneBackend"
    assert production["middleware"][-1] == "axes.middleware.AxesMiddleware"
    assert production["axes"] == [True, 5, [["username", "ip_address"]], True]


# --- lockout: API token login ----------------------------------------------------------------------


@pytest.fixture
def lockout():
    """Axes on, as in production (whatever the test settings say), and a clean login throttle."""
    cache.clear()
    with override_settings(AXES_ENABLED=True, AXES_FAILURE_LIMIT=LIMIT, AXES_COOLOFF_TIME=COOL_OFF):
        yield
    cache.clear()


def login(api, username, password=PASSWORD, **extra):
    return api.post("/api/v1/auth/login", {"username": username, "password": password}, **extra)


def fail_until_locked(api, username, **extra):
    for _ in range(LIMIT - 1):
        assert login(api, username, "wrong", **extra).status_code == 400
    return login(api, username, "wrong", **extra)


def age_attempts(by: dt.timedelta) -> None:
    AccessAttempt.objects.update(attempt_time=F("attempt_time") - by)


@pytest.mark.usefixtures("lockout")
def test_api_login_locks_out_after_the_failure_limit_with_a_problem(api, therapist):
    response = fail_until_locked(api, therapist.username)
    assert response.status_code == 429
    assert response["Content-Type"] == "application/problem+json"
    body = response.json()
    assert body["type"].endswith("/locked-out")
    assert body["status"] == 429
    assert body["errors"] == {}
    assert "too many login attempts" in body["detail"]
    assert response["Retry-After"] == str(int(COOL_OFF.total_seconds()))

    # the right password does not help while locked out
    again = login(api, therapist.username)
    assert again.status_code == 429
    assert again.json()["type"].endswith("/locked-out")
    assert not AuthToken.objects.filter(user=therapist).exists()


@pytest.mark.usefixtures("lockout")
def test_lockout_is_per_username_and_address(api, therapist, front_desk):
    assert fail_until_locked(api, therapist.username).status_code == 429
    assert login(api, therapist.username, REMOTE_ADDR="192.0.2.10").status_code == 200  # same user, elsewhere
    assert login(api, front_desk.username).status_code == 200  # another user, same address


@pytest.mark.usefixtures("lockout")
def test_lockout_ends_after_the_cool_off_and_retrying_does_not_extend_it(api, therapist):
    assert fail_until_locked(api, therapist.username).status_code == 429
    age_attempts(COOL_OFF - dt.timedelta(minutes=5))
    assert login(api, therapist.username).status_code == 429  # still locked, and this retry is not counted
    age_attempts(dt.timedelta(minutes=5, seconds=1))
    assert login(api, therapist.username).status_code == 200


@pytest.mark.usefixtures("lockout")
def test_an_admin_reset_unlocks_at_once(api, therapist):
    assert fail_until_locked(api, therapist.username).status_code == 429
    assert reset(username=therapist.username) == 1  # what `manage.py axes_reset_username` does
    assert login(api, therapist.username).status_code == 200


@pytest.mark.usefixtures("lockout")
def test_a_successful_login_clears_the_failure_count(api, therapist):
    for _ in range(LIMIT - 1):
        login(api, therapist.username, "wrong")
    assert login(api, therapist.username).status_code == 200
    for _ in range(LIMIT - 1):
        assert login(api, therapist.username, "wrong").status_code == 400
    assert login(api, therapist.username, "wrong").status_code == 429


@pytest.mark.usefixtures("lockout")
def test_the_login_throttle_still_applies_across_usernames(api):
    for number in range(10):  # LOGIN_THROTTLE_RATE 10/min; no username+address pair reaches the lockout
        assert login(api, f"nobody-{number}", "wrong").status_code == 400
    response = login(api, "nobody-else", "wrong")
    assert response.status_code == 429
    assert response.json()["type"].endswith("/throttled")


@pytest.mark.usefixtures("lockout")
def test_token_logins_are_logged_without_leaving_a_session(api, therapist):
    response = login(api, therapist.username)
    assert response.status_code == 200
    assert settings.SESSION_COOKIE_NAME not in response.cookies
    assert AccessLog.objects.filter(username=therapist.username, path_info="/api/v1/auth/login").count() == 1


# --- lockout: admin login --------------------------------------------------------------------------


def admin_login(client, username, password=PASSWORD):
    return client.post("/admin/login/?next=/admin/", {"username": username, "password": password})


@pytest.mark.usefixtures("lockout")
def test_admin_login_locks_out_after_the_failure_limit(client, front_desk):
    for _ in range(LIMIT - 1):
        assert admin_login(client, front_desk.username, "wrong").status_code == 200  # the form again
    locked = admin_login(client, front_desk.username, "wrong")
    assert locked.status_code == 429
    assert b"too many login attempts" in locked.content

    assert admin_login(client, front_desk.username).status_code == 429
    assert client.get("/admin/").status_code == 302  # not signed in

    assert reset(username=front_desk.username) == 1
    signed_in = admin_login(client, front_desk.username)
    assert signed_in.status_code == 302
    assert signed_in["Location"] == "/admin/"


@pytest.mark.usefixtures("lockout")
def test_admin_and_api_failures_count_together(client, api, front_desk):
    for _ in range(LIMIT - 1):
        admin_login(client, front_desk.username, "wrong")
    response = login(api, front_desk.username, "wrong")
    assert response.status_code == 429
    assert response.json()["type"].endswith("/locked-out")


# --- logs ------------------------------------------------------------------------------------------


@pytest.mark.usefixtures("lockout")
def test_failed_logins_log_neither_the_password_nor_the_username(db, api, caplog):
    username = factories.UserFactory(username="maria.lopez").username
    with caplog.at_level(logging.DEBUG):
        for _ in range(LIMIT):
            login(api, username, "hunter2-not-my-password")
    assert "Bad Request: /api/v1/auth/login" in caplog.text  # the request logger logs the path only
    assert "Locking out" in caplog.text
    assert "hunter2" not in caplog.text
    assert username not in caplog.text


def test_logged_dicts_have_passwords_and_tokens_masked():
    from config.settings.base import RedactSecrets

    record = logging.makeLogRecord(
        {
            "msg": "login %s then %s",
            "args": ({"username": "maria", "password": "p4ss", "nested": [{"api_token": "t0ken"}]}, "done"),
        }
    )
    assert RedactSecrets().filter(record) is True
    message = record.getMessage()
    assert "maria" in message
    assert "done" in message
    assert "p4ss" not in message
    assert "t0ken" not in message

    # (the live root handlers are not checked: a Celery worker started by another test replaces them)
    assert settings.LOGGING["filters"]["redact_secrets"]["()"] is RedactSecrets
    assert "redact_secrets" in settings.LOGGING["handlers"]["console"]["filters"]


# --- Content Security Policy -----------------------------------------------------------------------


class _Assets(HTMLParser):
    """Scripts and styles a page loads or inlines."""

    def __init__(self) -> None:
        super().__init__()
        self.scripts: list[str] = []
        self.styles: list[str] = []
        self.images: list[str] = []
        self.inline_scripts = 0
        self.inline_styles = 0
        self._in_script = False

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if tag == "script":
            if attrs.get("src"):
                self.scripts.append(attrs["src"])
            elif attrs.get("type", "text/javascript") in {"text/javascript", "module"}:
                self.inline_scripts += 1
        elif tag == "link" and attrs.get("rel") == "stylesheet":
            self.styles.append(attrs["href"])
        elif tag == "link" and attrs.get("rel") == "icon":
            self.images.append(attrs["href"])
        elif tag == "style":
            self.inline_styles += 1
        if "style" in attrs:
            self.inline_styles += 1


def _policy(response) -> dict[str, list[str]]:
    header = response["Content-Security-Policy"]
    directives = (part.split() for part in header.split(";") if part.strip())
    return {name: sources for name, *sources in directives}


def _allows(policy: dict[str, list[str]], directive: str, url: str | None = None) -> bool:
    sources = policy.get(directive, policy["default-src"])
    if url is None:  # inline
        return "'unsafe-inline'" in sources
    return url.startswith("/") and not url.startswith("//") and "'self'" in sources


# Production's WhiteNoise warns that STATIC_ROOT does not exist where collectstatic has not run (here: not needed).
WITHOUT_COLLECTSTATIC = pytest.mark.filterwarnings("ignore:No directory at:UserWarning")


@pytest.fixture
def production_csp(production):
    with override_settings(MIDDLEWARE=production["middleware"], CONTENT_SECURITY_POLICY=production["csp"]):
        yield


def _assert_page_allowed(response) -> dict[str, list[str]]:
    assert response.status_code == 200
    policy = _policy(response)
    assert policy["default-src"] == ["'self'"]
    assert policy["object-src"] == ["'none'"]
    assert policy["frame-ancestors"] == ["'none'"]
    assert all(source.startswith("'") or source == "data:" for sources in policy.values() for source in sources), (
        "no other hosts"
    )
    assets = _Assets()
    assets.feed(response.content.decode())
    for url in assets.scripts:
        assert _allows(policy, "script-src", url), url
    for url in assets.styles:
        assert _allows(policy, "style-src", url), url
    for url in assets.images:
        assert _allows(policy, "img-src", url), url
    for url in assets.scripts + assets.styles + assets.images:
        if url == "/api/docs/?script=":  # Swagger UI's init script, served by the split view itself
            continue
        assert url.startswith("/static/"), url
        assert finders.find(url.removeprefix("/static/")), f"{url} is not a static file we ship"
    if assets.inline_scripts:
        assert _allows(policy, "script-src"), "the page has inline script the policy refuses"
    if assets.inline_styles:
        assert _allows(policy, "style-src"), "the page has inline style the policy refuses"
    return policy


def test_production_keeps_the_site_csp_and_serves_static_files_with_whitenoise(production):
    assert production["csp"] == base.CONTENT_SECURITY_POLICY  # one policy, in every environment (base.py)
    middleware = production["middleware"]
    security = middleware.index("django.middleware.security.SecurityMiddleware")
    assert middleware[security + 1 : security + 3] == [
        "whitenoise.middleware.WhiteNoiseMiddleware",
        "csp.middleware.CSPMiddleware",
    ]
    assert production["static"] == "whitenoise.storage.CompressedStaticFilesStorage"
    assert "whitenoise.middleware.WhiteNoiseMiddleware" not in base.MIDDLEWARE  # Django serves them in development


@WITHOUT_COLLECTSTATIC
@pytest.mark.usefixtures("production_csp")
def test_admin_pages_carry_a_csp_that_allows_what_they_load(client, front_desk):
    _assert_page_allowed(client.get("/admin/login/"))
    client.force_login(front_desk)
    _assert_page_allowed(client.get("/admin/"))


@WITHOUT_COLLECTSTATIC
@pytest.mark.usefixtures("production_csp")
def test_swagger_ui_carries_a_csp_that_allows_what_it_loads(client):
    policy = _assert_page_allowed(client.get("/api/docs/"))
    assert "data:" in policy["img-src"]  # swagger-ui.css draws its icons from data: URLs
