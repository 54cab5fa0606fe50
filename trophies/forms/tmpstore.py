"""Deform's upload temp store on disk, indexed in the Django session.

When a form with an upload fails validation, Deform keeps the uploaded file
in the tmpstore and puts its ``uid`` in a hidden field, so the person does not
have to choose the file again. The bytes go to ``K2_DATA_DIR/uploads/`` (file
objects cannot live in a session, and Django closes them at the end of the
request); the session keeps only metadata, so one person can only reach
their own uploads. Entries older than a day are dropped.

A session abandoned after a failed form leaves its files behind, since no
request of that session comes back to drop them: :func:`sweep` removes
every kept upload older than a day (``MAX_AGE``), whoever's it was, and is
run on each new upload and by `k2 prune`. A kept upload lives a day from
when it was chosen (or its entry last rewritten), as its session entry
does; a younger file is never removed.
"""
import io
import os
import re
import secrets
import time
from pathlib import Path

from django.conf import settings
from django.urls import reverse

SESSION_KEY = "k2_uploads"
MAX_AGE = 24 * 3600
MAX_ENTRIES = 50
# Deform's uids are 10 capitals and digits; a client may send anything back,
# and an empty or slashed one cannot even name the preview URL.
UID_RE = re.compile(r"[A-Za-z0-9]{1,64}")


def is_uid(value):
    return isinstance(value, str) and UID_RE.fullmatch(value) is not None


def upload_dir():
    path = Path(settings.K2_DATA_DIR) / "uploads"
    path.mkdir(parents=True, exist_ok=True)
    return path


class StoredUpload(dict):
    """Metadata of a kept upload; ``entry["fp"]`` opens its bytes."""

    def __missing__(self, key):
        if key == "fp":
            with open(upload_dir() / self["_file"], "rb") as handle:
                return io.BytesIO(handle.read())
        raise KeyError(key)


class SessionTmpStore:
    """The ``deform.interfaces.FileUploadTempStore`` interface."""

    def __init__(self, request):
        self.request = request
        self.session = request.session

    def _entries(self):
        return self.session.setdefault(SESSION_KEY, {})

    def __setitem__(self, uid, value):
        if isinstance(value, dict):
            # Deform sets preview_url on what __getitem__ returns (a copy
            # here), so give the widget's own dict its URL now.
            value["preview_url"] = self.preview_url(uid)
        entries = self._entries()
        previous = entries.get(uid)
        meta = {
            key: value.get(key)
            for key in ("filename", "mimetype", "size", "uid")
            if isinstance(value.get(key), (str, int, type(None)))
        }
        fp = dict.get(value, "fp") if isinstance(value, dict) else None
        if fp is not None:
            name = f"{secrets.token_hex(16)}.upload"
            fp.seek(0)
            with open(upload_dir() / name, "wb") as handle:
                while chunk := fp.read(1 << 16):
                    handle.write(chunk)
            fp.seek(0)
            meta["_file"] = name
            sweep()
            if previous and previous.get("_file") != name:
                _remove(previous.get("_file"))
        elif previous:
            meta["_file"] = previous.get("_file")
            _touch(meta["_file"])  # still in use: as young as its entry
        else:
            return  # nothing to keep (a cstruct without bytes)
        meta["_time"] = time.time()
        entries[uid] = meta
        self._expire(entries)
        self.session.modified = True

    def get(self, uid, default=None):
        meta = self._entries().get(uid) if isinstance(uid, str) else None
        if not meta or not meta.get("_file") or not (upload_dir() / meta["_file"]).exists():
            return default
        entry = StoredUpload(meta)
        entry["preview_url"] = self.preview_url(uid)
        return entry

    def __getitem__(self, uid):
        entry = self.get(uid)
        if entry is None:
            raise KeyError(uid)
        return entry

    def __contains__(self, uid):
        return self.get(uid) is not None

    def preview_url(self, uid):
        return reverse("studio-upload-preview", args=[uid])

    def path(self, uid):
        entry = self.get(uid)
        return None if entry is None else upload_dir() / entry["_file"]

    def discard(self, uid):
        entries = self._entries()
        meta = entries.pop(uid, None)
        if meta:
            _remove(meta.get("_file"))
            self.session.modified = True

    def _expire(self, entries):
        now = time.time()
        stale = [uid for uid, meta in entries.items() if now - meta.get("_time", 0) > MAX_AGE]
        newest = sorted(entries, key=lambda uid: entries[uid].get("_time", 0), reverse=True)
        stale += newest[MAX_ENTRIES:]
        for uid in set(stale):
            _remove(entries.pop(uid, {}).get("_file"))


def sweep(max_age=MAX_AGE, dry_run=False):
    """Remove kept uploads whose file is older than ``max_age`` seconds
    (abandoned forms); return their names. Only our ``*.upload`` files,
    never a link or a folder, never a younger file."""
    cutoff = time.time() - max_age
    removed = []
    with os.scandir(upload_dir()) as entries:
        for entry in entries:
            if not entry.name.endswith(".upload") or not entry.is_file(follow_symlinks=False):
                continue
            try:
                if entry.stat(follow_symlinks=False).st_mtime >= cutoff:
                    continue
                if not dry_run:
                    os.unlink(entry.path)
            except FileNotFoundError:
                continue  # removed meanwhile (its session discarded it)
            removed.append(entry.name)
    return sorted(removed)


def _touch(name):
    if name and "/" not in name and os.sep not in name:
        try:
            os.utime(upload_dir() / name)
        except FileNotFoundError:
            pass


def _remove(name):
    if name and "/" not in name and os.sep not in name:
        try:
            (upload_dir() / name).unlink()
        except FileNotFoundError:
            pass
