"""Parse the K2_* and DJANGO_* environment variables into typed values.

Kept apart from settings.py so the parsing rules can be tested without
reloading Django settings. Every variable has a working default; a malformed
value raises ImproperlyConfigured naming the variable.
"""
import os
import secrets
from pathlib import Path

from django.core.exceptions import ImproperlyConfigured

TRUE = {"1", "true", "yes", "on"}
FALSE = {"0", "false", "no", "off", ""}


def env_str(name, default, environ=os.environ):
    return environ.get(name, default)


def env_bool(name, default, environ=os.environ):
    raw = environ.get(name)
    if raw is None:
        return default
    value = raw.strip().lower()
    if value in TRUE:
        return True
    if value in FALSE:
        return False
    raise ImproperlyConfigured(f"{name} must be true or false, not {raw!r}")


def env_int(name, default, environ=os.environ, minimum=None):
    raw = environ.get(name)
    if raw is None or raw.strip() == "":
        return default
    try:
        value = int(raw.replace(",", "").replace("_", ""))
    except ValueError:
        raise ImproperlyConfigured(f"{name} must be a whole number, not {raw!r}") from None
    if minimum is not None and value < minimum:
        raise ImproperlyConfigured(f"{name} must be at least {minimum}, not {value}")
    return value


def env_list(name, default, environ=os.environ):
    raw = environ.get(name)
    if raw is None:
        return list(default)
    return [item.strip() for item in raw.split(",") if item.strip()]


def env_path(name, default, environ=os.environ):
    return Path(environ.get(name) or default).expanduser().resolve()


def parse_bind(raw):
    """'host:port' -> (host, port); a bare port binds to loopback."""
    host, _, port = raw.rpartition(":")
    try:
        number = int(port)
    except ValueError:
        raise ImproperlyConfigured(f"K2_BIND must be host:port, not {raw!r}") from None
    if not 0 < number < 65536:
        raise ImproperlyConfigured(f"K2_BIND port must be 1-65535, not {number}")
    return host or "127.0.0.1", number


PROXY_HEADERS = ("X-Forwarded-For", "X-Real-IP", "Forwarded")


def proxy_header(name, environ=os.environ):
    """K2_PROXY_HEADER: which header the reverse proxy sets to the client's
    address (its canonical spelling), or None: trust none."""
    raw = environ.get(name, "").strip()
    if raw.lower() in ("", "none"):
        return None
    for header in PROXY_HEADERS:
        if raw.lower() == header.lower():
            return header
    raise ImproperlyConfigured(f"{name} must be one of {', '.join(PROXY_HEADERS)} or none, not {raw!r}")


PRIVATE_UMASK = 0o077


def private_files():
    """Files and folders this process creates are its user's alone (0600,
    0700) from the first write: the database holds sessions and password
    hashes. Called first thing by every entry point (settings, manage.py)."""
    os.umask(PRIVATE_UMASK)


def private_data_dir(path):
    """Create K2_DATA_DIR 0700, or tighten one an earlier version left 0755
    (only its mode; what is in it stays as it is)."""
    path = Path(path)
    path.mkdir(mode=0o700, parents=True, exist_ok=True)
    try:
        if path.stat().st_mode & 0o077 and path.stat().st_uid == os.geteuid():
            path.chmod(0o700)
    except OSError:
        pass  # not ours to change: the operator's choice
    return path


def secret_key(data_dir, environ=os.environ):
    """DJANGO_SECRET_KEY, else one generated once and kept in the data dir
    (0600 from its creation: never readable by others, even for a moment)."""
    if environ.get("DJANGO_SECRET_KEY"):
        return environ["DJANGO_SECRET_KEY"]
    path = Path(data_dir) / "secret_key"
    if not path.exists():
        path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        draft = path.with_name(f"secret_key.{os.getpid()}")
        descriptor = os.open(draft, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(descriptor, "w") as handle:
            handle.write(secrets.token_urlsafe(50))
        try:
            os.link(draft, path)  # atomic: the first process to start wins
        except FileExistsError:
            pass
        finally:
            draft.unlink()
    return path.read_text().strip()
