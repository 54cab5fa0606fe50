"""Who may read lock data: staff for the dashboard and JSON API; loopback
clients or holders of K2_METRICS_TOKEN for the plain-text monitor stats.

``metrics_allowed`` is shared with /metrics, which follows the same rule.
"""
import hmac
import ipaddress

from django.conf import settings
from django.http import HttpResponse

__all__ = ("is_staff", "is_loopback", "metrics_allowed", "metrics_forbidden")


def is_staff(request):
    user = getattr(request, "user", None)
    return bool(user and user.is_active and user.is_staff)


def is_loopback(request):
    # Behind a reverse proxy on the same host every client looks like
    # loopback; a forwarded request is someone else's, so it needs the token.
    if request.META.get("HTTP_X_FORWARDED_FOR"):
        return False
    try:
        address = ipaddress.ip_address(request.META.get("REMOTE_ADDR", ""))
    except ValueError:
        return False
    mapped = getattr(address, "ipv4_mapped", None)
    return (mapped or address).is_loopback


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
