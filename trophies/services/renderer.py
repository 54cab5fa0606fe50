"""The render engine for a plan: the layer files it names, read under the
shared asset locks of their components (replacing or pruning a layer holds
the exclusive one), and the naming of its images."""
from contextlib import ExitStack

from django.core.files.storage import default_storage

from locks import shared
from trophies import combinations, engine
from trophies.services.layers import asset_lock_name
from trophies.services.renders import RenderLayout

ASSET_LOCK_TIMEOUT_S = 60
# A render worker keeps the layers it decoded for its next chunks (the
# forked process of each chunk inherits them): decoding classic's layers
# costs ~0.2 s of CPU, as much as rendering a few thousand of its images.
WORKER_CACHE_BYTES = 128 * 1024 * 1024
worker_cache = engine.PlacementCache(WORKER_CACHE_BYTES)


def load_renderer(plan, start=0, stop=None, owner="", cache=None, lock_timeout=ASSET_LOCK_TIMEOUT_S):
    """(engine.Renderer, RenderLayout) for combinations start..stop-1 of
    ``plan``; only the layers those combinations use are read (or taken
    from ``cache``, an engine.PlacementCache: layer files are named by
    their content)."""
    stop = plan.total if stop is None else stop
    used = combinations.digits_used(plan.radices, start, stop)
    with ExitStack() as held:
        for component in plan.components:  # sorted: every reader locks in one order
            held.enter_context(shared(asset_lock_name(component), timeout=lock_timeout,
                                      owner=owner or f"render {plan.slug}"))
        slot_layers = [
            engine.SlotLayers(offset=(slot.x, slot.y), layers=[
                default_storage.path(option.layer) if digit in wanted else None
                for digit, option in enumerate(slot.options)])
            for slot, wanted in zip(plan.slots, map(set, used))
        ]
        renderer = engine.Renderer((plan.width, plan.height), slot_layers, plan.format, cache=cache)
    return renderer, RenderLayout.for_plan(plan)
