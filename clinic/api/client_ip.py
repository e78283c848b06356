"""The client's address, one rule for the login lockout (django-axes) and the login throttle (DRF).

Behind a load balancer ``REMOTE_ADDR`` is the balancer's. ``X-Forwarded-For`` is believed only when the
request came from a trusted proxy (``TRUSTED_PROXY_NETWORKS``), and then the entry ``TRUSTED_PROXY_COUNT``
hops from the right is the client: the address the outermost trusted proxy saw, which the client cannot
write. Anything else — no proxies configured, a peer outside those networks, a header shorter than the
proxy count, an entry that is not an IP address — falls back to ``REMOTE_ADDR``.
"""

from __future__ import annotations

import ipaddress

from django.conf import settings
from rest_framework.throttling import ScopedRateThrottle


def _ip(text: str) -> str | None:
    """``text`` as a normalised IP address ("1.2.3.4", "1.2.3.4:5678", "2001:db8::1", "[2001:db8::1]:443")."""
    text = text.strip()
    if text.startswith("[") and "]" in text:
        text = text[1 : text.index("]")]
    elif text.count(":") == 1:
        text = text.partition(":")[0]
    try:
        return str(ipaddress.ip_address(text))
    except ValueError:
        return None


def _from_trusted_proxy(remote: str) -> bool:
    try:
        peer = ipaddress.ip_address(remote)
    except ValueError:
        return False
    return any(peer in ipaddress.ip_network(network) for network in settings.TRUSTED_PROXY_NETWORKS)


def client_ip(request) -> str | None:
    remote = request.META.get("REMOTE_ADDR")
    count = settings.TRUSTED_PROXY_COUNT
    forwarded = request.META.get("HTTP_X_FORWARDED_FOR")
    if not count or not forwarded or not remote or not _from_trusted_proxy(remote):
        return remote
    hops = forwarded.split(",")
    if len(hops) < count:
        return remote
    return _ip(hops[-count]) or remote


class LoginRateThrottle(ScopedRateThrottle):
    """The login throttle, counting per client as ``client_ip`` finds it (DRF's own rule trusts any sender)."""

    def get_ident(self, request) -> str | None:
        return client_ip(request)
