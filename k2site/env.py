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


def secret_key(data_dir, environ=os.environ):
    """DJANGO_SECRET_KEY, else one generated once and kept in the data dir."""
    if environ.get("DJANGO_SECRET_KEY"):
        return environ["DJANGO_SECRET_KEY"]
    path = Path(data_dir) / "secret_key"
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        draft = path.with_name(f"secret_key.{os.getpid()}")
        draft.write_text(secrets.token_urlsafe(50))
        draft.chmod(0o600)
        try:
            os.link(draft, path)  # atomic: the first process to start wins
        except FileExistsError:
            pass
        finally:
            draft.unlink()
    return path.read_text().strip()
