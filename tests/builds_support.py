"""Helpers of the build tests: trophies of a useful size, waiting for a
build, and the files a build should have written."""
from pathlib import Path

from tests.conftest import wait_until
from trophies.models import Build, Slot, Tier, Trophy
from trophies.services.demo import create_demo_catalog
from trophies.services.renderer import load_renderer


def medium_trophy(slug="drill", figures=10):
    """3 x 10 x 15 x 19 = 8,550 combinations (3 x 30 x 15 x 19 = 25,650
    with every figure): chunks of a few seconds each."""
    create_demo_catalog()
    classic = Trophy.objects.get(slug="classic")
    trophy = Trophy.objects.create(slug=slug, name=slug.title(), width=400, height=500)
    tier = Tier.objects.create(trophy=trophy, position=0)
    for position, slot in enumerate(s for s in classic.ordered_slots() if s.key != "color"):
        copy = Slot.objects.create(tier=tier, key=slot.key, component=slot.component, position=position)
        copy.options.set(slot.allowed_options()[:figures] if slot.key == "figure" else slot.allowed_options())
    return trophy


def wait_settled(build, timeout=90, workers=None):
    """The build's row once it is no longer queued or running."""
    def settled():
        row = Build.objects.get(pk=build.pk)
        return row if row.state not in Build.ACTIVE else None
    message = f"build {build.pk} to settle" + (f"; worker logs:\n{workers.logs()}" if workers else "")
    return wait_until(settled, timeout=timeout, message=message)


def rendered_files(root):
    """{path relative to root: bytes} of the finished images under root."""
    root = Path(root)
    return {p.relative_to(root): p.read_bytes() for p in root.rglob("*") if p.is_file() and ".tmp" not in p.parts}


def expected_files(plan):
    """{relative path: bytes} that a build of ``plan`` must leave."""
    renderer, layout = load_renderer(plan)
    root = Path(layout.root)
    return {Path(layout.path(digits)).relative_to(root): data
            for _, digits, data in renderer.render_range(0, renderer.total)}
