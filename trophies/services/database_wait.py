"""A worker's bookkeeping outlives a database restart.

A chunk's state changes are small writes that can run twice. When the
database goes away under a worker (a PostgreSQL restart or failover), the
worker waits for it and writes again. Without this, every RQ retry of a
chunk was burnt in the seconds the server was down, the failure callback
could not record the failure either, and the build stayed running forever.
"""
import functools
import logging
import time

from django.db import InterfaceError, OperationalError, connection

WAIT_S = 120          # longer than a restart or a failover; then the error goes to RQ as before
RECONNECT_EVERY_S = 0.25
log = logging.getLogger(__name__)


def waits_for_database(func):
    """Run ``func`` again once the database answers, when it failed because
    the database could not be reached. Never inside a transaction: that
    one's work is lost, and only its owner can start it again."""
    @functools.wraps(func)
    def wrapper(*args, **kwargs):
        deadline = time.monotonic() + WAIT_S
        while True:
            try:
                return func(*args, **kwargs)
            except (OperationalError, InterfaceError) as error:
                if connection.in_atomic_block or time.monotonic() > deadline:
                    raise
                log.warning("%s: the database is unreachable (%s); waiting up to %.0f s for it",
                            func.__name__, str(error).splitlines()[0] if str(error) else type(error).__name__,
                            deadline - time.monotonic())
                if not reconnect(deadline):
                    raise
                log.info("%s: the database answers again", func.__name__)
    return wrapper


def reconnect(deadline):
    """Drop the broken connection and open a new one; False at the deadline."""
    while True:
        connection.close()
        try:
            connection.ensure_connection()
            return True
        except (OperationalError, InterfaceError):
            if time.monotonic() > deadline:
                return False
            time.sleep(RECONNECT_EVERY_S)
