"""Choose the lock backend: K2_LOCK_BACKEND = "flock" (default) or "postgres".

Both offer ``exclusive(name, timeout=None, owner=None)`` and
``shared(...)`` context managers with the same semantics (see
``locks.backends.flock``); postgres makes the locks reach across hosts.
The setting is read at every acquisition (a getattr), so tests can switch.
"""
import os

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured

__all__ = ("BACKENDS", "backend_name", "backend", "exclusive", "shared")

BACKENDS = ("flock", "postgres")


def backend_name():
    name = getattr(settings, "K2_LOCK_BACKEND", None) or os.environ.get("K2_LOCK_BACKEND") or "flock"
    if name not in BACKENDS:
        raise ImproperlyConfigured(f"K2_LOCK_BACKEND must be one of {', '.join(BACKENDS)}, not {name!r}")
    return name


def backend():
    if backend_name() == "postgres":
        from locks.backends import postgres  # psycopg2 only when asked for

        return postgres
    from locks.backends import flock

    return flock


def exclusive(name, timeout=None, owner=None):
    return backend().exclusive(name, timeout=timeout, owner=owner)


def shared(name, timeout=None, owner=None):
    return backend().shared(name, timeout=timeout, owner=owner)
