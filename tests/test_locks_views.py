"""Access rules and shapes of /api/locks/, /locks/ and /locks/stats.txt."""
import os

import pytest
from django.test import RequestFactory

from locks import exclusive
from locks.access import client_address, is_loopback, metrics_allowed

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def lock_dir(settings, tmp_path):
    settings.K2_LOCK_DIR = tmp_path / "locks"
    settings.K2_METRICS_TOKEN = None


def test_api_refuses_anonymous_with_json(client):
    response = client.get("/api/locks/")
    assert response.status_code == 403
    assert response.json() == {"error": "staff login required"}


def test_api_refuses_non_staff(client, django_user_model):
    client.force_login(django_user_model.objects.create_user("shopper", password="x"))
    response = client.get("/api/locks/")
    assert response.status_code == 403 and response.json() == {"error": "staff login required"}


def test_api_gives_staff_the_snapshot(admin_client):
    with exclusive("build:classic", owner="job 42"):
        response = admin_client.get("/api/locks/")
    assert response.status_code == 200
    data = response.json()
    assert set(data) >= {"exclusive", "shared", "stats"}
    (lock,) = data["exclusive"]
    assert {"name", "pid", "host", "owner", "since"} <= set(lock)
    assert (lock["name"], lock["pid"], lock["owner"]) == ("build:classic", os.getpid(), "job 42")
    assert {"acquisitions", "waits", "timeouts", "wait_avg_ms", "wait_max_ms", "orphans",
            "held_exclusive", "held_shared"} <= set(data["stats"])
    assert "no-cache" in response["Cache-Control"]


def test_dashboard_redirects_anonymous_to_login(client):
    response = client.get("/locks/")
    assert response.status_code == 302 and response["Location"].startswith("/admin/login/")


def test_dashboard_shows_held_locks_to_staff(admin_client):
    with exclusive("build:<classic>", owner="job 42"):
        response = admin_client.get("/locks/")
    assert response.status_code == 200
    html = response.content.decode()
    assert "build:&lt;classic&gt;" in html and "job 42" in html
    assert 'id="locks-exclusive"' in html and 'id="locks-shared"' in html and 'id="locks-waiters"' in html
    assert 'data-api="/api/locks/"' in html and "locks/dashboard" in html  # the 2 s refresh fetches the JSON API
    # The studio's navigation, like every other staff page; no inline script (CSP).
    assert '<nav class="k2-subnav" aria-label="Studio">' in html and "<script>" not in html


@pytest.mark.parametrize("address", ["127.0.0.1", "::1"])
def test_stats_txt_answers_loopback(client, address):
    response = client.get("/locks/stats.txt", REMOTE_ADDR=address)
    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/plain")
    values = dict(line.split(": ", 1) for line in response.content.decode().splitlines())
    assert {"acquisitions", "waits", "timeouts", "wait_avg_ms", "wait_max_ms", "orphans"} <= set(values)


def test_stats_txt_refuses_others_without_a_token(client, settings):
    assert client.get("/locks/stats.txt", REMOTE_ADDR="10.1.2.3").status_code == 403
    # No token configured: no token is good enough.
    assert client.get("/locks/stats.txt", REMOTE_ADDR="10.1.2.3", HTTP_AUTHORIZATION="Bearer ").status_code == 403
    assert client.get("/locks/stats.txt?token=", REMOTE_ADDR="10.1.2.3").status_code == 403


def test_stats_txt_accepts_the_token(client, settings):
    settings.K2_METRICS_TOKEN = "s3cret"
    remote = {"REMOTE_ADDR": "10.1.2.3"}
    assert client.get("/locks/stats.txt", HTTP_AUTHORIZATION="Bearer s3cret", **remote).status_code == 200
    # A token in the query string is refused: URLs end up in access logs.
    assert client.get("/locks/stats.txt?token=s3cret", **remote).status_code == 403
    assert client.get("/locks/stats.txt", HTTP_AUTHORIZATION="Bearer wrong", **remote).status_code == 403
    assert client.get("/locks/stats.txt?token=s3cre", **remote).status_code == 403
    assert client.get("/locks/stats.txt", HTTP_AUTHORIZATION="Basic s3cret", **remote).status_code == 403


def test_metrics_allowed_helper(settings):
    factory = RequestFactory()
    assert metrics_allowed(factory.get("/metrics", REMOTE_ADDR="127.0.0.1"))
    assert metrics_allowed(factory.get("/metrics", REMOTE_ADDR="::ffff:127.0.0.1"))
    assert not metrics_allowed(factory.get("/metrics", REMOTE_ADDR="192.168.0.9"))
    assert not metrics_allowed(factory.get("/metrics", REMOTE_ADDR="not-an-ip"))
    settings.K2_METRICS_TOKEN = "t0ken"
    assert metrics_allowed(factory.get("/metrics", REMOTE_ADDR="192.168.0.9", HTTP_AUTHORIZATION="Bearer t0ken"))


def test_views_are_get_only(admin_client):
    assert admin_client.post("/api/locks/").status_code == 405
    assert admin_client.post("/locks/stats.txt").status_code == 405


def test_forwarded_loopback_request_needs_the_token(client, settings):
    settings.K2_METRICS_TOKEN = "s3cret"
    forwarded = {"REMOTE_ADDR": "127.0.0.1", "HTTP_X_FORWARDED_FOR": "203.0.113.9"}
    assert client.get("/locks/stats.txt", **forwarded).status_code == 403
    assert client.get("/locks/stats.txt", HTTP_AUTHORIZATION="Bearer s3cret", **forwarded).status_code == 200


@pytest.mark.parametrize("header", ["HTTP_X_FORWARDED_FOR", "HTTP_X_REAL_IP", "HTTP_FORWARDED"])
def test_without_a_named_proxy_header_any_proxy_header_is_not_loopback(settings, header):
    """A proxy that sends only X-Real-IP or Forwarded must not expose the stats."""
    settings.K2_PROXY_HEADER = None
    request = RequestFactory().get("/metrics", REMOTE_ADDR="127.0.0.1", **{header: "127.0.0.1"})
    assert not is_loopback(request) and not metrics_allowed(request)
    assert is_loopback(RequestFactory().get("/metrics", REMOTE_ADDR="127.0.0.1"))


@pytest.mark.parametrize("header, meta, value, expected", [
    ("X-Real-IP", "HTTP_X_REAL_IP", "203.0.113.9", "203.0.113.9"),
    ("X-Real-IP", "HTTP_X_REAL_IP", "127.0.0.1", "127.0.0.1"),
    ("X-Real-IP", "HTTP_X_REAL_IP", "garbage", None),
    # the last entry is the one the proxy added; earlier ones are the client's word
    ("X-Forwarded-For", "HTTP_X_FORWARDED_FOR", "127.0.0.1, 203.0.113.9", "203.0.113.9"),
    ("X-Forwarded-For", "HTTP_X_FORWARDED_FOR", "203.0.113.9", "203.0.113.9"),
    ("Forwarded", "HTTP_FORWARDED", 'for=127.0.0.1, for="[2001:db8::7]:4711";proto=https', "2001:db8::7"),
    ("Forwarded", "HTTP_FORWARDED", "proto=https;for=198.51.100.4:80", "198.51.100.4"),
    ("Forwarded", "HTTP_FORWARDED", "proto=https", None),
])
def test_the_named_proxy_header_gives_the_client_address(settings, header, meta, value, expected):
    settings.K2_PROXY_HEADER = header
    request = RequestFactory().get("/metrics", REMOTE_ADDR="127.0.0.1", **{meta: value})
    assert client_address(request) == expected
    assert is_loopback(request) == (expected == "127.0.0.1")


def test_with_a_named_proxy_header_other_headers_are_ignored(settings):
    settings.K2_PROXY_HEADER = "X-Real-IP"
    factory = RequestFactory()
    # the proxy's own header wins over whatever else the client sent
    spoofed = factory.get("/metrics", REMOTE_ADDR="127.0.0.1", HTTP_X_REAL_IP="203.0.113.9",
                          HTTP_X_FORWARDED_FOR="127.0.0.1", HTTP_FORWARDED="for=127.0.0.1")
    assert not is_loopback(spoofed) and not metrics_allowed(spoofed)
    # no header at all: a local monitor talking to the app directly
    assert is_loopback(factory.get("/metrics", REMOTE_ADDR="127.0.0.1"))
    assert not is_loopback(factory.get("/metrics", REMOTE_ADDR="192.0.2.5"))
    # the header is the word of a proxy on this host only: from elsewhere it is ignored
    direct = factory.get("/metrics", REMOTE_ADDR="192.0.2.5", HTTP_X_REAL_IP="127.0.0.1")
    assert client_address(direct) == "192.0.2.5" and not is_loopback(direct) and not metrics_allowed(direct)
