"""The flock backend (default): named locks on files, with fcntl.flock.

Usage::

    from locks import exclusive, shared, LockTimeout

    with exclusive("build:classic", timeout=5.0, owner="job 42") as held:
        ...   # no other holder of "build:classic", shared or exclusive;
              # held.token is this acquisition's fencing token
    with shared("assets:figure", timeout=30, owner="chunk 7"):
        ...   # other shared holders may be here too, no exclusive one

``timeout=None`` waits as long as it takes, ``timeout=0`` does not wait
(raises LockTimeout at once when busy), any other number of seconds polls
until it gives up with LockTimeout.

Why flock: the kernel drops the lock when the holder's last fd on it closes,
so a crashed or killed worker never leaves a stale lock behind. The fd is
opened at acquisition, in the calling process; RQ forks a process per job,
and an fd inherited across fork would share the lock with the parent.
Locks are not re-entrant: taking a lock you hold waits for yourself.
Timeouts poll LOCK_NB with a short backoff instead of SIGALRM, so they work
in any thread; the price is no fairness between pollers.
"""
import fcntl
import logging
import os
import time
from contextlib import contextmanager

from locks import counters
from locks.exceptions import LockTimeout
from locks.held import HeldLock
from locks.notes import HELD, WAITING, is_live, new_note, read_notes, remove_note, write_note
from locks.paths import lock_dir, lock_path
from locks.tokens import next_token, peek_token

__all__ = ("EXCLUSIVE", "SHARED", "exclusive", "shared", "newest_token")

EXCLUSIVE = "exclusive"
SHARED = "shared"
log = logging.getLogger(__name__)
_FLAGS = {EXCLUSIVE: fcntl.LOCK_EX, SHARED: fcntl.LOCK_SH}
_FIRST_DELAY_S = 0.001
_MAX_DELAY_S = 0.05


@contextmanager
def exclusive(name, timeout=None, owner=None):
    with _locked(name, EXCLUSIVE, timeout, owner) as held:
        yield held


@contextmanager
def shared(name, timeout=None, owner=None):
    with _locked(name, SHARED, timeout, owner) as held:
        yield held


@contextmanager
def _locked(name, mode, timeout, owner):
    if timeout is not None:
        timeout = max(0.0, float(timeout))
    path = lock_path(name)
    fd = _open(path, name)
    try:
        waited = _acquire(fd, name, path, mode, timeout, owner)
    except BaseException:
        os.close(fd)
        raise
    note = None
    try:
        token = next_token(fd, _encode(name)) if mode == EXCLUSIVE else None
        # The note goes after the lock is taken and before it is released: a
        # note without a kernel lock then always means the holder died.
        note = write_note(new_note(name, path.name, mode, HELD, owner, token))
        counters.record_acquisition(waited)
        yield HeldLock(name, mode, path, waited or 0.0, token, newest_token)
    finally:
        remove_note(note)
        try:
            # Explicit unlock: a child forked inside the block shares this
            # open file, and closing our fd alone would leave it locked.
            fcntl.flock(fd, fcntl.LOCK_UN)
        finally:
            os.close(fd)


def newest_token(name):
    """The last token issued for ``name`` (0 if none), by any process."""
    return peek_token(lock_path(name), _encode(name))


def _open(path, name):
    lock_dir().mkdir(parents=True, exist_ok=True)
    # O_NOFOLLOW: a symlink planted in the lock dir must not redirect us.
    fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC | os.O_NOFOLLOW, 0o664)
    try:
        if os.fstat(fd).st_size == 0:
            # The exact name, for people reading the lock dir. Racing first
            # users write the same bytes at offset 0, which is harmless.
            os.pwrite(fd, _encode(name) + b"\n", 0)
    except OSError:
        pass
    return fd


def _encode(name):
    return name.encode("utf-8", "surrogatepass")


def _acquire(fd, name, path, mode, timeout, owner):
    """Take the lock on ``fd``; return seconds waited, or None if it was free."""
    flag = _FLAGS[mode]
    if _try(fd, flag):
        return None
    if timeout == 0:
        _give_up(name, path, mode, timeout)
    start = time.monotonic()
    waiting = write_note(new_note(name, path.name, mode, WAITING, owner))
    try:
        if timeout is None:
            # Waiting forever may block in the kernel: it queues us (and
            # /proc/locks shows us as a waiter), and EINTR is retried.
            fcntl.flock(fd, flag)
            return time.monotonic() - start
        deadline = start + timeout
        delay = _FIRST_DELAY_S
        while True:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                _give_up(name, path, mode, timeout)
            time.sleep(min(delay, remaining))
            delay = min(delay * 2, _MAX_DELAY_S)
            if _try(fd, flag):
                return time.monotonic() - start
    finally:
        remove_note(waiting)


def _try(fd, flag):
    try:
        fcntl.flock(fd, flag | fcntl.LOCK_NB)
        return True
    except BlockingIOError:
        return False


def _give_up(name, path, mode, timeout):
    counters.record_timeout()
    log.warning("lock %r (%s) timed out after %s s", name, mode, timeout)
    holders = [
        {k: v for k, v in note.items() if not k.startswith("_")}
        for note in read_notes(path.name)
        if note.get("state") == HELD and is_live(note)
    ]
    raise LockTimeout(name, mode, timeout, holders)
