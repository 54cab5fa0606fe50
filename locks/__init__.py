"""Named flock locks with holder notes, lock stats and a staff dashboard.

    from locks import exclusive, shared, LockTimeout

    with exclusive("build:classic", timeout=5.0, owner="job 42"):
        ...

See ``locks.flock`` for the semantics, ``locks.inspect.snapshot`` and
``locks.stats`` for what the dashboard and monitors read.
"""
from locks.exceptions import LockTimeout
from locks.flock import exclusive, shared

__all__ = ("exclusive", "shared", "LockTimeout")
