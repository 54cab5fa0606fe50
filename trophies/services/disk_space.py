"""Will a build fit on the disk? Its expected size (images still to render
x the trophy's average image size so far, or of a small sample rendered
now) against the free space of K2_RENDER_DIR's filesystem."""
import shutil
from pathlib import Path

from django.conf import settings
from django.core.files.storage import default_storage

from trophies import combinations, engine
from trophies.services import disk_usage

SAMPLE = 3  # images rendered to estimate a trophy that has none on disk yet
MARGIN = 1.1  # directories and a little slack
ROUGH_BYTES_PER_PIXEL = {"JPEG": 0.15, "PNG": 1.0, "WEBP": 0.1}  # when no sample can be read


class DiskFull(Exception):
    """A build that would not fit; the message gives both figures."""


def readable(size):
    """1,234 KB / 56 MB / 7.8 GB: a size as people read it."""
    for unit, scale in (("GB", 1e9), ("MB", 1e6)):
        if size >= scale:
            return f"{size / scale:,.1f} {unit}" if size < 10 * scale else f"{size / scale:,.0f} {unit}"
    return f"{size / 1e3:,.0f} KB"


def free_bytes():
    path = Path(settings.K2_RENDER_DIR)
    while not path.exists() and path != path.parent:
        path = path.parent  # the render dir may not exist yet: ask its filesystem
    return shutil.disk_usage(path).free


def average_image_bytes(plan, usage):
    if usage["files"]:
        return usage["bytes"] / usage["files"]
    return sample_image_bytes(plan)


def sample_image_bytes(plan):
    """Average size of the first few images, rendered now. Their layers are
    read without the asset locks (a start must not wait for a layer
    replacement): layer files are content-addressed and never rewritten, and
    one pruned meanwhile only makes the estimate rough."""
    count = min(SAMPLE, plan.total)
    used = combinations.digits_used(plan.radices, 0, count)
    try:
        slot_layers = [
            engine.SlotLayers(offset=(slot.x, slot.y), layers=[
                engine.load_layer(default_storage.path(option.layer)) if digit in wanted else None
                for digit, option in enumerate(slot.options)])
            for slot, wanted in zip(plan.slots, map(set, used))]
    except OSError:
        return plan.width * plan.height * ROUGH_BYTES_PER_PIXEL[plan.format]
    renderer = engine.Renderer((plan.width, plan.height), slot_layers, plan.format)
    sizes = [len(data) for _, _, data in renderer.render_range(0, count)]
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
        raise DiskFull(f"the build of {plan.slug} needs about {readable(needed)} but only "
                       f"{readable(free)} are free under {settings.K2_RENDER_DIR}; free some space "
                       "(k2 prune) or confirm to build anyway")
