"""Waiting for a build's news outside the web server (`k2 build --wait`):
the same Redis channel the event streams read, with polling when Redis
pub/sub cannot be had."""
import logging
import time

from trophies.services import progress

log = logging.getLogger(__name__)

MIN_INTERVAL_S = 0.25   # at most 4 redraws a second, as the event stream
QUIET_S = 5.0           # with no news, look anyway (elapsed time moves, a stall shows)
POLL_S = 0.5            # without pub/sub


class BuildWatch:
    """``wait()`` returns when the build changed, or after a quiet while."""

    def __init__(self, build_id):
        self.build_id = build_id
        self.pubsub = None
        self.last = 0.0
        try:
            self.pubsub = progress.client().pubsub(ignore_subscribe_messages=True)
            self.pubsub.subscribe(progress.EVENTS_CHANNEL)
        except Exception as error:
            self.fail(error)

    @property
    def live(self):
        return self.pubsub is not None

    def fail(self, error):
        log.warning("build %s: Redis pub/sub unavailable (%s); polling every %s s", self.build_id, error, POLL_S)
        self.close()

    def wait(self):
        pause = MIN_INTERVAL_S - (time.monotonic() - self.last)
        if pause > 0:
            time.sleep(pause)
        if self.pubsub is None:
            time.sleep(POLL_S)
        else:
            try:
                self._next_news()
            except Exception as error:
                self.fail(error)
        self.last = time.monotonic()

    def _next_news(self):
        deadline = time.monotonic() + QUIET_S
        while (left := deadline - time.monotonic()) > 0:
            message = self.pubsub.get_message(timeout=left)
            if message and message["type"] == "message" and progress.parse_event(message["data"])[0] == self.build_id:
                while self.pubsub.get_message(timeout=0):  # news already waiting is in the status we read next
                    pass
                return

    def close(self):
        if self.pubsub is not None:
            try:
                self.pubsub.close()
            except Exception:
                pass
        self.pubsub = None

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
