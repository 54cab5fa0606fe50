"""The lockd server's counters: the 19 ``q`` keys and per-name figures.

``q`` must stay exactly the old daemon's keys (monitors parse them); what
this server knows beyond that goes into ``q full`` only.
"""
__all__ = ("COMMANDS", "Q_KEYS", "ServerStats")

# Commands counted as command_<name>; gt counts as g, "dump shared" as dump.
COMMANDS = ("d", "dump", "g", "i", "iam", "me", "q", "r", "sd", "sg", "si", "sr", "who")
Q_KEYS = tuple(sorted(
    [f"command_{c}" for c in COMMANDS]
    + ["connections", "invalid_commands", "locks", "orphans", "shared_locks", "shared_orphans"]))
assert len(Q_KEYS) == 19
MAX_NAMES = 10_000  # per-name figures kept for this many names, newest first


class NameStats:
    __slots__ = ("acquisitions", "waits", "timeouts", "hold_total_s", "hold_max_s")

    def __init__(self):
        self.acquisitions = self.waits = self.timeouts = 0
        self.hold_total_s = self.hold_max_s = 0.0

    def held_for(self, seconds):
        self.hold_total_s += seconds
        if seconds > self.hold_max_s:
            self.hold_max_s = seconds


class ServerStats:
    def __init__(self):
        self.commands = {c.encode(): 0 for c in COMMANDS}
        self.invalid_commands = 0
        self.connections = 0
        self.orphans = 0
        self.shared_orphans = 0
        self.names = {}  # name bytes -> NameStats

    def name(self, name):
        stats = self.names.get(name)
        if stats is None:
            if len(self.names) >= MAX_NAMES:
                del self.names[next(iter(self.names))]
            stats = self.names[name] = NameStats()
        return stats

    def acquired(self, name):
        figures = self.name(name)
        figures.acquisitions += 1
        return figures

    def refused(self, name):
        # The server never waits; a refused client waits and asks again.
        self.name(name).waits += 1

    def gave_up(self, name):
        # Refused, then disconnected without getting it: the client timed out.
        self.name(name).timeouts += 1

    def q_values(self, locks, shared_locks):
        values = {f"command_{c.decode()}": n for c, n in self.commands.items()}
        values.update(connections=self.connections, invalid_commands=self.invalid_commands, locks=locks,
                      orphans=self.orphans, shared_locks=shared_locks, shared_orphans=self.shared_orphans)
        return values
