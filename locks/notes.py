"""Holder and waiter notes: small JSON files beside the lock files.

The kernel knows which pid holds a flock lock but not why; a note says who
(pid, host, owner/job), since when, in which mode, and under which exact
name. A note is written after the lock is taken and removed before it is
released, so a note without a kernel lock means the holder died (an orphan,
see ``locks.inspect``). Callers that poll for a busy lock write a "waiting"
note, as the kernel shows no waiters for LOCK_NB polling.
"""
import json
import logging
import os
import uuid
from datetime import datetime, timezone

from locks.identity import host_name
from locks.paths import notes_dir

__all__ = ("HELD", "WAITING", "new_note", "write_note", "remove_note", "read_notes", "is_live", "pid_running")

HELD = "held"
WAITING = "waiting"

log = logging.getLogger(__name__)


def new_note(name, file_name, mode, state, owner, token=None):
    note = {
        "name": name,
        "file": file_name,
        "mode": mode,
        "state": state,
        "pid": os.getpid(),
        "host": host_name(),
        # Owners may be job objects; the note must stay JSON.
        "owner": None if owner is None else str(owner),
        "since": datetime.now(timezone.utc).isoformat(timespec="seconds"),
    }
    if token is not None:
        note["token"] = token
    return note


def write_note(note):
    """Write ``note`` atomically (temp file + rename); return its path or None.

    Notes are for people: failing to write one must never fail the lock.
    """
    directory = notes_dir()
    path = directory / f"{note['file']}.{note['pid']}.{uuid.uuid4().hex[:12]}.json"
    temp = directory / f".tmp-{path.name}"
    try:
        directory.mkdir(parents=True, exist_ok=True)
        with open(temp, "w", encoding="utf-8") as f:
            json.dump(note, f)
        os.replace(temp, path)
        return path
    except OSError as exc:
        log.warning("could not write lock note %s: %s", path, exc)
        return None


def remove_note(path):
    """Remove a note; True only for the caller that actually removed it."""
    if path is None:
        return False
    try:
        os.unlink(path)
        return True
    except FileNotFoundError:
        return False
    except OSError as exc:
        log.warning("could not remove lock note %s: %s", path, exc)
        return False


def read_notes(file_name=None):
    """All notes (or those of one lock file), each with its path under "_path".

    Notes come and go while we read: vanished or half-visible files are
    skipped, never raised.
    """
    notes = []
    try:
        entries = list(os.scandir(notes_dir()))
    except FileNotFoundError:
        return notes
    for entry in entries:
        if not entry.name.endswith(".json") or entry.name.startswith("."):
            continue
        if file_name is not None and not entry.name.startswith(file_name + "."):
            continue
        try:
            with open(entry.path, encoding="utf-8") as f:
                note = json.load(f)
        except (OSError, ValueError):
            continue
        if isinstance(note, dict):
            note["_path"] = entry.path
            notes.append(note)
    return notes


def is_live(note):
    """False when the note's process is known to be gone.

    Only pids of this host can be checked; others are taken on trust.
    """
    if note.get("host") != host_name():
        return True
    try:
        return pid_running(int(note["pid"]))
    except (KeyError, TypeError, ValueError):
        return True


def pid_running(pid):
    """True while ``pid`` runs; a zombie counts as gone, as the kernel has
    already closed its files (and dropped its locks) when it exits."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            stat = f.read()
        return stat[stat.rindex(b")") + 2:][:1] not in (b"Z", b"X")
    except FileNotFoundError:
        return False
    except (OSError, ValueError):
        pass
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        pass
    return True
