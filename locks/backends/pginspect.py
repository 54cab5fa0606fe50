"""What is locked right now on the postgres backend, from pg_locks.

pg_locks is the truth, as /proc/locks is for flock: a lock shows only
while a live session holds it. It is joined with the names table (key ->
name), the holder notes (by backend pid and key) and the tables that lockd
servers publish (one session lock there stands for all of the server's
holder connections). Notes whose session no longer holds the lock belong
to holders that died: counted once as orphans and removed.
"""
import json
from collections import defaultdict
from datetime import timezone

from locks import counters
from locks.backends import pgsessions
from locks.backends.postgres import KEY_BASE

__all__ = ("held_locks",)

ORPHAN_GRACE_S = 10.0
_LOCKS = """
SELECT l.pid, l.mode, l.granted, ((l.classid::bigint << 32) | l.objid::bigint) AS key, n.name
FROM pg_locks l JOIN locks_name n ON n.id = (((l.classid::bigint << 32) | l.objid::bigint) & %(mask)s)
WHERE l.locktype = 'advisory' AND l.objsubid = 1 AND l.classid >= %(low)s AND l.classid < %(high)s
  AND l.database = (SELECT oid FROM pg_database WHERE datname = current_database())
"""


def held_locks():
    """(exclusive, shared, waiters) as ``locks.inspect.held_locks`` gives them."""
    session = pgsessions.checkout()
    try:
        params = {"mask": (1 << 48) - 1, "low": KEY_BASE >> 32, "high": (KEY_BASE >> 32) + (1 << 16)}
        rows = session.fetchall(_LOCKS, params)
        notes = session.fetchall("SELECT id, backend_pid, key, mode, state, pid, host, owner, since, token, "
                                 "extract(epoch FROM now() - since) FROM locks_holder")
        tables = {pid: json.loads(data) for pid, data in session.fetchall("SELECT backend_pid, data FROM locks_lockd")}
        live = {pid for (pid,) in session.fetchall("SELECT pid FROM pg_stat_activity")}
        result = _join(rows, notes, tables)
        _reap(session, rows, notes, live)
        return result
    finally:
        pgsessions.checkin(session)


def _join(rows, notes, tables):
    by_holder = defaultdict(list)
    for note in notes:
        by_holder[(note[1], note[2], note[4])].append(note)
    locks = defaultdict(lambda: {"name": None, "holders": [], "waiters": [], "exclusive": False})
    for backend_pid, mode, granted, key, name in rows:
        lock = locks[key]
        lock["name"] = name
        exclusive = mode == "ExclusiveLock"
        if not granted:
            note = _pop(by_holder, (backend_pid, key, "waiting"))
            lock["waiters"].append(dict(_person(note, backend_pid), name=name, mode="exclusive" if exclusive else "shared",
                                        in_kernel=True))
            continue
        lock["exclusive"] |= exclusive
        table = tables.get(backend_pid)
        rows_of_server = [r for r in (table or {}).get("holders", ()) if r.get("name") == name] if table else []
        if rows_of_server:
            lock["holders"].extend(_server_person(table, row, backend_pid) for row in rows_of_server)
        else:
            lock["holders"].append(_person(_pop(by_holder, (backend_pid, key, "held")), backend_pid))
    exclusive, shared, waiters = [], [], []
    for lock in locks.values():
        waiters.extend(lock["waiters"])
        people = sorted(lock["holders"], key=lambda p: (p["since"] or "", p["pid"] or 0))
        if not people:
            continue
        if lock["exclusive"]:
            exclusive.append({"name": lock["name"], **people[0], "waiters": lock["waiters"]})
        else:
            shared.append({"name": lock["name"], "count": len(people), "holders": people, "waiters": lock["waiters"]})
    exclusive.sort(key=lambda lock: lock["name"])
    shared.sort(key=lambda lock: lock["name"])
    return exclusive, shared, waiters


def _pop(by_holder, key):
    notes = by_holder.get(key)
    return notes.pop(0) if notes else None


def _person(note, backend_pid):
    if note is None:  # held, but the note is not written yet
        return {"pid": None, "host": None, "owner": f"postgres session {backend_pid}", "since": None, "token": None,
                "backend_pid": backend_pid}
    _, _, _, _, _, pid, host, owner, since, token, _ = note
    return {"pid": pid, "host": host, "owner": owner, "since": since.astimezone(timezone.utc).isoformat(timespec="seconds"),
            "token": token, "backend_pid": backend_pid}


def _server_person(table, row, backend_pid):
    return {"pid": table.get("pid"), "host": table.get("host"), "owner": f"lockd {table.get('bind')} client {row.get('client')}",
            "since": row.get("since"), "token": row.get("token"), "client": row.get("client"), "backend_pid": backend_pid}


def _reap(session, rows, notes, live):
    """Remove (and count once) held notes whose session is gone, and the
    tables of lockd servers whose session is gone."""
    session.execute("DELETE FROM locks_lockd WHERE NOT backend_pid = ANY(%s)", (list(live),))
    granted = {(pid, key) for pid, _, ok, key, _ in rows if ok}
    waiting = {(pid, key) for pid, _, ok, key, _ in rows if not ok}
    dead = []
    for note_id, backend_pid, key, _, state, *_, age in notes:
        if (backend_pid, key) in (granted if state == "held" else waiting):
            continue
        # A note younger than the grace period may belong to a lock taken
        # after we read pg_locks; an old one whose session lives on is stale.
        if backend_pid in live and float(age) < ORPHAN_GRACE_S:
            continue
        dead.append((note_id, state))
    if not dead:
        return
    removed = session.fetchall("DELETE FROM locks_holder WHERE id = ANY(%s) RETURNING state", ([d[0] for d in dead],))
    counters.add_orphans(sum(1 for (state,) in removed if state == "held"))
