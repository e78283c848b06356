import os
from urllib.parse import urlsplit

from django.core.exceptions import ImproperlyConfigured

from config.env import env_str

from .base import *  # noqa: F403


def _per_xdist_worker(url: str) -> str:
    """Under pytest-xdist, worker ``gwN`` uses Redis database (base − 1 − N): with the default base 15, gw0 uses 14
    and gw1 13, so each worker's Celery queue, beat keys and locks are its own. Without xdist: the base itself."""
    worker = os.environ.get("PYTEST_XDIST_WORKER", "")  # set by pytest-xdist in each worker before settings load
    if not worker:
        return url
    parts = urlsplit(url)
    base = int(parts.path.strip("/") or 0)
    count = int(os.environ.get("PYTEST_XDIST_WORKER_COUNT", "1"))
    number = base - 1 - int(worker.removeprefix("gw"))
    if base - count < 2:  # 0 and 1 are the dev server's broker and cache
        raise ImproperlyConfigured(
            f"TEST_REDIS_URL database {base} leaves no room for {count} xdist workers below it (and above 1); "
            f"use a database number of at least {count + 2}."
        )
    return parts._replace(path=f"/{number}").geturl()


# Tests use their own Redis database number so they never touch a running dev worker's queue; each xdist worker
# has its own (above).
REDIS_URL = _per_xdist_worker(env_str("TEST_REDIS_URL", default="redis://127.0.0.1:6379/15"))
CELERY_BROKER_URL = REDIS_URL
CELERY_REDBEAT_REDIS_URL = REDIS_URL
PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}

# Parallel runs on one machine (e.g. several worktrees) can name their own test database. pytest-xdist workers
# add their id to it (pytest-django): test_limber_gw0, test_limber_gw1.
DATABASES["default"]["TEST"] = {"NAME": env_str("TEST_DATABASE_NAME", default="test_limber")}  # noqa: F405
