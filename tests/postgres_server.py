"""A throwaway PostgreSQL cluster for one test session (Debian's server).

initdb and postgres refuse to run as root, so as root the cluster belongs to
the `postgres` user and the postmaster is exec'd under that uid by setpriv.
It listens on a unix socket only, in a fresh directory on tmpfs.
"""
import glob
import os
import shutil
import signal
import subprocess
import tempfile
import time
from pathlib import Path


class PostgresUnavailable(RuntimeError):
    pass


def find_bindir():
    candidates = sorted(glob.glob("/usr/lib/postgresql/*/bin"), reverse=True)
    for bindir in candidates:
        if os.access(os.path.join(bindir, "initdb"), os.X_OK):
            return bindir
    raise PostgresUnavailable("PostgreSQL server not found under /usr/lib/postgresql (apt-get install postgresql)")


# The session's cluster, so a drill can restart it: {"process", "directory", "port"}.
current = {}


def as_postgres():
    return ["setpriv", "--reuid=postgres", "--regid=postgres", "--init-groups"] if os.geteuid() == 0 else []


def start(port=5432):
    """Return (process, directory, url) of a running cluster."""
    bindir = find_bindir()
    base = "/dev/shm" if os.path.isdir("/dev/shm") else None
    directory = Path(tempfile.mkdtemp(prefix="k2-pg.", dir=base))
    if os.geteuid() == 0:
        shutil.chown(directory, "postgres", "postgres")
    subprocess.run(
        [*as_postgres(), f"{bindir}/initdb", "-D", str(directory / "data"), "-U", "postgres",
         "--auth=trust", "-E", "UTF8", "--locale=C.UTF-8", "--no-sync", "--no-instructions"],
        check=True, stdout=subprocess.DEVNULL, stdin=subprocess.DEVNULL,
    )
    process = run_postmaster(bindir, directory, port)
    current.update(process=process, directory=directory, port=port)
    host = str(directory).replace("/", "%2F")
    return process, directory, f"postgres://postgres@{host}:{port}/k2"


def restart(down_s=0.0):
    """Stop the session's cluster (every connection drops) and start it
    again after ``down_s`` seconds."""
    current["process"].send_signal(signal.SIGINT)
    current["process"].wait(30)
    time.sleep(down_s)  # the outage itself: nothing to wait for
    current["process"] = run_postmaster(find_bindir(), current["directory"], current["port"])


def run_postmaster(bindir, directory, port):
    as_user = as_postgres()
    (directory / f".s.PGSQL.{port}").unlink(missing_ok=True)
    log = open(directory / "postgres.log", "ab")
    process = subprocess.Popen(
        [*as_user, f"{bindir}/postgres", "-D", str(directory / "data"), "-k", str(directory),
         "-p", str(port), "-c", "listen_addresses=", "-c", "fsync=off",
         "-c", "synchronous_commit=off", "-c", "full_page_writes=off", "-c", "max_connections=200"],
        stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
    )
    socket = directory / f".s.PGSQL.{port}"
    deadline = time.monotonic() + 30
    while not socket.exists():
        if process.poll() is not None or time.monotonic() > deadline:
            stop(process, directory)
            raise PostgresUnavailable(f"postgres did not start: {(directory / 'postgres.log').read_text()[-500:]}")
        time.sleep(0.02)
    return process


def stop(process, directory):
    if process.poll() is None:
        process.send_signal(signal.SIGINT)  # fast shutdown
        try:
            process.wait(10)
        except subprocess.TimeoutExpired:
            process.kill()
    shutil.rmtree(directory, ignore_errors=True)
