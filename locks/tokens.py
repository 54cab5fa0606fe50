"""Fencing tokens kept in flock lock files.

A lock file holds its exact name on the first line and, once the lock has
been taken exclusively with a token, the last token on the second line.
Only a holder of the exclusive lock reads and writes the token, so a
read-increment-write is safe; every exclusive holder that asks gets a
larger number than every earlier one, whatever process or face (API,
lockd ``gt``) took the lock.

Tokens are not fsync'ed (that would cost milliseconds per acquisition): they
survive the crash of any process, not a power loss of the host, and they
restart at 1 if someone deletes the lock file (which the app never does).
"""
import os

__all__ = ("next_token", "peek_token")


def _read(fd, name_line):
    data = os.pread(fd, len(name_line) + 24, 0)
    if not data.startswith(name_line):
        return 0
    digits = data[len(name_line):].split(b"\n", 1)[0]
    return int(digits) if digits.isdigit() else 0


def next_token(fd, name_bytes):
    """Issue the next token for the lock held exclusively on ``fd``."""
    name_line = name_bytes + b"\n"
    token = _read(fd, name_line) + 1
    # Rewriting the name too repairs a file whose first line is damaged;
    # tokens only grow, so the new content never is shorter than the old.
    os.pwrite(fd, name_line + b"%d\n" % token, 0)
    return token


def peek_token(path, name_bytes):
    """The last token issued for the lock file at ``path`` (0 if none)."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC | os.O_NOFOLLOW)
    except OSError:
        return 0
    try:
        return _read(fd, name_bytes + b"\n")
    finally:
        os.close(fd)
