"""A quick look at a trophy before a big build: a random sample of its
combinations rendered at once, in memory, not stored."""
import base64
import random

from trophies.services.renderer import load_renderer

MAX_SAMPLES = 48
MIME = {"JPEG": "image/jpeg", "PNG": "image/png", "WEBP": "image/webp"}


def sample_indexes(total, count, seed):
    count = max(1, min(count, MAX_SAMPLES, total))
    return sorted(random.Random(seed).sample(range(total), count))


def preview(plan, count=12, seed=None):
    """[{"index", "choices": [(slot key, option label)], "data_uri"}, ...]"""
    if plan.total == 0:
        return []
    renderer, _ = load_renderer(plan)
    mime = MIME[plan.format]
    samples = []
    for index in sample_indexes(plan.total, count, seed):
        digits = plan.digits_of(index)
        data = base64.b64encode(renderer.render_one(digits)).decode()
        samples.append({
            "index": index,
            "choices": [(slot.key, option.label) for slot, option in plan.choices(digits)],
            "data_uri": f"data:{mime};base64,{data}",
        })
    return samples
