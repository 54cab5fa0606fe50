"""Stalled builds (build_status.stalled_since decides): the chunks and
workers involved, and one WARNING line per stall."""
import logging

from django.utils import timezone

from trophies.models import Chunk
from trophies.services import progress

log = logging.getLogger(__name__)

LOGGED_TTL_S = 7 * 24 * 3600


def involved(build):
    """{"chunks": [numbers], "workers": [names]} of the build's running chunks."""
    rows = list(build.chunks.filter(state=Chunk.RUNNING).order_by("number").values_list("number", "worker"))
    return {"chunks": [number for number, _ in rows], "workers": sorted({worker for _, worker in rows if worker})}


def details(build, since):
    """What a page shows of a stall, or None when the build is not stalled."""
    if since is None:
        return None
    return {"since": since, "for_s": (timezone.now() - since).total_seconds(), **involved(build)}


def logged_key(build_id, since):
    return f"k2:build:{build_id}:stall-logged:{since.timestamp():.3f}"


def report_once(build, since):
    """Log the stall the first time anyone notices it, in any process: a
    stall is known by its start, so a later stall of the build logs again."""
    try:
        first = progress.client().set(logged_key(build.pk, since), "1", nx=True, ex=LOGGED_TTL_S)
    except Exception:  # Redis is down: the stall is no news then
        return False
    if first:
        who = involved(build)
        log.warning("build %s of %s stalled: no progress since %s; chunks %s on workers %s", build.pk,
                    build.trophy.slug, since.isoformat(), ", ".join(f"#{n}" for n in who["chunks"]) or "-",
                    ", ".join(who["workers"]) or "-")
    return bool(first)
