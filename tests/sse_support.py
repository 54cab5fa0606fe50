"""An event-stream client for tests: the site served as `k2 serve` serves
it (gunicorn + uvicorn workers) and sseclient-py parsing what it sends."""
import socket
import subprocess

import requests
import sseclient
from django.conf import settings
from django.test import Client

from k2site.supervisor import web_command
from tests.conftest import ROOT, child_environment, wait_until


def free_port():
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


class WebServer:
    def __init__(self, data_dir, log_path, env=None):
        self.port = free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        self.log = open(log_path, "wb")
        self.process = subprocess.Popen(web_command("127.0.0.1", self.port), cwd=ROOT,
                                        env={**child_environment(data_dir), **(env or {})}, stdout=self.log,
                                        stderr=subprocess.STDOUT, start_new_session=True)
        try:
            wait_until(self.answers, timeout=60, interval=0.1, message="the web server to answer")
        except BaseException:  # the fixture's teardown will not run: leave no server behind
            self.stop()
            raise

    def answers(self):
        if self.process.poll() is not None:
            raise AssertionError(f"the web server exited with {self.process.returncode}")
        try:
            return requests.get(f"{self.base}/admin/login/", timeout=2).status_code == 200
        except requests.RequestException:  # not listening yet, or still importing
            return False

    def stop(self):
        self.process.terminate()
        try:
            self.process.wait(15)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        self.log.close()


def session_cookie(user):
    client = Client()
    client.force_login(user)
    return {settings.SESSION_COOKIE_NAME: client.cookies[settings.SESSION_COOKIE_NAME].value}


class EventStream:
    """GET /api/builds/N/events, parsed by sseclient-py."""

    def __init__(self, base, build_id, cookies, last_event_id=None, timeout=30):
        headers = {"Accept": "text/event-stream"}
        if last_event_id is not None:
            headers["Last-Event-ID"] = str(last_event_id)
        self.response = requests.get(f"{base}/api/builds/{build_id}/events", cookies=cookies, headers=headers,
                                     stream=True, timeout=timeout)
        # iter_content(None) hands over each chunk as it arrives (iterating the
        # response itself waits for 128 bytes).
        self.client = sseclient.SSEClient(self.response.iter_content(chunk_size=None))
        self.events = self.client.events()

    def next(self):
        return next(self.events)

    def close(self):
        self.response.close()


class InProcessServer:
    """The same ASGI application under uvicorn in a thread of this process,
    so a test can lower the stream's constants and look at the hub."""

    def __init__(self):
        import threading

        import uvicorn

        from k2site.asgi import application

        self.port = free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        self.server = uvicorn.Server(uvicorn.Config(application, host="127.0.0.1", port=self.port,
                                                    log_level="warning", lifespan="off"))
        self.thread = threading.Thread(target=self.server.run, daemon=True)
        self.thread.start()
        wait_until(lambda: self.server.started, timeout=30, message="uvicorn to start")

    def stop(self):
        self.server.should_exit = True
        self.thread.join(10)


def read_until(response, marker, limit=1 << 16):
    """The raw bytes of a stream from where the last call stopped up to and
    including ``marker`` (a response can be iterated only once: keep the iterator)."""
    if not hasattr(response, "k2_chunks"):
        response.k2_chunks, response.k2_left = response.iter_content(chunk_size=None), b""
    seen, response.k2_left = response.k2_left, b""
    while marker not in seen and len(seen) < limit:
        chunk = next(response.k2_chunks, None)
        if chunk is None:
            return seen
        seen += chunk
    if marker in seen:
        cut = seen.index(marker) + len(marker)
        seen, response.k2_left = seen[:cut], seen[cut:]
    return seen
