"""The SIGKILL drill: a worker killed in the middle of a chunk loses nothing."""
import os
import signal
import time
from pathlib import Path

import django_rq
import pytest

from locks.inspect import snapshot
from tests.builds_support import expected_files, medium_trophy
from tests.conftest import wait_until
from trophies.models import Build, Chunk
from trophies.services import builds, plans, progress
from trophies.services.renderer import load_renderer

pytestmark = pytest.mark.slow
RERUN_WITHIN_S = 30


def all_files(root):
    return {p.relative_to(root): p for p in Path(root).rglob("*") if p.is_file()}


@pytest.mark.parametrize("stale_cleaning_lock", [False, True], ids=["", "rq-cleaning-lock-left-by-a-dead-worker"])
def test_sigkill_mid_chunk_reruns_elsewhere_with_identical_images(render_workers, settings, monkeypatch,
                                                                  stale_cleaning_lock):
    trophy = medium_trophy(figures=30)
    assert plans.capture(trophy).total == 25_650
    monkeypatch.setattr(builds, "CHUNKS_PER_WORKER", 1)  # two big chunks, long enough to be caught running
    monkeypatch.setattr(builds, "MAX_CHUNK", 20_000)
    render_workers.start(2)
    build = builds.start_build(trophy)
    assert build.chunks.count() == 2

    def a_chunk_half_way():
        for chunk in Chunk.objects.filter(build=build, state=Chunk.RUNNING):
            rendered = progress.totals(build.pk)["rendered"]
            if rendered > 200 and chunk.worker in render_workers.by_name:
                return chunk
        return None

    victim_chunk = wait_until(a_chunk_half_way, timeout=60, message="a chunk to be half way")
    victim = render_workers.by_name[victim_chunk.worker]
    if stale_cleaning_lock:
        # What a worker killed in the middle of RQ's registry cleaning leaves:
        # RQ's lock, set for 899 s, that no one releases.
        queue = django_rq.get_queue("render")
        queue.connection.set(queue.registry_cleaning_key, 1, ex=899)
    killed_at = time.monotonic()
    os.kill(victim.pid, signal.SIGKILL)  # the worker; its horse dies with it (PDEATHSIG)
    victim.wait()

    def rerun_started():
        chunk = Chunk.objects.get(pk=victim_chunk.pk)
        return chunk.attempts >= 2 and chunk.worker != victim_chunk.worker
    wait_until(rerun_started, timeout=90, interval=0.1, message="the chunk to run again on another worker")
    rerun_delay = time.monotonic() - killed_at
    # Heartbeat TTL ~5 s plus maintenance every 3 s: about 5-10 s here (README); the
    # bound leaves room for a loaded machine and stays well below RQ's default minutes.
    assert rerun_delay < RERUN_WITHIN_S, f"the chunk ran again only {rerun_delay:.1f} s after SIGKILL"

    done = wait_until(lambda: Build.objects.get(pk=build.pk).state not in Build.ACTIVE and
                      Build.objects.get(pk=build.pk), timeout=120, message="the build to finish")
    assert done.state == Build.DONE, render_workers.logs()

    root = Path(settings.K2_RENDER_DIR) / trophy.slug
    files = all_files(root)
    assert not [p for p in files if ".tmp" in p.parts], "temporary files left behind"
    renderer, layout = load_renderer(plans.capture(trophy))
    expected = {Path(layout.path(digits)).relative_to(root): data
                for _, digits, data in renderer.render_range(0, renderer.total)}
    assert set(files) == set(expected)
    assert all(files[name].read_bytes() == data for name, data in expected.items())

    held = snapshot()
    assert held["exclusive"] == [] and held["shared"] == []
    print(f"chunk ran again {rerun_delay:.1f} s after SIGKILL")


def test_sigterm_mid_chunk_puts_it_back_and_the_build_completes_elsewhere(render_workers, settings, monkeypatch):
    # Two chunks of 12,825, one per worker: with layers preloaded a chunk of
    # 4,275 rendered in under half a second, too fast to be caught half way.
    trophy = medium_trophy(figures=30)
    monkeypatch.setattr(builds, "CHUNKS_PER_WORKER", 1)
    monkeypatch.setattr(builds, "MAX_CHUNK", 20_000)
    render_workers.start(2)
    build = builds.start_build(trophy)

    def rendered_by(chunk):
        value = progress.client().hget(progress.counters_key(build.pk), f"rendered:{chunk.number}")
        return int(value or 0)

    def a_chunk_under_way_while_both_run():
        running = list(Chunk.objects.filter(build=build, state=Chunk.RUNNING))
        if len(running) == 2:
            chunk = min(running, key=rendered_by)
            if 100 < rendered_by(chunk) < (chunk.stop - chunk.start) // 2:
                return chunk
        return None

    victim_chunk = wait_until(a_chunk_under_way_while_both_run, timeout=60, message="both chunks to render",
                              on_timeout=render_workers.logs)
    victim = render_workers.by_name[victim_chunk.worker]
    victim.send_signal(signal.SIGTERM)  # what systemd sends
    assert victim.wait(30) == 0  # a clean exit, after the image it was on
    chunk = Chunk.objects.get(pk=victim_chunk.pk)
    assert chunk.state in (Chunk.QUEUED, Chunk.RUNNING, Chunk.DONE) and chunk.error == ""

    done = wait_until(lambda: Build.objects.get(pk=build.pk).state not in Build.ACTIVE and
                      Build.objects.get(pk=build.pk), timeout=120, message="the build to finish")
    assert done.state == Build.DONE, render_workers.logs()
    chunk = Chunk.objects.get(pk=victim_chunk.pk)
    assert chunk.attempts == 2 and chunk.worker != victim_chunk.worker and chunk.error == "", render_workers.logs()
    # Not failed, not counted twice.
    assert (done.rendered + done.skipped, done.failed) == (25_650, 0)
    root = Path(settings.K2_RENDER_DIR) / trophy.slug
    files = all_files(root)
    expected = expected_files(plans.capture(trophy))
    assert set(files) == set(expected) and all(files[name].read_bytes() == expected[name] for name in expected)


@pytest.mark.skipif(not os.environ.get("K2_TEST_POSTGRES"), reason="a PostgreSQL drill: runs in make test's PostgreSQL pass")
def test_postgresql_restarted_mid_build_then_the_build_completes(render_workers, settings):
    from django.db import connection

    from tests import postgres_server

    trophy = medium_trophy()
    render_workers.start(2)
    build = builds.start_build(trophy)
    wait_until(lambda: Chunk.objects.filter(build=build, state=Chunk.DONE).exists(), timeout=90,
               message="a chunk to finish")
    # Every connection drops, the workers' and ours, and the server stays
    # away for a few seconds, as a real restart or failover does: longer than
    # RQ takes to burn a chunk's retries.
    postgres_server.restart(down_s=3)
    connection.close()

    def settled():
        try:
            row = Build.objects.get(pk=build.pk)
        except Exception:  # reconnecting
            connection.close()
            return None
        return row if row.state not in Build.ACTIVE else None

    done = wait_until(settled, timeout=180, message="the build to settle after the restart",
                      on_timeout=render_workers.logs)
    if done.state == Build.FAILED:  # chunks that met the restart failed with the reason: a retry completes them
        failed = list(done.chunks.filter(state=Chunk.FAILED).values_list("error", flat=True))
        assert failed and all(error for error in failed), failed
        builds.retry_failed_chunks(done)
        done = wait_until(settled, timeout=180, message="the retried build to settle")
    assert done.state == Build.DONE, render_workers.logs()
    root = Path(settings.K2_RENDER_DIR) / trophy.slug
    files = all_files(root)
    expected = expected_files(plans.capture(trophy))
    assert set(files) == set(expected) and all(files[name].read_bytes() == expected[name] for name in expected)
