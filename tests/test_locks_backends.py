"""The locks API on each backend, one suite for both (as Django's session
tests run one mixin per backend): flock always, postgres in the
K2_TEST_POSTGRES=1 pass (skipped in the SQLite pass, which has no server).

Real processes, real PostgreSQL: holders are child processes that are
released or SIGKILLed; "two hosts" are two processes with their own
K2_HOST_NAME and K2_LOCK_DIR that meet only in PostgreSQL.
"""
import os
import select
import signal
import subprocess
import sys
import threading
import time

import pytest
from django.db import connection

from locks import LockTimeout, exclusive, shared
from locks.inspect import snapshot
from tests.conftest import ROOT, child_environment, wait_until

HOLDER = """
import sys, django
django.setup()
from locks import exclusive, shared
take = exclusive if sys.argv[1] == "exclusive" else shared
with take(sys.argv[2], timeout=float(sys.argv[3]) if sys.argv[3] != "none" else None, owner=sys.argv[4]) as held:
    print("locked", held.token, flush=True)
    sys.stdin.read()
print("released", flush=True)
"""


# The postgres backend needs the test database set up (its sessions are its own).
pytestmark = pytest.mark.django_db


def postgres_available():
    return connection.vendor == "postgresql"


@pytest.fixture(params=["flock", "postgres"])
def backend(request, settings, data_dir):
    if request.param == "postgres":
        if not postgres_available():
            pytest.skip("the postgres backend runs in the K2_TEST_POSTGRES=1 pass")
    settings.K2_LOCK_BACKEND = request.param
    yield request.param
    if request.param == "postgres":
        from locks.backends import pgsessions

        pgsessions.close_all()


@pytest.fixture
def holder(backend, data_dir):
    started = []

    def start(mode, name, owner="child", timeout="none", wait=True, **env):
        environment = dict(child_environment(data_dir), K2_LOCK_BACKEND=backend, **env)
        process = subprocess.Popen([sys.executable, "-c", HOLDER, mode, name, timeout, owner], cwd=ROOT,
                                   env=environment, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
        started.append(process)
        if wait:
            expect(process, "locked")
        return process

    yield start
    for process in started:
        if process.poll() is None:
            process.kill()
        process.wait()


def expect(process, word, timeout=30):
    ready, _, _ = select.select([process.stdout], [], [], timeout)
    assert ready, f"child {process.pid} said nothing within {timeout} s"
    line = process.stdout.readline().split()
    assert line and line[0] == word, line
    return line


def named(kind, name):
    return [lock for lock in snapshot()[kind] if lock["name"] == name]


def test_exclusive_excludes_and_tokens_grow(backend):
    with exclusive("build:classic", owner="job 1") as held:
        first = held.token
        assert held.mode == "exclusive" and held.waited_s == 0.0 and first >= 1
        with pytest.raises(LockTimeout):
            with exclusive("build:classic", timeout=0):
                pass
        with pytest.raises(LockTimeout):
            with shared("build:classic", timeout=0):
                pass
    with exclusive("build:classic", timeout=0) as held:
        assert held.token == first + 1
    with shared("build:classic", timeout=0) as held:
        assert held.token is None
    with exclusive("build:other") as held:
        assert held.token >= 1  # per name


def test_threads_of_one_process_exclude_each_other(backend):
    # Advisory locks are re-entrant within a session: each acquisition
    # must have its own, or two threads would both get in.
    inside = []
    overlap = []
    start = threading.Barrier(4)

    def worker(i):
        start.wait()
        for _ in range(5):
            with exclusive("hot:spot", timeout=30, owner=f"thread {i}"):
                inside.append(i)
                if len(inside) > 1:
                    overlap.append(list(inside))
                time.sleep(0.005)
                inside.remove(i)

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert overlap == []


def test_nested_acquisitions_are_not_reentrant(backend):
    with exclusive("nest"):
        with pytest.raises(LockTimeout):
            with exclusive("nest", timeout=0.1):
                pass


def test_other_process_holder_is_named_in_the_timeout(backend, holder):
    child = holder("exclusive", "build:classic", owner="job 42")
    with pytest.raises(LockTimeout) as info:
        with exclusive("build:classic", timeout=0.3):
            pass
    assert f"held exclusively by pid {child.pid} on host " in str(info.value) and "(job 42)" in str(info.value)
    assert str(info.value).endswith("gave up after 0.3 s")
    child.stdin.close()
    expect(child, "released")
    with exclusive("build:classic", timeout=0):
        pass


def test_a_waiter_gets_the_lock_when_the_holder_releases(backend, holder):
    child = holder("exclusive", "queue", owner="first")
    got = {}

    def wait():
        with exclusive("queue", timeout=30, owner="second") as held:
            got["waited"] = held.waited_s

    thread = threading.Thread(target=wait)
    thread.start()
    wait_until(lambda: [w for w in snapshot()["waiters"] if w["owner"] == "second"], message="the waiter listed")
    assert "waited" not in got
    child.stdin.close()
    thread.join(30)
    assert got["waited"] > 0


def test_shared_holders_coexist_and_show(backend, holder):
    children = [holder("shared", "assets:figure", owner=f"chunk {i}") for i in range(2)]
    with shared("assets:figure", timeout=0, owner="parent"):
        (lock,) = named("shared", "assets:figure")
        assert lock["count"] == 3
        assert {h["owner"] for h in lock["holders"]} == {"parent", "chunk 0", "chunk 1"}
        assert {h["pid"] for h in lock["holders"]} == {os.getpid()} | {c.pid for c in children}
        with pytest.raises(LockTimeout) as info:
            with exclusive("assets:figure", timeout=0):
                pass
        assert "held shared by 3 holders" in str(info.value)


def test_snapshot_shows_the_holder_and_its_token(backend):
    with exclusive("build:starter", owner="job 9") as held:
        (lock,) = named("exclusive", "build:starter")
        assert (lock["pid"], lock["owner"], lock["token"]) == (os.getpid(), "job 9", held.token)
        assert lock["since"]
    assert named("exclusive", "build:starter") == []


def test_a_killed_holder_frees_the_lock_within_2_s(backend, holder):
    child = holder("exclusive", "combo:classic:7", owner="doomed")
    assert named("exclusive", "combo:classic:7")[0]["owner"] == "doomed"
    child.send_signal(signal.SIGKILL)
    start = time.monotonic()
    with exclusive("combo:classic:7", timeout=2.0) as held:
        assert held.waited_s < 2.0
    assert time.monotonic() - start < 2.0
    snapshot()  # reaps the dead holder's note
    assert named("exclusive", "combo:classic:7") == []


def test_two_hosts_exclude_each_other_through_postgres(backend, holder, data_dir, tmp_path):
    if backend != "postgres":
        pytest.skip("separate lock directories share nothing on flock: that is what postgres is for")
    host_a = dict(K2_HOST_NAME="host-a", K2_LOCK_DIR=str(tmp_path / "a-locks"))
    host_b = dict(K2_HOST_NAME="host-b", K2_LOCK_DIR=str(tmp_path / "b-locks"))
    first = holder("exclusive", "build:classic", owner="start on a", **host_a)
    second = holder("exclusive", "build:classic", owner="start on b", timeout="30", wait=False, **host_b)
    wait_until(lambda: [w for w in snapshot()["waiters"] if w["host"] == "host-b"], message="host b waiting")
    (lock,) = named("exclusive", "build:classic")
    assert (lock["host"], lock["owner"], lock["pid"]) == ("host-a", "start on a", first.pid)
    first.send_signal(signal.SIGKILL)  # host a dies holding it
    start = time.monotonic()
    token = int(expect(second, "locked", timeout=5)[1])
    assert time.monotonic() - start < 2.0
    assert named("exclusive", "build:classic")[0]["host"] == "host-b"
    assert token == lock["token"] + 1
    assert not (tmp_path / "a-locks").exists() and not (tmp_path / "b-locks").exists()  # nothing on disk


def test_fork_does_not_hurt_the_parents_sessions(backend):
    if backend != "postgres":
        pytest.skip("flock has no sessions")
    with exclusive("forked", owner="parent"):
        pid = os.fork()
        if pid == 0:  # the child drops the parent's session objects and exits
            import gc

            gc.collect()
            os._exit(0 if not named("exclusive", "nothing") else 1)
        assert os.waitpid(pid, 0)[1] == 0
        with pytest.raises(LockTimeout):
            with exclusive("forked", timeout=0):
                pass
        (lock,) = named("exclusive", "forked")
        assert lock["owner"] == "parent"


def test_a_names_table_emptied_under_us_does_not_split_a_lock(backend, holder):
    if backend != "postgres":
        pytest.skip("flock has no names table")
    from locks.backends import pgsessions

    with exclusive("flushed"):
        pass  # this process now knows the name's key
    session = pgsessions.connect()
    try:
        session.execute("DELETE FROM locks_name")  # as a TransactionTestCase flush does
    finally:
        session.close()
    holder("exclusive", "flushed", owner="fresh key")  # a new process gets a new key
    with pytest.raises(LockTimeout):  # ... and this one must not lock the dead one
        with exclusive("flushed", timeout=0):
            pass
