"""How big a trophy may be, in tiers and slots, wherever one is made (the
studio form, a catalog archive). Every slot costs form HTML, validation and
a layer per render; without a bound one post could hold thousands of them."""

MAX_TIERS = 20
MAX_SLOTS_PER_TIER = 20
MAX_SLOTS = 40  # in all tiers together


def shape_problem(slots_per_tier):
    """A message when a trophy with these slot counts (one per tier, bottom
    first) is over a limit, else None."""
    if len(slots_per_tier) > MAX_TIERS:
        return f"The trophy has {len(slots_per_tier):,} tiers; the limit is {MAX_TIERS}."
    for number, count in enumerate(slots_per_tier, 1):
        if count > MAX_SLOTS_PER_TIER:
            return f"Tier {number} has {count:,} slots; the limit is {MAX_SLOTS_PER_TIER} per tier."
    total = sum(slots_per_tier)
    if total > MAX_SLOTS:
        return f"The trophy has {total:,} slots; the limit is {MAX_SLOTS} in all."
    return None
