"""``Cache-Control: no-store`` on every API response: patient data, tokens and error answers are never kept by a
browser, a proxy or a shared cache (DESIGN §8)."""

from __future__ import annotations

API_PREFIX = "/api/"


class NoStoreMiddleware:
    """Outermost but for the health probes, so answers made by other middleware (a 404, a 413) get it too."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        response = self.get_response(request)
        if request.path_info.startswith(API_PREFIX):
            response["Cache-Control"] = "no-store"
        return response
