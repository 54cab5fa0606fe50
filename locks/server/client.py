"""A small blocking lockd client, for scripts and the tests.

    with LockdClient("127.0.0.1", 9999) as lockd:
        if lockd.command("g build:classic").startswith("1 "):
            ...
            lockd.command("r build:classic")

``command`` sends one line and returns the one reply line (without the
newline). ``listing`` is for d, sd and who, whose replies have any number
of lines, even none: it sends ``me`` after the command and reads up to
its answer.
"""
import socket

__all__ = ("LockdClient",)


class LockdClient:
    def __init__(self, host="127.0.0.1", port=9999, timeout=10.0):
        self.sock = socket.create_connection((host, port), timeout=timeout)
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self._buffer = b""
        self._me = None

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def close(self):
        self.sock.close()

    def send(self, data):
        """Send raw bytes (or text, as UTF-8): whole lines, pipelined, or not."""
        self.sock.sendall(data.encode() if isinstance(data, str) else data)

    def read_line(self):
        while b"\n" not in self._buffer:
            chunk = self.sock.recv(65536)
            if not chunk:
                raise ConnectionError(f"lockd closed the connection (unread: {self._buffer[:200]!r})")
            self._buffer += chunk
        line, self._buffer = self._buffer.split(b"\n", 1)
        return line.decode("utf-8", "surrogateescape")

    def command(self, line):
        self.send(line + "\n")
        return self.read_line()

    def listing(self, line):
        """The reply lines of ``d``, ``sd``, ``who`` (and the like), maybe none."""
        me = self.command("me")  # the name may have changed since last time
        self.send(f"{line}\nme\n")
        lines = []
        while True:
            reply = self.read_line()
            if reply == me:
                return lines
            lines.append(reply)

    def q(self):
        """``q`` as a dict of ints (always exactly 19 lines)."""
        self.send("q\n")
        return _values(self.read_line() for _ in range(19))

    def q_full(self):
        """``q full``: (the 19 values, the extension's lines)."""
        lines = self.listing("q full")
        return _values(lines[:19]), lines[19:]


def _values(lines):
    values = {}
    for line in lines:
        key, _, value = line.partition(": ")
        values[key] = int(value)
    return values
