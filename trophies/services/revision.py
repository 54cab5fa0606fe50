"""The catalog revision: a token that changes whenever anything a plan is
made of changes (components, options, trophies, tiers, slots and the
options slots allow; see trophies.signals).

It lives in Redis, so every web process sees a change at once. A random
token rather than a counter: after Redis loses its data, the next token
differs from every one a process has cached plans for.
"""
import logging
import uuid

import redis

from trophies.services import progress

KEY = "k2:catalog:revision"
log = logging.getLogger(__name__)


def current():
    """The revision now, or None when Redis cannot say (then nothing is cached)."""
    try:
        client = progress.client()
        value = client.get(KEY)
        if value is None:
            client.set(KEY, uuid.uuid4().hex, nx=True)
            value = client.get(KEY)
        return value
    except redis.RedisError as error:
        log.warning("catalog revision unavailable (%s): plans are read from the database", error)
        return None


_unpublished = False  # a change could not be published, and that was said


def bump():
    global _unpublished
    try:
        progress.client().set(KEY, uuid.uuid4().hex)
        _unpublished = False
    except redis.RedisError as error:
        # Plans cached elsewhere may stay stale until the next change: say so,
        # once per outage (k2 demo makes hundreds of changes before Redis runs).
        log.log(logging.DEBUG if _unpublished else logging.ERROR,
                "could not publish a catalog change (%s); restart the web server if pages look stale", error)
        _unpublished = True
