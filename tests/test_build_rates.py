"""Honest rates and ETAs: skipping is not rendering; before samples the ETA
comes from past runs; each settled build keeps its figures."""
from datetime import timedelta

import pytest
from django.utils import timezone

from trophies.models import Build, Chunk, Trophy
from trophies.services import build_history, builds, progress, throughput
from trophies.services.build_status import status_of
from trophies.services.demo import create_demo_catalog


@pytest.fixture
def starter(db):
    create_demo_catalog()
    return Trophy.objects.get(slug="starter")


def past_build(trophy, seconds, rendered, total=1200):
    now = timezone.now() - timedelta(hours=1)
    build = Build.objects.create(trophy=trophy, total=total, chunk_size=total, state=Build.DONE, rendered=rendered,
                                 skipped=total - rendered, failed=0, started_at=now - timedelta(seconds=seconds),
                                 finished_at=now)
    build_history.store_figures(build.pk)
    return build


def test_a_settled_build_stores_its_duration_and_render_rate(starter):
    build = past_build(starter, 20, rendered=600)
    build.refresh_from_db()
    assert build.duration_s == pytest.approx(20.0) and build.render_rate_per_s == pytest.approx(30.0)


def test_settling_a_build_stores_its_figures(starter):
    build = builds.start_build(starter)
    Build.objects.filter(pk=build.pk).update(state=Build.RUNNING, started_at=timezone.now() - timedelta(seconds=4))
    progress.record(build.pk, 0, {"rendered": 12, "skipped": 0, "failed": 0})
    build.chunks.update(state=Chunk.DONE)
    builds.finish_if_complete(build.pk)
    build.refresh_from_db()
    assert build.duration_s == pytest.approx(4.0, abs=0.5) and build.render_rate_per_s == pytest.approx(3.0, rel=0.2)


def test_before_any_sample_the_eta_comes_from_past_runs(starter):
    for seconds in (10, 20, 30):
        past_build(starter, seconds, rendered=1200)  # 120, 60, 40 rendered/s: median 60
    current = Build.objects.create(trophy=starter, total=1200, chunk_size=1200)
    status = status_of(current)
    assert status["past"]["median_rate_per_s"] == 60.0
    assert status["eta_s"] == pytest.approx(1200 / 60.0)


def test_skips_count_neither_in_the_rate_nor_in_the_eta(starter, monkeypatch):
    build = Build.objects.create(trophy=starter, total=10_000, chunk_size=10_000, state=Build.RUNNING,
                                 started_at=timezone.now() - timedelta(seconds=5))
    # 4,000 skipped in the first second, then rendering at 100/s: the recent window sees only rendering.
    client = progress.client()
    now = timezone.now().timestamp()
    for second, (done, rendered) in enumerate([(4000, 0), (4100, 100), (4200, 200), (4300, 300)]):
        moment = now - 3 + second
        client.zadd(progress.samples_key(build.pk), {f"0:{moment:.3f}:{done}:{rendered}": moment})
    client.hset(progress.counters_key(build.pk), mapping={"rendered:0": 300, "skipped:0": 4000, "failed:0": 0})
    status = status_of(build)
    assert status["rate_per_s"] == pytest.approx(100.0, rel=0.05)  # not 4,300 / 5 s = 860
    assert status["eta_s"] == pytest.approx(5700 / 100.0, rel=0.05)


def test_the_throughput_chart_shows_rendering_not_skip_spikes():
    raw = [b"0:100.0:0:0", b"0:101.0:5000:0", b"0:102.0:5100:100", b"0:103.0:5200:200"]
    rendered = throughput.series(throughput.parse_samples(raw, kind="rendered"), start=100.0, end=103.0, points=3)
    assert rendered["peak_rate"] == 100.0
    old_format = throughput.parse_samples([b"0:100.0:7"], kind="rendered")
    assert old_format == [(100.0, 0, 7)]


def test_the_page_compares_the_run_with_the_past(staff_client, starter):
    for seconds in (10, 20, 30):
        past_build(starter, seconds, rendered=1200)
    slow = Build.objects.create(trophy=starter, total=1200, chunk_size=1200, state=Build.DONE, rendered=1200,
                                skipped=0, failed=0, started_at=timezone.now() - timedelta(seconds=90),
                                finished_at=timezone.now())
    build_history.store_figures(slow.pk)
    html = staff_client.get(f"/studio/builds/{slow.pk}/").content.decode()
    section = html[html.index('id="k2-past"'):]
    section = section[:section.index("</section>")]
    assert "20.0 s" in section and "10.0 s" in section and "60.0" in section  # median, best, median rate
    assert "slower" in section
    listing = staff_client.get(f"/studio/builds/?trophy={starter.slug}").content.decode()
    assert listing.count('data-build="') == 4
