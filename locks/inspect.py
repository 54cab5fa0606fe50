"""What is locked right now, from the kernel's point of view.

The kernel's lock table (/proc/locks) is the truth: a lock shows only if
some live process really holds it, so the dashboard never shows stale locks.
It is joined with the lock files (by inode) to learn the lock's name, and
with the holder notes (by pid) to learn who and why, and with the tables
lockd servers publish (by pid and file: one kernel line per connection).
Notes whose lock the kernel no longer holds belong to processes that died
holding it: those are counted once as orphans and removed.

With K2_LOCK_BACKEND=postgres the same snapshot comes from pg_locks
(``locks.backends.pginspect``).
"""
import os
import time
from collections import defaultdict

from locks import counters, kernel, published
from locks.identity import host_name
from locks.notes import HELD, WAITING, is_live, pid_running, read_notes, remove_note
from locks.paths import LOCK_SUFFIX, lock_dir

__all__ = ("snapshot", "held_locks")

# A note younger than this whose pid still runs is not called an orphan
# when the kernel does not show its lock: it may have been written just
# after our read of /proc/locks. Older ones mean the pid was reused.
ORPHAN_GRACE_S = 10.0


def snapshot():
    """The contract's JSON shape: exclusive and shared locks, waiters, stats.

    Every holder has name, pid, host, owner, since and token (the fencing
    token of an exclusive holder that has one, else None); lockd clients
    show as the server's pid with owner "lockd HOST:PORT client NAME".
    """
    from locks.backends import backend_name
    from locks.stats import collect  # stats formats snapshots; avoid a cycle

    if backend_name() == "postgres":
        from locks.backends.pginspect import held_locks as pg_held_locks

        exclusive, shared, waiters = pg_held_locks()
    else:
        exclusive, shared, waiters = held_locks()
    return {"exclusive": exclusive, "shared": shared, "waiters": waiters, "stats": collect(exclusive, shared, waiters)}


def held_locks():
    """(exclusive, shared, waiters) lists; also reaps orphaned notes."""
    flocks = kernel.read_flocks()
    notes = read_notes()
    notes_by_file = defaultdict(list)
    for note in notes:
        notes_by_file[note.get("file")].append(note)
    files = _held_files({lock.ino for lock in flocks}, notes_by_file)
    host = host_name()
    network = _network_holders()
    exclusive, shared, waiters = [], [], []
    unmatched = []
    for file_name, stat in sorted(files.items()):
        file_notes = notes_by_file.pop(file_name, [])
        noted_pids = {n.get("pid") for n in file_notes}
        entries = [
            lock for lock in flocks
            if lock.ino == stat.st_ino
            # overlayfs and friends may report another device in /proc/locks
            # than stat() does; then trust the inode only for our own pids.
            and (lock.dev == kernel.device_of(stat) or lock.pid in noted_pids)
        ]
        holders = [lock for lock in entries if not lock.blocked]
        held_notes = [n for n in file_notes if n.get("state") == HELD]
        name = _name(file_name, file_notes)
        people = sorted((_network_holder(lock, file_name, network) or _holder(lock.pid, held_notes, host)
                         for lock in holders),
                        key=lambda p: (p["since"] or "", p["pid"]))
        unmatched.extend(held_notes)  # _holder popped the matched ones
        lock_waiters = _waiters(name, file_notes, entries, host)
        waiters.extend(lock_waiters)
        if not holders:
            continue
        if any(lock.exclusive for lock in holders):
            exclusive.append({"name": name, **people[0], "waiters": lock_waiters})
        else:
            shared.append({"name": name, "count": len(people), "holders": people, "waiters": lock_waiters})
    # Notes of lock files the kernel does not hold at all.
    for file_notes in notes_by_file.values():
        unmatched.extend(n for n in file_notes if n.get("state") == HELD)
        for note in file_notes:
            if note.get("state") == WAITING:
                if is_live(note):
                    waiters.append(_waiter(note))
                else:
                    remove_note(note["_path"])
    _reap(unmatched)
    exclusive.sort(key=lambda lock: lock["name"])
    shared.sort(key=lambda lock: lock["name"])
    return exclusive, shared, waiters


def _held_files(held_inos, notes_by_file):
    """{file name: stat} of lock files whose inode the kernel shows locked."""
    files = {}
    if not held_inos:
        return files
    directory = lock_dir()
    try:
        # DirEntry.inode() needs no stat() call: cheap even with many
        # thousand lock files (one per combination, say).
        with os.scandir(directory) as entries:
            for entry in entries:
                if entry.name.endswith(LOCK_SUFFIX) and entry.inode() in held_inos:
                    files[entry.name] = entry.stat(follow_symlinks=False)
    except FileNotFoundError:
        return files
    for file_name in notes_by_file:
        # readdir's inode may differ from stat's on overlay file systems.
        if file_name and file_name not in files and "/" not in file_name:
            try:
                stat = os.stat(directory / file_name, follow_symlinks=False)
            except OSError:
                continue
            if stat.st_ino in held_inos:
                files[file_name] = stat
    return files


def _name(file_name, file_notes):
    for note in file_notes:
        if note.get("name"):
            return note["name"]
    try:
        # flock.py writes the exact name as the lock file's first line.
        with open(lock_dir() / file_name, encoding="utf-8", errors="replace") as f:
            return f.readline(4096).rstrip("\n") or file_name
    except OSError:
        return file_name


def _holder(pid, held_notes, host):
    for i, note in enumerate(held_notes):
        if note.get("pid") == pid:
            held_notes.pop(i)
            return {"pid": pid, "host": note.get("host"), "owner": note.get("owner"), "since": note.get("since"),
                    "token": note.get("token")}
    # Held, but the note is not written yet (or could not be).
    return {"pid": pid, "host": host, "owner": None, "since": None, "token": None}


def _network_holders():
    """{(server pid, lock file): [published rows]} of this host's lockd servers."""
    rows = defaultdict(list)
    for pid, table in published.read_tables().items():
        for row in table.get("holders", ()):
            rows[(pid, row.get("file"))].append(dict(row, _table=table))
    return rows


def _network_holder(lock, file_name, network):
    """The lockd connection behind one kernel line of a server's pid, if published."""
    rows = network.get((lock.pid, file_name))
    if not rows:
        return None
    mode = "exclusive" if lock.exclusive else "shared"
    for i, row in enumerate(rows):
        if row.get("mode") == mode:
            rows.pop(i)
            table = row["_table"]
            return {"pid": lock.pid, "host": table.get("host"), "owner": f"lockd {table.get('bind')} client {row.get('client')}",
                    "since": row.get("since"), "token": row.get("token"), "client": row.get("client")}
    return None


def _waiter(note, blocked=False):
    return {
        "name": note.get("name"), "mode": note.get("mode"), "pid": note.get("pid"), "host": note.get("host"),
        "owner": note.get("owner"), "since": note.get("since"), "in_kernel": blocked,
    }


def _waiters(name, file_notes, entries, host):
    """Pollers (waiting notes) and processes blocked in flock() ("->" lines)."""
    blocked = {lock.pid: lock for lock in entries if lock.blocked}
    waiters = []
    for note in file_notes:
        if note.get("state") != WAITING:
            continue
        if is_live(note):
            waiters.append(_waiter(note, blocked.pop(note.get("pid"), None) is not None))
        else:
            remove_note(note["_path"])
    for pid, lock in blocked.items():
        mode = "exclusive" if lock.exclusive else "shared"
        waiters.append({"name": name, "mode": mode, "pid": pid, "host": host, "owner": None, "since": None,
                        "in_kernel": True})
    return waiters


def _reap(unmatched):
    """Remove (and count once) notes whose holder died, as the kernel says."""
    if not unmatched:
        return
    host = host_name()
    recheck = None
    orphans = 0
    for note in unmatched:
        if note.get("host") != host:
            continue  # another host's lock table is not ours to read
        pid = note.get("pid")
        if not isinstance(pid, int) or pid_running(pid):
            try:
                age = time.time() - os.stat(note["_path"]).st_mtime
            except OSError:
                continue  # released meanwhile
            if age < ORPHAN_GRACE_S:
                continue
            # The pid runs but may be a new process under a reused pid:
            # ask the kernel again whether it holds this very file.
            if recheck is None:
                recheck = kernel.read_flocks()
            if _holds(recheck, pid, note.get("file")):
                continue
        if remove_note(note["_path"]):
            orphans += 1
    counters.add_orphans(orphans)


def _holds(flocks, pid, file_name):
    try:
        ino = os.stat(lock_dir() / file_name, follow_symlinks=False).st_ino
    except (OSError, TypeError):
        return False
    return any(lock.pid == pid and lock.ino == ino and not lock.blocked for lock in flocks)
