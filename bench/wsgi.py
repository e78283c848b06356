"""The benchmark server's WSGI application (``bench.run``): the app's own (``config.wsgi``), and for the same-work
limit (``bench/limit.py``) a Django handler with no middleware at all, as a plain view written for speed would run.
"""

from __future__ import annotations

from django.conf import settings
from django.core.handlers.wsgi import WSGIHandler

from config import wsgi as app_wsgi

LIMIT_PATH = "/bench/limit/"


class BareHandler(WSGIHandler):
    """Django's handler with no middleware (built once, at import, before gunicorn forks)."""

    def load_middleware(self, is_async=False):
        full, settings.MIDDLEWARE = settings.MIDDLEWARE, []
        try:
            super().load_middleware(is_async)
        finally:
            settings.MIDDLEWARE = full


bare_application = BareHandler()


def application(environ, start_response):
    if environ.get("PATH_INFO", "").startswith(LIMIT_PATH):
        return bare_application(environ, start_response)
    return app_wsgi.application(environ, start_response)
