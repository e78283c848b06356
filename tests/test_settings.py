"""Settings come from the environment, typed, and fail fast naming the variable (DESIGN §8)."""

import os
import subprocess
import sys

import pytest
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured

from config import env


def test_time_is_utc_and_aware():
    assert settings.TIME_ZONE == "UTC"
    assert settings.USE_TZ is True


@pytest.mark.parametrize(
    ("reader", "value", "message"),
    [
        (env.env_int, "fifteen", "REMINDER_LEAD_MINUTES is invalid"),
        (env.env_bool, "perhaps", "REMINDER_LEAD_MINUTES is invalid"),
    ],
)
def test_malformed_values_name_the_variable(monkeypatch, reader, value, message):
    monkeypatch.setenv("REMINDER_LEAD_MINUTES", value)
    with pytest.raises(ImproperlyConfigured, match=message):
        reader("REMINDER_LEAD_MINUTES", default=1)


def test_minimums_are_enforced(monkeypatch):
    monkeypatch.setenv("REMINDER_HORIZON_DAYS", "0")
    with pytest.raises(ImproperlyConfigured, match="REMINDER_HORIZON_DAYS must be at least 1"):
        env.env_int("REMINDER_HORIZON_DAYS", default=14, minimum=1)


def test_required_variable_missing_names_it(monkeypatch):
    monkeypatch.delenv("SECRET_KEY", raising=False)
    with pytest.raises(ImproperlyConfigured, match="SECRET_KEY is required"):
        env.env_str("SECRET_KEY")


def _start(settings_module: str, **environ: str) -> subprocess.CompletedProcess:
    clean = {k: v for k, v in os.environ.items() if k not in {"SECRET_KEY", "ALLOWED_HOSTS"}}
    clean.update(DJANGO_SETTINGS_MODULE=settings_module, **environ)
    return subprocess.run(
        [sys.executable, "-c", "import django; django.setup()"],
        env=clean,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def test_production_refuses_to_start_without_a_secret_key():
    result = _start("config.settings.production", ALLOWED_HOSTS="limber.example")
    assert result.returncode != 0
    assert "Environment variable SECRET_KEY is required but not set." in result.stderr


def test_a_bad_number_stops_start_up_naming_it():
    result = _start("config.settings.dev", REMINDER_DAILY_CAP="lots")
    assert result.returncode != 0
    assert "REMINDER_DAILY_CAP is invalid" in result.stderr


def test_production_starts_with_what_it_needs():
    result = _start("config.settings.production", SECRET_KEY="x" * 50, ALLOWED_HOSTS="limber.example")
    assert result.returncode == 0, result.stderr
