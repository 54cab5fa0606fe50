"""Lock counters in Redis: acquisitions, waits, timeouts, wait times, orphans.

Counting is a side show: when Redis is down, locking goes on, the counts
are lost, and we log. After a failure Redis is skipped for a few seconds, so
an outage does not add a connect timeout to every acquisition.
"""
import logging
import os
import time

import redis
from django.conf import settings

__all__ = ("record_acquisition", "record_timeout", "add_orphans", "read")

STATS_KEY = "k2:locks:stats"
# ZADD ... GT keeps the largest score: a running maximum in the same round trip.
MAX_KEY = "k2:locks:wait_max"
RETRY_AFTER_S = 5.0

log = logging.getLogger(__name__)
_clients = {}
_down_until = 0.0


def _client():
    # One client per process and URL: RQ forks job processes, and a
    # connection must never be shared across a fork.
    key = (os.getpid(), settings.REDIS_URL)
    client = _clients.get(key)
    if client is None:
        client = redis.Redis.from_url(settings.REDIS_URL, socket_connect_timeout=0.5, socket_timeout=0.5)
        _clients.clear()
        _clients[key] = client
    return client


def _run(what, commands):
    """Run ``commands(pipeline)`` in one round trip; None when Redis fails."""
    global _down_until
    if time.monotonic() < _down_until:
        return None
    try:
        pipe = _client().pipeline(transaction=False)
        commands(pipe)
        return pipe.execute()
    except (redis.RedisError, OSError) as exc:
        _down_until = time.monotonic() + RETRY_AFTER_S
        log.warning("lock counters unavailable (%s skipped): %s", what, exc)
        return None


def record_acquisition(waited_s):
    """Count one acquisition; ``waited_s`` is None when it did not wait."""
    def commands(pipe):
        pipe.hincrby(STATS_KEY, "acquisitions", 1)
        if waited_s is not None:
            us = int(waited_s * 1_000_000)
            pipe.hincrby(STATS_KEY, "waits", 1)
            pipe.hincrby(STATS_KEY, "wait_total_us", us)
            pipe.zadd(MAX_KEY, {"wait_max_us": us}, gt=True)
    _run("acquisition", commands)


def record_timeout():
    _run("timeout", lambda pipe: pipe.hincrby(STATS_KEY, "timeouts", 1))


def add_orphans(count):
    if count:
        _run("orphans", lambda pipe: pipe.hincrby(STATS_KEY, "orphans", count))


def read():
    """The counters as a dict of ints, or None when Redis is unavailable."""
    def commands(pipe):
        pipe.hgetall(STATS_KEY)
        pipe.zscore(MAX_KEY, "wait_max_us")
    result = _run("read", commands)
    if result is None:
        return None
    raw, wait_max = result
    values = {k.decode(): int(v) for k, v in raw.items()}
    counts = {key: values.get(key, 0) for key in ("acquisitions", "waits", "timeouts", "wait_total_us", "orphans")}
    counts["wait_max_us"] = int(wait_max or 0)
    return counts
