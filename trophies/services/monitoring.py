"""What the queue dashboard, ``/api/stats/`` and ``/metrics`` (``metrics``) show: RQ queues,
registries and workers, builds and images from the database and the
progress counters, lock stats from ``locks``.

Everything is read in a few round trips; nothing scans rendered files.
Registry counts are read without RQ's cleanup, so looking never moves jobs.
"""
import re
from datetime import datetime, timezone as dt_timezone

import django_rq
from django.conf import settings
from django.db.models import Count, Sum
from rq import Worker
from rq.job import Job
from rq.registry import (
    DeferredJobRegistry,
    FailedJobRegistry,
    FinishedJobRegistry,
    ScheduledJobRegistry,
    StartedJobRegistry,
)

from trophies.models import Build
from trophies.services import progress
from trophies.services.build_status import stalled_since

FAILED_JOBS_SHOWN = 20
TRACEBACK_CHARS = 6000
REGISTRIES = (("started", StartedJobRegistry), ("finished", FinishedJobRegistry), ("failed", FailedJobRegistry),
              ("deferred", DeferredJobRegistry), ("scheduled", ScheduledJobRegistry))
CHUNK_JOB_ID = re.compile(r"^k2-build(?P<build>\d+)-chunk(?P<chunk>\d+)-")


def queue_names():
    """Queue names in django-rq's order: its URLs number queues by this index."""
    return sorted(settings.RQ_QUEUES)


def _iso(moment):
    if moment is None:
        return None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=dt_timezone.utc)
    return moment.isoformat()


def _age(moment):
    if moment is None:
        return None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=dt_timezone.utc)
    return round((datetime.now(dt_timezone.utc) - moment).total_seconds(), 1)


def build_of_job(job_id):
    match = CHUNK_JOB_ID.match(job_id or "")
    return int(match["build"]) if match else None


def queue_stats():
    rows = []
    for index, name in enumerate(queue_names()):
        queue = django_rq.get_queue(name)
        row = {"name": name, "index": index, "queued": queue.count}
        for key, registry in REGISTRIES:
            row[key] = registry(queue=queue).get_job_count(cleanup=False)
        rows.append(row)
    return rows


def worker_stats():
    connection = django_rq.get_connection(queue_names()[0])
    rows = []
    for worker in sorted(Worker.all(connection=connection), key=lambda w: w.name):
        job_id = worker.get_current_job_id()
        rows.append({
            "name": worker.name,
            "state": worker.get_state(),
            "queues": worker.queue_names(),
            "hostname": worker.hostname,
            "pid": worker.pid,
            "current_job": job_id,
            "build": build_of_job(job_id),
            "last_heartbeat": _iso(worker.last_heartbeat),
            "heartbeat_age_s": _age(worker.last_heartbeat),
            "birth": _iso(worker.birth_date),
            "successful_jobs": worker.successful_job_count,
            "failed_jobs": worker.failed_job_count,
        })
    return rows


def failed_jobs(limit=FAILED_JOBS_SHOWN):
    """The newest failed jobs of every queue, with their tracebacks."""
    rows = []
    for index, name in enumerate(queue_names()):
        queue = django_rq.get_queue(name)
        registry = FailedJobRegistry(queue=queue)
        ids = registry.get_job_ids(-limit, -1)[::-1]  # newest last in the zset
        for job in Job.fetch_many(ids, connection=queue.connection):
            if job is None:
                continue
            result = job.latest_result()
            traceback = (result.exc_string if result is not None and result.exc_string else "") or ""
            rows.append({
                "id": job.id,
                "queue": name,
                "queue_index": index,
                "description": job.description,
                "ended_at": _iso(job.ended_at),
                "build": build_of_job(job.id),
                "traceback": traceback[-TRACEBACK_CHARS:],
            })
    rows.sort(key=lambda row: row["ended_at"] or "", reverse=True)
    return rows[:limit]


def image_totals():
    """Images rendered, skipped and failed by every build: settled builds
    from their rows, running ones from their counters in Redis."""
    settled = Build.objects.exclude(state__in=Build.ACTIVE).aggregate(**{kind: Sum(kind) for kind in progress.KINDS})
    totals = {kind: settled[kind] or 0 for kind in progress.KINDS}
    active = list(Build.objects.filter(state__in=Build.ACTIVE).values_list("pk", flat=True))
    for build_id in active:
        for kind, value in progress.totals(build_id).items():
            totals[kind] += value
    return totals


def build_counts():
    counts = dict.fromkeys((state for state, _ in Build.STATES), 0)
    counts.update(dict(Build.objects.values_list("state").annotate(n=Count("pk")).order_by()))
    return counts


def stalled_build_count():
    return sum(1 for build in Build.objects.filter(state=Build.RUNNING).select_related("trophy")
               if stalled_since(build) is not None)


def build_durations():
    """Durations in seconds of finished (done) builds."""
    rows = Build.objects.filter(state=Build.DONE, started_at__isnull=False, finished_at__isnull=False) \
        .values_list("started_at", "finished_at")
    return [(end - start).total_seconds() for start, end in rows]


def stats():
    """The JSON of ``/api/stats/`` and the data of the queue dashboard."""
    workers = worker_stats()
    return {
        "queues": queue_stats(),
        "workers": workers,
        "failed_jobs": failed_jobs(),
        "builds": build_counts(),
        "images": image_totals(),
        "generated_at": datetime.now(dt_timezone.utc).isoformat(),
    }
