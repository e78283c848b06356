"""Content Security Policy in every environment, and the portal's strict one (issue 16, item 5): the site's policy
(config/settings/base.py) on the admin and Swagger UI here in the test settings as in production; ``clinic.csp``'s
decorators give a portal page the strict policy and ``Cache-Control: no-store``."""

from __future__ import annotations

import pytest
from csp.middleware import CSPMiddleware
from django.conf import settings
from django.contrib.staticfiles import finders
from django.http import HttpResponse
from django.test import RequestFactory
from django.utils.decorators import method_decorator
from django.views import View

from clinic.csp import no_store, portal_csp, portal_page
from config.settings import base

SITE = {
    "default-src": ["'self'"],
    "script-src": ["'self'"],
    "style-src": ["'self'", "'unsafe-inline'"],
    "img-src": ["'self'", "data:"],
    "object-src": ["'none'"],
    "base-uri": ["'self'"],
    "form-action": ["'self'"],
    "frame-ancestors": ["'none'"],
}
STRICT = {
    "default-src": ["'self'"],
    "script-src": ["'self'"],
    "style-src": ["'self'"],
    "img-src": ["'self'", "data:"],
    "connect-src": ["'self'"],
    "object-src": ["'none'"],
    "base-uri": ["'self'"],
    "form-action": ["'self'"],
    "frame-ancestors": ["'none'"],
}


def _policy(response) -> dict[str, list[str]]:
    directives = (part.split() for part in response["Content-Security-Policy"].split(";") if part.strip())
    return {name: sources for name, *sources in directives}


def _page(request):
    return HttpResponse("<!doctype html><title>Today</title>")


def _served(view, path: str = "/portal/today"):
    """``view``'s answer as the CSP middleware leaves it (no URL: the middleware wraps the view itself)."""
    return CSPMiddleware(view)(RequestFactory().get(path))


def test_the_site_policy_is_in_every_environment():
    assert "csp" in base.INSTALLED_APPS
    security = base.MIDDLEWARE.index("django.middleware.security.SecurityMiddleware")
    assert base.MIDDLEWARE[security + 1] == "csp.middleware.CSPMiddleware"
    assert "csp.middleware.CSPMiddleware" in settings.MIDDLEWARE  # the test settings (and the live server) run it
    assert settings.CONTENT_SECURITY_POLICY == base.CONTENT_SECURITY_POLICY


def test_admin_pages_carry_the_site_policy(client, front_desk):
    assert _policy(client.get("/admin/login/")) == SITE
    client.force_login(front_desk)
    response = client.get("/admin/")
    assert response.status_code == 200
    assert _policy(response) == SITE


def test_swagger_ui_carries_the_site_policy(client):
    assert _policy(client.get("/api/docs/")) == SITE


def test_an_undecorated_view_gets_the_site_policy():
    assert _policy(_served(_page)) == SITE


def test_portal_csp_replaces_the_whole_policy_with_the_strict_one():
    response = _served(portal_csp(_page))
    assert _policy(response) == STRICT
    header = response["Content-Security-Policy"]
    assert "unsafe-inline" not in header
    assert "unsafe-eval" not in header
    assert "Cache-Control" not in response  # the policy alone does not say no-store


def test_no_store_keeps_a_page_out_of_every_cache():
    response = no_store(_page)(RequestFactory().get("/portal/today"))
    assert "no-store" in response["Cache-Control"].split(", ")
    assert "private" in response["Cache-Control"].split(", ")


@pytest.mark.parametrize("decorate", [portal_page, lambda view: portal_csp(no_store(view))], ids=["both", "stacked"])
def test_a_portal_page_with_patient_data_gets_both(decorate):
    response = _served(decorate(_page))
    assert _policy(response) == STRICT
    assert "no-store" in response["Cache-Control"]


def test_the_decorators_work_on_a_class_based_view():
    @method_decorator(portal_page, name="dispatch")
    class Today(View):
        def get(self, request):
            return _page(request)

    response = _served(Today.as_view())
    assert _policy(response) == STRICT
    assert "no-store" in response["Cache-Control"]


def test_the_vendored_axe_core_is_never_a_static_file():
    """tests/browser/vendor/axe-core/ is for the browser tests only (portal_support injects it)."""
    assert finders.find("axe.min.js") is None
    assert finders.find("axe-core/axe.min.js") is None
