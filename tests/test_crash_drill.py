"""The SIGKILL drill: a worker killed in the middle of a chunk loses nothing."""
import os
import signal
import time
from pathlib import Path

import pytest

from locks.inspect import snapshot
from tests.conftest import wait_until
from trophies.models import Build, Chunk, Slot, Tier, Trophy
from trophies.services import builds, plans, progress
from trophies.services.renderer import load_renderer
from trophies.services.demo import create_demo_catalog

pytestmark = pytest.mark.slow


def medium_trophy():
    """3 x 10 x 15 x 19 = 8,550 combinations: chunks of a few seconds each."""
    create_demo_catalog()
    classic = Trophy.objects.get(slug="classic")
    trophy = Trophy.objects.create(slug="drill", name="Drill", width=400, height=500)
    tier = Tier.objects.create(trophy=trophy, position=0)
    for position, slot in enumerate(s for s in classic.ordered_slots() if s.key != "color"):
        copy = Slot.objects.create(tier=tier, key=slot.key, component=slot.component, position=position)
        copy.options.set(slot.allowed_options()[:10] if slot.key == "figure" else slot.allowed_options())
    assert plans.capture(trophy).total == 8_550
    return trophy


def all_files(root):
    return {p.relative_to(root): p for p in Path(root).rglob("*") if p.is_file()}


def test_sigkill_mid_chunk_reruns_elsewhere_with_identical_images(render_workers, settings, monkeypatch):
    trophy = medium_trophy()
    monkeypatch.setattr(builds, "CHUNKS_PER_WORKER", 1)  # two big chunks
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
    killed_at = time.monotonic()
    os.kill(victim.pid, signal.SIGKILL)  # the worker; its horse dies with it (PDEATHSIG)
    victim.wait()

    def rerun_started():
        chunk = Chunk.objects.get(pk=victim_chunk.pk)
        return chunk.attempts >= 2 and chunk.worker != victim_chunk.worker
    wait_until(rerun_started, timeout=60, interval=0.1, message="the chunk to run again on another worker")
    rerun_delay = time.monotonic() - killed_at
    assert rerun_delay < 60

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
