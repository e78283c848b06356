"""The patient portal's pages: one shell, the same for every screen, that the ES modules under
``static/portal/`` fill by calling the API (``/api/v1/portal/*`` and ``/api/v1/auth/*``).

The shell renders no patient data, so it reads nothing and logs nothing: the API calls the page makes log their
own reads. It is public (the login screen is one of its screens); the API refuses anyone who is not a portal
login. The CSRF token the page sends with each unsafe request is in ``<meta name="csrf-token">`` (JavaScript
never reads the cookie: production sets ``CSRF_COOKIE_HTTPONLY``). Strict CSP (no inline script or style) and
``Cache-Control: no-store``.
"""

from __future__ import annotations

from django.utils.decorators import method_decorator
from django.views.decorators.csrf import ensure_csrf_cookie
from django.views.generic import TemplateView

from clinic.csp import no_store, portal_csp


@method_decorator([portal_csp, no_store, ensure_csrf_cookie], name="dispatch")
class PortalPage(TemplateView):
    """The portal's shell: the page's script picks the screen from the path."""

    template_name = "portal/app.html"
    http_method_names = ["get", "head", "options"]
    shows_patients = None  # a shell without data: the API calls it makes log their reads


class PortalResetPage(PortalPage):
    """The shell at a password reset link (``/portal/reset/<uidb64>/<token>``): the token is in the path, so no
    Referer may carry it anywhere, not even to our own static files or API (where logs would keep it); the page's
    script moves it out of the address bar at once."""

    referrer_policy = "no-referrer"

    def get_context_data(self, **kwargs):
        return {**super().get_context_data(**kwargs), "referrer_policy": self.referrer_policy}

    def get(self, request, *args, **kwargs):
        response = super().get(request, *args, **kwargs)
        response["Referrer-Policy"] = self.referrer_policy
        return response
