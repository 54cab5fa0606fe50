"""The postgres backend: the same named locks on PostgreSQL session-level
advisory locks, so that workers on several hosts sharing one database
exclude each other (K2_LOCK_BACKEND=postgres).

Semantics are the flock backend's: ``timeout=None`` waits as long as it
takes, ``0`` does not wait, any other number waits that long (in the
server's fair lock queue, with lock_timeout) and then raises LockTimeout
naming the holders; locks are not re-entrant (each acquisition has a
session of its own, ``locks.backends.pgsessions``); a holder whose session
dies (process killed, host gone) loses its locks. Exclusive acquisitions
get a fencing token from the names table, in the same transaction-less
statement that writes the holder note.

Keys: ``locks_name.id`` with "K2" (0x4B32) in the top 16 bits, so our locks
are easy to tell apart from other advisory lock users of the database.
"""
import hashlib
import logging
import os
import time
from contextlib import contextmanager
from datetime import datetime, timezone

import psycopg2
import psycopg2.errors

from locks import counters
from locks.backends import pgsessions
from locks.exceptions import LockTimeout
from locks.held import HeldLock
from locks.identity import host_name

__all__ = ("EXCLUSIVE", "SHARED", "KEY_BASE", "exclusive", "shared", "key_for", "name_for_key", "try_lock",
           "newest_token")

log = logging.getLogger(__name__)
EXCLUSIVE = "exclusive"
SHARED = "shared"
KEY_BASE = 0x4B32 << 48
# FROM locks_name: no row means our cached key is stale (its row was deleted,
# as test flushes do): look the name up again rather than lock a dead key.
_TRY = {EXCLUSIVE: "SELECT pg_try_advisory_lock(%s) FROM locks_name WHERE id = %s",
        SHARED: "SELECT pg_try_advisory_lock_shared(%s) FROM locks_name WHERE id = %s"}
_WAIT = {EXCLUSIVE: "SELECT pg_advisory_lock(%s)", SHARED: "SELECT pg_advisory_lock_shared(%s)"}
_UNLOCK = {EXCLUSIVE: "SELECT pg_advisory_unlock(%s)", SHARED: "SELECT pg_advisory_unlock_shared(%s)"}
_keys = {}  # name -> key; a name's key never changes
_NOTE = """INSERT INTO locks_holder (backend_pid, key, name, mode, state, pid, host, owner, since, token)
           VALUES (pg_backend_pid(), %(key)s, %(name)s, %(mode)s, %(state)s, %(pid)s, %(host)s, %(owner)s, now(), {token})
           RETURNING id, token"""
_NEXT_TOKEN = "(SELECT token FROM t)"
_BUMP = "WITH t AS (UPDATE locks_name SET token = token + 1 WHERE id = %(id)s RETURNING token) "


@contextmanager
def exclusive(name, timeout=None, owner=None):
    with _locked(name, EXCLUSIVE, timeout, owner) as held:
        yield held


@contextmanager
def shared(name, timeout=None, owner=None):
    with _locked(name, SHARED, timeout, owner) as held:
        yield held


def key_for(name, session=None):
    """The advisory-lock key of ``name``, creating its row the first time."""
    key = _keys.get(name)
    if key is not None:
        return key
    own = session is None
    session = session or pgsessions.checkout()
    try:
        digest = hashlib.sha256(name.encode("utf-8", "surrogatepass")).hexdigest()
        row = session.execute("INSERT INTO locks_name (digest, name, token) VALUES (%s, %s, 0) "
                              "ON CONFLICT (digest) DO NOTHING RETURNING id", (digest, name))
        if row is None:
            row = session.execute("SELECT id FROM locks_name WHERE digest = %s", (digest,))
    finally:
        if own:
            pgsessions.checkin(session)
    key = _keys[name] = KEY_BASE | row[0]
    return key


def name_for_key(key):
    return key & ((1 << 48) - 1)  # the locks_name id


def try_lock(session, name, mode):
    """(key, True if taken) without waiting."""
    for _ in range(3):
        key = key_for(name, session)
        row = session.execute(_TRY[mode], (key, name_for_key(key)))
        if row is not None:
            return key, row[0]
        _keys.pop(name, None)
    raise RuntimeError(f"lock name {name!r} keeps vanishing from locks_name")


def _locked(name, mode, timeout, owner):
    if not isinstance(name, str) or not name:
        raise ValueError(f"lock name must be a non-empty string, not {name!r}")
    return _hold(name, mode, None if timeout is None else max(0.0, float(timeout)), owner)


@contextmanager
def _hold(name, mode, timeout, owner):
    session = pgsessions.checkout()
    try:
        key, waited = _acquire(session, name, mode, timeout, owner)
    except LockTimeout:
        pgsessions.checkin(session)
        raise
    except BaseException:
        pgsessions.discard(session)  # interrupted mid-wait: the session's state is unknown
        raise
    note = token = None
    try:
        note, token = note_held(session, key, name, mode, owner)
        counters.record_acquisition(waited)
        yield HeldLock(name, mode, None, waited or 0.0, token, newest_token)
    finally:
        _release(session, key, name, mode, note)


def newest_token(name):
    """The last token issued for ``name``, read on Django's connection.

    Inside a transaction the name's row stays locked FOR SHARE until the
    transaction ends, and the next exclusive acquisition's token UPDATE
    waits for it: a write made in that transaction cannot come after the
    next holder's check.
    """
    from django.db import connection

    lock = " FOR SHARE" if connection.in_atomic_block else ""
    with connection.cursor() as cursor:
        cursor.execute("SELECT token FROM locks_name WHERE id = %s" + lock, [name_for_key(key_for(name))])
        row = cursor.fetchone()
    return row[0] if row else 0


def note_held(session, key, name, mode, owner, state="held"):
    """Write a holder note; for an exclusive holder also issue its token."""
    values = {"key": key, "name": name, "mode": mode, "state": state, "pid": os.getpid(), "host": host_name(),
              "owner": None if owner is None else str(owner), "id": name_for_key(key)}
    if mode == EXCLUSIVE and state == "held":
        return session.execute(_BUMP + _NOTE.format(token=_NEXT_TOKEN), values)
    return session.execute(_NOTE.format(token="NULL"), values)


def _acquire(session, name, mode, timeout, owner):
    """Take the lock on ``session``: (key, seconds waited or None if it was free)."""
    key, taken = try_lock(session, name, mode)
    if taken:
        return key, None
    if timeout == 0:
        _give_up(session, key, name, mode, timeout)
    start = time.monotonic()
    waiting = note_held(session, key, name, mode, owner, state="waiting")[0]
    try:
        # Wait in the server's queue (fair, and visible in pg_locks as not
        # granted); lock_timeout bounds the wait.
        milliseconds = 0 if timeout is None else max(1, int(timeout * 1000))
        session.execute(f"SET lock_timeout = {milliseconds}; " + _WAIT[mode], (key,))
    except psycopg2.errors.LockNotAvailable:
        session.execute("SET lock_timeout = 0; DELETE FROM locks_holder WHERE id = %s", (waiting,))
        _give_up(session, key, name, mode, timeout)
    session.execute("SET lock_timeout = 0; DELETE FROM locks_holder WHERE id = %s", (waiting,))
    return key, time.monotonic() - start


def _give_up(session, key, name, mode, timeout):
    counters.record_timeout()
    log.warning("lock %r (%s) timed out after %s s", name, mode, timeout)
    raise LockTimeout(name, mode, timeout, holders_of(session, key))


def holders_of(session, key):
    """Notes of the live holders of ``key`` (their sessions still hold it)."""
    rows = session.fetchall(
        "SELECT h.pid, h.host, h.owner, h.since, h.mode FROM locks_holder h "
        "WHERE h.key = %s AND h.state = 'held' AND EXISTS (SELECT 1 FROM pg_locks l WHERE l.pid = h.backend_pid "
        "AND l.locktype = 'advisory' AND l.granted AND l.objsubid = 1 "
        "AND ((l.classid::bigint << 32) | l.objid::bigint) = h.key) ORDER BY h.since", (key,))
    return [{"pid": pid, "host": host, "owner": owner, "since": _iso(since), "mode": mode}
            for pid, host, owner, since, mode in rows]


def _iso(value):
    return value.astimezone(timezone.utc).isoformat(timespec="seconds") if isinstance(value, datetime) else value


def _release(session, key, name, mode, note):
    try:
        unlocked = session.execute("DELETE FROM locks_holder WHERE id = %s; " + _UNLOCK[mode], (note, key))
    except psycopg2.Error as exc:
        # The session died while we held the lock: it was released then,
        # and someone else may have had it since. Nothing to undo now.
        pgsessions.discard(session)
        log.warning("lock %r was lost while held (session ended): %s", name, exc)
        return
    if not unlocked or not unlocked[0]:
        pgsessions.discard(session)
        return
    pgsessions.checkin(session)
