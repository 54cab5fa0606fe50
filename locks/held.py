"""What ``with exclusive(...) as held`` gives the caller, on every backend."""
from dataclasses import dataclass, field

from locks.exceptions import LockLost

__all__ = ("HeldLock",)


@dataclass(frozen=True)
class HeldLock:
    name: str
    mode: str  # "exclusive" or "shared"
    path: object  # the lock file (flock backend); None on postgres
    waited_s: float  # 0.0 when it was free at once
    # Fencing token: grows with every exclusive acquisition of this name,
    # on any backend and through any face; None for shared locks.
    token: int = None
    # The backend's reader of the name's newest token (see ensure_newest).
    newest_token: object = field(default=None, repr=False, compare=False)

    def ensure_newest(self):
        """Raise LockLost if anyone took this lock exclusively after us.

        A holder that was paused (or whose PostgreSQL session dropped) may
        have lost the lock without knowing: call this just before a write
        that only the holder may make. On PostgreSQL, inside a transaction,
        the check also holds the name's token row FOR SHARE until commit, so
        the next holder's acquisition waits for our write (or we see it).
        """
        if self.token is None:
            raise ValueError(f"lock {self.name!r} is held {self.mode}: only exclusive holders have tokens")
        newest = self.newest_token(self.name)
        if newest != self.token:
            raise LockLost(self.name, self.token, newest)
