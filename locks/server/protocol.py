"""One lockd client connection: split lines, run commands, answer in order.

Lines end in ``\\n`` (a trailing ``\\r`` is dropped); the command word is
what comes before the first space and the argument everything after it, so
"g " names the empty lock and "g a b" the lock "a b". Pipelined commands
get their replies in order, written together. A line longer than
MAX_LINE is refused: the connection gets one line saying so and is
closed, so a client cannot make the server buffer without bound.
"""
import asyncio
import socket

__all__ = ("MAX_LINE", "Connection")

MAX_LINE = 64 * 1024
TOO_LONG = b"0 line too long (max %d bytes)\n" % MAX_LINE
# A vanished client host is noticed after ~25 s of silence (10 + 3 x 5).
KEEPALIVE = ((socket.TCP_KEEPIDLE, 10), (socket.TCP_KEEPINTVL, 5), (socket.TCP_KEEPCNT, 3))


class Connection(asyncio.Protocol):
    __slots__ = ("commands", "table", "transport", "address", "name", "exclusive", "shared", "refused",
                 "_handlers", "_counts", "_buffer", "_waiting", "_paused", "_closed")

    def __init__(self, commands):
        self.commands = commands
        self.table = commands.table
        self._handlers = commands.handlers
        self._counts = commands.stats.commands
        self.exclusive = {}  # name -> Hold
        self.shared = {}
        self.refused = set()  # names refused since this connection last got them
        self.name = None  # set by iam
        self._buffer = b""
        self._waiting = None  # lines queued behind a reply still being worked out
        self._paused = False
        self._closed = False

    def connection_made(self, transport):
        self.transport = transport
        sock = transport.get_extra_info("socket")
        peer = transport.get_extra_info("peername") or ("?", 0)
        host = peer[0] if ":" not in str(peer[0]) else f"[{peer[0]}]"
        self.address = f"{host}:{peer[1]}".encode()
        if sock is not None and sock.family in (socket.AF_INET, socket.AF_INET6):
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_KEEPALIVE, 1)
            for option, value in KEEPALIVE:
                sock.setsockopt(socket.IPPROTO_TCP, option, value)
        self.commands.connections.add(self)
        self.commands.stats.connections += 1

    def holder_name(self):
        return self.name if self.name is not None else self.address

    def data_received(self, data):
        if self._buffer:
            data = self._buffer + data
            self._buffer = b""
        if data[-1:] == b"\n" and data.count(b"\n") == 1 and len(data) <= MAX_LINE and self._waiting is None:
            # The usual case, one whole command: no list to build (this is
            # _one inlined: a call less per operation).
            word, space, arg = data[:-1].partition(b" ")
            entry = self._handlers.get(word)
            if entry is None or arg[-1:] == b"\r" or word[-1:] == b"\r":
                self._run([data[:-1]])  # the general path handles the odd ones
                return
            self._counts[entry[0]] += 1
            reply = entry[1](self, arg if space else None)
            if reply.__class__ is bytes:
                if reply:
                    self.transport.write(reply)
            else:
                self._waiting = []
                reply.add_done_callback(self._resume)
            return
        lines = data.split(b"\n")
        self._buffer = lines.pop()
        if len(self._buffer) > MAX_LINE or (len(data) > MAX_LINE and max(map(len, lines), default=0) > MAX_LINE):
            self._refuse()
            return
        if self._waiting is not None:
            self._waiting.extend(lines)
            return
        self._run(lines)

    def _one(self, line):
        """Run one command line; its reply (bytes or Future), b"" for none."""
        if line[-1:] == b"\r":
            line = line[:-1]
        word, space, arg = line.partition(b" ")
        entry = self._handlers.get(word)
        if entry is None:
            if line:  # an empty line is no command at all
                self.commands.stats.invalid_commands += 1
            return b""
        self._counts[entry[0]] += 1
        return entry[1](self, arg if space else None)

    def _run(self, lines):
        out = []
        one = self._one
        for index, line in enumerate(lines):
            reply = one(line)
            if reply.__class__ is bytes:
                out.append(reply)
                continue
            # The answer comes later: hold back everything after it.
            self._waiting = lines[index + 1:]
            reply.add_done_callback(self._resume)
            break
        if out and not self._closed:
            self.transport.write(b"".join(out))

    def _resume(self, future):
        lines, self._waiting = self._waiting, None
        if self._closed:
            return
        if future.cancelled() or future.exception() is not None:
            # The backend failed (postgres gone): this client's locks may be
            # gone with it, so it must not go on as if it held them.
            self.transport.abort()
            return
        self.transport.write(future.result())
        self._run(lines)

    def _refuse(self):
        self.commands.stats.invalid_commands += 1
        self._buffer = b""
        self.transport.write(TOO_LONG)
        self.transport.close()
        self._closed = True

    def pause_writing(self):
        # The client does not read its replies: stop reading its commands.
        self._paused = True
        self.transport.pause_reading()

    def resume_writing(self):
        self._paused = False
        self.transport.resume_reading()

    def connection_lost(self, exc):
        self._closed = True
        self._waiting = None
        self.commands.connections.discard(self)
        self.commands.stats.connections -= 1
        self.table.release_all(self)
