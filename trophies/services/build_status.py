"""A build's progress as the contract's JSON fields: counters from Redis,
state and times from the database. Cheap: no file is looked at."""
import time
from datetime import datetime, timezone as dt_timezone

from django.conf import settings
from django.utils import timezone
from rq import Worker

from trophies.models import Build, Chunk
from trophies.services import progress, stalls, throughput
from trophies.services.build_history import past_runs


def counts_of(build):
    if build.state not in Build.ACTIVE and build.rendered is not None:
        return {"rendered": build.rendered, "skipped": build.skipped, "failed": build.failed}
    return progress.totals(build.pk)


def status_of(build, with_past=True):
    """The contract's JSON; list pages pass with_past=False (a query per build)."""
    counts = counts_of(build)
    done = counts["rendered"] + counts["skipped"]
    end = build.finished_at or timezone.now()
    elapsed = (end - build.started_at).total_seconds() if build.started_at else 0.0
    remaining = max(0, build.total - done - counts["failed"])
    past = past_runs(build) if with_past else None
    rate, eta = rate_and_eta(build, counts, elapsed, remaining, past)
    stalled = stalled_since(build)
    return {
        "id": build.pk,
        "trophy": build.trophy.slug,
        "state": build.state,
        "total": build.total,
        "done": done,
        "rendered": counts["rendered"],
        "skipped": counts["skipped"],
        "failed": counts["failed"],
        "remaining": remaining,
        "percent": round(100.0 * done / build.total, 1) if build.total else 100.0,
        "elapsed_s": round(elapsed, 1),
        "rate_per_s": round(rate, 1),
        "eta_s": round(eta, 1) if eta is not None else None,
        "started_at": build.started_at.isoformat() if build.started_at else None,
        "finished_at": build.finished_at.isoformat() if build.finished_at else None,
        "stalled_since": stalled.isoformat() if stalled else None,
        "past": past if with_past else None,
    }


def stalled_since(build, now=None):
    """When a running build's progress stopped, if it has not moved for
    K2_STALL_AFTER_S while a worker of one of its chunks still heartbeats
    (a dead worker is not a stall: RQ runs its chunk again); else None."""
    if build.state != Build.RUNNING or build.started_at is None:
        return None
    now = now or timezone.now()
    moved = progress.moved_at(build.pk)
    since = max(build.started_at, datetime.fromtimestamp(moved, dt_timezone.utc)) if moved else build.started_at
    if (now - since).total_seconds() < settings.K2_STALL_AFTER_S:
        return None
    if not workers_alive(build):
        return None
    stalls.report_once(build, since)
    return since


def workers_alive(build):
    names = set(build.chunks.filter(state=Chunk.RUNNING).values_list("worker", flat=True))
    connection = progress.client()
    for name in names:
        worker = Worker.find_by_key(Worker.redis_worker_namespace_prefix + name, connection=connection)
        if worker is not None and worker.last_heartbeat is not None:
            return True
    return False


def rate_and_eta(build, counts, elapsed, remaining, past):
    """Rendered images per second and seconds left. Skips cost almost
    nothing, so they count in neither: a running build's rate is of the
    rendering in the recent window; its ETA is the images left at that
    rate (all assumed to need rendering) or, before the window has samples,
    at the median rate of past runs."""
    overall = counts["rendered"] / elapsed if elapsed > 0 else 0.0
    if build.state not in Build.ACTIVE:
        return overall, None
    recent = throughput.recent_render_rate(build.pk, time.time()) if build.state == Build.RUNNING else None
    rate = recent if recent is not None else overall
    if recent:
        return rate, remaining / recent
    if past and past["median_rate_per_s"] > 0:
        return rate, remaining / past["median_rate_per_s"]
    return rate, remaining / overall if overall > 0 else None
