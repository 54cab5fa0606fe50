"""`k2 health` and /healthz: what a monitoring system polls.

One verdict, as nagios plugins give it: CRITICAL when the database or Redis
cannot be reached or no render worker is alive; WARNING when the oldest
queued chunk has waited too long, a build is stalled, or the data dir is
nearly full; else OK. Every check has a short timeout, so the whole answer
comes within a few seconds even when Redis hangs.
"""
import shutil
import time
from dataclasses import dataclass, field

import redis
from django.conf import settings
from django.db import connection
from rq import Queue, Worker

from trophies.models import Build
from trophies.services.build_status import stalled_since

OK, WARNING, CRITICAL = 0, 1, 2
NAMES = {OK: "OK", WARNING: "WARNING", CRITICAL: "CRITICAL"}
QUEUE = "render"
REDIS_TIMEOUT_S = 2
QUEUE_WAIT_WARN_S = 600
FREE_WARN_PERCENT = 5.0


@dataclass
class Health:
    status: int = OK
    problems: list = field(default_factory=list)   # (status, text)
    facts: list = field(default_factory=list)      # text of what is fine
    perfdata: dict = field(default_factory=dict)   # label -> (value, unit, warn, crit, min, max)

    def problem(self, status, text):
        self.status = max(self.status, status)
        # One line, and no "|": monitors split the perfdata off at the first one.
        self.problems.append((status, " ".join(text.replace("|", "/").split())))

    @property
    def name(self):
        return NAMES[self.status]

    def line(self):
        """`K2 WARNING - text; text | label=value;warn;crit;min;max ...`"""
        texts = [text for _, text in sorted(self.problems, key=lambda p: -p[0])] + self.facts
        perf = " ".join(f"{label}={value}{unit};{warn};{crit};{low};{high}".rstrip(";")
                        for label, (value, unit, warn, crit, low, high) in self.perfdata.items())
        return f"K2 {self.name} - {'; '.join(texts)}" + (f" | {perf}" if perf else "")

    def as_json(self):
        return {"status": self.name, "summary": self.line().split(" - ", 1)[1].split(" | ")[0],
                "problems": [{"status": NAMES[s], "text": t} for s, t in self.problems],
                "perfdata": {label: values[0] for label, values in self.perfdata.items()}}


def check_health():
    health = Health()
    database_ok = check_database(health)
    client = redis.Redis.from_url(settings.REDIS_URL, socket_timeout=REDIS_TIMEOUT_S,
                                  socket_connect_timeout=REDIS_TIMEOUT_S)
    try:
        if check_redis(health, client):
            check_workers(health, client)
            check_queue(health, client)
            if database_ok:
                check_stalled(health)
    finally:
        client.close()
    check_disk(health)
    return health


def check_database(health):
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
    except Exception as error:
        health.problem(CRITICAL, f"database unreachable ({type(error).__name__}: {error})".strip())
        return False
    return True


def check_redis(health, client):
    try:
        client.ping()
    except redis.RedisError as error:
        health.problem(CRITICAL, f"Redis unreachable at {settings.REDIS_URL} ({type(error).__name__}: {error})")
        return False
    return True


def check_workers(health, client):
    workers = [w for w in Worker.all(connection=client) if QUEUE in w.queue_names()]
    health.perfdata["workers"] = (len(workers), "", "", "1:", 0, "")
    if not workers:
        health.problem(CRITICAL, f"no render worker is alive on queue {QUEUE!r}")
    else:
        health.facts.append(f"{len(workers)} render worker{'s' if len(workers) != 1 else ''}")


def check_queue(health, client):
    queue = Queue(QUEUE, connection=client)
    queued = queue.count
    oldest = 0.0
    first = queue.get_job_ids(0, 1)  # offset, length: the next job to run waited longest
    job = queue.fetch_job(first[0]) if first else None
    if job is not None and job.enqueued_at is not None:
        oldest = max(0.0, time.time() - job.enqueued_at.timestamp())
    health.perfdata["queued_chunks"] = (queued, "", "", "", 0, "")
    health.perfdata["oldest_queued"] = (round(oldest, 1), "s", QUEUE_WAIT_WARN_S, "", 0, "")
    if oldest > QUEUE_WAIT_WARN_S:
        health.problem(WARNING, f"the oldest queued chunk has waited {oldest:.0f} s (limit {QUEUE_WAIT_WARN_S} s)")
    else:
        health.facts.append(f"{queued} queued chunk{'s' if queued != 1 else ''}")


def check_stalled(health):
    stalled = []
    for build in Build.objects.filter(state=Build.RUNNING).select_related("trophy"):
        since = stalled_since(build)
        if since is not None:
            stalled.append(f"build {build.pk} of {build.trophy.slug} since {since.isoformat(timespec='seconds')}")
    health.perfdata["stalled_builds"] = (len(stalled), "", 0, "", 0, "")
    if stalled:
        health.problem(WARNING, "stalled: " + ", ".join(stalled))


def check_disk(health):
    path = settings.K2_DATA_DIR
    path.mkdir(parents=True, exist_ok=True)
    usage = shutil.disk_usage(path)
    percent = 100.0 * usage.free / usage.total if usage.total else 0.0
    health.perfdata["free_disk"] = (round(percent, 1), "%", f"{FREE_WARN_PERCENT:g}:", "", 0, 100)
    health.perfdata["free_bytes"] = (usage.free, "B", "", "", 0, usage.total)
    text = f"{usage.free / 1024**3:.1f} GiB free ({percent:.1f}%) under {path}"
    if percent < FREE_WARN_PERCENT:
        health.problem(WARNING, f"disk nearly full: {text}")
    else:
        health.facts.append(text)
