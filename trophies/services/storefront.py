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
import shutil
import threading
from contextlib import contextmanager, suppress

from locks import LockLost, exclusive
from trophies.services import progress
from trophies.services.plans import UnknownChoice
from trophies.services.render_budget import BudgetExhausted, RenderBudget
from trophies.services.renderer import load_renderer
from trophies.services.renders import DIR_LEVELS, AtomicWriter, RenderLayout
from trophies.services.thumbnails import thumbnail_url

__all__ = ("UnknownChoice", "NoPictures", "configurator", "locate", "ensure_image")

RENDER_LOCK_TIMEOUT_S = 30
RENDER_LOCK_STRIPES = 64  # on-demand renders of a trophy share this many lock files
# Shoppers' renders of pictures not built yet, bounded so no client can make a
# web process render (and hold canvases in memory) without limit.
RENDERS_PER_CLIENT = 30     # per client and window
RATE_WINDOW_S = 60
RENDERS_AT_ONCE = 2         # per process
RENDER_PIXEL_BUDGET = 16_000_000  # canvas pixels rendering at once per process: one 4000x4000 (about 200 MB)
RENDER_SLOT_WAIT_S = 5      # then 503 with Retry-After
render_budget = RenderBudget(RENDER_PIXEL_BUDGET, RENDERS_AT_ONCE)


class NoPictures(LookupError):
    """A trophy with no combinations (a slot without options, or no slots)."""


class RenderRefused(Exception):
    """An on-demand render that must wait; ``retry_after`` in seconds."""

    def __init__(self, message, retry_after):
        super().__init__(message)
        self.retry_after = retry_after


class TooManyRenders(RenderRefused):
    """This client asked for too many pictures not built yet."""


class RendererBusy(RenderRefused):
    """This process renders as many pictures at once as it may."""


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
                "options": [{"key": option.key, "label": option.label, "token": token,
                             "thumbnail": thumbnail_url(option)}
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


def ensure_image(plan, chosen, client=None):
    """The file path of the chosen combination's picture, rendering it first
    if no build has made it yet. Returns (path, url, rendered_now). A render
    counts against ``client``'s rate (an address); RenderRefused when over."""
    index, digits, layout = locate(plan, chosen)
    path = layout.path(digits)
    if os.path.exists(path):
        return path, layout.url(digits), False
    if client is not None:
        count_render(client)
    with render_slot(plan):
        return _render(plan, index, digits, layout, path)


def count_render(client):
    key = f"k2:renders:{client}"
    pipe = progress.client().pipeline()
    pipe.set(key, 0, ex=RATE_WINDOW_S, nx=True)  # a window starts with the client's first render
    pipe.incr(key)
    pipe.ttl(key)
    _, count, ttl = pipe.execute()
    if count > RENDERS_PER_CLIENT:
        raise TooManyRenders(f"too many new pictures asked for; try again in {max(ttl, 1)} s", max(ttl, 1))


@contextmanager
def render_slot(plan):
    """Room in the process's render budget for this trophy's canvas."""
    try:
        with render_budget.reserve(plan.width, plan.height, timeout=RENDER_SLOT_WAIT_S):
            yield
    except BudgetExhausted:
        raise RendererBusy("pictures are being prepared for other shoppers; try again shortly", 2) from None


def _render(plan, index, digits, layout, path):
    owner = f"render on demand pid {os.getpid()} thread {threading.get_ident()}"
    with exclusive(render_lock_name(plan, index), timeout=RENDER_LOCK_TIMEOUT_S, owner=owner) as held:
        if os.path.exists(path):  # another request rendered it while we waited
            return path, layout.url(digits), False
        renderer, _ = load_renderer(plan, index, index + 1, owner=owner)
        data = renderer.render_one(digits)
        # A scratch directory per acquisition: a holder that lost the lock
        # (paused past a dropped session) never shares one with the next
        # holder, and its file is dropped before it takes the name.
        stripe = f"on-demand-{index % RENDER_LOCK_STRIPES}"
        forget_superseded_scratch(layout.root, stripe, held.token)
        try:
            with AtomicWriter(layout.root, f"{stripe}.{held.token}", before_rename=held.ensure_newest) as writer:
                writer.write(path, data)
        except LockLost:
            if not os.path.exists(path):
                raise RendererBusy("the picture is being prepared by another request; try again shortly", 1) from None
            return path, layout.url(digits), False
    return path, layout.url(digits), True


def forget_superseded_scratch(root, stripe, token):
    """Remove scratch left by earlier holders of this stripe's lock (they
    crashed, or lost the lock to us): at most one stays per stripe."""
    scratch = os.path.join(root, ".tmp")
    prefix = stripe + "."
    with suppress(FileNotFoundError):
        for name in os.listdir(scratch):
            suffix = name[len(prefix):]
            if name.startswith(prefix) and suffix.isdigit() and int(suffix) < token:
                shutil.rmtree(os.path.join(scratch, name), ignore_errors=True)
