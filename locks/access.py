"""Who may read lock data: staff for the dashboard and JSON API; loopback
clients or holders of K2_METRICS_TOKEN for the plain-text monitor stats.

``metrics_allowed`` is shared with /metrics, which follows the same rule.

The client's address: with ``K2_PROXY_HEADER`` unset, ``REMOTE_ADDR`` alone
decides, and a request carrying any proxy header (``X-Forwarded-For``,
``X-Real-IP``, ``Forwarded``) was relayed by a proxy nobody told us about,
so it is never taken for loopback. With ``K2_PROXY_HEADER`` naming the
header the deployment's proxy sets (``X-Real-IP`` in deploy/nginx/k2.conf),
that header, when present on a request from a loopback peer (the proxy on
this host), is the client's address (for ``X-Forwarded-For`` and
``Forwarded`` the last entry, the one the proxy itself added); a request
without it, or from another host, came straight to the app and
``REMOTE_ADDR`` decides.
"""
import hmac
import ipaddress
import re

from django.conf import settings
from django.http import HttpResponse

__all__ = ("PROXY_HEADERS", "client_address", "is_staff", "is_loopback", "metrics_allowed", "metrics_forbidden")

# The headers a proxy may use to pass the client's address on, by their
# canonical name -> request.META key.
PROXY_HEADERS = {
    "X-Forwarded-For": "HTTP_X_FORWARDED_FOR",
    "X-Real-IP": "HTTP_X_REAL_IP",
    "Forwarded": "HTTP_FORWARDED",
}
_FORWARDED_FOR = re.compile(r'(?:^|;)\s*for\s*=\s*("[^"]*"|[^;,\s]*)', re.IGNORECASE)


def is_staff(request):
    user = getattr(request, "user", None)
    return bool(user and user.is_active and user.is_staff)


def _address(text):
    """'203.0.113.9', '[2001:db8::1]:4711', '"1.2.3.4:80"' -> the address, or None."""
    text = text.strip().strip('"').strip()
    if text.startswith("["):
        text = text[1:].partition("]")[0]
    elif text.count(":") == 1:
        text = text.partition(":")[0]  # IPv4 with a port
    try:
        address = ipaddress.ip_address(text)
    except ValueError:
        return None
    mapped = getattr(address, "ipv4_mapped", None)
    return mapped or address


def _from_header(name, value):
    if name == "X-Forwarded-For":
        return _address(value.split(",")[-1])
    if name == "Forwarded":
        last = value.split(",")[-1]
        match = _FORWARDED_FOR.search(last)
        return _address(match.group(1)) if match else None
    return _address(value)


def client_address(request):
    """The client's IP address as a string (None when it cannot be told: a
    malformed address or trusted header): the header ``K2_PROXY_HEADER``
    names when the request has it and came from a proxy on this host
    (loopback ``REMOTE_ADDR``, as deploy/nginx/k2.conf proxies), else
    ``REMOTE_ADDR``. django-axes counts failed logins by it."""
    peer = _address(request.META.get("REMOTE_ADDR", ""))
    trusted = getattr(settings, "K2_PROXY_HEADER", None)
    value = request.META.get(PROXY_HEADERS[trusted]) if trusted else None
    if value is not None and peer is not None and peer.is_loopback:
        address = _from_header(trusted, value)
    else:
        address = peer  # straight to the app: nobody else's word counts
    return None if address is None else str(address)


def is_loopback(request):
    if not getattr(settings, "K2_PROXY_HEADER", None) and any(
            request.META.get(key) for key in PROXY_HEADERS.values()):
        return False  # relayed by a proxy the deployment did not name: someone else's request
    address = client_address(request)
    return address is not None and ipaddress.ip_address(address).is_loopback


def metrics_allowed(request):
    """Loopback clients, or anyone sending the configured token as
    ``Authorization: Bearer <token>`` (never in the query string: URLs end
    up in access logs)."""
    if is_loopback(request):
        return True
    expected = getattr(settings, "K2_METRICS_TOKEN", None)
    if not expected:
        return False
    scheme, _, value = request.META.get("HTTP_AUTHORIZATION", "").partition(" ")
    offered = value.strip() if scheme.lower() == "bearer" else ""
    return bool(offered) and hmac.compare_digest(offered.encode(), expected.encode())


def metrics_forbidden():
    """The answer to a monitor that ``metrics_allowed`` refuses."""
    return HttpResponse("forbidden: loopback or K2_METRICS_TOKEN required\n", status=403,
                        content_type="text/plain; charset=utf-8")
