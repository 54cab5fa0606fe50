"""Disk use of each trophy's renders (files, bytes, obsolete bytes), cached
in Redis: measuring walks the render tree, pages must not. Prune and a
settled build refresh the figures; a miss measures once."""
import json
import logging
from dataclasses import asdict

import redis

from trophies.services import progress, prune

KEY = "k2:disk:{slug}"
TTL_S = 3600  # figures older than this are measured again (files change outside builds too)
log = logging.getLogger(__name__)


def refresh(slug):
    """Measure a trophy's renders now and cache the figures (a dict)."""
    usage = asdict(prune.disk_usage(slug))
    try:
        progress.client().set(KEY.format(slug=slug), json.dumps(usage), ex=TTL_S)
    except redis.RedisError as error:
        log.warning("disk use of %s not cached (%s)", slug, error)
    return usage


def cached(slug):
    """The cached figures, or None when nobody measured them lately (never walks the disk)."""
    try:
        value = progress.client().get(KEY.format(slug=slug))
    except redis.RedisError:
        value = None
    return json.loads(value) if value else None


def usage_of(slug):
    """{"files", "bytes", "obsolete_files", "obsolete_bytes"} of a trophy's
    renders: cached, else measured now."""
    return cached(slug) or refresh(slug)
