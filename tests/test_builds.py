"""Builds through real RQ workers, real Redis, real flock locks."""
import io
from pathlib import Path

import pytest
from django.core.management import call_command
from PIL import Image

from tests.conftest import wait_until
from trophies import combinations
from trophies.models import Build, Chunk, Option, Trophy
from trophies.services import builds, plans
from trophies.services.renderer import load_renderer
from trophies.services.build_status import status_of
from trophies.services.demo import create_demo_catalog
from trophies.services.layers import replace_layer


def rendered_files(root):
    return sorted(p for p in Path(root).rglob("*") if p.is_file() and ".tmp" not in p.parts)


def wait_finished(build, timeout=60):
    return wait_until(lambda: Build.objects.get(pk=build.pk).state not in Build.ACTIVE and
                      Build.objects.get(pk=build.pk), timeout=timeout, message=f"build {build.pk} to finish")


def test_plan_covers_every_index_once():
    for total, size in [(1, 200), (12, 200), (128_250, 4009), (1000, 1000), (1001, 1000)]:
        chunks = builds.plan_chunks(total, size)
        covered = [i for _, start, stop in chunks for i in range(start, stop)]
        assert covered == list(range(total))
        assert all(stop - start <= size for _, start, stop in chunks)


def test_chunk_size_keeps_chunks_per_worker_and_bounds():
    assert builds.chunk_size_for(128_250, 2) == builds.MAX_CHUNK
    assert builds.chunk_size_for(25_650, 2) == 1604
    assert builds.chunk_size_for(12, 2) == builds.MIN_CHUNK
    assert builds.chunk_size_for(5_000_000, 2) == builds.MAX_CHUNK


@pytest.mark.slow
def test_starter_build_through_real_workers_writes_exactly_the_expected_files(render_workers, settings):
    create_demo_catalog()
    starter = Trophy.objects.get(slug="starter")
    render_workers.start(2)
    build = wait_finished(builds.start_build(starter))
    assert build.state == Build.DONE, render_workers.logs()
    status = status_of(build)
    assert (status["total"], status["done"], status["rendered"], status["skipped"], status["failed"]) == (12, 12, 12, 0, 0)
    assert status["percent"] == 100.0 and status["remaining"] == 0
    files = rendered_files(settings.K2_RENDER_DIR / "starter")
    assert len(files) == 12
    renderer, layout = load_renderer(plans.capture(starter))
    for index in range(12):
        digits = combinations.digits_of(index, renderer.radices)
        assert Path(layout.path(digits)).read_bytes() == renderer.render_one(digits)
    with Image.open(files[0]) as image:
        assert image.format == "JPEG" and image.size == (400, 500)
    assert not list((settings.K2_RENDER_DIR / "starter" / ".tmp").iterdir())


@pytest.mark.slow
def test_rebuild_skips_what_is_right_and_renders_what_a_new_layer_changed(render_workers, settings):
    create_demo_catalog()
    starter = Trophy.objects.get(slug="starter")
    render_workers.start(2)
    first = wait_finished(builds.start_build(starter))
    again = wait_finished(builds.start_build(starter))
    assert (status_of(again)["rendered"], status_of(again)["skipped"]) == (0, 12)
    # A new picture for figure 01: only the 2 x 1 x 2 combinations using it change.
    option = Option.objects.get(component__key="figure", key="01")
    buffer = io.BytesIO()
    Image.new("RGBA", (400, 500), (200, 30, 30, 180)).save(buffer, "PNG")
    replace_layer(option, buffer.getvalue())
    third = wait_finished(builds.start_build(starter))
    assert third.state == Build.DONE
    assert (status_of(third)["rendered"], status_of(third)["skipped"]) == (4, 8)
    assert first.state == Build.DONE


def test_second_start_answers_409_with_the_running_build(admin_client, db):
    create_demo_catalog()
    first = admin_client.post("/api/trophies/starter/builds/")
    assert first.status_code == 202
    body = first.json()
    assert body["url"] == f"/api/builds/{body['id']}/"
    second = admin_client.post("/api/trophies/starter/builds/")
    assert second.status_code == 409 and second.json()["id"] == body["id"]


def test_cancel_stops_queued_chunks(admin_client, db):
    create_demo_catalog()
    build_id = admin_client.post("/api/trophies/classic/builds/").json()["id"]
    assert Chunk.objects.filter(build_id=build_id).count() == 26
    response = admin_client.post(f"/api/builds/{build_id}/cancel/")
    assert response.status_code == 200 and response.json()["state"] == "cancelled"
    assert set(Chunk.objects.filter(build_id=build_id).values_list("state", flat=True)) == {"cancelled"}
    assert admin_client.post(f"/api/builds/{build_id}/cancel/").status_code == 409
    # The trophy can be built again at once.
    assert admin_client.post("/api/trophies/classic/builds/").status_code == 202


def test_too_many_combinations_is_refused_with_the_count(admin_client, db, settings):
    create_demo_catalog()
    settings.K2_MAX_COMBINATIONS = 1000
    response = admin_client.post("/api/trophies/classic/builds/")
    assert response.status_code == 400
    assert response.json()["error"] == "classic has 128,250 combinations; the limit is 1,000"


@pytest.mark.slow
def test_k2_build_wait_exits_0_when_done(render_workers, capsys):
    create_demo_catalog()
    render_workers.start(1)
    with pytest.raises(SystemExit) as exit_info:
        call_command("k2", "build", "starter", "--wait")
    assert exit_info.value.code == 0
    out = capsys.readouterr().out
    assert "Build " in out and "done: 12 rendered, 0 skipped, 0 failed" in out


@pytest.mark.slow
def test_finished_build_keeps_its_counts_when_redis_forgets(render_workers, fresh_redis):
    create_demo_catalog()
    render_workers.start(1)
    build = wait_finished(builds.start_build(Trophy.objects.get(slug="starter")))
    assert (build.rendered, build.skipped, build.failed) == (12, 0, 0)
    fresh_redis.flushdb()  # e.g. the embedded Redis restarted without its data
    status = status_of(Build.objects.get(pk=build.pk))
    assert (status["done"], status["percent"], status["remaining"]) == (12, 100.0, 0)


@pytest.mark.slow
def test_a_worker_decodes_layers_before_forking_so_its_chunks_inherit_them(render_workers, settings):
    """The chunk processes read the layers the worker decoded for them; a
    chunk that decodes layers itself would pay ~0.2 s per classic chunk."""
    import re

    from tests.builds_support import expected_files, medium_trophy

    trophy = medium_trophy()
    render_workers.start(1)
    build = builds.start_build(trophy)
    assert build.chunks.count() > 2
    done = wait_until(lambda: Build.objects.get(pk=build.pk).state not in Build.ACTIVE and
                      Build.objects.get(pk=build.pk), timeout=120, message="the build to finish",
                      on_timeout=render_workers.logs)
    assert done.state == Build.DONE, render_workers.logs()
    decoded_in_chunks = [int(n) for n in re.findall(r"chunk \d+ ended: .*?; (\d+) layers decoded here", render_workers.logs(tail=None))]
    assert len(decoded_in_chunks) == build.chunks.count() and set(decoded_in_chunks) == {0}, render_workers.logs()
    root = Path(settings.K2_RENDER_DIR) / trophy.slug
    expected = expected_files(plans.capture(trophy))
    assert all((root / name).read_bytes() == data for name, data in expected.items())


def test_preloading_stays_brief_a_chunk_with_too_many_pixels_is_left_to_its_process(db, monkeypatch):
    from tests.builds_support import medium_trophy
    from trophies.services import renderer

    monkeypatch.setattr(renderer, "worker_cache", renderer.engine.PlacementCache(renderer.WORKER_CACHE_BYTES))
    monkeypatch.setattr(builds, "worker_cache", renderer.worker_cache)
    build = builds.Build.objects.create(trophy=medium_trophy(), total=8_550, chunk_size=1_000,
                                        plan=plans.capture(Trophy.objects.get(slug="drill")).to_json())
    chunk = Chunk.objects.create(build=build, number=0, start=0, stop=1_000)
    monkeypatch.setattr(builds, "PRELOAD_MAX_PIXELS", 400 * 500 * 10)  # fewer than the chunk's layers
    builds.preload_chunk_layers(chunk.pk)
    assert renderer.worker_cache.decoded == 0
    monkeypatch.setattr(builds, "PRELOAD_MAX_PIXELS", 400 * 500 * 100)
    builds.preload_chunk_layers(chunk.pk)
    assert renderer.worker_cache.decoded > 10
