"""lockd on K2_LOCK_BACKEND=postgres: the same protocol, its grants are
advisory locks that API users on any host respect (K2_TEST_POSTGRES=1
pass only; the SQLite pass has no PostgreSQL)."""
import signal

import pytest
from django.db import connection  # noqa: F401 (read by the skipif condition)

from locks import LockTimeout, exclusive, shared
from locks.inspect import snapshot
from tests.conftest import child_environment, wait_until
from tests.test_lockd import start_lockd

pytestmark = [pytest.mark.django_db, pytest.mark.skipif("connection.vendor != 'postgresql'")]


@pytest.fixture
def pg(settings):
    settings.K2_LOCK_BACKEND = "postgres"
    yield
    from locks.backends import pgsessions

    pgsessions.close_all()


@pytest.fixture
def lockd(pg, data_dir):
    server = start_lockd(data_dir, env=dict(child_environment(data_dir), K2_LOCK_BACKEND="postgres"))
    yield server
    server.stop()


def test_the_protocol_on_postgres(lockd):
    a, b = lockd.client(), lockd.client()
    assert a.command("g job") == "1 Lock Get Success: job"
    assert a.command("g job") == "1 Lock Get Success: job"
    assert b.command("g job") == "0 Lock Get Failure: job"
    assert b.command("i job") == "1 Lock Is Locked: job"
    assert b.command("r job") == "0 Lock Release Failure: job"
    assert a.command("r job") == "1 Lock Release Success: job"
    assert b.command("g job") == "1 Lock Get Success: job"
    assert a.command("sg s") == "1 Shared Lock Get Success: s"
    assert b.command("sg s") == "2 Shared Lock Get Success: s"
    assert a.command("si s") == "2 Shared Lock Is Locked: s"
    assert a.command("g s") == "0 Lock Get Failure: s"
    assert a.command("gt t") == "1 Lock Get Success: t"
    assert b.command("gt t") == "0 Lock Get Failure: t"
    values, extra = a.q_full()
    assert extra[0] == "backend: postgres" and (values["locks"], values["shared_locks"]) == (2, 1)


def test_pipelined_commands_wait_for_the_database_in_order(lockd):
    a = lockd.client()
    a.send("".join(f"g p{i}\nsg s{i}\ni p{i}\nr p{i}\nsr s{i}\n" for i in range(50)))
    for i in range(50):
        assert [a.read_line() for _ in range(5)] == [
            f"1 Lock Get Success: p{i}", f"1 Shared Lock Get Success: s{i}", f"1 Lock Is Locked: p{i}",
            f"1 Lock Release Success: p{i}", f"1 Shared Lock Release Success: s{i}"]


def test_lockd_grants_and_api_locks_exclude_each_other(lockd):
    client = lockd.client()
    assert client.command("gt build:classic") == "1 Lock Get Success: build:classic"
    with pytest.raises(LockTimeout):
        with exclusive("build:classic", timeout=0):
            pass
    with pytest.raises(LockTimeout):
        with shared("build:classic", timeout=0.2):
            pass
    wait_until(lambda: [l for l in snapshot()["exclusive"] if l["name"] == "build:classic" and l.get("client")],
               timeout=10, message="the published holder")
    (lock,) = [l for l in snapshot()["exclusive"] if l["name"] == "build:classic"]
    assert lock["owner"].startswith("lockd 127.0.0.1:") and lock["token"] == 1
    client.command("r build:classic")
    with exclusive("build:classic", timeout=5) as held:
        assert held.token == 2  # tokens are the names table's: shared by every face
        assert client.command("g build:classic") == "0 Lock Get Failure: build:classic"
        assert client.command("i build:classic") == "1 Lock Is Locked: build:classic"
    with shared("assets", timeout=5):
        assert client.command("sg assets") == "1 Shared Lock Get Success: assets"
        assert client.command("si assets") == "2 Shared Lock Is Locked: assets"


def test_a_killed_server_frees_its_locks_for_other_hosts(lockd):
    client = lockd.client()
    client.command("g held:by:server")
    with pytest.raises(LockTimeout):
        with exclusive("held:by:server", timeout=0):
            pass
    lockd.process.send_signal(signal.SIGKILL)
    lockd.process.wait(10)
    with exclusive("held:by:server", timeout=2):
        pass


def test_client_disconnects_release_in_the_database(lockd):
    a, b = lockd.client(), lockd.client()
    a.command("g gone")
    a.command("sg gone:s")
    a.close()
    wait_until(lambda: b.q()["connections"] == 1, timeout=10, message="disconnect")
    assert (b.q()["orphans"], b.q()["shared_orphans"]) == (1, 1)
    with exclusive("gone", timeout=2), exclusive("gone:s", timeout=2):
        pass


def test_the_dashboard_reads_pg_locks(pg, admin_client):
    with exclusive("page:<pg>", owner="job 77") as held:
        html = admin_client.get("/locks/").content.decode()
        data = admin_client.get("/api/locks/").json()
    assert "page:&lt;pg&gt;" in html and "job 77" in html
    (lock,) = [lock for lock in data["exclusive"] if lock["name"] == "page:<pg>"]
    assert (lock["owner"], lock["token"]) == ("job 77", held.token)
    assert data["stats"]["held_exclusive"] >= 1


def test_a_lost_database_session_closes_the_holders_and_the_server_goes_on(lockd):
    from locks.backends import pgsessions

    holder, bystander = lockd.client(), lockd.client()
    holder.command("g kept:by:session")
    bystander.command("me")
    admin = pgsessions.connect()
    try:
        # The server's lock session (not its publishing one) is the one that holds locks.
        (backend,) = admin.execute(
            "SELECT l.pid FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid WHERE l.locktype = 'advisory' "
            "AND a.application_name = %s", (f"k2 locks pid {lockd.process.pid}",))
        admin.execute("SELECT pg_terminate_backend(%s)", (backend,))
    finally:
        admin.close()
    # The heartbeat notices within about a second: the holder is told by losing its connection ...
    with pytest.raises(ConnectionError):
        holder.read_line()
    # ... the lock is free for everyone, and the server serves on with a new session.
    with exclusive("kept:by:session", timeout=0):
        pass
    assert bystander.command("g kept:by:session") == "1 Lock Get Success: kept:by:session"
    assert bystander.command("i kept:by:session") == "1 Lock Is Locked: kept:by:session"
