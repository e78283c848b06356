"""Load-balancer probes, answered before any other middleware (no host check, no HTTPS redirect, no session).

- ``GET /healthz`` — liveness: the process serves requests. No database, no Redis.
- ``GET /readyz`` — readiness: the process can reach PostgreSQL (``SELECT 1``); 503 otherwise. The broker is
  not checked: a request never waits on it (``clinic.enqueue``), and the sweeps catch up when it is back.
"""

from __future__ import annotations

import logging

from django.db import DatabaseError, connection
from django.http import JsonResponse

logger = logging.getLogger(__name__)


class HealthCheckMiddleware:
    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        if request.path == "/healthz":
            return JsonResponse({"status": "ok"})
        if request.path == "/readyz":
            try:
                with connection.cursor() as cursor:
                    cursor.execute("SELECT 1")
            except DatabaseError:
                logger.warning("readiness probe: the database is unreachable", exc_info=True)
                return JsonResponse({"status": "unavailable", "database": "unreachable"}, status=503)
            return JsonResponse({"status": "ok", "database": "ok"})
        return self.get_response(request)
