"""A build's throughput over its life, from the progress samples.

Every progress report of a chunk adds a sample "chunk:time:count:rendered"
(that chunk's running totals of all images and of rendered ones; older
samples lack the last field) to a sorted set. Rates are of rendered images:
skipping an image already on disk costs almost nothing, and counted as
rendering it made the chart peak and the ETA lie after a cancelled build. Sweeping the samples in time
order and keeping the latest count per chunk gives the build's total at
every sample; a chunk that starts over after a crash simply replaces its
count. The series is resampled into a fixed number of time buckets.
"""
from trophies.services import progress

POINTS = 60
MIN_BUCKET_S = 1.0  # shorter buckets turn one report into a meaningless spike


RATE_WINDOW_S = 10.0  # the recent window of the rate and the ETA
MIN_WINDOW_S = 1.0


def parse_samples(raw, kind="done"):
    """[(time, chunk, count)] in time order from the zset's members; count
    of all images (kind "done") or of rendered ones (kind "rendered")."""
    samples = []
    for member in raw:
        fields = (member.decode() if isinstance(member, bytes) else member).split(":")
        count = fields[3] if kind == "rendered" and len(fields) > 3 else fields[2]
        samples.append((float(fields[1]), int(fields[0]), int(count)))
    samples.sort()
    return samples


def window_rate(samples):
    """Images per second over ``samples`` (one window): each chunk's growth
    from its first sample in the window, over the window's span; None when
    the span is too short to mean anything."""
    first, last = {}, {}
    for moment, chunk, count in samples:
        first.setdefault(chunk, count)
        last[chunk] = count
    if not samples:
        return None
    span = samples[-1][0] - samples[0][0]
    if span < MIN_WINDOW_S:
        return None
    return sum(max(0, last[chunk] - first[chunk]) for chunk in last) / span


def recent_render_rate(build_id, now, window=RATE_WINDOW_S):
    raw = progress.client().zrangebyscore(progress.samples_key(build_id), now - window, "+inf")
    return window_rate(parse_samples(raw, kind="rendered"))


def totals_over_time(samples):
    """[(time, build total)] after each sample."""
    latest, total, timeline = {}, 0, []
    for moment, chunk, count in samples:
        total += count - latest.get(chunk, 0)
        latest[chunk] = count
        timeline.append((moment, total))
    return timeline


def series(samples, start=None, end=None, points=POINTS):
    """{"start", "duration_s", "peak_rate", "points": [{"t", "done", "rate"}]}:
    up to ``points`` buckets of at least MIN_BUCKET_S from ``start`` (default: first sample) to ``end``
    (default: last sample); t is the bucket's end in seconds from start,
    rate the images per second within the bucket."""
    timeline = totals_over_time(samples)
    if not timeline:
        return {"start": start, "duration_s": 0.0, "peak_rate": 0.0, "points": []}
    start = timeline[0][0] if start is None else min(start, timeline[0][0])
    end = timeline[-1][0] if end is None else max(end, timeline[-1][0])
    duration = max(end - start, 1e-6)
    points = max(1, min(points, int(duration // MIN_BUCKET_S)))
    width = duration / points
    result, position, done, previous = [], 0, 0, 0
    for bucket in range(1, points + 1):
        edge = start + bucket * width
        while position < len(timeline) and timeline[position][0] <= edge + 1e-9:
            done = timeline[position][1]
            position += 1
        result.append({"t": round(bucket * width, 3), "done": done, "rate": round(max(0, done - previous) / width, 1)})
        previous = done
    return {"start": start, "duration_s": round(duration, 3),
            "peak_rate": max(point["rate"] for point in result), "points": result}


def build_series(build, points=POINTS):
    raw = progress.client().zrange(progress.samples_key(build.pk), 0, -1)
    start = build.started_at.timestamp() if build.started_at else None
    end = build.finished_at.timestamp() if build.finished_at else None
    # "done" counts every image; "rate" only rendered ones (skips would spike it).
    done = series(parse_samples(raw), start=start, end=end, points=points)
    rendered = series(parse_samples(raw, kind="rendered"), start=start, end=end, points=points)
    for point, rendering in zip(done["points"], rendered["points"]):
        point["rate"] = rendering["rate"]
    done["peak_rate"] = rendered["peak_rate"]
    return done
