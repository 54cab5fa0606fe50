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


def load_renderer(plan, start=0, stop=None, owner=""):
    """(engine.Renderer, RenderLayout) for combinations start..stop-1 of
    ``plan``; only the layers those combinations use are read."""
    stop = plan.total if stop is None else stop
    used = combinations.digits_used(plan.radices, start, stop)
    with ExitStack() as held:
        for component in plan.components:  # sorted: every reader locks in one order
            held.enter_context(shared(asset_lock_name(component), timeout=ASSET_LOCK_TIMEOUT_S,
                                      owner=owner or f"render {plan.slug}"))
        slot_layers = [
            engine.SlotLayers(offset=(slot.x, slot.y), layers=[
                engine.load_layer(default_storage.path(option.layer)) if digit in wanted else None
                for digit, option in enumerate(slot.options)])
            for slot, wanted in zip(plan.slots, map(set, used))
        ]
    return engine.Renderer((plan.width, plan.height), slot_layers, plan.format), RenderLayout.for_plan(plan)
