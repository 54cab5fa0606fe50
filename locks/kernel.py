"""The kernel's own table of file locks, parsed from /proc/locks.

Only FLOCK lines matter here. A line looks like::

    1: FLOCK  ADVISORY  WRITE 12345 fd:01:123456 0 EOF
    1: -> FLOCK  ADVISORY  READ  12346 fd:01:123456 0 EOF

WRITE is an exclusive (LOCK_EX) lock, READ a shared one; "->" marks a
process blocked in flock() waiting for lock 1. The pid is the process that
took the lock; the device is major:minor in hex, the inode in decimal.
"""
import os
from dataclasses import dataclass

__all__ = ("KernelLock", "PROC_LOCKS", "parse", "read_flocks", "device_of")

PROC_LOCKS = "/proc/locks"


@dataclass(frozen=True)
class KernelLock:
    blocked: bool  # a waiter ("->" line), not a holder
    exclusive: bool
    pid: int
    dev: tuple  # (major, minor)
    ino: int


def parse(text):
    locks = []
    for line in text.splitlines():
        fields = line.split()
        if len(fields) < 6:
            continue
        blocked = fields[1] == "->"
        if blocked:
            fields = fields[:1] + fields[2:]
        if fields[1] != "FLOCK":
            continue
        try:
            major, minor, ino = fields[5].split(":")
            locks.append(KernelLock(blocked, fields[3] == "WRITE", int(fields[4]), (int(major, 16), int(minor, 16)), int(ino)))
        except ValueError:
            continue
    return locks


def read_flocks(path=PROC_LOCKS, inode=None):
    """Parsed FLOCK lines (only those of ``inode``, if given); empty where
    there is no /proc/locks."""
    try:
        with open(path, encoding="ascii", errors="replace") as f:
            text = f.read()
    except OSError:
        return []
    if inode is not None:
        # A lockd server asks about one file: skip parsing everyone else's locks.
        needle = f":{inode} "
        text = "\n".join(line for line in text.splitlines() if needle in line)
    return parse(text)


def device_of(stat_result):
    return (os.major(stat_result.st_dev), os.minor(stat_result.st_dev))
