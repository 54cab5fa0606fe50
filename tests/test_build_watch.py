"""`k2 build --wait` follows the build's news on Redis, and polls when
pub/sub cannot be had."""
import io
import threading
import time

import pytest
from django.core.management.base import OutputWrapper

from trophies import cli
from trophies.models import Chunk, Trophy
from trophies.services import build_watch, builds, progress
from trophies.services.demo import create_demo_catalog


@pytest.fixture
def build(transactional_db):
    create_demo_catalog()
    return builds.start_build(Trophy.objects.get(slug="starter"))


def later(seconds, action):
    timer = threading.Timer(seconds, action)
    timer.start()
    return timer


def test_a_wait_ends_on_the_builds_news_not_after_the_quiet_while(build, monkeypatch):
    monkeypatch.setattr(build_watch, "QUIET_S", 20.0)
    with build_watch.BuildWatch(build.pk) as watch:
        assert watch.live
        progress.announce(build.pk + 1)  # another build's news does not wake it...
        timer = later(0.5, lambda: progress.announce(build.pk))
        began = time.monotonic()
        watch.wait()
        timer.join()
    assert 0.4 < time.monotonic() - began < 10


def test_without_pub_sub_it_polls(build, monkeypatch):
    class NoPubSub:
        def pubsub(self, **kwargs):
            raise ConnectionError("pub/sub refused")

    monkeypatch.setattr(progress, "client", lambda: NoPubSub())
    with build_watch.BuildWatch(build.pk) as watch:
        assert not watch.live
        began = time.monotonic()
        watch.wait()
    assert build_watch.POLL_S <= time.monotonic() - began < build_watch.QUIET_S


def test_wait_for_follows_the_build_to_its_end(build, monkeypatch):
    monkeypatch.setattr(build_watch, "QUIET_S", 60.0)  # only the news can end it in time

    def finish():
        progress.record(build.pk, 0, {"rendered": 12, "skipped": 0, "failed": 0})
        build.chunks.update(state=Chunk.DONE)
        builds.finish_if_complete(build.pk)

    out = io.StringIO()
    timer = later(0.5, finish)
    began = time.monotonic()
    assert cli.wait_for(build, OutputWrapper(out)) == 0
    timer.join()
    assert time.monotonic() - began < 20
    assert "done: 12 rendered" in out.getvalue()
    assert "live updates unavailable" not in out.getvalue()
