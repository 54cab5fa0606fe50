"""Every process logs one line per event; K2_LOG=syslog sends them to a
syslog socket (here one the test opens itself) as daemon.* under the
process's ident."""
import re
import socket
import subprocess
import sys

import pytest

from tests.conftest import ROOT, child_environment, wait_until
from trophies.models import Build
from trophies.services.demo import create_demo_catalog

# RFC 3164 as SysLogHandler writes it: "<PRI>IDENT[PID]: MESSAGE"; daemon = facility 3.
LINE = re.compile(r"^<(?P<pri>\d+)>(?P<ident>k2-[a-z]+)\[(?P<pid>\d+)\]: (?P<level>[A-Z]+) (?P<logger>\S+): (?P<text>.*)$")


class SyslogSocket:
    def __init__(self, path):
        self.path = str(path)
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.sock.bind(self.path)
        self.sock.settimeout(0.2)
        self.lines = []

    def read(self):
        try:
            while True:
                self.lines.append(self.sock.recv(65536).decode().rstrip("\x00"))
        except (socket.timeout, BlockingIOError):
            pass
        return [LINE.match(line) for line in self.lines]

    def close(self):
        self.sock.close()


@pytest.fixture
def syslog(tmp_path):
    server = SyslogSocket(tmp_path / "log.sock")
    yield server
    server.close()


def syslog_env(data_dir, syslog, **extra):
    return {**child_environment(data_dir), "K2_LOG": "syslog", "K2_SYSLOG_ADDRESS": syslog.path, **extra}


@pytest.mark.slow
def test_build_events_reach_syslog_from_the_command_and_the_worker(transactional_db, data_dir, syslog, render_workers):
    create_demo_catalog()
    render_workers.env = syslog_env(data_dir, syslog)
    render_workers.start(1)
    result = subprocess.run([sys.executable, "manage.py", "k2", "build", "starter", "--wait"], cwd=ROOT,
                            env=syslog_env(data_dir, syslog), capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stdout + result.stderr
    build = Build.objects.get()

    def texts_of(ident):
        return [m["text"] for m in syslog.read() if m and m["ident"] == ident]

    wait_until(lambda: any("settled done" in text for text in texts_of("k2-worker")), message="the settle line")
    matches = syslog.read()
    assert all(matches), [line for line, m in zip(syslog.lines, matches) if not m]
    assert {int(m["pri"]) for m in matches} <= {3 * 8 + 6, 3 * 8 + 4}  # daemon.info, daemon.warning
    web = texts_of("k2-web")
    assert f"build {build.pk} of starter started by k2 build: 12 combinations in 1 chunks" in web
    worker = texts_of("k2-worker")
    assert any(text.startswith("worker test-worker-") and "started" in text for text in worker)
    assert any(text.startswith(f"build {build.pk} chunk 0 started: [0, 12), attempt 1, job k2-build{build.pk}-chunk0-0")
               for text in worker)
    assert any(text.startswith(f"build {build.pk} chunk 0 ended: 12 rendered, 0 skipped, 0 failed in ")
               and "images/s" in text for text in worker)
    assert f"build {build.pk} settled done: 12 rendered, 0 skipped, 0 failed" in worker
    # One line per event, never one per image, and no debug lines unless asked.
    assert len([m for m in matches if m["logger"].startswith("trophies")]) < 12
    assert not [m for m in matches if m["level"] == "DEBUG"]


def test_debug_adds_debug_lines_and_a_bad_k2_log_is_one_readable_line(db, data_dir, syslog):
    def debug_lines(*args, **env):
        result = subprocess.run([sys.executable, "manage.py", "k2", *args], cwd=ROOT,
                                env=syslog_env(data_dir, syslog, **env), capture_output=True, text=True, timeout=60)
        assert result.returncode == 0, result.stderr
        lines = [m for m in syslog.read() if m and m["level"] == "DEBUG" and m["text"].startswith("k2 locks with")]
        syslog.lines.clear()
        return lines

    assert debug_lines("locks") == []
    assert len(debug_lines("--debug", "locks")) == 1
    assert len(debug_lines("locks", K2_DEBUG="1")) == 1
    bad = subprocess.run([sys.executable, "manage.py", "k2", "locks"], cwd=ROOT,
                         env={**child_environment(data_dir), "K2_LOG": "file"}, capture_output=True, text=True,
                         timeout=60)
    assert bad.returncode != 0
    assert "K2_LOG must be console or syslog, not 'file'" in bad.stderr


def test_rq_maintenance_chatter_shows_only_with_debug():
    """rq logs its registry cleaning at INFO every few seconds per worker:
    not an event, so not a syslog line unless debugging."""
    import logging

    from k2site.logging import RoutineMaintenance, config

    def record(message, *args):
        return logging.LogRecord("rq.worker", logging.INFO, __file__, 1, message, args, None)

    cleaning = [record("Worker %s: cleaning registries for queue: %s", "w1", "render"),
                record("Worker %s: cleaning group registries", "w1")]
    event = record("Worker %s: %s: %s (%s)", "w1", "render", "render starter build 1 chunk 0", "k2-build1-chunk0-0")
    quiet, debug = RoutineMaintenance(), RoutineMaintenance(debug=True)
    assert [quiet.filter(r) for r in cleaning] == [False, False] and quiet.filter(event)
    assert all(debug.filter(r) for r in cleaning)
    settings = config(debug=False)
    assert settings["loggers"]["rq.worker"]["filters"] == ["routine"]
    assert settings["filters"]["routine"]["debug"] is False
