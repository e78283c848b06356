"""The WSGI application: Django's, with a lean twin for token API requests (issue 20).

A request that authenticates with ``Authorization: Token …`` under ``/api/`` never uses the session, the CSRF
cookie, messages, the admin's clinic time zone, the admin's login lockout or the session user's pghistory context
(DRF authenticates the token in the view, and the view sets the actor of any change): the middleware for those
(``SESSION_ONLY_MIDDLEWARE``) costs every patient's app request time for nothing. Such requests go to a second
handler built without it; every other request (the admin, the portal web app's session calls, health probes) to
the full stack. The headers a token answer carries are the same from both (tests/test_wsgi_lean.py).
"""

import os

from django.conf import settings
from django.core.handlers.wsgi import WSGIHandler
from django.core.wsgi import get_wsgi_application
from django.urls import get_resolver

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings.production")

SESSION_ONLY_MIDDLEWARE = frozenset(
    {
        "clinic.health.HealthCheckMiddleware",  # /healthz and /readyz, never under /api/
        "django.contrib.sessions.middleware.SessionMiddleware",
        "django.middleware.csrf.CsrfViewMiddleware",  # DRF's views are CSRF-exempt; its session auth checks CSRF
        "django.contrib.auth.middleware.AuthenticationMiddleware",
        "pghistory.middleware.HistoryMiddleware",
        "clinic.clinic_time.ClinicTimeMiddleware",
        "django.contrib.messages.middleware.MessageMiddleware",
        "axes.middleware.AxesMiddleware",
    }
)


class TokenAPIHandler(WSGIHandler):
    """Django's handler with ``MIDDLEWARE`` less ``SESSION_ONLY_MIDDLEWARE``, in the same order. Built once, at import
    (before any request: gunicorn preloads the app), so swapping the setting while it loads races with nothing."""

    def load_middleware(self, is_async=False):
        full = settings.MIDDLEWARE
        self.middleware = [name for name in full if name not in SESSION_ONLY_MIDDLEWARE]
        settings.MIDDLEWARE = self.middleware
        try:
            super().load_middleware(is_async)
        finally:
            settings.MIDDLEWARE = full


SESSION_API_PATHS = ("/api/v1/auth/",)
"""API paths that use the session whatever the request carries (the logins and logouts rotate or end it): always
the full stack, even with a stale token header attached."""


def is_token_api_request(environ) -> bool:
    path = environ.get("PATH_INFO", "")
    token = environ.get("HTTP_AUTHORIZATION", "")[:6].lower() == "token "
    return token and path.startswith("/api/") and not path.startswith(SESSION_API_PATHS)


django_application = get_wsgi_application()
token_api_application = TokenAPIHandler()
# The URLconf (every view, and WeasyPrint behind the printable program: about a second) is imported here, once, in
# gunicorn's master (``preload_app``) before it forks, not by each worker's first request, behind which every request
# the worker has queued would wait (a p99 of half a second in the first seconds of a 15 s benchmark run).
get_resolver().url_patterns  # noqa: B018  (the import is the point)


def application(environ, start_response):
    handler = token_api_application if is_token_api_request(environ) else django_application
    return handler(environ, start_response)
