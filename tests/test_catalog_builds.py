"""Archives and prune against real builds (real RQ workers): a round trip
builds the same images, a rebuild after a layer change then a prune leaves
exactly the current set, and a prune during a build removes nothing the
build writes."""
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from django.conf import settings

from locks import LockTimeout
from tests.builds_support import expected_files, medium_trophy, rendered_files, wait_settled
from tests.conftest import ROOT, child_environment, wait_until
from tests.test_archive import small_trophy, wipe_catalog
from tests.test_prune import age_everything, change_a_layer
from trophies.models import Build, Option
from trophies.services import archive, builds, plans, progress, prune, storefront
from trophies.services.layers import replace_layer
from tests.forms_support import png_bytes

pytestmark = pytest.mark.slow


def build_and_wait(trophy, workers):
    build = wait_settled(builds.start_build(trophy), workers=workers)
    assert build.state == Build.DONE, workers.logs()
    return build


def test_round_trip_builds_the_same_names_and_bytes(render_workers, tmp_path):
    trophy = small_trophy()
    render_workers.start(1)
    build_and_wait(trophy, render_workers)
    root = settings.K2_RENDER_DIR / "cup"
    original = rendered_files(root)
    assert len(original) == 24
    archive.export_catalog(tmp_path / "cup.zip", ["cup"])

    wipe_catalog()
    shutil.rmtree(settings.K2_RENDER_DIR)
    archive.import_catalog(tmp_path / "cup.zip")
    from trophies.models import Trophy
    build_and_wait(Trophy.objects.get(slug="cup"), render_workers)
    assert rendered_files(root) == original


def test_import_into_a_second_site_by_command(db, tmp_path):
    """`manage.py k2 import` in a process of its own, on an empty SQLite database."""
    small_trophy()
    archive.export_catalog(tmp_path / "cup.zip")
    other = tmp_path / "other-site"
    other.mkdir()
    env = dict(child_environment(other), DATABASE_URL=f"sqlite:///{other / 'db.sqlite3'}")
    for args in (["migrate", "-v0"], ["k2", "import", str(tmp_path / "cup.zip")]):
        done = subprocess.run([sys.executable, "manage.py", *args], cwd=ROOT, env=env, capture_output=True,
                              text=True, timeout=300)
        assert done.returncode == 0, done.stderr
    assert "created 4" in done.stdout
    again = subprocess.run([sys.executable, "manage.py", "k2", "import", "--dry-run", str(tmp_path / "cup.zip")],
                           cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)
    assert "would create 0, would change 0" in again.stdout, again.stderr
    assert len(list((other / "media" / "layers").rglob("*.png"))) == 9


def test_after_a_layer_change_and_a_rebuild_prune_leaves_exactly_the_current_set(render_workers):
    trophy = small_trophy()
    render_workers.start(1)
    build_and_wait(trophy, render_workers)
    change_a_layer()
    build_and_wait(trophy, render_workers)
    root = settings.K2_RENDER_DIR / "cup"
    assert len(rendered_files(root)) == 24 + 6
    age_everything(root)
    result = prune.prune_renders("cup")
    assert result.files == 6
    plan = plans.capture(trophy)
    assert set(rendered_files(root)) == set(expected_files(plan))
    for index in range(plan.total):
        chosen = {slot.key: option.key for slot, option in plan.choices(plan.digits_of(index))}
        assert storefront.ensure_image(plan, chosen)[2] is False


def test_a_prune_during_a_build_removes_nothing_the_build_writes(render_workers, settings):
    trophy = medium_trophy()
    settings.K2_PRUNE_AFTER_S = 0  # no grace: only the build's plan protects its files
    render_workers.start(2)
    build = builds.start_build(trophy)
    wait_until(lambda: progress.totals(build.pk)["rendered"] > 0, timeout=90, message="the build to write images")
    # The trophy changes under the running build: its files are no longer current.
    option = Option.objects.filter(slots__tier__trophy=trophy, component__key="figure").first()
    wait_until(lambda: _replaced(option), timeout=60, message="the layer to be replaced")
    removed_while_running, passes = [], 0
    while True:
        last = prune.prune_renders(trophy.slug)
        if Build.objects.get(pk=build.pk).state not in Build.ACTIVE:
            break  # this pass may have run after the build settled: its files are obsolete by then
        removed_while_running += last.paths
        passes += 1
    settled = wait_settled(build, workers=render_workers)
    assert settled.state == Build.DONE, render_workers.logs()
    assert passes > 0 and removed_while_running == []
    root = settings.K2_RENDER_DIR / trophy.slug
    files = set(rendered_files(root)) | {Path(p).relative_to(root) for p in last.paths}
    assert files == set(expected_files(builds.plan_of(settled)))
    assert settled.total == 8550 and settled.failed == 0

def _replaced(option):
    try:
        return replace_layer(option, png_bytes((3, 2, 1, 255), size=(40, 40)))
    except LockTimeout:  # a chunk is reading the layers: try again
        return False
