"""GET /api/builds/N/events: a build's status as Server-Sent Events.

A plain ASGI application, mounted before Django by k2site/asgi.py: under
Django's ASGI handler every request keeps a thread of its own for its sync
middleware until the response ends, which for a stream is as long as
someone watches. Here a watcher is a coroutine; the session check and the
status reads borrow the loop's shared thread pool for a moment.

The stream (https://html.spec.whatwg.org/multipage/server-sent-events.html):
- ``retry:`` first, then one ``id: VERSION`` + ``data: JSON`` event per new
  status, at most every build_feeds.MIN_INTERVAL_S;
- a resume (Last-Event-ID) that already has the latest version gets the
  next change, not a repeat;
- ``: heartbeat`` comment every HEARTBEAT_S of silence;
- a settled build's status is sent as ``event: final`` and the stream ends
  (a client closes its EventSource on it, or it would reconnect).
"""
import asyncio
import functools
import json
import logging
import re
from http.cookies import SimpleCookie
from importlib import import_module
from types import SimpleNamespace

from django.conf import settings
from django.contrib import auth
from django.db import close_old_connections
from django.http import JsonResponse

from trophies.models import Build
from trophies.services import build_feeds

log = logging.getLogger(__name__)
PATH = re.compile(r"^/api/builds/(?P<build_id>\d+)/events/?$")
HEARTBEAT_S = 15.0
RETRY_MS = 3000


def is_events_path(path):
    return PATH.match(path) is not None


def request_headers(scope):
    return {name.decode("latin-1").lower(): value.decode("latin-1") for name, value in scope["headers"]}


# A staff check costs a thread, a session read and a user query (~2-5 ms,
# more while renders take the cores): a session checked less than
# STAFF_CHECK_TTL_S ago is answered from memory, and one checked before
# that (up to STAFF_CHECK_STALE_S) too while a new check runs in the
# background. So pollers never wait for it after their first request, and a
# logout or a withdrawn staff flag takes effect within about a second.
STAFF_CHECK_TTL_S = 1.0
STAFF_CHECK_STALE_S = 10.0
STAFF_CHECKS_KEPT = 1000
_staff_checks = {}  # session key -> (is staff, checked at: loop time)
_rechecking = set()


async def session_is_staff(headers):
    """The request's session cookie is an active staff user's."""
    cookie = SimpleCookie()
    cookie.load(headers.get("cookie", ""))
    session = cookie.get(settings.SESSION_COOKIE_NAME)
    if session is None:
        return False
    key, loop = session.value, asyncio.get_running_loop()
    known = _staff_checks.get(key)
    age = loop.time() - known[1] if known else None
    if known is None or age > STAFF_CHECK_STALE_S:
        return await check_staff(key)
    if age > STAFF_CHECK_TTL_S and key not in _rechecking:
        _rechecking.add(key)
        loop.create_task(recheck_staff(key))
    return known[0]


async def recheck_staff(key):
    try:
        await check_staff(key)
    except Exception:  # the database or Redis is away: the next request checks again
        log.warning("a session's staff check failed", exc_info=True)
    finally:
        _rechecking.discard(key)


async def check_staff(key):
    loop = asyncio.get_running_loop()
    checked_at = loop.time()
    staff = await loop.run_in_executor(None, is_staff, key)
    if len(_staff_checks) >= STAFF_CHECKS_KEPT:
        _staff_checks.clear()
    _staff_checks[key] = (staff, checked_at)
    return staff


def is_staff(session_key):
    """The session's user is active staff (a thread of the shared pool)."""
    try:
        store = import_module(settings.SESSION_ENGINE).SessionStore(session_key)
        user = auth.get_user(SimpleNamespace(session=store))
        return bool(user.is_active and user.is_staff)
    finally:
        close_old_connections()


def build_exists(build_id):
    try:
        return Build.objects.filter(pk=build_id).exists()
    finally:
        close_old_connections()


@functools.lru_cache(maxsize=64)  # one encoding per snapshot for all of its watchers
def event_bytes(snapshot):
    lines = ["event: final"] if snapshot.settled else []
    lines.append(f"id: {snapshot.version}")
    lines += [f"data: {line}" for line in (snapshot.data or "null").split("\n")]
    return ("\n".join(lines) + "\n\n").encode()


def parse_last_event_id(value):
    try:
        return int(value)
    except (TypeError, ValueError):
        return None


async def stream(feed, last_event_id):
    """Yields the stream's bytes until the build settles."""
    yield f"retry: {RETRY_MS}\n\n".encode()
    sent = last_event_id
    while True:
        snapshot = feed.snapshot
        if snapshot is not None and (snapshot.settled or snapshot.version != sent):
            yield event_bytes(snapshot)
            if snapshot.settled:
                return
            sent = snapshot.version
        if not await feed.next_snapshot(HEARTBEAT_S):
            yield b": heartbeat\n\n"


def unavailable(request, build_id):
    """Django's route of the same URL, reached only when the site is served
    without k2site.asgi (runserver, WSGI): pages fall back to polling."""
    return JsonResponse({"error": "build events need the ASGI server (k2 serve)"}, status=503)


async def json_error(send, status, message, headers=()):
    """The JSON API's error shape, {"error": ...}, as its Django views answer."""
    await send({"type": "http.response.start", "status": status,
                "headers": [(b"content-type", b"application/json"), (b"cache-control", b"no-store"), *headers]})
    await send({"type": "http.response.body", "body": json.dumps({"error": message}).encode()})


async def app(scope, receive, send):
    build_id = int(PATH.match(scope["path"])["build_id"])
    if scope["method"] not in ("GET", "HEAD"):
        return await json_error(send, 405, "GET only", [(b"allow", b"GET, HEAD")])
    headers = request_headers(scope)
    if not await session_is_staff(headers):
        return await json_error(send, 403, "staff login required")
    loop = asyncio.get_running_loop()
    if not await loop.run_in_executor(None, build_exists, build_id):
        return await json_error(send, 404, f"no build {build_id}")

    await send({"type": "http.response.start", "status": 200, "headers": [
        (b"content-type", b"text/event-stream; charset=utf-8"), (b"cache-control", b"no-store"),
        (b"x-accel-buffering", b"no")]})
    hub = build_feeds.hub()
    feed = hub.watch(build_id)
    # A watcher who leaves is noticed at once, not at the next heartbeat.
    pump = loop.create_task(send_stream(send, feed, parse_last_event_id(headers.get("last-event-id"))))
    disconnected = loop.create_task(wait_for_disconnect(receive))
    try:
        await asyncio.wait({pump, disconnected}, return_when=asyncio.FIRST_COMPLETED)
    finally:
        pump.cancel()
        disconnected.cancel()
        hub.leave(feed)


async def send_stream(send, feed, last_event_id):
    async for chunk in stream(feed, last_event_id):
        await send({"type": "http.response.body", "body": chunk, "more_body": True})
    await send({"type": "http.response.body", "body": b"", "more_body": False})


async def wait_for_disconnect(receive):
    while (await receive())["type"] != "http.disconnect":
        pass
