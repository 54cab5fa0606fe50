"""k2 prune: old renders and layer files that nothing current names go
after the grace period; what is current, young, being written or behind a
link stays."""
import io
import os
import time
from pathlib import Path

import pytest
from django.core.management import call_command

from tests.builds_support import expected_files, rendered_files
from tests.forms_support import png_bytes
from tests.metrics_support import sample, scrape
from tests.test_archive import small_trophy
from trophies.models import Build, Option, Trophy
from trophies.services import disk_usage, plans, prune, storefront
from trophies.services.layers import replace_layer

OLD = time.time() - 10 * 86400


def write_build(settings, plan, mtime=OLD):
    """What a finished build of ``plan`` leaves on disk, dated ``mtime``."""
    root = Path(settings.K2_RENDER_DIR) / plan.slug
    files = expected_files(plan)
    for relative, data in files.items():
        path = root / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
        os.utime(path, (mtime, mtime))
    return set(files)


def age_everything(root):
    for path in Path(root).rglob("*"):
        if path.is_file() and not path.is_symlink():
            os.utime(path, (OLD, OLD))


@pytest.fixture
def cup(db):
    return small_trophy()


def change_a_layer(color=(1, 200, 3, 255)):
    option = Option.objects.get(component__key="figure", key="figure-2")
    replace_layer(option, png_bytes(color))
    return option


def test_after_a_layer_change_prune_leaves_exactly_the_current_set(cup, settings):
    old = write_build(settings, plans.capture(cup))
    change_a_layer()
    current = write_build(settings, plans.capture(cup))
    obsolete = old - current
    assert obsolete and len(obsolete) == 3 * 2  # figure-2 with every base and plate
    root = settings.K2_RENDER_DIR / "cup"

    dry = prune.prune_renders("cup", dry_run=True)
    assert (dry.files, dry.dry_run) == (len(obsolete), True)
    assert set(rendered_files(root)) == old | current  # the dry run changed nothing

    result = prune.prune_renders("cup")
    assert result.files == len(obsolete)
    assert result.bytes == dry.bytes > 0
    assert set(rendered_files(root)) == current
    plan = plans.current("cup")
    for index in range(plan.total):
        chosen = {slot.key: option.key for slot, option in plan.choices(plan.digits_of(index))}
        assert storefront.ensure_image(plan, chosen)[2] is False  # served from disk, nothing rendered


def test_young_files_scratch_dirs_and_links_stay(cup, settings, tmp_path):
    old = write_build(settings, plans.capture(cup))
    change_a_layer()
    root = Path(settings.K2_RENDER_DIR) / "cup"
    young = sorted(old)[0]
    os.utime(root / young, None)  # just written: an on-demand render, or a page still links it
    scratch = root / ".tmp" / "build9-chunk0"
    scratch.mkdir(parents=True)
    (scratch / "half.jpg").write_bytes(b"x")
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "precious.jpg").write_bytes(b"keep me")
    os.symlink(outside, root / "link")
    os.symlink(outside / "precious.jpg", root / "file-link.jpg")
    age_everything(root)
    os.utime(root / young, None)

    prune.prune_renders()
    assert (root / young).exists()
    assert (scratch / "half.jpg").exists()
    assert (outside / "precious.jpg").read_bytes() == b"keep me" and (root / "file-link.jpg").is_symlink()


def test_a_running_builds_plan_is_kept(cup, settings):
    before = plans.capture(cup)
    old = write_build(settings, before)
    Build.objects.create(trophy=cup, total=before.total, chunk_size=1000, state=Build.RUNNING, plan=before.to_json())
    change_a_layer()
    assert prune.prune_renders("cup").files == 0
    assert set(rendered_files(settings.K2_RENDER_DIR / "cup")) == old


def test_renders_of_a_deleted_trophy_go_after_the_grace_period(cup, settings):
    old = write_build(settings, plans.capture(cup))
    Trophy.objects.filter(pk=cup.pk).delete()
    settings.K2_PRUNE_AFTER_S = 20 * 86400
    assert prune.prune_renders().files == 0
    settings.K2_PRUNE_AFTER_S = 86400
    out = io.StringIO()
    call_command("k2", "prune", stdout=out)
    assert f"freed {len(old)} files" in out.getvalue()
    assert rendered_files(settings.K2_RENDER_DIR / "cup") == {}


def test_unused_layer_files_go_current_and_building_ones_stay(cup, settings):
    option = Option.objects.get(component__key="figure", key="figure-2")
    first = option.layer.name
    running = Build.objects.create(trophy=cup, total=1, chunk_size=1000, state=Build.RUNNING,
                                   plan=plans.capture(cup).to_json())
    change_a_layer((5, 5, 5, 255))
    second = Option.objects.get(pk=option.pk).layer.name
    change_a_layer((6, 6, 6, 255))
    media = Path(settings.MEDIA_ROOT)
    age_everything(media)
    result = prune.prune_layers()
    assert [Path(p).name for p in result.paths] == [Path(second).name]
    assert (media / first).exists()  # the running build reads it
    running.state = Build.DONE
    running.save()
    out = io.StringIO()
    call_command("k2", "prune", "--dry-run", stdout=out)
    assert "would free 1 files" in out.getvalue() and (media / first).exists()
    call_command("k2", "prune", stdout=io.StringIO())
    assert not (media / first).exists()
    assert all((media / o.layer.name).exists() for o in Option.objects.all())


def test_disk_usage_counts_obsolete_bytes(cup, settings):
    old = write_build(settings, plans.capture(cup))
    change_a_layer()
    usage = disk_usage.refresh("cup")
    assert usage["files"] == len(old) and usage["obsolete_files"] == 6 and usage["obsolete_bytes"] > 0
    assert disk_usage.cached("cup") == usage
    call_command("k2", "prune", "cup", stdout=io.StringIO())
    assert disk_usage.cached("cup")["obsolete_files"] == 0


def test_a_build_that_settles_done_queues_the_prune_of_its_trophy(cup, settings, django_capture_on_commit_callbacks):
    import django_rq

    from trophies import jobs
    from trophies.models import Chunk
    from trophies.services import builds

    old = write_build(settings, plans.capture(cup))
    change_a_layer()
    build = Build.objects.create(trophy=cup, total=24, chunk_size=1000, state=Build.RUNNING,
                                 plan=plans.capture(cup).to_json())
    Chunk.objects.create(build=build, number=0, start=0, stop=24, state=Chunk.DONE)
    with django_capture_on_commit_callbacks(execute=True):  # django_rq enqueues on commit
        assert builds.finish_if_complete(build.pk) == Build.DONE
    queue = django_rq.get_queue("default")
    assert [job.func_name for job in queue.jobs] == ["trophies.jobs.prune_after_build"]
    assert len(rendered_files(settings.K2_RENDER_DIR / "cup")) == len(old)  # nothing yet: it is a job

    result = jobs.prune_after_build(*queue.jobs[0].args)
    assert result["files"] == 6 and result["bytes"] > 0
    assert disk_usage.cached("cup")["obsolete_files"] == 0


def test_a_settle_without_redis_still_settles(cup, monkeypatch):
    import django_rq

    from trophies.models import Chunk
    from trophies.services import builds

    def down(*args, **kwargs):
        raise ConnectionError("redis is down")
    build = Build.objects.create(trophy=cup, total=24, chunk_size=1000, state=Build.RUNNING,
                                 plan=plans.capture(cup).to_json())
    Chunk.objects.create(build=build, number=0, start=0, stop=24, state=Chunk.DONE)
    monkeypatch.setattr(django_rq, "get_queue", down)
    assert builds.finish_if_complete(build.pk) == Build.DONE
    assert Build.objects.get(pk=build.pk).state == Build.DONE


def test_disk_figures_on_metrics_and_the_trophy_list(cup, settings, client, staff_client):
    write_build(settings, plans.capture(cup))
    change_a_layer()
    usage = disk_usage.refresh("cup")
    samples, _ = scrape(client)
    for field in ("files", "bytes", "obsolete_bytes"):
        assert sample(samples, f"k2_render_{field}", trophy="cup") == usage[field]
    page = staff_client.get("/studio/trophies/").content.decode()
    assert f'{usage["files"]} files' in page and "obsolete" in page
