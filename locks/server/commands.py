"""The lockd commands: one method per command, each returning the reply.

A reply is bytes (every line ending in ``\\n``; b"" for no line at all) or,
on a backend that must ask elsewhere (postgres), an asyncio Future of bytes
that the connection waits for before it answers anything after it.
The texts are the old daemon's to the letter: other clients parse them.
"""
import json
from datetime import datetime, timezone

from locks.server.stats import Q_KEYS

__all__ = ("Commands",)

DISABLED = b"0 disabled\n"
# Reply prefixes by the table's 0/1 answer.
_GET = (b"0 Lock Get Failure: ", b"1 Lock Get Success: ")
_RELEASE = (b"0 Lock Release Failure: ", b"1 Lock Release Success: ")
_SHARED_RELEASE = (b"0 Shared Lock Release Failure: ", b"1 Shared Lock Release Success: ")


def _iso(epoch):
    return datetime.fromtimestamp(epoch, timezone.utc).isoformat(timespec="seconds")


def _text(name):
    return name.decode("utf-8", "surrogateescape")


class Commands:
    def __init__(self, table, stats, dump=True, registry=True):
        self.table = table
        self.stats = stats
        self.dump_on = dump
        self.registry_on = registry
        self.connections = set()
        # Command word -> (counter key, handler); gt is counted as g.
        self.handlers = {
            b"g": (b"g", self.g), b"gt": (b"g", self.gt), b"r": (b"r", self.r), b"i": (b"i", self.i),
            b"sg": (b"sg", self.sg), b"sr": (b"sr", self.sr), b"si": (b"si", self.si),
            b"d": (b"d", self.d), b"sd": (b"sd", self.sd), b"dump": (b"dump", self.dump),
            b"iam": (b"iam", self.iam), b"me": (b"me", self.me), b"who": (b"who", self.who),
            b"q": (b"q", self.q),
        }

    # --- exclusive ----------------------------------------------------------

    def g(self, conn, name):
        if name is None:
            name = b""
        result = self.table.get(conn, name)
        if result.__class__ is int:
            return _GET[result] + name + b"\n"
        return _then(result, lambda ok: _GET[1 if ok else 0] + name + b"\n")

    def gt(self, conn, name):
        result = self.table.get(conn, name or b"", with_token=True)
        if result.__class__ is int:
            return self._token_reply(result, name or b"")
        return _then(result, lambda token: self._token_reply(token, name or b""))

    @staticmethod
    def _token_reply(token, name):
        return b"%d Lock Get Success: %s\n" % (token, name) if token else b"0 Lock Get Failure: " + name + b"\n"

    def r(self, conn, name):
        if name is None:
            name = b""
        return _RELEASE[self.table.release(conn, name)] + name + b"\n"

    def i(self, conn, name):
        result = self.table.is_locked(name or b"")
        if result.__class__ is bool:
            return (b"1 Lock Is Locked: " if result else b"0 Lock Not Locked: ") + (name or b"") + b"\n"
        return _then(result, lambda locked: (b"1 Lock Is Locked: " if locked else b"0 Lock Not Locked: ") + (name or b"") + b"\n")

    # --- shared ---------------------------------------------------------------

    def sg(self, conn, name):
        result = self.table.shared_get(conn, name or b"")
        if result.__class__ is int:
            return self._shared_reply(result, name or b"")
        return _then(result, lambda count: self._shared_reply(count, name or b""))

    @staticmethod
    def _shared_reply(count, name):
        # The old daemon never refused sg; here a worker or connection holding
        # the name exclusively does, and the 0 says so.
        if count:
            return b"%d Shared Lock Get Success: %s\n" % (count, name)
        return b"0 Shared Lock Get Failure: " + name + b"\n"

    def sr(self, conn, name):
        if name is None:
            name = b""
        return _SHARED_RELEASE[self.table.shared_release(conn, name)] + name + b"\n"

    def si(self, conn, name):
        result = self.table.shared_count(name or b"")
        if result.__class__ is int:
            return self._shared_is(result, name or b"")
        return _then(result, lambda count: self._shared_is(count, name or b""))

    @staticmethod
    def _shared_is(count, name):
        if count:
            return b"%d Shared Lock Is Locked: %s\n" % (count, name)
        return b"0 Shared Lock Not Locked: " + name + b"\n"

    # --- tables -----------------------------------------------------------------

    def d(self, conn, name):
        if not self.dump_on:
            return DISABLED
        table = self.table.exclusive
        names = table if name is None else ([name] if name in table else [])
        return b"".join(n + b": " + table[n].holder_name() + b"\n" for n in names)

    def sd(self, conn, name):
        if not self.dump_on:
            return DISABLED
        table = self.table.shared
        names = table if name is None else ([name] if name in table else [])
        return b"".join(n + b": " + holder.holder_name() + b"\n" for n in names for holder in table[n])

    def dump(self, conn, arg):
        if not self.dump_on:
            return DISABLED
        if arg == b"shared":
            data = {_text(n): [_text(h.address) for h in holders] for n, holders in self.table.shared.items()}
        else:
            data = {_text(n): _text(holder.address) for n, holder in self.table.exclusive.items()}
        return json.dumps(data, separators=(",", ":")).encode() + b"\n"

    # --- registry ------------------------------------------------------------------

    def iam(self, conn, name):
        if not self.registry_on:
            return DISABLED
        conn.name = name or None  # "iam" alone (or empty) goes back to ip:port
        self.table.version += 1  # the published holders show the new name
        return b"1 ok\n"

    def me(self, conn, arg):
        return b"1 " + conn.address + b" " + conn.holder_name() + b"\n"

    def who(self, conn, name):
        if not (self.dump_on and self.registry_on):
            return DISABLED
        return b"".join(c.address + b": " + c.name + b"\n" for c in self.connections
                        if c.name is not None and (name is None or c.name == name))

    # --- stats ---------------------------------------------------------------------

    def q(self, conn, arg):
        values = self.stats.q_values(len(self.table.exclusive), len(self.table.shared))
        lines = [b"%s: %d" % (key.encode(), values[key]) for key in Q_KEYS]
        if arg == b"full":
            lines += self._full()
        return b"\n".join(lines) + b"\n"

    def _full(self):
        """The extension: holders with since-when (and tokens), then per-name figures."""
        lines = [b"backend: " + self.table.backend.encode()]
        if self.dump_on:
            for name, holder in self.table.exclusive.items():
                hold = holder.exclusive[name]
                token = b" token %d" % hold.token if hold.token else b""
                lines.append(b"lock %s: %s since %s%s" % (name, holder.holder_name(), _iso(hold.since).encode(), token))
            for name, holders in self.table.shared.items():
                for holder in holders:
                    since = _iso(holder.shared[name].since).encode()
                    lines.append(b"shared %s: %s since %s" % (name, holder.holder_name(), since))
        for name, figures in self.stats.names.items():
            count = figures.acquisitions
            average = figures.hold_total_s / count * 1000 if count else 0.0
            lines.append(b"stats %s: acquisitions %d waits %d timeouts %d hold_avg_ms %.3f hold_max_ms %.3f" % (
                name, count, figures.waits, figures.timeouts, average, figures.hold_max_s * 1000))
        return lines


def _then(future, make_reply):
    """A Future of the reply, from a Future of the backend's answer."""
    import asyncio

    reply = asyncio.get_running_loop().create_future()

    def done(source):
        if source.cancelled():
            reply.cancel()
        elif source.exception() is not None:
            reply.set_exception(source.exception())
        else:
            reply.set_result(make_reply(source.result()))

    future.add_done_callback(done)
    return reply
