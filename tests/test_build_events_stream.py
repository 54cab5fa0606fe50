"""The event stream's own rules, with its constants lowered: heartbeat
comments in silence, watchers who leave are forgotten, the stream's bytes."""
import time

import pytest
import requests

from tests.conftest import wait_until
from tests.sse_support import InProcessServer, read_until, session_cookie
from trophies.services import build_feeds, progress
from trophies.services.demo import create_demo_catalog
from trophies.models import Trophy
from trophies.services import builds
from trophies.views import build_events


@pytest.fixture
def web(transactional_db):
    server = InProcessServer()
    yield server
    server.stop()


@pytest.fixture
def watch(web, transactional_db, django_user_model):
    create_demo_catalog()
    build = builds.start_build(Trophy.objects.get(slug="starter"), requested_by="test")
    cookies = session_cookie(django_user_model.objects.create_user("staff", "s@example.com", "pw", is_staff=True))
    responses = []

    def open_stream(**headers):
        response = requests.get(f"{web.base}/api/builds/{build.pk}/events", cookies=cookies, headers=headers,
                                stream=True, timeout=30)
        responses.append(response)
        return response
    open_stream.build = build
    yield open_stream
    for response in responses:
        response.close()


def test_silence_is_filled_with_heartbeat_comments(watch, monkeypatch):
    monkeypatch.setattr(build_events, "HEARTBEAT_S", 0.3)
    response = watch()
    started = time.monotonic()
    seen = read_until(response, b": heartbeat\n\n")
    assert seen.startswith(b"retry: 3000\n\n")
    assert b": heartbeat\n\n" in seen
    assert time.monotonic() - started < 10


def test_events_follow_the_spec_line_format(watch):
    seen = read_until(watch(), b"}\n\n")
    event = seen.split(b"\n\n")[1].decode()
    lines = event.split("\n")
    assert lines[0] == f"id: {progress.version(watch.build.pk)}"
    assert lines[1].startswith('data: {"id": ') and len(lines) == 2  # the JSON has no newline in it


def test_events_come_at_most_once_per_minimum_interval(watch, monkeypatch):
    monkeypatch.setattr(build_feeds, "MIN_INTERVAL_S", 1.0)
    response = watch()
    read_until(response, b"}\n\n")
    progress.record(watch.build.pk, 0, {"rendered": 1, "skipped": 0, "failed": 0})
    read_until(response, b'"done": 1,')
    first = time.monotonic()
    progress.record(watch.build.pk, 0, {"rendered": 2, "skipped": 0, "failed": 0})
    read_until(response, b'"done": 2,')
    assert time.monotonic() - first >= 0.8


def test_a_watcher_who_leaves_is_forgotten(web, watch):
    response = watch()
    read_until(response, b"}\n\n")
    hubs = list(build_feeds._hubs.values())
    assert any(watch.build.pk in hub.feeds for hub in hubs)
    response.close()
    wait_until(lambda: not any(watch.build.pk in hub.feeds for hub in build_feeds._hubs.values()),
               timeout=10, message="the feed to be dropped")


def test_a_stall_reaches_the_stream_without_any_count_moving(watch, monkeypatch, settings):
    from django.utils import timezone

    from trophies.models import Build, Chunk
    from trophies.services import build_status

    monkeypatch.setattr(build_feeds, "RECHECK_S", 0.2)
    monkeypatch.setattr(build_status, "workers_alive", lambda build: True)
    settings.K2_STALL_AFTER_S = 1
    build = watch.build
    Build.objects.filter(pk=build.pk).update(state=Build.RUNNING, started_at=timezone.now())
    build.chunks.update(state=Chunk.RUNNING, worker="k2-worker-on-a-lock")
    response = watch()
    assert b'"stalled_since": null' in read_until(response, b"}\n\n")
    seen = read_until(response, b'"stalled_since": "')
    assert b'"stalled_since": "' in seen


def test_a_lost_subscription_is_taken_again_and_news_still_arrives(watch, fresh_redis, monkeypatch, caplog):
    # Polls so rare that news within the read's timeout can only come through pub/sub.
    monkeypatch.setattr(build_feeds, "FALLBACK_POLL_S", 120.0)
    monkeypatch.setattr(build_feeds, "RECHECK_S", 120.0)
    response = watch()
    read_until(response, b"}\n\n")
    hub = next(hub for hub in build_feeds._hubs.values() if watch.build.pk in hub.feeds)
    assert hub.listening
    assert fresh_redis.client_kill_filter(_type="pubsub") >= 1  # the server drops the hub's subscription
    wait_until(lambda: "Redis subscription lost" in caplog.text, timeout=10, message="the hub to notice")
    wait_until(lambda: hub.listening, timeout=10, message="the hub to subscribe again")
    progress.record(watch.build.pk, 0, {"rendered": 3, "skipped": 0, "failed": 0})
    assert b'"done": 3,' in read_until(response, b'"done": 3,')
