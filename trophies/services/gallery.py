"""A page of a trophy's rendered pictures, optionally filtered by options.

Combinations are numbered (mixed radix), so the k-th picture matching a
filter is computed, not searched for: the filtered slots keep their digit
and k is spelled out in the radices of the other slots. Only the page's own
files are checked for existence; the render directory is never listed.
"""
import math
import os
from dataclasses import dataclass

from trophies import combinations
from trophies.services.renders import RenderLayout

PER_PAGE = 24


@dataclass
class GalleryPage:
    items: list          # [{"index", "url", "exists", "labels"}]
    count: int           # matching combinations
    page: int
    pages: int
    filters: dict        # {slot_key: option_key} that were applied


def gallery_page(plan, filters=None, page=1, per_page=PER_PAGE):
    """``filters``: {slot_key: option_key}; unknown keys are ignored."""
    layout = RenderLayout.for_plan(plan)
    slots, radices = plan.slots, plan.radices
    options = [slot.options for slot in slots]
    fixed, applied = {}, {}
    for position, (slot, opts) in enumerate(zip(slots, options)):
        wanted = (filters or {}).get(slot.key)
        keys = [option.key for option in opts]
        if wanted in keys:
            fixed[position] = keys.index(wanted)
            applied[slot.key] = wanted
    free = [position for position in range(len(slots)) if position not in fixed]
    free_radices = [radices[position] for position in free]
    count = math.prod(free_radices) if slots and all(radices) else 0
    pages = max(1, math.ceil(count / per_page))
    page = min(max(1, page), pages)
    items = []
    for k in range((page - 1) * per_page, min(page * per_page, count)):
        digits = [0] * len(slots)
        for position, digit in fixed.items():
            digits[position] = digit
        for position, digit in zip(free, combinations.digits_of(k, free_radices) if free else []):
            digits[position] = digit
        items.append({
            "index": combinations.index_of(digits, radices),
            "url": layout.url(digits),
            "exists": os.path.exists(layout.path(digits)),
            "labels": [opts[digit].label for opts, digit in zip(options, digits)],
        })
    return GalleryPage(items=items, count=count, page=page, pages=pages, filters=applied)
