"""locks.flock and locks.inspect against real flock, real processes and the
session's real Redis.

Each test gets its own K2_LOCK_DIR (tmp_path), and child processes are told
about it through the environment. Redis counters are shared by the session,
so tests compare deltas.
"""
import os
import select
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
from django.conf import settings as django_settings

from locks import LockTimeout, exclusive, shared
from locks import counters, kernel
from locks.inspect import snapshot
from locks.notes import read_notes
from locks.paths import lock_file_name, lock_path

REPO = Path(__file__).resolve().parent.parent
HOST = socket.gethostname()

# A child that takes one lock, says "locked", and holds it until its stdin
# closes (or it is killed).
HOLDER = """
import sys
import django
django.setup()
from locks import exclusive, shared
mode, name, owner = sys.argv[1:4]
take = exclusive if mode == "exclusive" else shared
with take(name, timeout=None, owner=owner):
    print("locked", flush=True)
    sys.stdin.read()
print("released", flush=True)
"""


@pytest.fixture(autouse=True)
def lock_dir(settings, tmp_path):
    settings.K2_LOCK_DIR = tmp_path / "locks"
    return settings.K2_LOCK_DIR


@pytest.fixture
def holder():
    """Start holder processes: holder(mode, name, owner) -> Popen."""
    started = []

    def start(mode, name, owner="child", wait=True):
        env = {**os.environ, "DJANGO_SETTINGS_MODULE": "k2site.settings", "K2_LOCK_DIR": str(django_settings.K2_LOCK_DIR),
               "PYTHONPATH": str(REPO)}
        proc = subprocess.Popen([sys.executable, "-c", HOLDER, mode, name, owner], cwd=REPO, env=env,
                                stdin=subprocess.PIPE, stdout=subprocess.PIPE)
        started.append(proc)
        if wait:
            expect_line(proc, b"locked")
        return proc

    yield start
    for proc in started:
        if proc.poll() is None:
            proc.kill()
        proc.wait()


def expect_line(proc, expected, timeout=30.0):
    ready, _, _ = select.select([proc.stdout], [], [], timeout)
    assert ready, f"child {proc.pid} did not print {expected!r} within {timeout} s"
    assert proc.stdout.readline().strip() == expected


def wait_for(condition, timeout=10.0, what="condition"):
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if value:
            return value
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.01)


def exclusive_named(name):
    return [lock for lock in snapshot()["exclusive"] if lock["name"] == name]


def shared_named(name):
    return [lock for lock in snapshot()["shared"] if lock["name"] == name]


def counts():
    values = counters.read()
    assert values is not None, "the session's Redis should answer"
    return values


# --- exclusion ----------------------------------------------------------------

def test_exclusive_excludes_in_process():
    with exclusive("build:classic", owner="job 1") as held:
        assert held.mode == "exclusive" and held.waited_s == 0.0
        with pytest.raises(LockTimeout):
            with exclusive("build:classic", timeout=0):
                pass
        with pytest.raises(LockTimeout):
            with shared("build:classic", timeout=0):
                pass
    with exclusive("build:classic", timeout=0):
        pass


def test_exclusive_excludes_across_processes(holder):
    child = holder("exclusive", "build:classic", owner="job 42")
    with pytest.raises(LockTimeout) as info:
        with exclusive("build:classic", timeout=0):
            pass
    assert f"held exclusively by pid {child.pid} on host {HOST} (job 42) since" in str(info.value)
    with pytest.raises(LockTimeout):
        with shared("build:classic", timeout=0):
            pass
    child.stdin.close()
    expect_line(child, b"released")
    with exclusive("build:classic", timeout=0):
        pass


def test_shared_locks_coexist_and_count(holder):
    children = [holder("shared", "assets:figure", owner=f"chunk {i}") for i in range(2)]
    with shared("assets:figure", timeout=0, owner="parent"):
        (lock,) = shared_named("assets:figure")
        assert lock["count"] == 3
        assert {h["pid"] for h in lock["holders"]} == {os.getpid()} | {c.pid for c in children}
        assert {h["owner"] for h in lock["holders"]} == {"parent", "chunk 0", "chunk 1"}
        assert snapshot()["stats"]["held_shared"] >= 1
        with pytest.raises(LockTimeout) as info:
            with exclusive("assets:figure", timeout=0):
                pass
        assert "held shared by 3 holders" in str(info.value)


def test_exclusive_waits_for_shared_across_processes(holder):
    with shared("assets:figure", owner="reader"):
        child = holder("exclusive", "assets:figure", owner="writer", wait=False)
        # The child blocks in flock(): the kernel lists it as a waiter, and
        # its waiting note says who it is. (The note is written just before
        # the child enters flock(), so wait for the kernel to list it too.)
        waiter = wait_for(lambda: [w for w in snapshot()["waiters"] if w["pid"] == child.pid and w["in_kernel"]],
                          what="waiter in the kernel")[0]
        assert waiter == {"name": "assets:figure", "mode": "exclusive", "pid": child.pid, "host": HOST,
                          "owner": "writer", "since": waiter["since"], "in_kernel": True}
        (lock,) = shared_named("assets:figure")
        assert [w["pid"] for w in lock["waiters"]] == [child.pid]
        assert not select.select([child.stdout], [], [], 0)[0], "the writer got in beside a reader"
    expect_line(child, b"locked")
    assert exclusive_named("assets:figure")[0]["pid"] == child.pid
    assert snapshot()["waiters"] == []


def test_shared_waits_for_exclusive_and_counts_the_wait():
    before = counts()
    release = threading.Event()
    got = {}

    def writer():
        with exclusive("assets:base", owner="writer"):
            got["writer"] = True
            release.wait(30)

    def reader():
        with shared("assets:base", timeout=30, owner="reader") as held:
            got["reader_waited"] = held.waited_s

    t_writer = threading.Thread(target=writer)
    t_writer.start()
    wait_for(lambda: exclusive_named("assets:base"), what="writer lock")
    t_reader = threading.Thread(target=reader)
    t_reader.start()
    # A poller shows up through its waiting note (the kernel knows nothing of LOCK_NB polls).
    waiter = wait_for(lambda: [w for w in snapshot()["waiters"] if w["owner"] == "reader"], what="reader waiting")[0]
    assert waiter["mode"] == "shared" and waiter["in_kernel"] is False
    assert "reader_waited" not in got
    release.set()
    t_writer.join(30)
    t_reader.join(30)
    assert got["reader_waited"] > 0
    after = counts()
    assert after["acquisitions"] - before["acquisitions"] == 2
    assert after["waits"] - before["waits"] == 1
    assert after["wait_max_us"] >= int(got["reader_waited"] * 1_000_000) - 1
    assert after["wait_total_us"] > before["wait_total_us"]


def test_timeout_gives_a_clear_error_after_the_timeout():
    before = counts()
    with exclusive("assets:figure", owner="job 7"):
        start = time.monotonic()
        with pytest.raises(LockTimeout) as info:
            with shared("assets:figure", timeout=0.3, owner="job 8"):
                pass
        elapsed = time.monotonic() - start
    message = str(info.value)
    assert message.startswith(f"lock 'assets:figure' is busy: held exclusively by pid {os.getpid()} on host {HOST} (job 7) since ")
    assert message.endswith("; gave up after 0.3 s")
    assert elapsed >= 0.3
    assert info.value.name == "assets:figure" and info.value.mode == "shared"
    assert isinstance(info.value, TimeoutError)
    assert counts()["timeouts"] - before["timeouts"] == 1
    # No waiting note is left behind by the caller that gave up.
    assert [n for n in read_notes() if n["state"] == "waiting"] == []


# --- process death --------------------------------------------------------------

def test_lock_is_released_when_its_holder_dies(holder, lock_dir):
    child = holder("exclusive", "combo:classic:12345", owner="job 99")
    (lock,) = exclusive_named("combo:classic:12345")
    assert (lock["pid"], lock["owner"], lock["host"]) == (child.pid, "job 99", HOST)
    before = counts()["orphans"]

    child.send_signal(signal.SIGKILL)
    # Not reaped yet on purpose: a zombie holds no locks, and its note is
    # an orphan all the same.
    wait_for(lambda: not exclusive_named("combo:classic:12345"), what="the kernel to drop the lock")
    assert counts()["orphans"] - before == 1
    assert read_notes() == []  # the dead holder's note was removed ...
    snapshot()
    assert counts()["orphans"] - before == 1  # ... and counted once
    with exclusive("combo:classic:12345", timeout=0):
        pass


# --- names ------------------------------------------------------------------------

@pytest.mark.parametrize("name", ["../escape", "../../etc/passwd", "/abs/path", "a/b", "..", ".", "x\x00y", "ü:名前"])
def test_names_cannot_escape_the_lock_dir(name, lock_dir):
    path = lock_path(name)
    assert path.parent == lock_dir
    assert "/" not in path.name and not path.name.startswith(".")
    with exclusive(name, timeout=0):
        (lock,) = exclusive_named(name)  # the exact name comes back
        assert lock["pid"] == os.getpid()
    outside = [p for p in lock_dir.parent.rglob("*") if lock_dir not in (p, *p.parents)]
    assert outside == []


def test_similar_names_get_distinct_files():
    assert lock_file_name("a/b") != lock_file_name("a_b") != lock_file_name("a:b")
    assert lock_file_name("build:classic").startswith("build_classic-")
    with pytest.raises(ValueError):
        lock_path("")


# --- snapshot ------------------------------------------------------------------------

def test_snapshot_shows_a_held_lock_and_drops_it_on_release(lock_dir):
    with exclusive("build:classic", owner="job 42") as held:
        snap = snapshot()
        (lock,) = snap["exclusive"]
        assert lock["name"] == "build:classic"
        assert (lock["pid"], lock["host"], lock["owner"]) == (os.getpid(), HOST, "job 42")
        assert lock["since"]
        assert snap["stats"]["held_exclusive"] == 1
        # The kernel itself says this process holds that file.
        ino = os.stat(held.path).st_ino
        assert [(k.pid, k.exclusive) for k in kernel.read_flocks() if k.ino == ino] == [(os.getpid(), True)]
        # The exact name, then the fencing token this acquisition got.
        assert held.path.read_text() == f"build:classic\n{held.token}\n"
    snap = snapshot()
    assert snap["exclusive"] == [] and snap["stats"]["held_exclusive"] == 0
    assert read_notes() == []


def test_a_lock_without_a_note_still_shows(lock_dir):
    with exclusive("assets:trim", owner="x") as held:
        for note in read_notes():
            os.unlink(note["_path"])
        (lock,) = snapshot()["exclusive"]
        # Name read from the lock file; pid from the kernel.
        assert (lock["name"], lock["pid"], lock["owner"]) == ("assets:trim", os.getpid(), None)
        assert held.path.exists()


def test_redis_outage_does_not_break_locking(settings, monkeypatch, caplog):
    monkeypatch.setattr(counters, "_down_until", 0.0)  # restored (re-armed) after the test
    settings.REDIS_URL = "unix:///nonexistent/k2-redis.sock"
    with exclusive("build:classic", timeout=0):
        snap = snapshot()
    assert snap["exclusive"][0]["name"] == "build:classic"
    assert snap["stats"]["counters_available"] is False and snap["stats"]["acquisitions"] is None
    assert "lock counters unavailable" in caplog.text


def test_owner_is_stored_as_text():
    with exclusive("build:starter", owner=42):
        assert exclusive_named("build:starter")[0]["owner"] == "42"
