"""A build's progress counters in Redis.

Each chunk owns its own fields (rendered/skipped/failed of that chunk) and
sets them to its running totals, so a chunk that runs again after a crash
overwrites its counts instead of adding to them. Readers sum the fields: a
few hundred small numbers, one round trip, no file scans.
"""
import time

import redis
from django.conf import settings

KINDS = ("rendered", "skipped", "failed")
# Keys of a build expire: a settled build keeps its counts in the database,
# and one that never settles must not stay in Redis forever either.
ACTIVE_TTL_S = 30 * 24 * 3600
SETTLED_TTL_S = 7 * 24 * 3600  # the throughput chart of a settled build lasts this long
_client = None


def client():
    global _client
    if _client is None:
        _client = redis.Redis.from_url(settings.REDIS_URL)
    return _client


def reset_client():
    """Drop this process's connection (before forking children)."""
    global _client
    if _client is not None:
        _client.close()
    _client = None


def counters_key(build_id):
    return f"k2:build:{build_id}:counts"


def samples_key(build_id):
    return f"k2:build:{build_id}:samples"


def moved_key(build_id):
    return f"k2:build:{build_id}:moved"


def cancel_key(build_id):
    return f"k2:build:{build_id}:cancel"


def version_key(build_id):
    return f"k2:build:{build_id}:version"


# One channel for every build: a web process subscribes once and fans the
# news out to its watchers. A message is the build id and its new version
# (a counter bumped at each change: the SSE event id, so a resume knows
# whether the client missed anything).
EVENTS_CHANNEL = "k2:build-events"


def _announce_in(pipe, build_id):
    # EVAL keeps INCR and PUBLISH in one round trip and the version in the message.
    pipe.eval("local v = redis.call('INCR', KEYS[1]) redis.call('EXPIRE', KEYS[1], ARGV[2]) "
              "redis.call('PUBLISH', ARGV[1], ARGV[3] .. ':' .. v) return v",
              1, version_key(build_id), EVENTS_CHANNEL, ACTIVE_TTL_S, str(build_id))


def announce(build_id):
    """Tell watchers the build changed (state, counts); returns the new version."""
    pipe = client().pipeline(transaction=False)
    _announce_in(pipe, build_id)
    return pipe.execute()[0]


def version(build_id):
    value = client().get(version_key(build_id))
    return int(value) if value is not None else 0


def parse_event(message):
    """(build_id, version) of a message on EVENTS_CHANNEL."""
    build, _, number = (message.decode() if isinstance(message, bytes) else message).partition(":")
    return int(build), int(number)


def record(build_id, chunk_number, counts, moved=True):
    """Store one chunk's running totals and a throughput sample; ``moved``:
    the counts changed since the chunk's last report (stall detection)."""
    mapping = {f"{kind}:{chunk_number}": counts[kind] for kind in KINDS}
    pipe = client().pipeline(transaction=False)
    if moved:
        pipe.set(moved_key(build_id), f"{time.time():.3f}", ex=ACTIVE_TTL_S)
    pipe.hset(counters_key(build_id), mapping=mapping)
    # "chunk:time:done:rendered": rates count rendering apart from (nearly free) skipping.
    member = f"{chunk_number}:{time.time():.3f}:{sum(counts.values())}:{counts['rendered']}"
    pipe.zadd(samples_key(build_id), {member: time.time()})
    pipe.expire(counters_key(build_id), ACTIVE_TTL_S)
    pipe.expire(samples_key(build_id), ACTIVE_TTL_S)
    if moved:
        _announce_in(pipe, build_id)
    pipe.execute()


def totals(build_id):
    values = client().hgetall(counters_key(build_id))
    result = dict.fromkeys(KINDS, 0)
    for field, value in values.items():
        kind = field.decode().split(":", 1)[0]
        result[kind] += int(value)
    return result


def keys_of(build_id):
    return counters_key(build_id), samples_key(build_id), cancel_key(build_id), moved_key(build_id)


def settled_keys_of(build_id):
    # The version outlives a reset: a watcher's Last-Event-ID stays comparable.
    return keys_of(build_id) + (version_key(build_id),)


def settled(build_id):
    """The build's counts are in the database now: let Redis forget them."""
    pipe = client().pipeline(transaction=False)
    for key in settled_keys_of(build_id):
        pipe.expire(key, SETTLED_TTL_S)
    pipe.execute()


def reset(build_id):
    client().delete(*keys_of(build_id))


def moved_at(build_id):
    """When a chunk of the build last reported new counts (epoch s), or None."""
    value = client().get(moved_key(build_id))
    return float(value) if value is not None else None


def request_cancel(build_id):
    client().set(cancel_key(build_id), "1", ex=7 * 24 * 3600)


def cancel_requested(build_id):
    return bool(client().exists(cancel_key(build_id)))
