"""A trophy's runs compared: each settled build keeps its wall time and
render rate; a running build is set beside the last PAST_RUNS done ones."""
import statistics

from trophies.models import Build

PAST_RUNS = 10


def store_figures(build_id):
    """After a build settles (its counts and finished_at are on its row)."""
    build = Build.objects.filter(pk=build_id).values("started_at", "finished_at", "rendered").first()
    if not build or not build["started_at"] or not build["finished_at"]:
        return
    duration = max((build["finished_at"] - build["started_at"]).total_seconds(), 1e-3)
    Build.objects.filter(pk=build_id).update(duration_s=round(duration, 3),
                                             render_rate_per_s=round((build["rendered"] or 0) / duration, 3))


def past_builds(trophy_id, before=None, limit=PAST_RUNS):
    """The trophy's last done builds (newest first), excluding ``before``."""
    rows = Build.objects.filter(trophy_id=trophy_id, state=Build.DONE, started_at__isnull=False,
                                finished_at__isnull=False)
    if before is not None:
        rows = rows.exclude(pk=before)
    return list(rows.order_by("-id")[:limit])


def figures_of(build):
    """(duration_s, rendered per second) of a settled build: stored, or from
    its times for builds that settled before the figures were stored."""
    if build.duration_s is not None:
        return build.duration_s, build.render_rate_per_s or 0.0
    duration = max((build.finished_at - build.started_at).total_seconds(), 1e-3)
    return duration, (build.rendered or 0) / duration


def past_runs(build):
    """The contract's "past" figures, plus the slowest run (for the page's flag), or None."""
    figures = [figures_of(b) for b in past_builds(build.trophy_id, before=build.pk)]
    if not figures:
        return None
    durations = [duration for duration, _ in figures]
    return {
        "runs": len(figures),
        "median_duration_s": round(statistics.median(durations), 1),
        "median_rate_per_s": round(statistics.median(rate for _, rate in figures), 1),
        "best_duration_s": round(min(durations), 1),
    }


def slowest_duration_s(build):
    durations = [figures_of(b)[0] for b in past_builds(build.trophy_id, before=build.pk)]
    return round(max(durations), 1) if durations else None


def pace(status, slowest_s):
    """"faster" or "slower" when the run (projected: elapsed + ETA) falls
    outside the range of the past runs' durations, else None."""
    past = status.get("past")
    if not past or status["elapsed_s"] is None:
        return None
    expected = status["elapsed_s"] + (status["eta_s"] or 0)
    if status["state"] in Build.ACTIVE and status["eta_s"] is None:
        return None
    if expected < past["best_duration_s"]:
        return "faster"
    if slowest_s is not None and expected > slowest_s:
        return "slower"
    return None
