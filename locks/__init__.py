"""Named locks with holder notes, fencing tokens, lock stats, a staff
dashboard and a lockd line-protocol server.

    from locks import exclusive, shared, LockTimeout

    with exclusive("build:classic", timeout=5.0, owner="job 42") as held:
        ...   # held.token: this acquisition's fencing token
        held.ensure_newest()  # raises LockLost if someone took it since

K2_LOCK_BACKEND picks flock lock files (default, one host) or PostgreSQL
advisory locks (across hosts): see ``locks.backends``. ``locks.inspect.snapshot``
and ``locks.stats`` are what the dashboard and monitors read;
``python manage.py lockd`` serves the same locks over TCP (``locks.server``).
"""
from locks.backends import exclusive, shared
from locks.exceptions import LockLost, LockTimeout
from locks.held import HeldLock

__all__ = ("exclusive", "shared", "LockTimeout", "LockLost", "HeldLock")
