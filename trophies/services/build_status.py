"""A build's progress as the contract's JSON fields: counters from Redis,
state and times from the database. Cheap: no file is looked at."""
from django.utils import timezone

from trophies.models import Build
from trophies.services import progress


def counts_of(build):
    if build.state not in Build.ACTIVE and build.rendered is not None:
        return {"rendered": build.rendered, "skipped": build.skipped, "failed": build.failed}
    return progress.totals(build.pk)


def status_of(build):
    counts = counts_of(build)
    done = counts["rendered"] + counts["skipped"]
    end = build.finished_at or timezone.now()
    elapsed = (end - build.started_at).total_seconds() if build.started_at else 0.0
    rate = done / elapsed if elapsed > 0 else 0.0
    remaining = max(0, build.total - done - counts["failed"])
    eta = remaining / rate if rate > 0 and build.state in Build.ACTIVE else None
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
    }
