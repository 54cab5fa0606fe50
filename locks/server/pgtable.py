"""The lockd server's lock table on the postgres face.

The server holds each name in PostgreSQL at most once, on one session of
its own: exclusively while a connection holds it with g, shared while one
or more connections hold it with sg. Between its own connections it
decides from memory; against every other process and host, PostgreSQL
decides. The session's statements run in one worker thread, in order, so
the event loop never waits for the database: a command that needs it
answers with a Future, and that connection's later commands wait behind
it (other connections go on).

If the session dies, PostgreSQL has released everything it held, so every
connection holding a lock is closed: its client must learn that it lost
it, exactly as a worker whose session dies loses its locks. A heartbeat
statement every HEARTBEAT_S finds a dead session even when no client
asks anything.
"""
import asyncio
import logging
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timezone

import psycopg2

from locks.backends import pgsessions
from locks.backends.postgres import _UNLOCK, key_for, try_lock
from locks.published import encode
from locks.server.table import Hold

__all__ = ("PostgresTable",)

log = logging.getLogger(__name__)
EXCLUSIVE, SHARED = "exclusive", "shared"
_BUMP = "UPDATE locks_name SET token = token + 1 WHERE id = %s RETURNING token"
_KEY_MASK = (1 << 48) - 1
HEARTBEAT_S = 1.0
_OTHERS = """SELECT count(*) FILTER (WHERE mode = 'ExclusiveLock'), count(*) FILTER (WHERE mode = 'ShareLock')
             FROM pg_locks WHERE locktype = 'advisory' AND granted AND objsubid = 1 AND pid <> pg_backend_pid()
             AND ((classid::bigint << 32) | objid::bigint) = %s
             AND database = (SELECT oid FROM pg_database WHERE datname = current_database())"""


def _text(name):
    return name.decode("utf-8", "surrogateescape")


class PostgresTable:
    backend = "postgres"

    def __init__(self, stats):
        self.stats = stats
        self.exclusive = {}  # name -> connection
        self.shared = {}  # name -> {connection: None}
        self.version = 0
        self._busy = {}  # name -> Future of the statement in flight for it
        self._held_keys = {}  # name -> advisory key our session holds it with
        self._thread = ThreadPoolExecutor(max_workers=1, thread_name_prefix="lockd-postgres")
        self._session = None
        self.backend_pid = None
        self.publish_store = _Published(self)

    async def start(self):
        await self._run(self._connect)
        self._heartbeat = asyncio.get_running_loop().create_task(self._beat())

    async def _beat(self):
        while True:
            await asyncio.sleep(HEARTBEAT_S)
            try:
                await self._run(self._ping)
            except psycopg2.Error:
                pass  # _check has closed the holders; the next beat reconnects

    # --- in the worker thread -------------------------------------------------

    def _connect(self):
        if self._session is None or not self._session.usable:
            self._session = pgsessions.connect()
            self.backend_pid = self._session.backend_pid
        return self._session

    def _try(self, name, mode, with_token):
        session = self._connect()
        key, taken = try_lock(session, _text(name), mode)
        if not taken:
            return False, None, key
        token = session.execute(_BUMP, (key & _KEY_MASK,))[0] if with_token else None
        return True, token, key

    def _ping(self):
        if self._session is None:  # lost: come back (holding nothing)
            self._connect()
        else:
            self._session.execute("SELECT 1")

    def _unlock(self, key, mode):
        self._connect().execute(_UNLOCK[mode], (key,))

    def _bump(self, name):
        session = self._connect()
        return session.execute(_BUMP, (key_for(_text(name), session) & _KEY_MASK,))[0]

    def _others(self, name):
        session = self._connect()
        return session.execute(_OTHERS, (key_for(_text(name), session),))

    # --- in the event loop --------------------------------------------------------

    def _run(self, function, *args):
        future = asyncio.get_running_loop().run_in_executor(self._thread, function, *args)
        future.add_done_callback(self._check)
        return future

    def _check(self, future):
        error = None if future.cancelled() else future.exception()
        # Only a dead session loses the locks; a failed statement on a live
        # one fails that client's command alone.
        if isinstance(error, (psycopg2.OperationalError, psycopg2.InterfaceError)) or (
                isinstance(error, psycopg2.Error) and self._session is not None and self._session.connection.closed):
            self._session_lost(error)

    def _session_lost(self, error):
        log.error("lockd lost its PostgreSQL session (%s): closing the connections that held locks", error)
        holders = set(self.exclusive.values()) | {c for conns in self.shared.values() for c in conns}
        self.exclusive.clear()
        self.shared.clear()
        self._held_keys.clear()
        self.version += 1
        for conn in holders:
            conn.exclusive.clear()
            conn.shared.clear()
            conn.transport.abort()
        self._session = None  # the worker thread reconnects on the next statement
        self.backend_pid = None

    def _after(self, name, then):
        """Run ``then()`` once the statement in flight for ``name`` is done."""
        reply = asyncio.get_running_loop().create_future()

        def go(_):
            try:
                result = then()
            except Exception as exc:
                reply.set_exception(exc)
                return
            if isinstance(result, asyncio.Future):
                result.add_done_callback(lambda f: _copy(f, reply))
            else:
                reply.set_result(result)

        self._busy[name].add_done_callback(go)
        return reply

    def _acquire(self, conn, name, mode, with_token, grant):
        future = self._run(self._try, name, mode, with_token)
        self._busy[name] = future
        reply = asyncio.get_running_loop().create_future()

        def done(f):
            if self._busy.get(name) is f:
                del self._busy[name]
            if f.cancelled() or f.exception() is not None:
                reply.set_exception(f.exception() or asyncio.CancelledError())
                return
            ok, token, key = f.result()
            if ok and conn._closed:  # the client left while we asked
                self._release_in_db(name, mode, key)
                ok = False
            if not ok:
                self._refused(conn, name)
                reply.set_result(0)
                return
            self._held_keys[name] = key  # released with the key it was taken with
            reply.set_result(grant(token))

        future.add_done_callback(done)
        return reply

    def _release_in_db(self, name, mode, key=None):
        key = key if key is not None else self._held_keys.pop(name)
        self._busy[name] = future = self._run(self._unlock, key, mode)
        future.add_done_callback(lambda f: self._busy.get(name) is f and self._busy.pop(name))

    def _refused(self, conn, name):
        self.stats.refused(name)
        conn.refused.add(name)

    def _granted(self, conn, name, token, mode):
        hold = Hold(None, self.stats.acquired(name), token)
        conn.refused.discard(name)
        self.version += 1
        if mode == EXCLUSIVE:
            conn.exclusive[name] = hold
            self.exclusive[name] = conn
            return token or 1
        conn.shared[name] = hold
        holders = self.shared.setdefault(name, {})
        holders[conn] = None
        return len(holders)

    # --- the table interface (see locks.server.table.FlockTable) ------------------------

    def get(self, conn, name, with_token=False):
        if self.exclusive.get(name) is conn:
            hold = conn.exclusive[name]
            if not with_token or hold.token:
                return hold.token if with_token else 1

            def keep(token):
                hold.token = token
                self.version += 1
                return token
            future = self._run(self._bump, name)
            return _map(future, keep)
        if name in self.exclusive or name in self.shared:
            self._refused(conn, name)
            return 0
        if name in self._busy:
            return self._after(name, lambda: self.get(conn, name, with_token))
        return self._acquire(conn, name, EXCLUSIVE, with_token, lambda token: self._granted(conn, name, token, EXCLUSIVE))

    def shared_get(self, conn, name):
        holders = self.shared.get(name)
        if holders is not None:
            if conn in holders:
                return len(holders)
            if name not in conn.exclusive:  # already held shared in the database
                return self._granted(conn, name, None, SHARED)
        if name in self.exclusive:
            self._refused(conn, name)
            return 0
        if name in self._busy:
            return self._after(name, lambda: self.shared_get(conn, name))
        return self._acquire(conn, name, SHARED, False, lambda token: self._granted(conn, name, None, SHARED))

    def release(self, conn, name):
        hold = conn.exclusive.pop(name, None)
        if hold is None:
            return 0
        del self.exclusive[name]
        self._dropped(name, hold)
        self._release_in_db(name, EXCLUSIVE)
        return 1

    def shared_release(self, conn, name):
        hold = conn.shared.pop(name, None)
        if hold is None:
            return 0
        holders = self.shared[name]
        del holders[conn]
        self._dropped(name, hold)
        if not holders:
            del self.shared[name]
            self._release_in_db(name, SHARED)
        return 1

    def _dropped(self, name, hold):
        self.version += 1
        hold.figures.held_for(time.monotonic() - hold.start)

    def release_all(self, conn):
        for name in list(conn.exclusive):
            self.release(conn, name)
            self.stats.orphans += 1
        for name in list(conn.shared):
            self.shared_release(conn, name)
            self.stats.shared_orphans += 1
        for name in conn.refused:
            self.stats.gave_up(name)
        conn.refused.clear()

    def is_locked(self, name):
        if name in self.exclusive:
            return True
        return _map(self._run(self._others, name), lambda counts: counts[0] > 0)

    def shared_count(self, name):
        ours = len(self.shared.get(name, ()))
        return _map(self._run(self._others, name), lambda counts: ours + counts[1])

    def file_name(self, name):
        return _text(name)

    def close(self):
        if getattr(self, "_heartbeat", None) is not None:
            self._heartbeat.cancel()
        if self._session is not None:
            self._thread.submit(self._session.close).result(10)
        self._thread.shutdown(wait=True)


class _Published:
    """Where the publisher puts the holder table: the locks_lockd row of our session."""

    def __init__(self, table):
        self.table = table
        self.session = None

    def write(self, data):
        if self.table.backend_pid is None:
            return
        if self.session is None or not self.session.usable:
            self.session = pgsessions.connect()
        self.session.execute(
            "INSERT INTO locks_lockd (backend_pid, host, data, updated) VALUES (%s, %s, %s, %s) "
            "ON CONFLICT (backend_pid) DO UPDATE SET host = excluded.host, data = excluded.data, updated = excluded.updated",
            (self.table.backend_pid, data["host"], encode(data), datetime.now(timezone.utc)))

    def remove(self):
        if self.session is not None and self.table.backend_pid is not None:
            try:
                self.session.execute("DELETE FROM locks_lockd WHERE backend_pid = %s", (self.table.backend_pid,))
            except psycopg2.Error:
                pass
            self.session.close()


def _copy(source, target):
    if source.cancelled():
        target.cancel()
    elif source.exception() is not None:
        target.set_exception(source.exception())
    else:
        target.set_result(source.result())


def _map(future, function):
    result = asyncio.get_running_loop().create_future()

    def done(f):
        if f.cancelled() or f.exception() is not None:
            result.set_exception(f.exception() or asyncio.CancelledError())
        else:
            try:
                result.set_result(function(f.result()))
            except Exception as exc:
                result.set_exception(exc)

    future.add_done_callback(done)
    return result
