"""What a deployment behind a load balancer relies on (docs/deploy.md): probes, the client's address, settings."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest
from django.core.cache import cache
from django.test import RequestFactory

from clinic.api.client_ip import client_ip

PROBE = (
    "import django, json; django.setup(); from django.test import Client; "
    "r = Client(HTTP_HOST='10.0.0.7').get('{path}'); print(r.status_code, r.content.decode())"
)
PRODUCTION = {
    "DJANGO_SETTINGS_MODULE": "config.settings.production",
    "SECRET_KEY": "test-only-throwaway-key-never-deployed-5d1c8e3a9f2b7c4e6a0d",
    "ALLOWED_HOSTS": "limber.example",
}


def _server_database_url() -> str:
    """The test PostgreSQL server's maintenance database: it exists wherever the tests run."""
    from django.db import connection

    db = connection.settings_dict
    return f"postgres://{db['USER']}@{db['HOST'] or '127.0.0.1'}:{db['PORT'] or 5432}/postgres"


def _probe(path: str, **environ: str) -> tuple[int, str]:
    result = subprocess.run(
        [sys.executable, "-c", PROBE.format(path=path)],
        env={**os.environ, **PRODUCTION, "DATABASE_URL": _server_database_url(), **environ},
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    status, _, body = result.stdout.strip().partition(" ")
    return int(status), body


def test_probes_answer_a_load_balancer_over_plain_http_by_address():
    """Production settings: an unknown Host and no X-Forwarded-Proto would be a 400 or a 301 anywhere else."""
    assert _probe("/healthz") == (200, '{"status": "ok"}')
    assert _probe("/readyz") == (200, '{"status": "ok", "database": "ok"}')
    assert _probe("/admin/login/")[0] == 400  # the host check still applies to everything else


def test_readiness_fails_when_the_database_is_unreachable():
    unreachable = {"DATABASE_URL": "postgres://root@127.0.0.1:1/limber"}
    assert _probe("/healthz", **unreachable) == (200, '{"status": "ok"}')
    status, body = _probe("/readyz", **unreachable)
    assert status == 503 and '"database": "unreachable"' in body


def test_liveness_runs_no_query(client, count_queries, db):
    assert count_queries(lambda: client.get("/healthz")) == 0


def _request(xff: str | None, remote: str = "10.0.0.2"):
    extra = {"HTTP_X_FORWARDED_FOR": xff} if xff is not None else {}
    return RequestFactory().get("/", REMOTE_ADDR=remote, **extra)


@pytest.fixture
def behind_one_proxy(settings):
    settings.TRUSTED_PROXY_COUNT = 1
    settings.TRUSTED_PROXY_NETWORKS = ["10.0.0.0/24", "fd00::/8"]


def test_without_trusted_proxies_forwarded_for_is_ignored():
    assert client_ip(_request("203.0.113.9")) == "10.0.0.2"
    assert client_ip(_request(None)) == "10.0.0.2"


@pytest.mark.usefixtures("behind_one_proxy")
@pytest.mark.parametrize(
    ("xff", "remote", "client"),
    [
        # The client wrote "1.2.3.4" itself; the load balancer appended the address it really came from.
        ("1.2.3.4, 203.0.113.9", "10.0.0.2", "203.0.113.9"),
        ("203.0.113.9:51234", "10.0.0.2", "203.0.113.9"),  # some balancers add the port
        ("[2001:db8::7]:443", "fd00::1", "2001:db8::7"),
        (None, "10.0.0.2", "10.0.0.2"),
        ("not-an-address", "10.0.0.2", "10.0.0.2"),  # never a value the lockout's inet column refuses
        ("", "10.0.0.2", "10.0.0.2"),
        # Straight to gunicorn, not through the balancer: the header is the sender's own invention.
        ("203.0.113.9", "198.51.100.4", "198.51.100.4"),
    ],
)
def test_behind_a_trusted_proxy_the_address_it_saw_is_the_client(xff, remote, client):
    assert client_ip(_request(xff, remote)) == client


def test_a_header_shorter_than_the_proxy_chain_is_not_believed(settings):
    settings.TRUSTED_PROXY_COUNT = 2
    settings.TRUSTED_PROXY_NETWORKS = ["10.0.0.0/24"]
    assert client_ip(_request("203.0.113.9")) == "10.0.0.2"
    assert client_ip(_request("203.0.113.9, 10.0.0.9")) == "203.0.113.9"


@pytest.mark.parametrize(
    ("environ", "message"),
    [
        ({"TRUSTED_PROXY_COUNT": "1"}, "TRUSTED_PROXY_NETWORKS is required"),
        ({"TRUSTED_PROXY_COUNT": "1", "TRUSTED_PROXY_NETWORKS": "10.0.0.300/8"}, "TRUSTED_PROXY_NETWORKS is invalid"),
    ],
)
def test_proxy_settings_are_checked_at_start(environ, message):
    result = subprocess.run(
        [sys.executable, "-c", "import django; django.setup()"],
        env={**os.environ, **PRODUCTION, **environ},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode != 0 and message in result.stderr


@pytest.fixture
def _fresh_throttle():
    cache.clear()
    yield
    cache.clear()


@pytest.mark.usefixtures("_fresh_throttle")
def test_a_made_up_forwarded_for_does_not_escape_the_login_throttle(api, therapist):
    for attempt in range(10):
        api.post(
            "/api/v1/auth/login",
            {"username": therapist.username, "password": "wrong"},
            HTTP_X_FORWARDED_FOR=f"198.51.100.{attempt}",
        )
    response = api.post(
        "/api/v1/auth/login", {"username": therapist.username, "password": "x"}, HTTP_X_FORWARDED_FOR="198.51.100.99"
    )
    assert response.status_code == 429


@pytest.mark.usefixtures("_fresh_throttle")
@pytest.mark.usefixtures("behind_one_proxy")
def test_lockout_and_throttle_count_the_client_address_behind_the_proxy(api, therapist):
    from axes.models import AccessAttempt

    def attempt(client: str):
        return api.post(
            "/api/v1/auth/login",
            {"username": therapist.username, "password": "wrong"},
            HTTP_X_FORWARDED_FOR=f"1.2.3.4, {client}",
            REMOTE_ADDR="10.0.0.2",
        )

    attempt("203.0.113.9")
    assert list(AccessAttempt.objects.values_list("ip_address", flat=True)) == ["203.0.113.9"]
    for _ in range(9):
        attempt("203.0.113.10")
    assert attempt("203.0.113.10").status_code == 429  # that client is locked out (and throttled)
    assert attempt("203.0.113.9").status_code == 400  # another client behind the same balancer is not held


def test_production_reads_csrf_trusted_origins():
    code = "import django; django.setup(); from django.conf import settings; print(settings.CSRF_TRUSTED_ORIGINS)"
    environ = {**os.environ, **PRODUCTION, "CSRF_TRUSTED_ORIGINS": "https://limber.example,https://admin.example"}
    result = subprocess.run([sys.executable, "-c", code], env=environ, capture_output=True, text=True, check=True)
    assert result.stdout.strip() == "['https://limber.example', 'https://admin.example']"
