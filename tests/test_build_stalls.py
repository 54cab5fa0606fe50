"""A stalled build on the pages, in /metrics and in the log (the stall
itself is detected for real in tests/test_build_status.py; here a live
worker is stood in for, so each test takes milliseconds)."""
import logging
from datetime import timedelta

import pytest
from django.utils import timezone

from tests.metrics_support import sample, scrape
from trophies.models import Build, Chunk, Trophy
from trophies.services import build_status, builds, progress
from trophies.services.demo import create_demo_catalog


@pytest.fixture
def stalled_build(db, settings, monkeypatch):
    create_demo_catalog()
    settings.K2_STALL_AFTER_S = 60
    build = builds.start_build(Trophy.objects.get(slug="starter"))
    started = timezone.now() - timedelta(minutes=5)
    Build.objects.filter(pk=build.pk).update(state=Build.RUNNING, started_at=started)
    build.chunks.update(state=Chunk.RUNNING, worker="k2-worker-on-a-lock")
    moved = started + timedelta(seconds=30)
    moved = moved.replace(microsecond=moved.microsecond // 1000 * 1000)  # Redis keeps milliseconds
    progress.client().set(progress.moved_key(build.pk), f"{moved.timestamp():.3f}")
    alive = {"value": True}
    monkeypatch.setattr(build_status, "workers_alive", lambda build: alive["value"])
    build.moved, build.alive = moved, alive
    return build


def test_the_build_page_says_since_when_and_who(staff_client, stalled_build):
    html = staff_client.get(f"/studio/builds/{stalled_build.pk}/").content.decode()
    box = html[html.index('id="k2-stalled"'):]
    box = box[:box.index("</p>")]
    assert "hidden" not in box.split(">")[0]
    assert stalled_build.moved.isoformat() in box
    assert "#0" in box and "k2-worker-on-a-lock" in box


def test_a_moving_build_shows_no_stall(staff_client, stalled_build):
    stalled_build.alive["value"] = False
    html = staff_client.get(f"/studio/builds/{stalled_build.pk}/").content.decode()
    assert 'id="k2-stalled" class="k2-message k2-warning" role="status" hidden' in html
    listing = staff_client.get("/studio/builds/").content.decode()
    row = listing[listing.index(f'data-build="{stalled_build.pk}"'):]
    assert 'data-field="stalled" hidden' in row[:row.index("</tr>")]


def test_the_build_list_flags_it(staff_client, stalled_build):
    html = staff_client.get("/studio/builds/").content.decode()
    row = html[html.index(f'data-build="{stalled_build.pk}"'):]
    row = row[:row.index("</tr>")]
    assert 'data-field="stalled" hidden' not in row
    assert "k2-worker-on-a-lock" in row and "#0" in row


def test_metrics_count_stalled_builds(client, stalled_build):
    assert sample(scrape(client)[0], "k2_builds_stalled") == 1
    stalled_build.alive["value"] = False
    assert sample(scrape(client)[0], "k2_builds_stalled") == 0


def test_a_stall_is_logged_once_and_a_new_stall_again(stalled_build, caplog):
    caplog.set_level(logging.WARNING, logger="trophies.services.stalls")
    for _ in range(3):
        build_status.status_of(Build.objects.get(pk=stalled_build.pk))
    lines = [r.getMessage() for r in caplog.records if "stalled" in r.getMessage()]
    assert len(lines) == 1
    assert f"build {stalled_build.pk} of starter" in lines[0]
    assert "#0" in lines[0] and "k2-worker-on-a-lock" in lines[0]
    later = timezone.now() - timedelta(minutes=2)  # it moved, then stopped again
    progress.client().set(progress.moved_key(stalled_build.pk), f"{later.timestamp():.3f}")
    build_status.status_of(Build.objects.get(pk=stalled_build.pk))
    assert len([r for r in caplog.records if "stalled" in r.getMessage()]) == 2
