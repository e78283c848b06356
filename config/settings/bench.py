"""``make bench``: production settings with the few values a loopback benchmark needs (never deploy this).

DEBUG off, persistent database connections, no HTTPS redirect (plain HTTP on 127.0.0.1), a throwaway
secret key and ``bench.urls`` (the app's URLs plus the plain-Django baseline view).
"""

import os

os.environ.setdefault("SECRET_KEY", "bench-only-throwaway-key-never-deployed-3b9e1f7c5a2d8e4f6b0c")
os.environ.setdefault("ALLOWED_HOSTS", "localhost,127.0.0.1")
os.environ.setdefault("SECURE_SSL_REDIRECT", "0")

from .production import *  # noqa: E402, F403

DEBUG = False
ROOT_URLCONF = "bench.urls"
DATABASES["default"]["CONN_MAX_AGE"] = None  # noqa: F405  (persistent, as a tuned deployment runs)
