"""The shop's side of rendered images: what the configurator page needs to
name every picture itself, and rendering one missing picture on demand.

The page gets the per-option tokens of :class:`RenderLayout` and joins them
exactly like :func:`renders.relative_path`, so a change of choice costs the
image request and nothing else. A picture that is not built yet is rendered
by the request that asks for it, under the combination's lock, so concurrent
requests for it render it once.
"""
import os
import threading

from locks import exclusive
from trophies.services import builds
from trophies.services.renders import DIR_LEVELS, AtomicWriter, RenderLayout

RENDER_LOCK_TIMEOUT_S = 30


class UnknownChoice(ValueError):
    """A query naming an unknown slot or option, or missing a slot."""


def layout_for(trophy, slots=None):
    slots = trophy.ordered_slots() if slots is None else slots
    return RenderLayout.for_trophy(trophy, slots, trophy.slot_options(slots)), slots


def configurator(trophy):
    """JSON-ready data of the configurator page: slots, options with labels
    and tokens, and the parts of an image URL."""
    layout, slots = layout_for(trophy)
    return {
        "slug": trophy.slug,
        "name": trophy.name,
        "width": trophy.width,
        "height": trophy.height,
        "url_root": layout.url_root,
        "settings_token": layout.settings_token,
        "extension": layout.extension,
        "dir_levels": DIR_LEVELS,
        "image_endpoint": f"/t/{trophy.slug}/image",
        "slots": [
            {
                "key": slot.key,
                "label": slot.component.name,
                "options": [{"key": option.key, "label": option.label, "token": token}
                            for option, token in zip(slot.allowed_options(), tokens)],
            }
            for slot, tokens in zip(slots, layout.tokens)
        ],
    }


def digits_for(trophy, chosen, slots):
    """Per-slot option positions of ``{slot_key: option_key}``."""
    try:
        index = trophy.index_for_choices(chosen, slots)
    except KeyError as error:
        raise UnknownChoice(error.args[0]) from None
    keys = [[option.key for option in slot.allowed_options()] for slot in slots]
    return index, [options.index(chosen[slot.key]) for slot, options in zip(slots, keys)]


def locate(trophy, chosen):
    """(index, digits, layout) of a choice; UnknownChoice says what is wrong."""
    layout, slots = layout_for(trophy)
    index, digits = digits_for(trophy, chosen, slots)
    return index, digits, layout


def ensure_image(trophy, chosen):
    """The file path of the chosen combination's picture, rendering it first
    if no build has made it yet. Returns (path, url, rendered_now)."""
    index, digits, layout = locate(trophy, chosen)
    path = layout.path(digits)
    if os.path.exists(path):
        return path, layout.url(digits), False
    owner = f"render on demand pid {os.getpid()} thread {threading.get_ident()}"
    with exclusive(f"combo:{trophy.slug}:{index}", timeout=RENDER_LOCK_TIMEOUT_S, owner=owner):
        if os.path.exists(path):  # another request rendered it while we waited
            return path, layout.url(digits), False
        renderer, _ = builds.load_renderer(trophy, index, index + 1)
        data = renderer.render_one(digits)
        # The lock makes us this combination's only writer, so the scratch
        # directory name only has to be unique per combination.
        with AtomicWriter(layout.root, f"combo-{index}") as writer:
            writer.write(path, data)
    return path, layout.url(digits), True
