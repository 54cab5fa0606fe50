"""python manage.py lockd [--bind HOST:PORT] [--dump on|off] [--registry on|off]

Bad input exits 1 with one line (a CommandError), never a traceback.
"""
import os

from django.core.exceptions import ImproperlyConfigured
from django.core.management.base import BaseCommand, CommandError

from locks.backends import backend_name

DEFAULT_BIND = "127.0.0.1:9999"


def parse_bind(raw):
    """'host:port' -> (host, port); '[::1]:9999' for IPv6; a bare port binds
    loopback; port 0 takes any free port (the ready line says which)."""
    host, sep, port = raw.rpartition(":")
    if not sep:
        host, port = "127.0.0.1", raw
    host = host.strip("[]") or "127.0.0.1"
    if not port.isdigit() or not 0 <= int(port) < 65536:
        raise CommandError(f"--bind must be HOST:PORT with a port from 0 to 65535, not {raw!r}")
    return host, int(port)


def on_off(option, raw):
    value = raw.strip().lower()
    if value not in ("on", "off"):
        raise CommandError(f"{option} must be on or off, not {raw!r}")
    return value == "on"


class Command(BaseCommand):
    help = "Serve the locks over TCP in the old lockd daemon's line protocol."

    def add_arguments(self, parser):
        parser.add_argument("--bind", default=DEFAULT_BIND, help=f"HOST:PORT to listen on (default {DEFAULT_BIND})")
        parser.add_argument("--dump", default="on", help="on|off: the d, sd, dump and who commands (default on)")
        parser.add_argument("--registry", default="on", help="on|off: the iam and who commands (default on)")

    def handle(self, *args, bind, dump, registry, **options):
        from locks.server.main import serve

        host, port = parse_bind(bind)
        dump, registry = on_off("--dump", dump), on_off("--registry", registry)
        try:
            backend = backend_name()
        except ImproperlyConfigured as exc:
            raise CommandError(str(exc)) from None

        def ready(address):
            self.stdout.write(f"lockd listening on {address} (backend {backend})")
            self.stdout.flush()

        try:
            serve(host, port, backend=backend, dump=dump, registry=registry, ready=ready)
        except ImproperlyConfigured as exc:
            raise CommandError(str(exc)) from None
        except OSError as exc:
            reason = os.strerror(exc.errno) if exc.errno else str(exc)
            raise CommandError(f"cannot listen on {host}:{port}: {reason}") from None
