"""Logging for every K2 process: one line per event, to the console or,
with K2_LOG=syslog, to the local syslog (facility daemon) under the
process's ident: k2-web, k2-worker or k2-lockd. K2_DEBUG=1 (or --debug on
the commands) adds debug lines.

The ident comes from K2_LOG_IDENT when a supervisor or unit sets it, else
from the command being run.
"""
import logging
import logging.handlers
import sys

from django.core.exceptions import ImproperlyConfigured

IDENTS = {"rqworker": "k2-worker", "lockd": "k2-lockd"}
FORMAT = "%(levelname)s %(name)s: %(message)s"


def process_ident(argv=None):
    argv = sys.argv if argv is None else argv
    command = argv[1] if len(argv) > 1 else ""
    return IDENTS.get(command, "k2-web")


def config(destination="console", ident="k2-web", debug=False, syslog_address="/dev/log"):
    """The LOGGING setting for one process."""
    if destination not in ("console", "syslog"):
        raise ImproperlyConfigured(f"K2_LOG must be console or syslog, not {destination!r}")
    if destination == "syslog":
        handler = {"class": "k2site.logging.SyslogHandler", "address": syslog_address, "ident": ident,
                   "formatter": "syslog"}
    else:
        handler = {"class": "logging.StreamHandler", "formatter": "console"}
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "formatters": {
            "console": {"format": f"%(asctime)s {ident}[%(process)d] {FORMAT}"},
            "syslog": {"format": FORMAT},
        },
        "handlers": {"main": handler},
        "root": {"handlers": ["main"], "level": "DEBUG" if debug else "INFO"},
        "filters": {"routine": {"()": "k2site.logging.RoutineMaintenance", "debug": debug}},
        # Third-party chatter stays at INFO and above even with K2_DEBUG.
        "loggers": {"django.db.backends": {"level": "WARNING"},
                    "rq.worker": {"level": "INFO", "filters": ["routine"]},
                    "django.utils.autoreload": {"level": "INFO"},
                    # django-axes: lockouts (warnings) only, not every login's bookkeeping
                    "axes": {"level": "DEBUG" if debug else "WARNING"}},
    }


def enable_debug():
    """--debug on a command: debug lines from here on."""
    logging.getLogger().setLevel(logging.DEBUG)


class RoutineMaintenance(logging.Filter):
    """rq says "cleaning registries" at INFO every few seconds per worker
    (our maintenance interval is short so abandoned chunks rerun fast):
    not an event, so it is shown only with K2_DEBUG."""

    def __init__(self, debug=False):
        super().__init__()
        self.debug = debug

    def filter(self, record):
        return self.debug or not (isinstance(record.msg, str) and "cleaning" in record.msg
                                  and "registr" in record.msg)


class SyslogHandler(logging.handlers.SysLogHandler):
    """SysLogHandler with the classic "ident[pid]: " tag, facility daemon;
    a missing /dev/log must not stop the process from starting."""

    def __init__(self, address="/dev/log", ident="k2"):
        try:
            super().__init__(address=address, facility=logging.handlers.SysLogHandler.LOG_DAEMON)
        except OSError as error:
            print(f"syslog at {address} unavailable ({error}); logging to stderr", file=sys.stderr)
            logging.Handler.__init__(self)
            self.socket = None
        self.tag = ident

    def emit(self, record):
        if self.socket is None:
            sys.stderr.write(self.format(record) + "\n")
            return
        self.ident = f"{self.tag}[{record.process}]: "
        super().emit(record)
