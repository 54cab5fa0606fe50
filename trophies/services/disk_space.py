"""Will a build fit on the disk? Its expected size (images still to render
x the trophy's average image size so far, or of a small sample rendered
now) against the free space of K2_RENDER_DIR's filesystem."""
import shutil
from pathlib import Path

from django.conf import settings

from trophies.services import disk_usage
from trophies.services.renderer import load_renderer

SAMPLE = 3  # images rendered to estimate a trophy that has none on disk yet
MARGIN = 1.1  # directories and a little slack


class DiskFull(Exception):
    """A build that would not fit; the message gives both figures."""


def free_bytes():
    path = Path(settings.K2_RENDER_DIR)
    while not path.exists() and path != path.parent:
        path = path.parent  # the render dir may not exist yet: ask its filesystem
    return shutil.disk_usage(path).free


def average_image_bytes(plan, usage):
    if usage["files"]:
        return usage["bytes"] / usage["files"]
    renderer, _ = load_renderer(plan, 0, min(SAMPLE, plan.total))
    sizes = [len(data) for _, _, data in renderer.render_range(0, min(SAMPLE, plan.total))]
    return sum(sizes) / len(sizes)


def expected_bytes(plan):
    usage = disk_usage.usage_of(plan.slug)
    current = usage["files"] - usage["obsolete_files"]  # a build skips these
    to_render = max(0, plan.total - current)
    return int(to_render * average_image_bytes(plan, usage) * MARGIN) if to_render else 0


def check_fits(plan):
    """Raise DiskFull when the build of ``plan`` is expected not to fit."""
    needed, free = expected_bytes(plan), free_bytes()
    if needed > free:
        raise DiskFull(f"the build of {plan.slug} needs about {needed / 1e6:,.0f} MB but only "
                       f"{free / 1e6:,.0f} MB are free under {settings.K2_RENDER_DIR}; free some space "
                       "(k2 prune) or confirm to build anyway")
