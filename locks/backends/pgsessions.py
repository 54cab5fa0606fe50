"""PostgreSQL sessions that hold advisory locks for the postgres backend.

Session-level advisory locks are re-entrant within one session, while two
flock acquisitions in one process exclude each other. So every acquisition
gets a session of its own from a small per-process pool: two threads (or
two nested ``with`` blocks) of one process then exclude each other exactly
as with flock. The sessions are our own psycopg2 connections, never
Django's: Django may close its connection at the end of any request, which
would silently drop the locks.

A session that dies releases its locks (that is the point): TCP keepalives
on both ends make a vanished host's locks free within seconds, not hours.
Session locks need a real session per client: a transaction-pooling proxy
(pgbouncer in transaction mode) hands the session to someone else between
statements, and breaks them. Use session pooling or connect directly.

After fork the child must not touch the parent's sessions, not even to
close them: closing sends Terminate on the shared socket and would end
the parent's session (and drop its locks). The child points those fds at
/dev/null and forgets them.
"""
import logging
import os
import threading
import weakref

import psycopg2
from django.core.exceptions import ImproperlyConfigured
from django.db import connections

__all__ = ("Session", "checkout", "checkin", "discard", "close_all", "connect")

log = logging.getLogger(__name__)
MAX_IDLE = 4
# Client side: libpq probes an idle connection after 5 s, every 2 s, gives up after 3.
CLIENT_KEEPALIVES = {"keepalives": 1, "keepalives_idle": 5, "keepalives_interval": 2, "keepalives_count": 3,
                     "tcp_user_timeout": 15000}
# Server side, so PostgreSQL drops a vanished host's session (and its locks) in ~11 s.
SERVER_SETTINGS = "SET tcp_keepalives_idle = 5; SET tcp_keepalives_interval = 2; SET tcp_keepalives_count = 3; " \
                  "SET tcp_user_timeout = 15000; SET idle_in_transaction_session_timeout = 0"

_guard = threading.Lock()
_idle = []
_every = weakref.WeakSet()  # every open session of this process, for the fork handler


class Session:
    """One psycopg2 connection in autocommit mode and its backend pid."""

    def __init__(self, connection):
        self.connection = connection
        with connection.cursor() as cursor:
            cursor.execute(SERVER_SETTINGS)
            cursor.execute("SELECT pg_backend_pid()")
            self.backend_pid = cursor.fetchone()[0]
        self.pid = os.getpid()

    def execute(self, sql, params=None):
        """Run ``sql``; the first row of the last statement (or None)."""
        with self.connection.cursor() as cursor:
            cursor.execute(sql, params)
            return cursor.fetchone() if cursor.description else None

    def fetchall(self, sql, params=None):
        with self.connection.cursor() as cursor:
            cursor.execute(sql, params)
            return cursor.fetchall()

    @property
    def usable(self):
        return self.pid == os.getpid() and not self.connection.closed

    def close(self):
        if self.pid == os.getpid():
            try:
                self.connection.close()
            except psycopg2.Error:
                pass


def connection_params():
    """psycopg2.connect() arguments for Django's default database."""
    wrapper = connections["default"]
    if wrapper.vendor != "postgresql":
        raise ImproperlyConfigured("K2_LOCK_BACKEND=postgres needs DATABASE_URL to name a PostgreSQL database")
    params = dict(wrapper.get_connection_params())
    for django_only in ("cursor_factory", "context", "server_side_binding", "pool", "assume_role"):
        params.pop(django_only, None)
    params.update(CLIENT_KEEPALIVES)
    params["application_name"] = f"k2 locks pid {os.getpid()}"
    return params


def connect():
    connection = psycopg2.connect(**connection_params())
    connection.autocommit = True
    session = Session(connection)
    _every.add(session)
    return session


def checkout():
    with _guard:
        while _idle:
            session = _idle.pop()
            if session.usable:
                return session
    return connect()


def checkin(session):
    """Return a session that holds no lock any more."""
    if not session.usable or session.connection.get_transaction_status() != psycopg2.extensions.TRANSACTION_STATUS_IDLE:
        discard(session)
        return
    with _guard:
        if len(_idle) < MAX_IDLE:
            _idle.append(session)
            return
    session.close()


def discard(session):
    """Close a session whose state is unknown: whatever it held is released."""
    session.close()


def close_all():
    """Close this process's idle sessions (tests do, before the database is dropped)."""
    with _guard:
        sessions, _idle[:] = list(_idle), []
    for session in sessions:
        session.close()


def _forget_after_fork():
    global _guard
    _guard = threading.Lock()
    devnull = os.open(os.devnull, os.O_RDWR)
    try:
        for session in list(_every):
            try:
                os.dup2(devnull, session.connection.fileno())
            except (OSError, psycopg2.Error):
                pass
    finally:
        os.close(devnull)
    _idle.clear()


os.register_at_fork(after_in_child=_forget_after_fork)
