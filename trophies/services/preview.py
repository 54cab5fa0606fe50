"""A quick look at a trophy before a big build: a random sample of its
combinations rendered at once, in memory, not stored."""
import base64
import random

from trophies import combinations
from trophies.services.builds import load_renderer

MAX_SAMPLES = 48
MIME = {"JPEG": "image/jpeg", "PNG": "image/png", "WEBP": "image/webp"}


def sample_indexes(total, count, seed):
    count = max(1, min(count, MAX_SAMPLES, total))
    return sorted(random.Random(seed).sample(range(total), count))


def preview(trophy, count=12, seed=None):
    """[{"index", "choices": [(slot key, option label)], "data_uri"}, ...]"""
    slots = trophy.ordered_slots()
    options = trophy.slot_options(slots)
    radices = [len(opts) for opts in options]
    total = combinations.count(radices)
    if total == 0:
        return []
    renderer, _ = load_renderer(trophy)
    mime = MIME[trophy.format]
    samples = []
    for index in sample_indexes(total, count, seed):
        digits = combinations.digits_of(index, radices)
        data = base64.b64encode(renderer.render_one(digits)).decode()
        samples.append({
            "index": index,
            "choices": [(slot.key, opts[d].label) for slot, opts, d in zip(slots, options, digits)],
            "data_uri": f"data:{mime};base64,{data}",
        })
    return samples
