"""Start the real servers the suite runs against, before Django settings load.

Loaded with `-p tests.services_plugin` so that it runs before pytest-django
imports the settings: the environment it exports (K2_DATA_DIR, REDIS_URL and,
with K2_TEST_POSTGRES=1, DATABASE_URL) is what settings read, and what every
worker or web process a test starts inherits. One fresh Redis (and
PostgreSQL) per test session, stopped at the end.
"""
import atexit
import os
import shutil
import tempfile

import pytest

from k2site import redis_server
from tests import postgres_server

_started = []


@pytest.hookimpl(tryfirst=True)
def pytest_load_initial_conftests(early_config, parser, args):
    if _started:
        # A second session in this process (mutmut runs pytest several times):
        # settings are loaded already, so keep the servers they point at.
        return
    # Stopped when the process exits, not when the session ends: mutmut runs
    # several sessions in one process, all on the settings loaded by the first.
    atexit.register(stop_services, os.getpid())
    data_dir = tempfile.mkdtemp(prefix="k2-test.")
    os.environ["K2_DATA_DIR"] = data_dir
    _started.append(lambda: shutil.rmtree(data_dir, ignore_errors=True))
    os.mkdir(os.path.join(data_dir, "static"))  # STATIC_ROOT, as collectstatic leaves it
    os.environ.pop("K2_LOCK_DIR", None)
    os.environ.setdefault("K2_WORKERS", "2")
    # One key for the test process and every worker or server it starts.
    os.environ.setdefault("DJANGO_SECRET_KEY", "k2-test-secret-key-not-for-production-use-0123456789")
    process, url = redis_server.start(os.path.join(data_dir, "redis"))
    _started.append(lambda: redis_server.stop(process))
    os.environ["REDIS_URL"] = url
    if os.environ.get("K2_TEST_POSTGRES") == "1":
        _, pg_dir, pg_url = postgres_server.start()
        # The drill may restart it: stop whichever postmaster runs then.
        _started.append(lambda: postgres_server.stop(postgres_server.current["process"], pg_dir))
        os.environ["DATABASE_URL"] = pg_url
    else:
        os.environ.pop("DATABASE_URL", None)
    # The sync Playwright API keeps an event loop running in the test thread.
    os.environ.setdefault("DJANGO_ALLOW_ASYNC_UNSAFE", "true")


def stop_services(owner):
    if os.getpid() != owner:
        return  # a forked child (mutmut's mutant runs) must not stop its parent's servers
    while _started:
        _started.pop()()
