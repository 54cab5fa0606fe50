"""Slow and idle clients against the web server `k2 serve` runs (gunicorn
with k2site.web_worker's uvicorn workers): 200 connections that never
finish their headers, bodies that trickle and idle connections must not
delay anyone else's requests, and the server closes them after its read
deadlines (shortened here so the test is quick)."""
import select
import socket
import time

import pytest
import requests

from tests.sse_support import WebServer
from tests.conftest import wait_until

SLOW_CONNECTIONS = 200
HEADER_TIMEOUT_S = 4
BODY_TIMEOUT_S = 2


@pytest.fixture
def web(transactional_db, data_dir, tmp_path):
    server = WebServer(data_dir, tmp_path / "web.log",
                       env={"K2_HEADER_TIMEOUT_S": str(HEADER_TIMEOUT_S), "K2_BODY_TIMEOUT_S": str(BODY_TIMEOUT_S)})
    yield server
    server.stop()


def open_connection(port, first_bytes=b""):
    connection = socket.create_connection(("127.0.0.1", port), timeout=5)
    if first_bytes:
        connection.sendall(first_bytes)
    return connection


def closed_by_server(connection):
    """True once the server has closed (EOF, or an answer then EOF)."""
    readable, _, _ = select.select([connection], [], [], 0)
    if not readable:
        return False
    try:
        return connection.recv(65536) == b"" or closed_by_server(connection)
    except ConnectionResetError:
        return True


def timed_get(url):
    started = time.monotonic()
    response = requests.get(url, timeout=10)
    return response.status_code, time.monotonic() - started


def test_slow_clients_do_not_delay_others_and_are_closed(web):
    unfinished = [open_connection(web.port, b"GET / HTTP/1.1\r\nHost: 127.0.0.1\r\n")
                  for _ in range(SLOW_CONNECTIONS)]
    trickling = [open_connection(web.port, b"POST /studio/ HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                                 b"Content-Type: application/x-www-form-urlencoded\r\n"
                                 b"Content-Length: 100000\r\n\r\na=")
                 for _ in range(20)]
    idle = [open_connection(web.port) for _ in range(20)]
    everyone = unfinished + trickling + idle
    try:
        timings = [timed_get(f"{web.base}/admin/login/") for _ in range(20)]
        assert not any(map(closed_by_server, unfinished)), "the load must still be there while timing"
        assert {status for status, _ in timings} == {200}
        slowest = max(seconds for _, seconds in timings)
        print(f"slowest of 20 requests beside {len(everyone)} slow connections: {slowest:.3f} s")
        assert slowest < 1.0, f"a normal request took {slowest:.2f} s beside {SLOW_CONNECTIONS} slow clients"

        # Every unfinished, stalled or idle connection is closed by the deadlines.
        wait_until(lambda: all(map(closed_by_server, everyone)), timeout=HEADER_TIMEOUT_S + BODY_TIMEOUT_S + 10,
                   interval=0.2, message="the server to close slow connections")
        assert timed_get(f"{web.base}/admin/login/")[0] == 200
    finally:
        for connection in everyone:
            connection.close()


def test_a_body_that_keeps_coming_is_read_however_slowly(web):
    """The body deadline is an idle one: an upload that keeps sending, however
    slowly, is read to its end and answered; one that stops is closed."""
    head = b"POST /admin/login/ HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 4\r\n\r\n"
    steady, stalled = open_connection(web.port, head), open_connection(web.port, head)
    try:
        for _ in range(4):  # 4 bytes over 4 s: twice the body deadline in all
            time.sleep(BODY_TIMEOUT_S / 2)  # the client's pace, the thing under test
            assert not closed_by_server(steady)
            steady.sendall(b"x")
        assert closed_by_server(stalled)
        steady.settimeout(10)
        assert steady.recv(65536).startswith(b"HTTP/1.1 403 ")  # read whole, then CSRF's answer
    finally:
        steady.close()
        stalled.close()
