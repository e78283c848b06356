"""The client's address, one rule for the login lockout (django-axes) and the login throttle (DRF).

DRF's throttle identifies a client by ``REMOTE_ADDR`` or, with ``NUM_PROXIES`` (``TRUSTED_PROXY_COUNT``) set
above 0, by the address that many hops from the right of ``X-Forwarded-For`` — the one the outermost trusted
proxy saw. axes is given the same answer, so both count the same client.
"""

from __future__ import annotations

from rest_framework.throttling import BaseThrottle


def client_ip(request) -> str | None:
    return BaseThrottle().get_ident(request)
