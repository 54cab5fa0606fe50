"""One lock, every face: a lockd grant, ``locks.exclusive``/``shared`` in
another process and flock(1) on the lock file exclude each other, in both
directions; the dashboard shows lockd holders; a real nc client works.

flock(1) (util-linux) and nc (netcat-openbsd, from deploy/system-deps.sh)
are required: a missing one fails these tests instead of skipping them.
"""
import shutil
import subprocess
import sys

import pytest

from locks import LockTimeout, exclusive, shared
from locks.inspect import snapshot
from locks.paths import lock_path
from tests.conftest import ROOT, child_environment, wait_until
from tests.test_lockd import lockd  # noqa: F401 (fixture)

HOLDER = """
import sys, django
django.setup()
from locks import exclusive, shared
take = exclusive if sys.argv[1] == "exclusive" else shared
with take(sys.argv[2], timeout=None, owner="interop child") as held:
    print("locked", held.token, flush=True)
    sys.stdin.read()
"""


def tool(name):
    path = shutil.which(name)
    assert path, f"{name} is not installed (deploy/system-deps.sh installs it)"
    return path


@pytest.fixture
def child(data_dir):
    started = []

    def start(mode, name):
        process = subprocess.Popen([sys.executable, "-c", HOLDER, mode, name], cwd=ROOT, env=child_environment(data_dir),
                                   stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
        started.append(process)
        first = process.stdout.readline().split()
        assert first[0] == "locked", first
        return process, first[1]

    yield start
    for process in started:
        if process.poll() is None:
            process.kill()
        process.wait()


def release(process):
    process.stdin.close()
    process.wait(10)


# --- locks.exclusive / shared in another process ------------------------------------

def test_a_worker_lock_keeps_lockd_out_and_back(lockd, child):
    client = lockd.client()
    process, _ = child("exclusive", "build:classic")
    assert client.command("g build:classic") == "0 Lock Get Failure: build:classic"
    assert client.command("sg build:classic") == "0 Shared Lock Get Failure: build:classic"
    assert client.command("i build:classic") == "1 Lock Is Locked: build:classic"  # the kernel says so
    release(process)
    assert client.command("i build:classic") == "0 Lock Not Locked: build:classic"
    assert client.command("g build:classic") == "1 Lock Get Success: build:classic"


def test_a_lockd_grant_keeps_workers_out(lockd, child):
    client = lockd.client()
    assert client.command("g build:classic") == "1 Lock Get Success: build:classic"
    with pytest.raises(LockTimeout):
        with exclusive("build:classic", timeout=0):
            pass
    with pytest.raises(LockTimeout):
        with shared("build:classic", timeout=0.2):
            pass
    assert client.command("r build:classic") == "1 Lock Release Success: build:classic"
    with exclusive("build:classic", timeout=0):
        pass


def test_shared_holders_of_every_face_coexist_and_count(lockd, child):
    a, b = lockd.client(), lockd.client()
    process, _ = child("shared", "assets:figure")
    assert a.command("sg assets:figure") == "1 Shared Lock Get Success: assets:figure"  # n counts connections
    with shared("assets:figure", timeout=0):
        assert b.command("si assets:figure") == "3 Shared Lock Is Locked: assets:figure"  # si counts every holder
        assert b.command("g assets:figure") == "0 Lock Get Failure: assets:figure"
    release(process)
    assert b.command("si assets:figure") == "1 Shared Lock Is Locked: assets:figure"
    with pytest.raises(LockTimeout):
        with exclusive("assets:figure", timeout=0):
            pass


def test_tokens_grow_across_faces(lockd, child):
    client = lockd.client()
    with exclusive("render:7") as held:
        first = held.token
    assert client.command("gt render:7") == f"{first + 1} Lock Get Success: render:7"
    client.command("r render:7")
    process, token = child("exclusive", "render:7")
    assert int(token) == first + 2
    release(process)
    with exclusive("render:7") as held:
        assert held.token == first + 3


def test_a_worker_waiting_in_the_kernel_gets_the_lock_when_lockd_releases(lockd, data_dir):
    client = lockd.client()
    client.command("g queue:head")
    waiter = subprocess.Popen([sys.executable, "-c", HOLDER, "exclusive", "queue:head"], cwd=ROOT,
                              env=child_environment(data_dir), stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    try:
        # The worker blocks in flock(); the server's loop must not.
        wait_until(lambda: any(w["pid"] == waiter.pid and w["in_kernel"] for w in snapshot()["waiters"]),
                   message="the worker waiting in the kernel")
        assert client.command("i queue:head") == "1 Lock Is Locked: queue:head"
        assert client.command("r queue:head") == "1 Lock Release Success: queue:head"
        assert waiter.stdout.readline().startswith("locked")
        assert client.command("g queue:head") == "0 Lock Get Failure: queue:head"
    finally:
        waiter.kill()
        waiter.wait()


# --- flock(1) ---------------------------------------------------------------------

def test_flock_1_and_lockd_exclude_each_other(lockd, data_dir):
    flock = tool("flock")
    client = lockd.client()
    client.command("g by:flock")  # creates the lock file ...
    path = lock_path("by:flock")
    assert subprocess.run([flock, "-n", str(path), "true"]).returncode == 1  # ... which lockd holds
    assert subprocess.run([flock, "-n", "-s", str(path), "true"]).returncode == 1
    client.command("r by:flock")
    assert subprocess.run([flock, "-n", str(path), "true"]).returncode == 0
    holder = subprocess.Popen([flock, str(path), "-c", "echo held; read line"], stdin=subprocess.PIPE,
                              stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "held"
        assert client.command("g by:flock") == "0 Lock Get Failure: by:flock"
        assert client.command("i by:flock") == "1 Lock Is Locked: by:flock"
        (lock,) = [lock for lock in snapshot()["exclusive"] if lock["name"] == "by:flock"]
        assert lock["owner"] is None  # flock(1) leaves no note; the kernel still tells
    finally:
        holder.communicate("\n", timeout=10)
    assert client.command("g by:flock") == "1 Lock Get Success: by:flock"


# --- the dashboard ------------------------------------------------------------------

def test_the_dashboard_shows_lockd_holders_by_name_or_address(lockd):
    a, b = lockd.client(), lockd.client()
    b_addr = b.command("me").split()[1]
    a.command("iam build-runner")
    a.command("gt build:classic")
    b.command("sg assets:base")
    with shared("assets:base"):
        def published():
            snap = snapshot()
            ex = [lock for lock in snap["exclusive"] if lock["name"] == "build:classic"]
            sh = [lock for lock in snap["shared"] if lock["name"] == "assets:base"]
            ready = ex and ex[0]["owner"] and sh and all(h["owner"] for h in sh[0]["holders"] if h["pid"] == lockd.process.pid)
            return ready and (ex[0], sh[0])
        lock, shared_lock = wait_until(published, timeout=10, message="the server's table published")
    assert lock["pid"] == lockd.process.pid
    assert lock["owner"] == f"lockd 127.0.0.1:{lockd.port} client build-runner"
    assert lock["token"] == 1 and lock["since"]
    assert shared_lock["count"] == 2
    owners = {h["owner"] for h in shared_lock["holders"]}
    assert f"lockd 127.0.0.1:{lockd.port} client {b_addr}" in owners
    a.close()
    wait_until(lambda: not [l for l in snapshot()["exclusive"] if l["name"] == "build:classic"], timeout=10,
               message="the lock gone with its connection")


def test_the_dashboard_page_has_a_token_column(lockd, admin_client):
    client = lockd.client()
    client.command("gt page:lock")
    wait_until(lambda: any(l["owner"] for l in snapshot()["exclusive"] if l["name"] == "page:lock"), timeout=10,
               message="published")
    html = admin_client.get("/locks/").content.decode()
    assert ">Token</th>" in html and "page:lock" in html and f"lockd 127.0.0.1:{lockd.port} client 127.0.0.1:" in html


# --- nc ---------------------------------------------------------------------------------

def test_a_real_nc_session(lockd):
    nc = tool("nc")
    other = lockd.client()
    other.command("g taken")
    session = "g mine\ng taken\ni taken\nsg shared one\nr mine\nbogus\nq\n"
    result = subprocess.run([nc, "-q", "1", "127.0.0.1", str(lockd.port)], input=session, capture_output=True,
                            text=True, timeout=30)
    lines = result.stdout.splitlines()
    assert lines[:5] == ["1 Lock Get Success: mine", "0 Lock Get Failure: taken", "1 Lock Is Locked: taken",
                         "1 Shared Lock Get Success: shared one", "1 Lock Release Success: mine"]
    q = dict(line.split(": ") for line in lines[5:])
    assert len(q) == 19 and q["invalid_commands"] == "1" and q["command_g"] == "3"
    wait_until(lambda: other.q()["shared_orphans"] == 1, timeout=10, message="nc's shared lock orphaned")
