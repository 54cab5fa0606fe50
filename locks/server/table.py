"""The lockd server's lock table on the flock face.

The kernel decides every grant: each connection's lock is an flock on a
file description of its own (``FdPool``), so a connection, a worker using
``locks.exclusive`` and flock(1) exclude each other alike. The table only
remembers which connection holds what, to answer ``d``/``dump``/``q``, to
release everything when a connection closes, and to publish the holders
for the dashboard.

A connection holds a name either exclusively or shared, never both: the
two are locks on the same file, and flock would convert one into the
other (losing it when the conversion fails) rather than hold both.
"""
import os
import time

from locks import kernel
from locks.server.fdpool import FdPool
from locks.tokens import next_token

__all__ = ("Hold", "FlockTable")


_monotonic = time.monotonic
# Wall clock = monotonic + offset: one clock read per grant instead of two.
_WALL_OFFSET = time.time() - time.monotonic()


class Hold:
    __slots__ = ("handle", "start", "token", "figures")

    def __init__(self, handle, figures, token=None):
        self.handle = handle
        self.start = _monotonic()
        self.token = token
        self.figures = figures  # the name's NameStats, to add the hold time to

    @property
    def since(self):
        return self.start + _WALL_OFFSET


class FlockTable:
    backend = "flock"

    def __init__(self, stats, directory=None):
        self.stats = stats
        self._names = stats.names
        self.pool = FdPool(directory)
        self.exclusive = {}  # name -> connection
        self.shared = {}  # name -> {connection: None}, in grant order
        self.version = 0  # bumped on every change, for the publisher

    # Each method returns the reply's number: 1/0, a holder count, or a token.

    def get(self, conn, name, with_token=False):
        holder = self.exclusive.get(name)
        if holder is conn:
            if not with_token:
                return 1
            hold = conn.exclusive[name]
            if hold.token is None:  # taken with g, asked again with gt
                hold.token = next_token(hold.handle, name)
                self.version += 1
            return hold.token
        if holder is None and name not in conn.shared:
            fd = self.pool.take(name, True)
            if fd is not None:
                try:
                    token = next_token(fd, name) if with_token else None
                except OSError:  # no token can be issued (disk full): no grant either
                    self.pool.give(name, fd)
                    fd = None
            if fd is not None:
                conn.exclusive[name] = Hold(fd, self._acquired(name), token)
                self.exclusive[name] = conn
                self.version += 1
                if conn.refused:
                    conn.refused.discard(name)
                return token or 1
        self.stats.refused(name)
        conn.refused.add(name)
        return 0

    def release(self, conn, name):
        hold = conn.exclusive.pop(name, None)
        if hold is None:
            return 0
        del self.exclusive[name]
        self._drop(name, hold)
        return 1

    def shared_get(self, conn, name):
        holders = self.shared.get(name)
        if holders is not None and conn in holders:
            return len(holders)
        if name not in conn.exclusive:
            fd = self.pool.take(name, False)
            if fd is not None:
                if holders is None:
                    holders = self.shared[name] = {}
                holders[conn] = None
                conn.shared[name] = Hold(fd, self._acquired(name))
                self.version += 1
                if conn.refused:
                    conn.refused.discard(name)
                return len(holders)
        self.stats.refused(name)
        conn.refused.add(name)
        return 0

    def shared_release(self, conn, name):
        hold = conn.shared.pop(name, None)
        if hold is None:
            return 0
        holders = self.shared[name]
        del holders[conn]
        if not holders:
            del self.shared[name]
        self._drop(name, hold)
        return 1

    def _acquired(self, name):
        figures = self._names.get(name) or self.stats.name(name)
        figures.acquisitions += 1
        return figures

    def release_all(self, conn):
        """A connection closed: release what it held (orphans) at once."""
        stats = self.stats
        for name in list(conn.exclusive):
            self.release(conn, name)
            stats.orphans += 1
        for name in list(conn.shared):
            self.shared_release(conn, name)
            stats.shared_orphans += 1
        for name in conn.refused:
            stats.gave_up(name)
        conn.refused.clear()

    def _drop(self, name, hold):
        self.pool.give(name, hold.handle)
        self.version += 1
        hold.figures.held_for(_monotonic() - hold.start)

    def is_locked(self, name):
        """Held exclusively by a connection or by anyone the kernel knows."""
        if name in self.exclusive:
            return True
        return any(lock.exclusive for lock in self._kernel_holders(name))

    def shared_count(self, name):
        """Shared holders: connections, plus other processes the kernel shows."""
        ours = len(self.shared.get(name, ()))
        pid = os.getpid()
        return ours + sum(1 for lock in self._kernel_holders(name) if not lock.exclusive and lock.pid != pid)

    def _kernel_holders(self, name):
        try:
            stat = os.stat(self.pool.directory / self.pool.file_name(name), follow_symlinks=False)
        except OSError:
            return []  # no lock file: nobody ever locked it
        device = kernel.device_of(stat)
        return [lock for lock in kernel.read_flocks(inode=stat.st_ino)
                if lock.ino == stat.st_ino and lock.dev == device and not lock.blocked]

    def file_name(self, name):
        return self.pool.file_name(name)

    def token_of(self, conn, name):
        hold = conn.exclusive.get(name)
        return hold.token if hold else None

    def close(self):
        self.pool.close()
