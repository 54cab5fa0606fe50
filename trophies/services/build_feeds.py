"""Pushed build status for event streams: one Redis subscriber per web
process, one status read per build per change, fanned out to every watcher.

progress.record and the build state changes publish "build:version" on
progress.EVENTS_CHANNEL. The hub of this process's event loop listens once;
a BuildFeed per watched build reads the status JSON when told (at most
every MIN_INTERVAL_S) and wakes its watchers, who only copy the bytes. So
500 watchers of one build cost one query per change, not 500.
"""
import asyncio
import json
import logging
import time
from dataclasses import dataclass, field

import redis.asyncio
from django.conf import settings
from django.db import close_old_connections

from trophies.models import Build
from trophies.services import progress
from trophies.services.build_status import status_of

log = logging.getLogger(__name__)

MIN_INTERVAL_S = 0.25     # the status at most 4 times a second
# A new version is sent to this many watchers per turn of the event loop:
# a request arriving meanwhile (a status poll) waits for one cohort, not for
# all 500 (with one wake-up for all, polls' p99 went from 12 to 28 ms).
COHORT = 20
POLL_LEASE_S = 10.0       # a polled build's feed stays this long after its last poll
FALLBACK_POLL_S = 2.0     # while Redis pub/sub is down, feeds look this often
RECHECK_S = 5.0           # a stall is the absence of news: look without news this often
RECONNECT_S = 1.0


@dataclass(frozen=True)
class Snapshot:
    version: int
    data: str             # the JSON of GET /api/builds/N/, or "" when the build is gone
    settled: bool
    stalled_since: str = None
    loaded_at: float = field(default_factory=time.monotonic)


def load_snapshot(build_id):
    """Runs in a thread of the loop's shared pool; closes its database
    connection as a request's end would (threads there outlive requests)."""
    try:
        version = progress.version(build_id)  # read first: a change after it brings another read
        build = Build.objects.select_related("trophy").filter(pk=build_id).first()
        if build is None:
            return Snapshot(version, "", True)
        status = status_of(build)
        return Snapshot(version, json.dumps(status), status["state"] not in Build.ACTIVE, status["stalled_since"])
    finally:
        close_old_connections()


def announce_quietly(build_id):
    try:
        progress.announce(build_id)
    except Exception:  # Redis is down: the feeds poll, they will see it anyway
        log.warning("build %s: a stall change could not be announced", build_id, exc_info=True)


class BuildFeed:
    def __init__(self, hub, build_id):
        self.hub = hub
        self.build_id = build_id
        self.snapshot = None
        self.watchers = 0
        self.leased_until = 0.0     # polls keep the feed until then (monotonic)
        self.dirty = asyncio.Event()
        self.dirty.set()            # the first watcher needs a status at once
        self.changed = asyncio.Event()  # set (and replaced) at each new version
        self.loaded = asyncio.Event()   # set (and replaced) at each read, new version or not
        self.woken = 0                  # watchers woken by the latest version so far
        self.gates = []                 # gates[n]: cohort n + 1 may send
        self.fanning_out = False
        self.task = asyncio.get_running_loop().create_task(self.run())

    def told(self, version):
        if self.snapshot is None or version > self.snapshot.version:
            self.dirty.set()

    async def run(self):
        loop = asyncio.get_running_loop()
        while True:
            try:
                await asyncio.wait_for(self.dirty.wait(), RECHECK_S if self.hub.listening else FALLBACK_POLL_S)
            except TimeoutError:
                if self.hub.forget_if_unused(self):
                    return
            self.dirty.clear()
            try:
                snapshot = await loop.run_in_executor(None, load_snapshot, self.build_id)
            except Exception:
                log.warning("build %s: status could not be read for its event stream", self.build_id, exc_info=True)
                await asyncio.sleep(FALLBACK_POLL_S)
                self.dirty.set()
                continue
            previous, self.snapshot = self.snapshot, snapshot
            loaded, self.loaded = self.loaded, asyncio.Event()
            loaded.set()
            if previous is not None and snapshot.version == previous.version:
                if snapshot.stalled_since != previous.stalled_since:
                    # Stalled or moving again with no count changed: a new version tells every process.
                    await loop.run_in_executor(None, announce_quietly, self.build_id)
                continue
            began = loop.time()
            await self.fan_out()
            await asyncio.sleep(max(0.0, MIN_INTERVAL_S - (loop.time() - began)))

    async def fan_out(self):
        """Wake the watchers, then let them send one cohort per loop turn."""
        woken, self.changed = self.changed, asyncio.Event()
        self.woken, self.gates, self.fanning_out = 0, [], True
        woken.set()
        try:
            await asyncio.sleep(0)  # every woken watcher has taken its place (they run before us)
            for gate in self.gates:
                gate.set()
                await asyncio.sleep(0)
        finally:
            self.fanning_out = False
            for gate in self.gates:  # cancelled half way: nobody waits for ever
                gate.set()

    async def my_turn(self):
        place, self.woken = self.woken, self.woken + 1
        cohort = place // COHORT
        if cohort == 0 or not self.fanning_out:
            return
        while len(self.gates) < cohort:
            self.gates.append(asyncio.Event())
        await self.gates[cohort - 1].wait()

    async def fresh_snapshot(self, max_age):
        """A snapshot loaded at most ``max_age`` seconds ago (a poll's answer)."""
        while self.snapshot is None or time.monotonic() - self.snapshot.loaded_at > max_age:
            waiter = self.loaded
            self.dirty.set()
            await waiter.wait()
        return self.snapshot

    async def next_snapshot(self, timeout):
        """Wait for a newer snapshot; False after ``timeout`` seconds."""
        waiter = self.changed
        try:
            async with asyncio.timeout(timeout):  # no task per waiter, unlike wait_for
                await waiter.wait()
        except TimeoutError:
            return False
        await self.my_turn()
        return True


class Hub:
    """The event loop's subscriber and the feeds of the builds watched now."""

    def __init__(self, url):
        self.url = url
        self.feeds = {}
        self.listening = False
        self.task = None

    def feed_of(self, build_id):
        if self.task is None:
            self.task = asyncio.get_running_loop().create_task(self.listen())
        feed = self.feeds.get(build_id)
        if feed is None:
            feed = self.feeds[build_id] = BuildFeed(self, build_id)
        return feed

    def watch(self, build_id):
        feed = self.feed_of(build_id)
        feed.watchers += 1
        return feed

    def poll(self, build_id):
        """The feed of a build someone polls: kept POLL_LEASE_S after the
        last poll, so many pollers share one status read per change."""
        feed = self.feed_of(build_id)
        feed.leased_until = time.monotonic() + POLL_LEASE_S
        return feed

    def leave(self, feed):
        feed.watchers -= 1
        if self.forget_if_unused(feed):
            feed.task.cancel()

    def forget_if_unused(self, feed):
        if feed.watchers > 0 or time.monotonic() < feed.leased_until:
            return False
        if self.feeds.get(feed.build_id) is feed:
            del self.feeds[feed.build_id]
        return True

    async def listen(self):
        while True:
            client = redis.asyncio.Redis.from_url(self.url)
            try:
                async with client.pubsub() as pubsub:
                    await pubsub.subscribe(progress.EVENTS_CHANNEL)
                    self.listening = True
                    for feed in self.feeds.values():  # news may have passed while we were away
                        feed.dirty.set()
                    while True:
                        message = await pubsub.get_message(ignore_subscribe_messages=True, timeout=30.0)
                        if message is None or message["type"] != "message":
                            continue
                        build_id, version = progress.parse_event(message["data"])
                        feed = self.feeds.get(build_id)
                        if feed is not None:
                            feed.told(version)
            except asyncio.CancelledError:
                raise
            except Exception as error:
                if self.listening:
                    log.warning("build events: Redis subscription lost (%s); feeds poll every %s s",
                                error, FALLBACK_POLL_S)
                self.listening = False
                for feed in self.feeds.values():
                    feed.dirty.set()  # wake feeds so they switch to polling
                await asyncio.sleep(RECONNECT_S)
            finally:
                await client.aclose()


_hubs = {}


def hub():
    """This event loop's hub (one per web process under uvicorn)."""
    loop = asyncio.get_running_loop()
    if loop not in _hubs:
        for closed in [other for other in _hubs if other.is_closed()]:  # tests run many loops
            del _hubs[closed]
        _hubs[loop] = Hub(settings.REDIS_URL)
    return _hubs[loop]
