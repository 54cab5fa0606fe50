"""The lockd server's protocol, against a real `manage.py lockd` process
over real sockets: every command and reply text, counts across
connections, orphans, pipelining, odd names, huge lines, many clients.

The ``lockd`` fixture (imported by the other test_lockd_* modules) starts
one server per test on a free port, in the test's own lock directory.
"""
import json
import select
import signal
import socket
import subprocess
import sys
import time

import pytest

from locks.server.client import LockdClient
from locks.server.stats import Q_KEYS
from tests.conftest import ROOT, child_environment, wait_until

EXPECTED_Q_KEYS = [
    "command_d", "command_dump", "command_g", "command_i", "command_iam", "command_me", "command_q", "command_r",
    "command_sd", "command_sg", "command_si", "command_sr", "command_who", "connections", "invalid_commands",
    "locks", "orphans", "shared_locks", "shared_orphans"]


class LockdServer:
    def __init__(self, process, host, port):
        self.process, self.host, self.port = process, host, port
        self.clients = []

    def client(self):
        client = LockdClient(self.host, self.port)
        self.clients.append(client)
        return client

    def stop(self):
        for client in self.clients:
            client.close()
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()


def start_lockd(data_dir, *args, env=None):
    """Start `manage.py lockd --bind 127.0.0.1:0 ARGS` and wait for its ready line."""
    process = subprocess.Popen([sys.executable, "manage.py", "lockd", "--bind", "127.0.0.1:0", *args], cwd=ROOT,
                               env=env or child_environment(data_dir), stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    ready, _, _ = select.select([process.stdout], [], [], 30)
    line = process.stdout.readline().decode() if ready else ""
    if not line.startswith("lockd listening on "):
        process.kill()
        raise AssertionError(f"lockd did not start: {line!r} {process.stdout.read().decode()[-2000:] if not ready else ''}")
    host, port = line.split()[3].rsplit(":", 1)
    return LockdServer(process, host, int(port))


@pytest.fixture
def lockd(data_dir):
    server = start_lockd(data_dir)
    yield server
    server.stop()


# --- exclusive ------------------------------------------------------------------

def test_get_release_and_inspect(lockd):
    a, b = lockd.client(), lockd.client()
    assert a.command("i job:1") == "0 Lock Not Locked: job:1"
    assert a.command("g job:1") == "1 Lock Get Success: job:1"
    assert a.command("g job:1") == "1 Lock Get Success: job:1"  # you may get what you hold
    assert b.command("g job:1") == "0 Lock Get Failure: job:1"
    assert b.command("i job:1") == "1 Lock Is Locked: job:1"
    assert b.command("r job:1") == "0 Lock Release Failure: job:1"
    assert a.command("r job:1") == "1 Lock Release Success: job:1"
    assert a.command("r job:1") == "0 Lock Release Failure: job:1"
    assert b.command("i job:1") == "0 Lock Not Locked: job:1"
    assert b.command("g job:1") == "1 Lock Get Success: job:1"


def test_shared_counts_distinct_connections(lockd):
    a, b, c = lockd.client(), lockd.client(), lockd.client()
    assert a.command("si assets") == "0 Shared Lock Not Locked: assets"
    assert a.command("sg assets") == "1 Shared Lock Get Success: assets"
    assert a.command("sg assets") == "1 Shared Lock Get Success: assets"  # still one connection
    assert b.command("sg assets") == "2 Shared Lock Get Success: assets"
    assert c.command("si assets") == "2 Shared Lock Is Locked: assets"
    assert c.command("sr assets") == "0 Shared Lock Release Failure: assets"
    assert c.command("g assets") == "0 Lock Get Failure: assets"  # one lock: shared holders keep g out
    assert a.command("sr assets") == "1 Shared Lock Release Success: assets"
    assert a.command("sr assets") == "0 Shared Lock Release Failure: assets"
    assert c.command("si assets") == "1 Shared Lock Is Locked: assets"
    assert b.command("sr assets") == "1 Shared Lock Release Success: assets"
    assert c.command("si assets") == "0 Shared Lock Not Locked: assets"
    assert c.command("g assets") == "1 Lock Get Success: assets"
    assert a.command("sg assets") == "0 Shared Lock Get Failure: assets"


def test_a_connection_holds_a_name_one_way_only(lockd):
    a = lockd.client()
    assert a.command("sg x") == "1 Shared Lock Get Success: x"
    assert a.command("g x") == "0 Lock Get Failure: x"
    assert a.command("sr x") == "1 Shared Lock Release Success: x"
    assert a.command("g x") == "1 Lock Get Success: x"
    assert a.command("sg x") == "0 Shared Lock Get Failure: x"


def test_fencing_tokens_grow_per_name(lockd):
    a, b = lockd.client(), lockd.client()
    assert a.command("gt fence") == "1 Lock Get Success: fence"
    assert a.command("gt fence") == "1 Lock Get Success: fence"  # held: the same token
    assert b.command("gt fence") == "0 Lock Get Failure: fence"
    assert a.command("r fence") == "1 Lock Release Success: fence"
    assert b.command("gt fence") == "2 Lock Get Success: fence"
    assert b.command("r fence") == "1 Lock Release Success: fence"
    assert a.command("g fence") == "1 Lock Get Success: fence"  # plain g issues no token ...
    assert a.command("gt fence") == "3 Lock Get Success: fence"  # ... until asked for one
    assert a.command("gt other") == "1 Lock Get Success: other"
    assert a.q()["command_g"] == 5 + 2  # gt counts as g (q keeps its 19 keys)


# --- tables and registry ------------------------------------------------------

def test_dump_commands(lockd):
    a, b = lockd.client(), lockd.client()
    a_addr, b_addr = a.command("me").split()[1], b.command("me").split()[1]
    assert a.listing("d") == [] and a.listing("sd") == []
    assert a.command("g one") .startswith("1 ") and a.command("g two").startswith("1 ")
    assert a.command("sg s").startswith("1 ") and b.command("sg s").startswith("2 ")
    assert sorted(b.listing("d")) == [f"one: {a_addr}", f"two: {a_addr}"]
    assert b.listing("d two") == [f"two: {a_addr}"]
    assert b.listing("d nothing") == []
    assert sorted(b.listing("sd")) == sorted([f"s: {a_addr}", f"s: {b_addr}"])
    assert b.listing("sd s") == [f"s: {a_addr}", f"s: {b_addr}"]
    assert json.loads(b.command("dump")) == {"one": a_addr, "two": a_addr}
    assert json.loads(b.command("dump shared")) == {"s": [a_addr, b_addr]}
    assert a.command("iam builder-1") == "1 ok"
    assert b.listing("d one") == ["one: builder-1"]  # HOLDER is the registered name
    assert json.loads(b.command("dump")) == {"one": a_addr, "two": a_addr}  # dump keeps addresses


def test_registry_commands(lockd):
    a, b = lockd.client(), lockd.client()
    a_addr = a.command("me").split()[1]
    host, port = a.sock.getsockname()
    assert a_addr == f"{host}:{port}"
    assert a.command("me") == f"1 {a_addr} {a_addr}"
    assert b.listing("who") == []
    assert a.command("iam worker 7") == "1 ok"  # names may hold spaces
    assert a.command("me") == f"1 {a_addr} worker 7"
    assert b.listing("who") == [f"{a_addr}: worker 7"]
    assert b.listing("who worker 7") == [f"{a_addr}: worker 7"]
    assert b.listing("who nobody") == []
    assert a.command("iam") == "1 ok"
    assert a.command("me") == f"1 {a_addr} {a_addr}"
    assert b.listing("who") == []


@pytest.mark.parametrize("flags, disabled", [
    (["--dump", "off"], ["d", "d x", "sd", "sd x", "dump", "dump shared", "who"]),
    (["--registry", "off"], ["iam a", "who"]),
    (["--dump", "off", "--registry", "off"], ["d", "dump", "iam a", "who"]),
])
def test_features_can_be_turned_off(data_dir, flags, disabled):
    server = start_lockd(data_dir, *flags)
    try:
        client = server.client()
        client.command("g x")
        for command in disabled:
            assert client.command(command) == "0 disabled", command
        if "--registry" not in flags:
            assert client.command("iam a") == "1 ok"
        if "--dump" not in flags:
            assert client.listing("d") == [f"x: {client.command('me').split()[2]}"]
        assert client.command("me").startswith("1 127.0.0.1:")  # me always answers
    finally:
        server.stop()


# --- q ------------------------------------------------------------------------------

def test_q_has_exactly_the_19_keys_sorted(lockd):
    a, b = lockd.client(), lockd.client()
    for line in ("g x", "g y", "r y", "i x", "sg s", "si s", "sr s", "sg t", "iam me", "me"):
        a.command(line)
    a.listing("d"), a.listing("sd"), a.listing("who")
    a.command("dump")
    a.send("nonsense\n\nalso nonsense\n")
    b.command("me")
    a.send("q\n")
    lines = [a.read_line() for _ in range(19)]
    assert [line.split(": ")[0] for line in lines] == EXPECTED_Q_KEYS == list(Q_KEYS)
    values = {key: int(value) for key, value in (line.split(": ") for line in lines)}
    assert values == {
        # listing() sends one me before and one after each command
        "command_d": 1, "command_dump": 1, "command_g": 2, "command_i": 1, "command_iam": 1, "command_me": 1 + 6 + 1,
        "command_q": 1, "command_r": 1, "command_sd": 1, "command_sg": 2, "command_si": 1, "command_sr": 1,
        "command_who": 1, "connections": 2, "invalid_commands": 2, "locks": 1, "orphans": 0, "shared_locks": 1,
        "shared_orphans": 0}
    assert a.command("me").startswith("1 ")  # nothing more came after the 19 lines


def test_q_full_adds_tables_and_per_name_figures(lockd):
    a, b = lockd.client(), lockd.client()
    a.command("iam holder")
    a.command("gt build:x")
    b.command("g build:x")  # refused: a wait for b
    b.command("sg assets")
    a.command("g quick"), a.command("r quick")
    values, extra = b.q_full()
    assert list(values) == EXPECTED_Q_KEYS and values["locks"] == 1
    assert extra[0] == "backend: flock"
    (lock,) = [line for line in extra if line.startswith("lock build:x: ")]
    assert lock.startswith("lock build:x: holder since 20") and lock.endswith(" token 1")
    b_addr = b.command("me").split()[1]
    (shared,) = [line for line in extra if line.startswith("shared ")]
    assert shared.startswith(f"shared assets: {b_addr} since 20")
    figures = {line.split(": ")[0]: line.split(": ", 1)[1] for line in extra if line.startswith("stats ")}
    assert figures["stats build:x"].startswith("acquisitions 1 waits 1 timeouts 0 hold_avg_ms ")
    assert figures["stats quick"].startswith("acquisitions 1 waits 0 timeouts 0 hold_avg_ms ")
    b.close()
    values, extra = a.q_full()
    figures = {line.split(": ")[0]: line.split(": ", 1)[1] for line in extra if line.startswith("stats ")}
    assert figures["stats build:x"].startswith("acquisitions 1 waits 1 timeouts 1 ")  # b gave up
    # q full's own counts, then the me that listing() sent after it
    assert a.q() == values | {"command_q": values["command_q"] + 1, "command_me": values["command_me"] + 1}


# --- the line protocol --------------------------------------------------------------

def test_unknown_commands_get_no_reply_and_are_counted(lockd):
    a = lockd.client()
    a.send("hello\nG x\n \nx y z\n\n\r\ng x\n")
    assert a.read_line() == "1 Lock Get Success: x"  # the first reply is g's
    assert a.q()["invalid_commands"] == 4  # "hello", "G x", " " and "x y z"; empty lines are no commands


def test_pipelined_commands_answer_in_order(lockd):
    a, b = lockd.client(), lockd.client()
    b.command("g taken")
    commands = "".join(f"g p{i}\nsg s{i}\ni taken\nr p{i}\n" for i in range(200)) + "q\n"
    a.send(commands)  # one write, one reply per command in order
    for i in range(200):
        assert a.read_line() == f"1 Lock Get Success: p{i}"
        assert a.read_line() == f"1 Shared Lock Get Success: s{i}"
        assert a.read_line() == "1 Lock Is Locked: taken"
        assert a.read_line() == f"1 Lock Release Success: p{i}"
    assert a.read_line() == "command_d: 0"


def test_commands_split_across_packets_and_crlf(lockd):
    a = lockd.client()
    for piece in (b"g sp", b"lit\r", b"\ni split\r\n"):
        a.send(piece)
        time.sleep(0.05)  # separate segments on purpose: the server must reassemble
    assert a.read_line() == "1 Lock Get Success: split"
    assert a.read_line() == "1 Lock Is Locked: split"


@pytest.mark.parametrize("name", ["", " ", "a b c", "  leading", "trailing ", "ü:名前", "x: y", "../../etc/passwd",
                                  "tab\there"])
def test_odd_names_are_names(lockd, name):
    a, b = lockd.client(), lockd.client()
    assert a.command(f"g {name}") == f"1 Lock Get Success: {name}"
    assert b.command(f"g {name}") == f"0 Lock Get Failure: {name}"
    assert b.command(f"i {name}") == f"1 Lock Is Locked: {name}"
    assert json.loads(b.command("dump")) == {name: a.command("me").split()[1]}
    assert b.listing(f"d {name}") == [f"{name}: {a.command('me').split()[1]}"]
    assert a.command(f"r {name}") == f"1 Lock Release Success: {name}"
    assert b.command(f"sg {name}") == f"1 Shared Lock Get Success: {name}"


def test_empty_name_differs_from_a_space_and_from_no_argument(lockd):
    a, b = lockd.client(), lockd.client()
    assert a.command("g ") == "1 Lock Get Success: "
    assert b.command("g  ") == "1 Lock Get Success:  "  # the name " "
    assert b.listing("d ") == [f": {a.command('me').split()[1]}"]  # "d " asks for the name ""
    assert len(b.listing("d")) == 2  # "d" alone lists every lock


def test_invalid_utf8_names_round_trip(lockd):
    a, b = lockd.client(), lockd.client()
    a.send(b"g \xff\xfe\n")
    assert a.sock.recv(100) == b"1 Lock Get Success: \xff\xfe\n"
    b.send(b"g \xff\xfe\n")
    assert b.sock.recv(100) == b"0 Lock Get Failure: \xff\xfe\n"


# --- connections ----------------------------------------------------------------------

CLIENT_THAT_HOLDS = """
import socket, sys
sock = socket.create_connection(("127.0.0.1", int(sys.argv[1])))
sock.sendall(b"iam doomed\\ng held:x\\ng held:y\\nsg held:s\\n")
replies = b""
while replies.count(b"\\n") < 4:
    replies += sock.recv(1000)
print(replies.decode().replace("\\n", "|"), flush=True)
sys.stdin.read()
"""


def test_a_killed_clients_locks_are_released_and_counted_as_orphans(lockd):
    other = lockd.client()
    child = subprocess.Popen([sys.executable, "-c", CLIENT_THAT_HOLDS, str(lockd.port)],
                             stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    try:
        assert child.stdout.readline().strip() == (
            "1 ok|1 Lock Get Success: held:x|1 Lock Get Success: held:y|1 Shared Lock Get Success: held:s|")
        assert other.command("g held:x") == "0 Lock Get Failure: held:x"
        assert other.listing("who") == [line for line in other.listing("who") if line.endswith(": doomed")] != []
        before = other.q()
        assert (before["connections"], before["locks"], before["shared_locks"]) == (2, 2, 1)
        child.send_signal(signal.SIGKILL)
        child.wait(10)
        after = wait_until(lambda: (q := other.q())["connections"] == 1 and q, timeout=10, message="disconnect")
        assert (after["orphans"], after["shared_orphans"], after["locks"], after["shared_locks"]) == (2, 1, 0, 0)
        assert other.command("g held:x") == "1 Lock Get Success: held:x"
        assert other.command("si held:s") == "0 Shared Lock Not Locked: held:s"
        assert other.listing("who") == []
    finally:
        if child.poll() is None:
            child.kill()
            child.wait()


def test_a_clean_close_releases_too(lockd):
    a, b = lockd.client(), lockd.client()
    a.command("g bye")
    a.close()
    wait_until(lambda: b.command("g bye") == "1 Lock Get Success: bye", timeout=10, message="release on close")
    assert b.q()["orphans"] == 1


def test_a_line_over_the_limit_gets_one_reply_and_the_door(lockd):
    a = lockd.client()
    a.send(b"g " + b"x" * 70_000)  # no newline, and then silence
    assert a.read_line() == "0 line too long (max 65536 bytes)"
    with pytest.raises(ConnectionError):
        a.read_line()
    assert lockd.client().q()["invalid_commands"] == 1


def test_a_flood_is_refused_without_hurting_others(lockd):
    bystander = lockd.client()
    bystander.command("g mine")
    flooder = lockd.client()
    chunk = b"g " + b"x" * (1 << 20)
    with pytest.raises((BrokenPipeError, ConnectionResetError)):
        for _ in range(64):  # up to 64 MiB without a newline
            flooder.send(chunk)
            start = time.monotonic()
            assert bystander.command("i mine") == "1 Lock Is Locked: mine"
            assert time.monotonic() - start < 1.0
    assert bystander.command("g mine") == "1 Lock Get Success: mine"
    wait_until(lambda: bystander.q()["connections"] == 1, timeout=10, message="flooder dropped")
    rss_kib = int(open(f"/proc/{lockd.process.pid}/status").read().split("VmRSS:")[1].split()[0])
    assert rss_kib < 200_000, "the server buffered the flood"


def test_a_long_but_allowed_name_works(lockd):
    a = lockd.client()
    name = "n" * 60_000
    assert a.command(f"g {name}") == f"1 Lock Get Success: {name}"
    assert a.command(f"r {name}") == f"1 Lock Release Success: {name}"


def test_a_thousand_idle_connections(lockd):
    idle = []
    try:
        for _ in range(1000):
            idle.append(socket.create_connection((lockd.host, lockd.port), timeout=10))
        active = lockd.client()
        wait_until(lambda: active.q()["connections"] == 1001, timeout=30, message="1,001 connections")
        start = time.monotonic()
        for i in range(200):
            assert active.command(f"g busy{i}") == f"1 Lock Get Success: busy{i}"
            assert active.command(f"r busy{i}") == f"1 Lock Release Success: busy{i}"
        assert time.monotonic() - start < 5.0
        idle[0].sendall(b"g from-idle\n")
        assert idle[0].recv(100) == b"1 Lock Get Success: from-idle\n"
    finally:
        for sock in idle:
            sock.close()
    wait_until(lambda: active.q()["connections"] == 1, timeout=30, message="idle clients gone")
    assert active.q()["orphans"] == 1


def test_stopping_the_server_releases_everything(lockd, data_dir):
    from locks import exclusive

    a = lockd.client()
    a.command("g stop:x")
    lockd.process.send_signal(signal.SIGTERM)
    assert lockd.process.wait(10) == 0
    with exclusive("stop:x", timeout=0):
        pass
    assert not list((data_dir / "locks" / ".lockd").glob("*.json"))  # its table is gone too


# --- the command line -----------------------------------------------------------------

@pytest.mark.parametrize("args, message", [
    (["--bind", "nonsense"], "CommandError: --bind must be HOST:PORT with a port from 0 to 65535, not 'nonsense'"),
    (["--bind", "127.0.0.1:70000"], "CommandError: --bind must be HOST:PORT with a port from 0 to 65535, not '127.0.0.1:70000'"),
    (["--dump", "maybe"], "CommandError: --dump must be on or off, not 'maybe'"),
    (["--registry", "1"], "CommandError: --registry must be on or off, not '1'"),
])
def test_bad_command_lines_say_one_line_and_fail(data_dir, args, message):
    result = subprocess.run([sys.executable, "manage.py", "lockd", *args], cwd=ROOT, env=child_environment(data_dir),
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 1
    assert result.stderr.strip() == message and result.stdout == ""


def test_a_taken_port_or_a_bad_backend_is_one_line_too(lockd, data_dir):
    result = subprocess.run([sys.executable, "manage.py", "lockd", "--bind", f"127.0.0.1:{lockd.port}"], cwd=ROOT,
                            env=child_environment(data_dir), capture_output=True, text=True, timeout=60)
    assert result.returncode == 1
    assert result.stderr.strip() == f"CommandError: cannot listen on 127.0.0.1:{lockd.port}: Address already in use"
    result = subprocess.run([sys.executable, "manage.py", "lockd"], cwd=ROOT, capture_output=True, text=True, timeout=60,
                            env=dict(child_environment(data_dir), K2_LOCK_BACKEND="redis"))
    assert result.returncode == 1
    assert result.stderr.strip() == "CommandError: K2_LOCK_BACKEND must be one of flock, postgres, not 'redis'"
