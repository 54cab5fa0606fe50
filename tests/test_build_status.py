"""A build's status: stalled builds flagged for real, past runs compared."""
from datetime import timedelta

import pytest
from django.utils import timezone

from locks import exclusive
from tests.builds_support import wait_settled
from tests.conftest import wait_until
from trophies.models import Build, Trophy
from trophies.services import builds
from trophies.services.build_status import status_of
from trophies.services.demo import create_demo_catalog
from trophies.services.layers import asset_lock_name


@pytest.mark.slow
def test_a_chunk_blocked_on_a_lock_makes_its_build_stalled_until_it_moves(render_workers, settings):
    create_demo_catalog()
    settings.K2_STALL_AFTER_S = 2
    starter = Trophy.objects.get(slug="starter")
    render_workers.start(1)
    # Another process replacing a layer: the chunk waits for the asset lock, its worker heartbeats.
    with exclusive(asset_lock_name("figure"), timeout=0, owner="test: a long layer replacement"):
        build = builds.start_build(starter)
        wait_until(lambda: Build.objects.get(pk=build.pk).state == Build.RUNNING, message="the chunk to start")
        assert status_of(Build.objects.get(pk=build.pk))["stalled_since"] is None
        stalled = wait_until(lambda: status_of(Build.objects.get(pk=build.pk))["stalled_since"], timeout=30,
                             message="the build to be flagged stalled")
        started = Build.objects.get(pk=build.pk).started_at
        assert started.isoformat() <= stalled <= timezone.now().isoformat()
    done = wait_settled(build, workers=render_workers)
    assert done.state == Build.DONE
    assert status_of(done)["stalled_since"] is None


def test_a_dead_worker_is_not_a_stall(db, settings):
    create_demo_catalog()
    settings.K2_STALL_AFTER_S = 1
    build = builds.start_build(Trophy.objects.get(slug="starter"))
    long_ago = timezone.now() - timedelta(minutes=5)
    Build.objects.filter(pk=build.pk).update(state=Build.RUNNING, started_at=long_ago)
    build.chunks.update(state="running", worker="k2-worker-that-died")
    assert status_of(Build.objects.get(pk=build.pk))["stalled_since"] is None


def test_past_runs_of_the_same_trophy(db):
    create_demo_catalog()
    starter, classic = Trophy.objects.get(slug="starter"), Trophy.objects.get(slug="classic")
    now = timezone.now()
    for seconds in (10, 30, 20):
        Build.objects.create(trophy=starter, total=12, chunk_size=12, state=Build.DONE, rendered=12, skipped=0,
                             failed=0, started_at=now - timedelta(seconds=seconds), finished_at=now)
    Build.objects.create(trophy=starter, total=12, chunk_size=12, state=Build.FAILED, rendered=1, skipped=0,
                         failed=1, started_at=now - timedelta(seconds=1), finished_at=now)
    Build.objects.create(trophy=classic, total=12, chunk_size=12, state=Build.DONE, rendered=12, skipped=0,
                         failed=0, started_at=now - timedelta(seconds=1), finished_at=now)
    current = Build.objects.create(trophy=starter, total=12, chunk_size=12)
    assert status_of(current)["past"] == {"runs": 3, "median_duration_s": 20.0, "median_rate_per_s": 0.6,
                                          "best_duration_s": 10.0}
    first_ever = Build.objects.create(trophy=Trophy.objects.create(slug="new", name="New"), total=1, chunk_size=1)
    assert status_of(first_ever)["past"] is None
