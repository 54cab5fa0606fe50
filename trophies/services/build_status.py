"""A build's progress as the contract's JSON fields: counters from Redis,
state and times from the database. Cheap: no file is looked at."""
import statistics
from datetime import datetime, timezone as dt_timezone

from django.conf import settings
from django.utils import timezone
from rq import Worker

from trophies.models import Build, Chunk
from trophies.services import progress, stalls

PAST_RUNS = 10


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
    rate = done / elapsed if elapsed > 0 else 0.0
    remaining = max(0, build.total - done - counts["failed"])
    eta = remaining / rate if rate > 0 and build.state in Build.ACTIVE else None
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
        "past": past_runs(build) if with_past else None,
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


def past_runs(build):
    """Figures of the trophy's last finished builds before this one, or None."""
    rows = list(Build.objects.filter(trophy_id=build.trophy_id, state=Build.DONE, started_at__isnull=False,
                                     finished_at__isnull=False).exclude(pk=build.pk).order_by("-id")
                .values_list("started_at", "finished_at", "rendered", "skipped")[:PAST_RUNS])
    if not rows:
        return None
    durations = [max((end - start).total_seconds(), 1e-3) for start, end, _, _ in rows]
    rates = [((rendered or 0) + (skipped or 0)) / duration for (_, _, rendered, skipped), duration in zip(rows, durations)]
    return {
        "runs": len(rows),
        "median_duration_s": round(statistics.median(durations), 1),
        "median_rate_per_s": round(statistics.median(rates), 1),
        "best_duration_s": round(min(durations), 1),
    }
