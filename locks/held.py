"""What ``with exclusive(...) as held`` gives the caller, on every backend."""
from dataclasses import dataclass

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
