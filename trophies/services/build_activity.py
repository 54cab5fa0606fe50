"""Who is working on a build and what went wrong: chunk states from the
database, joined with the RQ workers running its chunks."""
from django.db.models import Count

from trophies.models import Build, Chunk
from trophies.services import monitoring, stalls

ERROR_CHARS = 4000


def _iso(moment):
    return moment.isoformat() if moment else None


def activity(build):
    """{"chunks": {state: n}, "workers": [...], "failed_chunks": [...],
    "can_cancel", "can_retry"} for the build page."""
    counts = dict.fromkeys((state for state, _ in Build.STATES), 0)
    counts.update(dict(build.chunks.values_list("state").annotate(n=Count("pk")).order_by()))
    running = list(build.chunks.filter(state=Chunk.RUNNING).values("number", "start", "stop", "worker",
                                                                    "started_at", "attempts"))
    failed = list(build.chunks.filter(state=Chunk.FAILED).values("number", "start", "stop", "attempts",
                                                                  "finished_at", "error"))
    workers = []
    if running or build.is_active:
        by_name = {w["name"]: w for w in monitoring.worker_stats()}
        chunks_of = {}
        for chunk in running:
            chunks_of.setdefault(chunk["worker"], []).append(chunk)
        names = set(chunks_of) | {name for name, w in by_name.items() if w["build"] == build.pk}
        for name in sorted(names):
            rq_worker = by_name.get(name, {})
            workers.append({
                "name": name,
                "state": rq_worker.get("state", "unknown"),
                "last_heartbeat": rq_worker.get("last_heartbeat"),
                "heartbeat_age_s": rq_worker.get("heartbeat_age_s"),
                "chunks": [{"number": c["number"], "start": c["start"], "stop": c["stop"],
                            "attempt": c["attempts"], "started_at": _iso(c["started_at"])}
                           for c in chunks_of.get(name, [])],
            })
    return {
        "id": build.pk,
        "state": build.state,
        "chunks": counts,
        "workers": workers,
        "failed_chunks": [
            {"number": c["number"], "start": c["start"], "stop": c["stop"], "attempts": c["attempts"],
             "finished_at": _iso(c["finished_at"]), "error": (c["error"] or "")[-ERROR_CHARS:]}
            for c in failed
        ],
        "involved": stalls.involved(build) if build.state == Build.RUNNING else None,  # shown with a stall
        "can_cancel": build.is_active,
        "can_retry": bool(failed) and not build.is_active,
    }
