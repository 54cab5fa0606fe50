"""Drills against `k2 serve`, the server `make run` ends with: a Ctrl-C in
the middle of a build and a second start, and the embedded Redis killed
mid-build. Each build must complete with every image right."""
import os
import signal
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from tests.builds_support import expected_files, medium_trophy, rendered_files
from tests.conftest import ROOT, child_environment, wait_until
from trophies.models import Build, Chunk
from trophies.services import plans

pytestmark = pytest.mark.slow


def free_port():
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


class Serve:
    """`manage.py k2 serve` with its own embedded Redis in the test's data dir."""

    def __init__(self, data_dir, log_dir):
        self.env = child_environment(data_dir)
        self.env.pop("REDIS_URL", None)  # the embedded one, under K2_DATA_DIR
        self.env.update(K2_BIND=f"127.0.0.1:{free_port()}", K2_WORKERS="2")
        self.log_dir = log_dir
        self.process = None
        self.runs = 0

    def start(self):
        self.runs += 1
        log = open(self.log_dir / f"serve{self.runs}.log", "wb")
        self.process = subprocess.Popen([sys.executable, "manage.py", "k2", "serve"], cwd=ROOT, env=self.env,
                                        stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
        wait_until(lambda: b"Press Ctrl-C to stop." in self.log(), timeout=60, message="k2 serve to start")

    def log(self):
        return b"".join(p.read_bytes() for p in sorted(self.log_dir.glob("serve*.log")))

    def command(self, *args):
        return subprocess.run([sys.executable, "manage.py", "k2", *args], cwd=ROOT, env=self.env,
                              capture_output=True, text=True, timeout=120)

    def interrupt(self):
        self.process.send_signal(signal.SIGINT)  # what Ctrl-C sends
        return self.process.wait(60)

    def redis_pid(self):
        pending, seen = [self.process.pid], []
        while pending:
            pid = pending.pop()
            try:
                children = Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
            except FileNotFoundError:
                continue
            for child in map(int, children):
                pending.append(child)
                try:
                    if Path(f"/proc/{child}/comm").read_text().strip() == "redis-server":
                        seen.append(child)
                except FileNotFoundError:  # it exited while we looked
                    continue
        return seen[0] if seen else None

    def stop(self):
        if self.process and self.process.poll() is None:
            self.interrupt()


@pytest.fixture
def serve(transactional_db, data_dir, tmp_path):
    server = Serve(data_dir, tmp_path)
    yield server
    server.stop()


def chunks_done(build):
    return Chunk.objects.filter(build=build, state=Chunk.DONE).count()


def settled(build, serve, timeout=180):
    def what_happened():
        chunks = list(Chunk.objects.filter(build=build).exclude(state=Chunk.DONE)
                      .values_list("number", "state", "worker", "attempts"))
        return f"chunks not done: {chunks}\n{serve.log()[-6000:].decode(errors='replace')}"

    return wait_until(lambda: (row := Build.objects.get(pk=build.pk)).state not in Build.ACTIVE and row,
                      timeout=timeout, message=f"build {build.pk} to settle", on_timeout=what_happened)


def assert_every_image_right(trophy, settings_root):
    assert rendered_files(Path(settings_root) / trophy.slug) == expected_files(plans.capture(trophy))


def test_ctrl_c_mid_build_and_a_second_start_complete_the_build(serve, settings):
    trophy = medium_trophy()
    serve.start()
    assert serve.command("build", trophy.slug).returncode == 0
    build = Build.objects.get()
    wait_until(lambda: chunks_done(build) >= 1, timeout=120, message="a chunk to finish")
    assert serve.interrupt() == 0
    stopped = Build.objects.get(pk=build.pk)
    assert stopped.state in Build.ACTIVE, "a stop is not a failure"
    assert not Chunk.objects.filter(build=build, state=Chunk.FAILED).exists()
    serve.start()
    done = settled(build, serve)
    assert done.state == Build.DONE, serve.log()[-4000:].decode(errors="replace")
    assert (done.rendered + done.skipped, done.failed) == (8_550, 0)
    assert_every_image_right(trophy, settings.K2_RENDER_DIR)


def test_the_embedded_redis_killed_mid_build_is_restarted_and_the_build_completes(serve, settings):
    trophy = medium_trophy()
    serve.start()
    assert serve.command("build", trophy.slug).returncode == 0
    build = Build.objects.get()
    wait_until(lambda: chunks_done(build) >= 1, timeout=120, message="a chunk to finish")
    killed = serve.redis_pid()
    os.kill(killed, signal.SIGKILL)
    wait_until(lambda: serve.redis_pid() not in (None, killed), timeout=30, message="Redis to be started again")
    assert b"Redis exited with -9; starting it again" in serve.log()
    done = settled(build, serve)
    assert done.state == Build.DONE, serve.log()[-4000:].decode(errors="replace")
    assert done.failed == 0 and done.rendered + done.skipped >= 8_550 - build.chunk_size
    assert_every_image_right(trophy, settings.K2_RENDER_DIR)
    assert serve.process.poll() is None  # still serving
