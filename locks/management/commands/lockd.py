"""python manage.py lockd [--bind HOST:PORT] [--dump on|off] [--registry on|off]"""
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


def on_off(raw):
    value = raw.strip().lower()
    if value not in ("on", "off"):
        raise ValueError(raw)
    return value == "on"


on_off.__name__ = "on|off"  # argparse names the type in its error message


class Command(BaseCommand):
    help = "Serve the locks over TCP in the old lockd daemon's line protocol."

    def add_arguments(self, parser):
        parser.add_argument("--bind", default=DEFAULT_BIND, help=f"HOST:PORT to listen on (default {DEFAULT_BIND})")
        parser.add_argument("--dump", type=on_off, default=True, help="on|off: the d, sd, dump and who commands")
        parser.add_argument("--registry", type=on_off, default=True, help="on|off: the iam and who commands")

    def handle(self, *args, bind, dump, registry, **options):
        from locks.server.main import serve

        host, port = parse_bind(bind)
        backend = backend_name()

        def ready(address):
            self.stdout.write(f"lockd listening on {address} (backend {backend})")
            self.stdout.flush()

        try:
            serve(host, port, backend=backend, dump=dump, registry=registry, ready=ready)
        except OSError as exc:
            raise CommandError(f"cannot listen on {host}:{port}: {exc.strerror or exc}") from None
