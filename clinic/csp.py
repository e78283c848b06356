"""The portal's headers, in one place (issue 16, item 5): its pages replace the site's Content Security Policy
(``CONTENT_SECURITY_POLICY`` in config/settings/base.py, which the admin and Swagger UI need) with a strict one, and
the pages that show patient data are never stored by a browser or a cache.

    @portal_csp
    @no_store
    def today(request): ...

or both at once with ``@portal_page``; on a class-based view, ``method_decorator(portal_page, name="dispatch")``.
"""

from __future__ import annotations

from csp.constants import NONE, SELF
from csp.decorators import csp
from django.views.decorators.cache import never_cache

# Scripts, styles, fetches and images from our own origin only: no inline script or style (no style="" attribute
# either), no eval, no plugins, no framing, forms post only to us.
PORTAL_POLICY = {
    "default-src": [SELF],
    "script-src": [SELF],
    "style-src": [SELF],
    "img-src": [SELF, "data:"],
    "connect-src": [SELF],
    "object-src": [NONE],
    "base-uri": [SELF],
    "form-action": [SELF],
    "frame-ancestors": [NONE],
}

# The whole header replaces the site's (django-csp 4's ``csp`` decorator; ``csp_replace`` would keep the site's
# other directives).
portal_csp = csp(PORTAL_POLICY)

# Cache-Control: no-store (with Django's max-age=0, no-cache, must-revalidate, private and an Expires in the past).
no_store = never_cache


def portal_page(view):
    """A portal page with patient data: the strict policy and no-store."""
    return portal_csp(no_store(view))
