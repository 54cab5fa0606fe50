"""GET /api/builds/N/ under the ASGI server, answered from the build's feed.

Through Django's ASGI handler a poll costs ~6 ms of CPU (a thread, a
database connection and a cache connection of its own, sync middleware
hopping between threads): at a few dozen polls a second while renders take
both cores, its p99 went past 50 ms. Here a poll is a coroutine: the
session's staff check is remembered for a moment (build_events), and the
status is the snapshot the process's build feed keeps for event streams
(one read per change for every watcher and poller, at most MAX_AGE_S old).
The answer is Django's view's JSON and headers; anything but the common
case (not staff, no such build, no snapshot in time, another method) goes
on to that view, which answers as it always has.
"""
import asyncio
import re

from django.conf import settings
from django.utils.http import http_date

from k2site.security import policy_for
from trophies.services import build_feeds
from trophies.views import build_events

PATH = re.compile(r"^/api/builds/(?P<build_id>[0-9]+)/$")  # builds_api.detail's URL
MAX_AGE_S = 2 * build_feeds.MIN_INTERVAL_S  # a poll may see a status this old
WAIT_S = 2.0                                # for a snapshot, before Django answers instead


async def serve(scope, receive, send):
    """Answer a poll; False when Django's view should answer it."""
    if scope["method"] != "GET":
        return False
    match = PATH.match(scope["path"])
    if match is None:
        return False
    headers = build_events.request_headers(scope)
    try:
        if not await build_events.session_is_staff(headers):
            return False
    except Exception:  # the database or Redis is away: Django's view answers as it does then
        return False
    feed = build_feeds.hub().poll(int(match["build_id"]))
    try:
        snapshot = await asyncio.wait_for(feed.fresh_snapshot(MAX_AGE_S), WAIT_S)
    except TimeoutError:  # Redis or the database is away: Django's view says so
        return False
    if not snapshot.data:  # no such build
        return False
    body = snapshot.data.encode()
    await send({"type": "http.response.start", "status": 200,
                "headers": response_headers(scope["path"], is_secure(scope, headers), len(body))})
    await send({"type": "http.response.body", "body": body})
    return True


def is_secure(scope, headers):
    """request.is_secure() as Django's ASGI request answers it."""
    if settings.SECURE_PROXY_SSL_HEADER:
        name, value = settings.SECURE_PROXY_SSL_HEADER
        forwarded = headers.get(name.removeprefix("HTTP_").replace("_", "-").lower())
        if forwarded is not None:
            return forwarded.split(",", 1)[0].strip() == value
    return scope.get("scheme") == "https"


def response_headers(path, secure, length):
    """The headers Django's middleware gives builds_api.detail's answer
    (tests/test_build_polls.py compares the two)."""
    headers = [
        ("content-type", "application/json"),
        ("content-length", str(length)),
        ("expires", http_date()),
        ("cache-control", "max-age=0, no-cache, no-store, must-revalidate, private"),
        ("vary", "Cookie"),
        ("x-frame-options", settings.X_FRAME_OPTIONS),
        ("content-security-policy", policy_for(path)),
    ]
    if settings.SECURE_CONTENT_TYPE_NOSNIFF:
        headers.append(("x-content-type-options", "nosniff"))
    if settings.SECURE_REFERRER_POLICY:
        headers.append(("referrer-policy", settings.SECURE_REFERRER_POLICY))
    if settings.SECURE_CROSS_ORIGIN_OPENER_POLICY:
        headers.append(("cross-origin-opener-policy", settings.SECURE_CROSS_ORIGIN_OPENER_POLICY))
    if secure and settings.SECURE_HSTS_SECONDS:
        hsts = f"max-age={settings.SECURE_HSTS_SECONDS}"
        if settings.SECURE_HSTS_INCLUDE_SUBDOMAINS:
            hsts += "; includeSubDomains"
        if settings.SECURE_HSTS_PRELOAD:
            hsts += "; preload"
        headers.append(("strict-transport-security", hsts))
    return [(name.encode("latin-1"), value.encode("latin-1")) for name, value in headers]
