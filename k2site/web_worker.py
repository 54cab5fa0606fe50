"""gunicorn's uvicorn worker with read deadlines for slow clients.

uvicorn (0.54, h11) times out only idle keep-alive connections between
requests: a connection that never finishes its headers, or that sends its
body a byte now and then, stays open forever. On an event loop such a
connection costs a few KiB, not a thread, so it does not slow other
clients, but without a deadline a client could still pile them up until
the process runs out of file descriptors. :class:`DeadlineH11Protocol`
closes a connection whose headers are not complete ``HEADER_TIMEOUT_S``
after it started waiting for them, and one whose request body stalls for
``BODY_TIMEOUT_S``. nginx in front (deploy/nginx/k2.conf) does the same
with its own client_header_timeout and client_body_timeout.
"""
import os

import h11
from uvicorn.protocols.http.h11_impl import H11Protocol
from uvicorn_worker import UvicornWorker

HEADER_TIMEOUT_S = float(os.environ.get("K2_HEADER_TIMEOUT_S", "10"))
BODY_TIMEOUT_S = float(os.environ.get("K2_BODY_TIMEOUT_S", "30"))
# Connections plus running requests per process before new requests get 503;
# far above what 500 build-event watchers need, below the usual fd limit.
LIMIT_CONCURRENCY = 2000


class DeadlineH11Protocol(H11Protocol):
    _read_deadline = None  # asyncio.TimerHandle while a request is being read
    _reading = None        # "headers" or "body": what the deadline is for

    def connection_made(self, transport):
        super().connection_made(transport)
        self._arm("headers", HEADER_TIMEOUT_S)

    def connection_lost(self, exc):
        self._disarm()
        super().connection_lost(exc)

    def data_received(self, data):
        super().data_received(data)
        self._follow_state()

    def on_response_complete(self):
        super().on_response_complete()
        # Idle keep-alive is uvicorn's own timer; a next request started
        # (pipelined, or after data arrived) is followed in data_received.
        self._follow_state()

    def _follow_state(self):
        if self.transport.is_closing():
            self._disarm()
            return
        state = self.conn.their_state
        if state is h11.IDLE and self.conn.trailing_data[0]:
            # Part of a next request's headers: the deadline runs from its
            # first byte and more bytes do not extend it.
            if self._reading != "headers":
                self._arm("headers", HEADER_TIMEOUT_S)
        elif state is h11.SEND_BODY:
            self._arm("body", BODY_TIMEOUT_S)  # every chunk restarts the idle clock
        elif state is not h11.IDLE or self._reading != "headers":
            self._disarm()

    def _arm(self, reading, seconds):
        self._disarm()
        self._reading = reading
        self._read_deadline = self.loop.call_later(seconds, self._read_timed_out)

    def _disarm(self):
        if self._read_deadline is not None:
            self._read_deadline.cancel()
        self._read_deadline = self._reading = None

    def _read_timed_out(self):
        self._read_deadline = None
        if self.transport.is_closing():
            return
        self.logger.info("closing a connection: its request %s did not arrive in time", self._reading)
        self._reading = None
        # A request waiting for its body hears http.disconnect (connection_lost).
        self.transport.close()


class K2UvicornWorker(UvicornWorker):
    CONFIG_KWARGS = {
        "loop": "auto",
        "http": DeadlineH11Protocol,
        "limit_concurrency": LIMIT_CONCURRENCY,
    }
