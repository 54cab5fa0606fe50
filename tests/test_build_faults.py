"""What a build does when things go wrong or change under it, through real
RQ workers, real Redis and real files: edits during a build, images that
cannot be written, a start that cannot be queued, cancels, re-run chunks."""
import io
import subprocess
from pathlib import Path

import django_rq
import pytest
from django.core.management import call_command
from django.core.files.uploadedfile import SimpleUploadedFile
from PIL import Image

from tests.builds_support import expected_files, medium_trophy, rendered_files, wait_settled
from tests.conftest import wait_until
from tests.forms_support import post_controls, slot, trophy_controls
from trophies.models import Build, Chunk, Option, Slot, Trophy
from trophies.services import builds, plans, progress
from trophies.services.demo import create_demo_catalog
from trophies.services.layers import replace_layer
from trophies.services.renders import RenderLayout


def picture(color, size=(400, 500)):
    image = Image.new("RGBA", size, (0, 0, 0, 0))
    image.paste(color, (100, 100, 300, 400))
    return image


def png(color):
    buffer = io.BytesIO()
    picture(color).save(buffer, "PNG")
    return buffer.getvalue()


@pytest.fixture
def starter(transactional_db):
    create_demo_catalog()
    return Trophy.objects.get(slug="starter")


# -- a build renders the plan it started with -----------------------------------------


@pytest.mark.slow
def test_edits_from_the_shell_and_the_admin_wait_for_the_next_build(starter, render_workers, admin_client,
                                                                   settings):
    build = builds.start_build(starter)  # queued: its plan is captured, no worker runs yet
    started_with = plans.capture(starter)
    # The shell: an option fewer, two more, a moved slot, a new layer.
    figure = Slot.objects.get(tier__trophy=starter, key="figure")
    figure.options.remove(figure.allowed_options()[0])
    figure.options.add(*Option.objects.filter(component__key="figure", key__in=["05", "06"]))
    plate = Slot.objects.get(tier__trophy=starter, key="plate")
    plate.x = 7
    plate.save()
    replace_layer(Option.objects.get(component__key="base", key="00"), picture((9, 9, 200, 255)))
    # The admin: a figure layer replaced on its option page.
    option = Option.objects.get(component__key="figure", key="01")
    buffer = io.BytesIO()
    picture((200, 9, 9, 255)).save(buffer, "PNG")
    response = admin_client.post(f"/admin/trophies/option/{option.pk}/change/", {
        "component": option.component.pk, "position": option.position, "key": "01", "label": option.label,
        "layer": SimpleUploadedFile("red.png", buffer.getvalue(), content_type="image/png")})
    assert response.status_code == 302
    now = plans.capture(starter)
    assert now.total == 16 and not now.same_pictures(started_with)

    render_workers.start(2)
    done = wait_settled(build, workers=render_workers)
    assert done.state == Build.DONE, render_workers.logs()
    assert (done.total, done.rendered, done.skipped, done.failed) == (12, 12, 0, 0)
    root = Path(settings.K2_RENDER_DIR) / "starter"
    assert rendered_files(root) == expected_files(started_with)

    # The next build renders the trophy as it is now, beside the old pictures.
    second = wait_settled(builds.start_build(starter), workers=render_workers)
    assert second.state == Build.DONE and second.total == 16
    files = rendered_files(root)
    for name, data in expected_files(now).items():
        assert files[name] == data


def starter_controls(name, figures):
    """The studio's trophy form for starter, with ``figures`` figure options."""
    def options(key, count):
        return Option.objects.filter(component__key=key).order_by("position")[:count]
    return trophy_controls(name, "starter", [
        ("Base", [slot("base", options("base", 2), key="base")]),
        ("Top", [slot("figure", options("figure", figures), key="figure"), slot("plate", options("plate", 2), key="plate")]),
    ], width=400, height=500, fmt="JPEG")


def test_the_studio_refuses_to_change_a_trophy_whose_build_runs(staff_client, db):
    create_demo_catalog()
    starter = Trophy.objects.get(slug="starter")
    build = builds.start_build(starter)
    before = plans.capture(starter)
    response = post_controls(staff_client, "/studio/trophies/starter/edit/", starter_controls("Starter", 2))
    assert response.status_code == 200
    assert f"Build {build.pk} of starter is queued: the trophy's slots, options and canvas cannot change" \
        in response.content.decode()
    assert plans.capture(starter) == before
    # A new name alone changes no picture: that is saved.
    assert post_controls(staff_client, "/studio/trophies/starter/edit/", starter_controls("Starter cup", 3)).status_code == 302
    assert Trophy.objects.get(pk=starter.pk).name == "Starter cup"
    builds.cancel_build(build)
    assert post_controls(staff_client, "/studio/trophies/starter/edit/", starter_controls("Starter", 2)).status_code == 302
    assert plans.capture(starter).total == 8


# -- failures count -------------------------------------------------------------------


@pytest.mark.slow
def test_an_image_that_cannot_be_written_fails_the_build_and_a_retry_completes_it(
        starter, render_workers, admin_client, settings, capsys):
    plan = plans.capture(starter)
    layout = RenderLayout.for_plan(plan)
    # Where the first base's images go, a file stands instead of a folder.
    blocker = Path(layout.path(plan.digits_of(0))).parents[1]
    blocker.parent.mkdir(parents=True)
    blocker.write_text("not a folder")
    render_workers.start(1)
    with pytest.raises(SystemExit) as exit_info:
        call_command("k2", "build", "starter", "--wait")
    assert exit_info.value.code == 1
    out = capsys.readouterr().out
    assert "failed:" in out
    build = Build.objects.get()
    assert build.state == Build.FAILED
    chunk = build.chunks.get()
    assert chunk.state == Chunk.FAILED and chunk.attempts == builds.RETRIES + 1
    assert chunk.error.startswith("writing image 0 failed: ")
    assert build.failed == 1 and build.rendered == 0
    assert admin_client.get(f"/api/builds/{build.pk}/").json()["state"] == "failed"
    assert not list(Path(layout.root, ".tmp").rglob("*.jpg")), "a temporary file stayed behind"

    blocker.unlink()
    response = admin_client.post(f"/api/builds/{build.pk}/retry/")
    assert response.status_code == 202 and response.json()["retried_chunks"] == 1
    done = wait_settled(build, workers=render_workers)
    assert done.state == Build.DONE
    assert (done.rendered, done.skipped, done.failed) == (12, 0, 0)
    assert rendered_files(layout.root) == expected_files(plan)


def test_a_start_that_cannot_be_queued_leaves_nothing_behind(admin_client, db, settings):
    create_demo_catalog()
    working = settings.RQ_QUEUES
    # The queue's Redis refuses connections (a real fault, not a mock).
    settings.RQ_QUEUES = {name: {**config, "URL": "unix:///nonexistent/redis.sock"} for name, config in working.items()}
    response = admin_client.post("/api/trophies/starter/builds/")
    assert response.status_code == 503
    assert "could not be queued, so it was not started" in response.json()["error"]
    assert not Build.objects.exists() and not Chunk.objects.exists()
    settings.RQ_QUEUES = working
    assert admin_client.post("/api/trophies/starter/builds/").status_code == 202


def test_a_rerun_chunk_counts_its_images_once(starter):
    build = builds.start_build(starter)  # no worker: the chunk runs here, twice
    chunk = build.chunks.get()
    assert builds.render_chunk(chunk.pk).items() >= {"rendered": 12, "skipped": 0, "failed": 0}.items()
    Chunk.objects.filter(pk=chunk.pk).update(state=Chunk.QUEUED)  # as RQ re-queues an abandoned job
    Build.objects.filter(pk=build.pk).update(state=Build.RUNNING)
    assert builds.render_chunk(chunk.pk).items() >= {"rendered": 0, "skipped": 12, "failed": 0}.items()
    assert progress.totals(build.pk) == {"rendered": 0, "skipped": 12, "failed": 0}
    assert Chunk.objects.get(pk=chunk.pk).attempts == 2


def test_a_chunk_says_where_its_time_went(starter):
    build = builds.start_build(starter)
    result = builds.render_chunk(build.chunks.get().pk)
    seconds = result["seconds"]
    phases = {name: seconds[name] for name in builds.PhaseClock.PHASES}
    assert all(spent >= 0 for spent in phases.values())
    assert phases["render"] > 0 and phases["write"] > 0  # 12 images composed, encoded and written
    assert seconds["began_at"] <= seconds["ended_at"]
    assert sum(phases.values()) == pytest.approx(seconds["ended_at"] - seconds["began_at"], abs=0.01)


def test_a_chunk_whose_build_is_gone_ends_quietly(starter):
    build = builds.start_build(starter)
    chunk_id = build.chunks.get().pk
    build.delete()
    assert builds.render_chunk(chunk_id) == {"missing": True}


# -- cancel ---------------------------------------------------------------------------


def test_cancel_removes_the_queued_jobs(admin_client, db, settings):
    create_demo_catalog()
    build_id = admin_client.post("/api/trophies/classic/builds/").json()["id"]
    size = builds.chunk_size_for(128_250, settings.K2_WORKERS)
    assert Chunk.objects.filter(build_id=build_id).count() == len(builds.plan_chunks(128_250, size))
    queue = django_rq.get_queue(builds.QUEUE)
    job_ids = list(Chunk.objects.filter(build_id=build_id).values_list("job_id", flat=True))
    assert queue.count == len(job_ids)
    response = admin_client.post(f"/api/builds/{build_id}/cancel/")
    assert response.status_code == 200 and response.json()["state"] == "cancelled"
    assert set(Chunk.objects.filter(build_id=build_id).values_list("state", flat=True)) == {"cancelled"}
    assert queue.count == 0
    assert {queue.fetch_job(job_id).get_status() for job_id in job_ids} == {"canceled"}
    assert admin_client.post(f"/api/builds/{build_id}/cancel/").status_code == 409
    # The trophy can be built again at once.
    assert admin_client.post("/api/trophies/classic/builds/").status_code == 202


@pytest.mark.slow
def test_cancel_stops_a_running_chunk_at_the_next_image(render_workers, admin_client, monkeypatch):
    trophy = medium_trophy()
    # PNG (about 10 ms an image): a chunk takes long enough that the cancel meets it running.
    trophy.format = "PNG"
    trophy.save()
    monkeypatch.setattr(builds, "CHUNKS_PER_WORKER", 1)
    build = builds.start_build(trophy)
    first, second = build.chunks.order_by("number")
    render_workers.start(1)
    wait_until(lambda: progress.totals(build.pk)["rendered"] > 20, timeout=60, message="the first chunk to render")
    assert admin_client.post(f"/api/builds/{build.pk}/cancel/").status_code == 200
    wait_until(lambda: Chunk.objects.get(pk=first.pk).state == Chunk.CANCELLED, timeout=30,
               message="the running chunk to stop", on_timeout=render_workers.logs)
    rendered = progress.totals(build.pk)["rendered"]
    assert rendered < first.stop - first.start
    assert Chunk.objects.get(pk=second.pk).attempts == 0  # never started
    assert Build.objects.get(pk=build.pk).state == Build.CANCELLED
    assert django_rq.get_queue(builds.QUEUE).count == 0


@pytest.fixture
def small_render_disk(settings):
    """K2_RENDER_DIR on a tmpfs of 120 KB: room for a few starter pictures only."""
    mount_point = Path(settings.K2_RENDER_DIR)
    mount_point.mkdir(parents=True)
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=120k", "tmpfs", str(mount_point)], check=True)
    yield mount_point
    subprocess.run(["umount", "-l", str(mount_point)], check=True)


@pytest.mark.slow
def test_a_full_disk_fails_the_build_cleanly_and_a_retry_completes_it_when_space_returns(
        starter, render_workers, admin_client, small_render_disk):
    render_workers.start(1)
    with pytest.raises(builds.BuildWouldNotFit, match=r"needs about \d+ KB but only \d+ KB are free"):
        builds.start_build(starter)  # the check before a build sees the small disk
    build = wait_settled(builds.start_build(starter, confirm_disk=True), workers=render_workers)
    assert build.state == Build.FAILED
    chunk = build.chunks.get()
    assert chunk.state == Chunk.FAILED
    assert "No space left on device" in chunk.error.splitlines()[0], chunk.error
    plan = plans.capture(starter)
    expected = expected_files(plan)
    written = rendered_files(small_render_disk / "starter")
    assert 0 < len(written) < 12
    assert all(data == expected[name] for name, data in written.items()), "a partial picture was left"
    assert not [p for p in small_render_disk.rglob("*") if p.is_file() and ".tmp" in p.parts]

    subprocess.run(["mount", "-o", "remount,size=4m", str(small_render_disk)], check=True)
    assert admin_client.post(f"/api/builds/{build.pk}/retry/").status_code == 202
    done = wait_settled(build, workers=render_workers)
    assert done.state == Build.DONE and (done.rendered + done.skipped, done.failed) == (12, 0)
    assert rendered_files(small_render_disk / "starter") == expected


def test_catalog_changes_without_redis_say_so_once(db, caplog, settings):
    """k2 demo runs before make run starts Redis: one error line, not one per change."""
    import logging

    from trophies.services import progress, revision

    settings.REDIS_URL = "unix:///nonexistent/redis.sock"
    progress.reset_client()
    try:
        with caplog.at_level(logging.ERROR, logger="trophies.services.revision"):
            for _ in range(5):
                revision.bump()
        assert [r.levelno for r in caplog.records].count(logging.ERROR) == 1
    finally:
        revision._unpublished = False
        progress.reset_client()
