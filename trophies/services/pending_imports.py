"""Archives uploaded to the studio's Import page, kept between the dry run
and the confirmation: one per session, under K2_DATA_DIR/imports/, swept
when older than MAX_AGE_S (the session holds only the file's random name)."""
import os
import secrets
import time
from pathlib import Path

from django.conf import settings

SESSION_KEY = "k2_pending_import"
MAX_AGE_S = 3600


def pending_dir():
    path = Path(settings.K2_DATA_DIR) / "imports"
    path.mkdir(parents=True, exist_ok=True)
    return path


def sweep(now=None):
    """Remove pending archives nobody confirmed in time."""
    cutoff = (now or time.time()) - MAX_AGE_S
    for path in pending_dir().glob("*.zip"):
        try:
            if path.stat().st_mtime < cutoff:
                path.unlink()
        except FileNotFoundError:
            pass


def keep(session, upload, filename):
    """Store an uploaded file (chunks) as the session's pending archive; returns its path."""
    discard(session)
    sweep()
    name = secrets.token_hex(16) + ".zip"
    path = pending_dir() / name
    with open(path, "wb") as out:
        for chunk in upload.chunks():
            out.write(chunk)
    session[SESSION_KEY] = {"name": name, "filename": filename}
    return path


def pending(session):
    """(path, the name it was uploaded as) of the session's pending archive, or None."""
    entry = session.get(SESSION_KEY)
    if not entry:
        return None
    path = pending_dir() / os.path.basename(entry["name"])
    return (path, entry["filename"]) if path.is_file() else None


def discard(session):
    entry = session.pop(SESSION_KEY, None)
    if entry:
        try:
            (pending_dir() / os.path.basename(entry["name"])).unlink()
        except FileNotFoundError:
            pass
