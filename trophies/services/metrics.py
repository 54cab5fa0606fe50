"""``/metrics``: a prometheus_client collector over the numbers the queue
dashboard shows (``monitoring``), lock stats and render disk usage.

Each scrape reads them afresh (a custom collector, not process-local
counters): web processes are many and short-lived, the figures live in
Redis and the database.
"""
from prometheus_client.core import (
    CollectorRegistry,
    CounterMetricFamily,
    GaugeMetricFamily,
    HistogramMetricFamily,
)
from prometheus_client.exposition import choose_encoder
from prometheus_client.utils import floatToGoString

from locks.inspect import snapshot as lock_snapshot
from trophies.services import disk_usage, monitoring, progress

DURATION_BUCKETS_S = (5, 15, 30, 60, 120, 300, 600, 1800, 3600)
QUEUE_STATES = ("queued", "started", "finished", "failed", "deferred", "scheduled")
NAN = float("nan")


def _gauge(name, help_text, label_names, samples):
    family = GaugeMetricFamily(name, help_text, labels=label_names)
    for labels, value in samples:
        family.add_metric(labels, value)
    return family


def _counter(name, help_text, label_names, samples):
    family = CounterMetricFamily(name, help_text, labels=label_names)
    for labels, value in samples:
        family.add_metric(labels, value)
    return family


def _duration_histogram(durations):
    # Bounds spelled as prometheus_client's own histograms spell them ("30.0").
    buckets = [(floatToGoString(bound), sum(1 for d in durations if d <= bound)) for bound in DURATION_BUCKETS_S]
    buckets.append(("+Inf", len(durations)))
    return HistogramMetricFamily("k2_build_duration_seconds",
                                 "Wall time of finished builds, first chunk start to last chunk end.",
                                 buckets=buckets, sum_value=round(float(sum(durations)), 3))


def _worker_states(workers):
    states = {"busy": 0, "idle": 0}
    for worker in workers:
        states[worker["state"]] = states.get(worker["state"], 0) + 1
    return sorted(states.items())


def _lock_families():
    locks = lock_snapshot()["stats"]

    def value(key, scale=1.0):
        raw = locks.get(key)
        return NAN if raw is None else float(raw) * scale

    yield _counter("k2_lock_acquisitions", "Lock acquisitions.", [], [([], value("acquisitions"))])
    yield _counter("k2_lock_waits", "Lock acquisitions that had to wait.", [], [([], value("waits"))])
    yield _counter("k2_lock_timeouts", "Lock acquisitions that timed out.", [], [([], value("timeouts"))])
    yield _counter("k2_lock_wait_seconds", "Time spent waiting for locks.", [],
                   [([], value("wait_total_ms", 0.001))])
    yield _gauge("k2_lock_wait_max_seconds", "Longest single lock wait.", [], [([], value("wait_max_ms", 0.001))])
    yield _gauge("k2_locks_held", "Locks held now.", ["mode"],
                 [(["exclusive"], locks["held_exclusive"]), (["shared"], locks["held_shared"])])
    yield _gauge("k2_lock_waiters", "Processes waiting for a lock now.", [], [([], locks["waiting"])])
    yield _gauge("k2_lock_counters_up", "1 when the lock counters in Redis could be read.", [],
                 [([], int(bool(locks.get("counters_available"))))])


def _disk_families():
    from trophies.models import Trophy

    usage = {slug: disk_usage.usage_of(slug) for slug in Trophy.objects.values_list("slug", flat=True)}
    for field, help_text in (("files", "Rendered files of each trophy."),
                             ("bytes", "Bytes of each trophy's rendered files."),
                             ("obsolete_bytes", "Bytes of rendered files no current combination names (k2 prune).")):
        yield _gauge(f"k2_render_{field}", help_text, ["trophy"],
                     [([slug], figures[field]) for slug, figures in sorted(usage.items())])


class K2Collector:
    def collect(self):
        yield _gauge("k2_queue_jobs", "Jobs of each RQ queue by state (queued = waiting in the queue).",
                     ["queue", "state"],
                     [([q["name"], state], q[state]) for q in monitoring.queue_stats() for state in QUEUE_STATES])
        yield _gauge("k2_workers", "RQ workers by state.", ["state"],
                     [([state], n) for state, n in _worker_states(monitoring.worker_stats())])
        images = monitoring.image_totals()
        yield _counter("k2_images", "Combination images handled by builds, by result.", ["result"],
                       [([kind], images[kind]) for kind in progress.KINDS])
        yield _gauge("k2_builds", "Builds by state.", ["state"],
                     [([state], n) for state, n in monitoring.build_counts().items()])
        yield _gauge("k2_builds_stalled",
                     "Running builds with no progress for K2_STALL_AFTER_S while their workers are alive.",
                     [], [([], monitoring.stalled_build_count())])
        yield _duration_histogram(monitoring.build_durations())
        yield from _lock_families()
        yield from _disk_families()


def exposition(accept_header):
    """(body bytes, content type) in the format the scraper asked for: the
    Prometheus text format, or OpenMetrics when its Accept header says so."""
    registry = CollectorRegistry(auto_describe=False)
    registry.register(K2Collector())
    encoder, content_type = choose_encoder(accept_header or "")
    return encoder(registry), content_type
