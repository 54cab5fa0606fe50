"""Where lock files and holder notes live, and how lock names map to files.

Lock names are free text ("combo:classic:12345", even "../etc/passwd"), so
they never reach the file system as given: a file name is a readable slug of
the name plus a hash of the exact name. The slug only helps people running
``ls``; the hash keeps distinct names apart, and the exact name is written
into the lock file and the holder notes for the dashboard.
"""
import hashlib
import re
from pathlib import Path

from django.conf import settings

__all__ = ("lock_dir", "notes_dir", "lock_file_name", "lock_path")

NOTES_SUBDIR = ".holders"
LOCK_SUFFIX = ".lock"
_UNSAFE = re.compile(r"[^A-Za-z0-9_-]+")


def lock_dir():
    return Path(settings.K2_LOCK_DIR)


def notes_dir():
    # A hidden sidecar directory: its name never ends in ".lock", so it can
    # never collide with a lock file.
    return lock_dir() / NOTES_SUBDIR


def lock_file_name(name, allow_empty=False):
    """'build:classic' -> 'build_classic-3f2a9c1be0d4.lock'.

    The slug keeps only [A-Za-z0-9_-] (no dots, no slashes), so the result
    is a single plain path component whatever the name holds. The Python
    API refuses the empty name (always a bug there); the lockd protocol
    allows it, so the server passes ``allow_empty=True``.
    """
    if not isinstance(name, str) or not (name or allow_empty):
        raise ValueError(f"lock name must be a non-empty string, not {name!r}")
    slug = _UNSAFE.sub("_", name).strip("_")[:48] or "lock"
    digest = hashlib.sha256(name.encode("utf-8", "surrogatepass")).hexdigest()[:12]
    return f"{slug}-{digest}{LOCK_SUFFIX}"


def lock_path(name, allow_empty=False):
    return lock_dir() / lock_file_name(name, allow_empty)
