"""The shop's side of rendered images: what the configurator page needs to
name every picture itself, and rendering one missing picture on demand.

The page gets the per-option tokens of :class:`RenderLayout` and joins them
exactly like :func:`renders.relative_path`, so a change of choice costs the
image request and nothing else. A picture that is not built yet is rendered
by the request that asks for it, under a lock, so concurrent requests for it
render it once. Everything is read from the trophy's cached plan: a request
for a picture on disk costs no database query.
"""
import os
import threading

from locks import exclusive
from trophies.services.plans import UnknownChoice
from trophies.services.renderer import load_renderer
from trophies.services.renders import DIR_LEVELS, AtomicWriter, RenderLayout

__all__ = ("UnknownChoice", "NoPictures", "configurator", "locate", "ensure_image")

RENDER_LOCK_TIMEOUT_S = 30
RENDER_LOCK_STRIPES = 64  # on-demand renders of a trophy share this many lock files


class NoPictures(LookupError):
    """A trophy with no combinations (a slot without options, or no slots)."""


def configurator(plan):
    """JSON-ready data of the configurator page: slots, options with labels
    and tokens, and the parts of an image URL."""
    layout = RenderLayout.for_plan(plan)
    return {
        "slug": plan.slug,
        "name": plan.name,
        "width": plan.width,
        "height": plan.height,
        "url_root": layout.url_root,
        "settings_token": layout.settings_token,
        "extension": layout.extension,
        "dir_levels": DIR_LEVELS,
        "image_endpoint": f"/t/{plan.slug}/image",
        "slots": [
            {
                "key": slot.key,
                "label": slot.component_name,
                "options": [{"key": option.key, "label": option.label, "token": token}
                            for option, token in zip(slot.options, tokens)],
            }
            for slot, tokens in zip(plan.slots, layout.tokens)
        ],
    }


def locate(plan, chosen):
    """(index, digits, layout) of a choice; UnknownChoice says what is wrong,
    NoPictures that the trophy has none."""
    if plan.total == 0:
        raise NoPictures(f"{plan.slug} has no pictures yet: every slot needs at least one option")
    digits = plan.digits_for(chosen)
    return plan.index_for(chosen), digits, RenderLayout.for_plan(plan)


def render_lock_name(plan, index):
    return f"render:{plan.slug}:{index % RENDER_LOCK_STRIPES}"


def ensure_image(plan, chosen):
    """The file path of the chosen combination's picture, rendering it first
    if no build has made it yet. Returns (path, url, rendered_now)."""
    index, digits, layout = locate(plan, chosen)
    path = layout.path(digits)
    if os.path.exists(path):
        return path, layout.url(digits), False
    owner = f"render on demand pid {os.getpid()} thread {threading.get_ident()}"
    with exclusive(render_lock_name(plan, index), timeout=RENDER_LOCK_TIMEOUT_S, owner=owner):
        if os.path.exists(path):  # another request rendered it while we waited
            return path, layout.url(digits), False
        renderer, _ = load_renderer(plan, index, index + 1, owner=owner)
        data = renderer.render_one(digits)
        # The lock makes us the only on-demand writer of this stripe, so the
        # scratch directory name only has to be unique per stripe.
        with AtomicWriter(layout.root, f"on-demand-{index % RENDER_LOCK_STRIPES}") as writer:
            writer.write(path, data)
    return path, layout.url(digits), True
