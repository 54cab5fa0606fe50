"""Errors raised by the locks app."""

__all__ = ("LockTimeout", "LockLost")


class LockTimeout(TimeoutError):
    """A lock could not be taken within its timeout (or at once, with timeout=0).

    ``holders`` lists the holder notes seen when giving up (dicts with pid,
    host, owner, since, mode), so callers can log or retry with context.
    """

    def __init__(self, name, mode, timeout, holders):
        self.name = name
        self.mode = mode
        self.timeout = timeout
        self.holders = holders
        super().__init__(self._message())

    def _message(self):
        waited = "did not wait (timeout=0)" if not self.timeout else f"gave up after {self.timeout:.1f} s"
        return f"lock {self.name!r} is busy: {describe_holders(self.holders)}; {waited}"


def describe_holders(holders):
    """'held exclusively by pid 1 on host h (job 4) since T' and the like."""
    if not holders:
        # The holder took the lock but has not written its note yet, or it
        # is a process that does not use this app (e.g. flock(1) by hand).
        return "held by another process"
    exclusive = [h for h in holders if h.get("mode") == "exclusive"]
    if exclusive:
        return "held exclusively by " + _who(exclusive[0])
    count = len(holders)
    shown = ", ".join(_who(h) for h in holders[:3])
    more = f" and {count - 3} more" if count > 3 else ""
    return f"held shared by {count} holder{'s' if count != 1 else ''}: {shown}{more}"


def _who(holder):
    text = f"pid {holder.get('pid')} on host {holder.get('host')}"
    if holder.get("owner"):
        text += f" ({holder['owner']})"
    if holder.get("since"):
        text += f" since {holder['since']}"
    return text


class LockLost(RuntimeError):
    """An exclusive holder's lock was taken by someone else since (its
    fencing token is no longer the newest): it must not write."""

    def __init__(self, name, token, newest):
        self.name = name
        self.token = token
        self.newest = newest
        super().__init__(f"lock {name!r} was lost: this holder has token {token}, the newest is {newest}")
