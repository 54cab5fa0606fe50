"""Lock file descriptions for the lockd server's connections (flock face).

Each grant is an flock on an open file description of its own, used by one
connection at a time: to the kernel (and to flock(1), workers and
/proc/locks) every connection is a holder apart. Opening and closing a lock
file costs more than the flock itself, so released descriptions are
unlocked and kept for the next grant of the same name (any connection): an
unlocked description carries no state, so this is the same as a fresh open.
The pool is bounded; beyond it descriptions are closed.

Only LOCK_NB is ever used: the event loop must never sleep in the kernel.
"""
import fcntl
import logging
import os

from locks.paths import lock_dir, lock_file_name

__all__ = ("FdPool",)

log = logging.getLogger(__name__)
_EX = fcntl.LOCK_EX | fcntl.LOCK_NB
_SH = fcntl.LOCK_SH | fcntl.LOCK_NB
_UN = fcntl.LOCK_UN
_OPEN_FLAGS = os.O_RDWR | os.O_CREAT | os.O_CLOEXEC | os.O_NOFOLLOW
MAX_IDLE_FDS = 4096
MAX_CACHED_NAMES = 100_000


class FdPool:
    def __init__(self, directory=None):
        self.directory = directory or lock_dir()
        self.directory.mkdir(parents=True, exist_ok=True)
        self._dir_fd = os.open(self.directory, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
        self._idle = {}  # name bytes -> [fd, ...] unlocked
        self._idle_count = 0
        self._files = {}  # name bytes -> lock file name

    def file_name(self, name):
        file_name = self._files.get(name)
        if file_name is None:
            if len(self._files) >= MAX_CACHED_NAMES:
                self._files.clear()
            file_name = self._files[name] = lock_file_name(name.decode("utf-8", "surrogateescape"), allow_empty=True)
        return file_name

    def take(self, name, exclusive):
        """An fd locked on ``name``'s lock file, or None when it is busy."""
        idle = self._idle.get(name)
        if idle:
            fd = idle.pop()
            self._idle_count -= 1
        else:
            try:
                fd = self._open(name)
            except OSError as exc:
                # A full or read-only disk, no fds left: refuse this grant,
                # keep serving everyone else.
                log.warning("cannot open the lock file of %r: %s", name[:200], exc)
                return None
        try:
            fcntl.flock(fd, _EX if exclusive else _SH)
        except BlockingIOError:
            self._keep(name, fd)
            return None
        return fd

    def give(self, name, fd):
        """Unlock a taken fd (always: a lock must never outlive its grant)."""
        try:
            fcntl.flock(fd, _UN)
        except OSError:
            os.close(fd)
            return
        self._keep(name, fd)

    def _keep(self, name, fd):
        if self._idle_count >= MAX_IDLE_FDS:
            os.close(fd)
            return
        idle = self._idle.get(name)
        if idle is None:
            if len(self._idle) >= MAX_CACHED_NAMES:
                # Names come and go: drop the ones with nothing kept.
                self._idle = {n: fds for n, fds in self._idle.items() if fds}
            idle = self._idle[name] = []
        idle.append(fd)
        self._idle_count += 1

    def _open(self, name):
        fd = os.open(self.file_name(name), _OPEN_FLAGS, 0o664, dir_fd=self._dir_fd)
        try:
            if os.fstat(fd).st_size == 0:
                os.pwrite(fd, name + b"\n", 0)  # the exact name, as the API writes it
        except OSError:
            pass
        return fd

    def close(self):
        for fds in self._idle.values():
            for fd in fds:
                os.close(fd)
        self._idle.clear()
        self._idle_count = 0
        os.close(self._dir_fd)
