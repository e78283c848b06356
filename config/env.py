"""Typed environment parsing that fails fast and names the variable at fault."""

from __future__ import annotations

from typing import Any

import environ
from django.core.exceptions import ImproperlyConfigured

_env = environ.Env()
_MISSING = object()


def _read(name: str, cast: Any, default: Any) -> Any:
    method = getattr(_env, cast)
    try:
        if default is _MISSING:
            return method(name)
        return method(name, default=default)
    except ImproperlyConfigured:
        raise ImproperlyConfigured(f"Environment variable {name} is required but not set.") from None
    except (ValueError, TypeError) as exc:
        raise ImproperlyConfigured(f"Environment variable {name} is invalid: {exc}") from None


def env_str(name: str, default: Any = _MISSING) -> str:
    return _read(name, "str", default)


def env_bool(name: str, default: Any = _MISSING) -> bool:
    raw = env_str(name, default="" if default is _MISSING else str(default))
    if raw == "" and default is _MISSING:
        raise ImproperlyConfigured(f"Environment variable {name} is required but not set.")
    lowered = raw.strip().lower()
    if lowered in {"1", "true", "yes", "on"}:
        return True
    if lowered in {"0", "false", "no", "off", ""}:
        return False
    raise ImproperlyConfigured(f"Environment variable {name} is invalid: expected a boolean, got {raw!r}.")


def env_int(name: str, default: Any = _MISSING, *, minimum: int | None = None) -> int:
    value = _read(name, "int", default)
    if minimum is not None and value < minimum:
        raise ImproperlyConfigured(f"Environment variable {name} must be at least {minimum}, got {value}.")
    return value


def env_list(name: str, default: Any = _MISSING) -> list[str]:
    return _read(name, "list", default)


def env_db(name: str, default: str) -> dict[str, Any]:
    try:
        return _env.db_url(name, default=default)
    except (ImproperlyConfigured, ValueError, KeyError) as exc:
        raise ImproperlyConfigured(f"Environment variable {name} is invalid: {exc}") from None
