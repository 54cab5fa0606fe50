"""The whole build pipeline against the engine alone and ImageMagick, in one run.

    .venv/bin/python bench/build_bench.py [--layers DIR] [--workers N] [--full] [--settle S]

Prints, measured on this machine in this run, in this order:
1. the encode floor (whole JPEG encodes of ready composites) and the engine
   alone in N processes (images/s: the practical limit) and their ratio;
2. the full pipeline: `k2 build` -> RQ -> locks -> atomic files -> done, with
   N real render workers and the web server, on a trophy made from the same
   layers (3 x 6 x 5 x 15 x 19 = 25,650; with --full the whole `classic`,
   128,250), timed from start to the build's done state; where the workers'
   time went (start, gaps between chunks, each chunk phase, tail); the ETA's
   errors; worker peak RSS and the web process's RSS before and after (it
   serves /api/builds/N/ polls during the build). A probe of what creating
   a file costs comes first. It is the first phase that writes files: on
   this disk each phase that writes makes the next one's files dearer;
3. where an engine image's time goes (composite, strip encode, splice,
   write) and the engine with each image written atomically to disk, as a
   build does, after the build's files; their ratios;
4. the ImageMagick baseline (one process per image) and the ratio to it.
Everything runs in a throwaway K2_DATA_DIR with its own Redis, on loopback.
"""
from __future__ import annotations

import argparse
import http.cookiejar
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.parse
import urllib.request
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from bench.engine_bench import (DEFAULT_LAYERS, ImageMagickMissing, load_averages, measure_engine,  # noqa: E402
                                measure_floor_and_engine, measure_imagemagick)
from bench.engine_costs import measure_costs, report  # noqa: E402
from k2site import redis_server  # noqa: E402

PASSWORD = "bench-password-1"
BENCH_TROPHY = """
from trophies.models import Slot, Tier, Trophy
from trophies.services import plans
classic = Trophy.objects.get(slug="classic")
Trophy.objects.filter(slug="bench").delete()
bench = Trophy.objects.create(slug="bench", name="Bench", width=classic.width, height=classic.height)
tier = Tier.objects.create(trophy=bench)
for position, slot in enumerate(classic.ordered_slots()):
    copy = Slot.objects.create(tier=tier, key=slot.key, component=slot.component, position=position)
    options = slot.allowed_options()
    copy.options.set(options[:6] if slot.key == "figure" else options)
print(plans.capture(bench).total)
"""


SETTLE_S = 60.0
PROBE_FILES = 4000


def settle_filesystem(seconds=SETTLE_S):
    """Let this disk forget earlier runs' mass deletions: ext4 without a
    journal skips recently freed inodes when it creates a file, which costs
    up to 0.5 ms a file for about a minute after many files were deleted
    (perf: recently_deleted, find_inode_bit). os.sync() alone does not end it."""
    os.sync()
    time.sleep(seconds)


def _probe_writer(directory, count, results):
    from trophies.services.renders import AtomicWriter

    data = os.urandom(19_800)  # about one classic image
    cpu = time.process_time()
    with AtomicWriter(directory, "probe") as writer:
        for number in range(count):
            writer.write(f"{directory}/{number // 1000}/{number:08d}-probe.jpg", data)
    results.put(time.process_time() - cpu)


def probe_file_cost(directory, processes=2):
    """CPU microseconds to create one ~20 KB file atomically, as a build
    does, in ``processes`` at once: what the disk's state costs now."""
    import multiprocessing

    results = multiprocessing.Queue()
    workers = [multiprocessing.Process(target=_probe_writer, args=(f"{directory}/{n}", PROBE_FILES // processes,
                                                                    results)) for n in range(processes)]
    for worker in workers:
        worker.start()
    spent = sum(results.get() for _ in workers)
    for worker in workers:
        worker.join()
    return spent / PROBE_FILES * 1e6


def rss_kb(pid):
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    except (FileNotFoundError, ProcessLookupError):
        pass
    return 0


def descendants(pid):
    found, stack = [], [pid]
    while stack:
        current = stack.pop()
        try:
            children = Path(f"/proc/{current}/task/{current}/children").read_text().split()
        except FileNotFoundError:
            continue
        for child in map(int, children):
            found.append(child)
            stack.append(child)
    return found


class Site:
    """A throwaway K2 installation: data dir, Redis, workers, web server."""

    def __init__(self, workers, layers):
        self.dir = Path(tempfile.mkdtemp(prefix="k2-bench."))
        self.redis, url = redis_server.start(self.dir / "redis")
        self.env = dict(os.environ, K2_DATA_DIR=str(self.dir), REDIS_URL=url, K2_WORKERS=str(workers),
                        DJANGO_SECRET_KEY="bench-secret-key-0123456789-0123456789-0123456789",
                        K2_ADMIN_PASSWORD=PASSWORD, PYTHONWARNINGS="ignore")
        self.env.pop("DATABASE_URL", None)
        self.manage("migrate", "--noinput", "-v0")
        self.manage("k2", "demo", "--layers", str(layers))
        self.manage("k2", "admin")
        self.workers, self.web = [], None
        self.worker_count = workers

    def manage(self, *args, capture=False):
        result = subprocess.run([sys.executable, "manage.py", *args], cwd=REPO, env=self.env, check=True,
                                stdout=subprocess.PIPE if capture else subprocess.DEVNULL, text=True)
        return result.stdout

    def start(self):
        port = free_port()
        log = open(self.dir / "processes.log", "ab")
        for number in range(self.worker_count):
            self.workers.append(subprocess.Popen(
                [sys.executable, "manage.py", "rqworker", "render", "--worker-class", "trophies.workers.RenderWorker",
                 "--worker-ttl", "17", "--name", f"bench-{os.getpid()}-{number}"],
                cwd=REPO, env=self.env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True))
        self.web = subprocess.Popen(
            [sys.executable, "-m", "gunicorn", "k2site.wsgi:application", "--bind", f"127.0.0.1:{port}",
             "--workers", "1", "--threads", "4"],
            cwd=REPO, env=self.env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
        self.base = f"http://127.0.0.1:{port}"
        self.session = login(self.base)

    def stop(self):
        for process in [self.web, *self.workers]:
            if process and process.poll() is None:
                process.terminate()
        for process in [self.web, *self.workers]:
            if process:
                try:
                    process.wait(15)
                except subprocess.TimeoutExpired:
                    process.kill()
        redis_server.stop(self.redis)

    def remove(self):
        if os.environ.get("K2_BENCH_KEEP"):
            print(f"kept {self.dir}")
        else:
            shutil.rmtree(self.dir, ignore_errors=True)


def free_port():
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def login(base):
    jar = http.cookiejar.CookieJar()
    opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(jar))
    deadline = time.monotonic() + 30
    while True:
        try:
            opener.open(f"{base}/admin/login/").read()
            break
        except OSError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.2)
    token = next(c.value for c in jar if c.name == "csrftoken")
    data = urllib.parse.urlencode({"username": "admin", "password": PASSWORD, "csrfmiddlewaretoken": token,
                                   "next": "/admin/"}).encode()
    opener.open(urllib.request.Request(f"{base}/admin/login/", data, headers={"Referer": f"{base}/admin/login/"}))
    return opener


def measure_pipeline(site, slug):
    """Start a build over HTTP, poll its status, and time it to done."""
    web_before = rss_kb(site.web.pid) + sum(rss_kb(p) for p in descendants(site.web.pid))
    request = urllib.request.Request(f"{site.base}/api/trophies/{slug}/builds/", b"", method="POST",
                                     headers={"X-CSRFToken": csrf(site), "Referer": site.base + "/"})
    started, posted_at = time.perf_counter(), time.time()
    build = json.load(site.session.open(request))
    worker_peak, polls, etas = 0, 0, []
    while True:
        status = json.load(site.session.open(f"{site.base}{build['url']}"))
        polls += 1
        etas.append((time.perf_counter(), status["percent"], status["eta_s"]))
        for worker in site.workers:
            for pid in [worker.pid, *descendants(worker.pid)]:
                worker_peak = max(worker_peak, rss_kb(pid))
        if status["state"] not in ("queued", "running"):
            break
        time.sleep(0.1)
    seconds, seen_at = time.perf_counter() - started, time.time()
    web_after = rss_kb(site.web.pid) + sum(rss_kb(p) for p in descendants(site.web.pid))
    return {"status": status, "seconds": seconds, "images_per_s": status["done"] / seconds,
            "worker_peak_mb": worker_peak / 1024, "web_mb_before": web_before / 1024,
            "web_mb_after": web_after / 1024, "polls": polls, "eta_errors": eta_errors(etas, started + seconds),
            "breakdown": breakdown(chunk_timings(site, build["id"]), posted_at, seen_at)}


CHUNK_TIMINGS = """
import json
import django_rq
from rq.job import Job
from trophies.models import Chunk
connection = django_rq.get_connection("render")
rows = []
for chunk in Chunk.objects.filter(build_id=%d).order_by("number"):
    result = Job.fetch(chunk.job_id, connection=connection).return_value() or {}
    rows.append({"number": chunk.number, "worker": chunk.worker, "images": chunk.stop - chunk.start,
                 **result.get("seconds", {})})
print(json.dumps(rows))
"""
PHASES = ("begin", "layers", "render", "write", "progress", "end")


def chunk_timings(site, build_id):
    """Each chunk's worker and seconds per phase, as its job returned them."""
    output = site.manage("shell", "-c", CHUNK_TIMINGS % build_id, capture=True)
    return json.loads(output.strip().splitlines()[-1])  # after any log line


def breakdown(chunks, posted_at, seen_at):
    """Where the workers' time went, from the POST to the done state seen:
    {row: seconds of worker time}; the rows add up to workers x wall time."""
    by_worker = {}
    for chunk in sorted(chunks, key=lambda c: c["began_at"]):
        by_worker.setdefault(chunk["worker"], []).append(chunk)
    last_end = max(chunk["ended_at"] for chunk in chunks)
    rows = {"start (POST to a worker's first chunk)": 0.0, "between chunks (RQ, preload, fork)": 0.0}
    rows.update({f"chunk {phase}": sum(chunk[phase] for chunk in chunks) for phase in PHASES})
    rows["tail (worker out of chunks)"] = 0.0
    for mine in by_worker.values():
        rows["start (POST to a worker's first chunk)"] += mine[0]["began_at"] - posted_at
        rows["between chunks (RQ, preload, fork)"] += sum(b["began_at"] - a["ended_at"] for a, b in zip(mine, mine[1:]))
        rows["tail (worker out of chunks)"] += last_end - mine[-1]["ended_at"]
    rows["finish (last chunk to done seen)"] = len(by_worker) * (seen_at - last_end)
    return {"rows": rows, "workers": len(by_worker), "chunks": len(chunks),
            "wall_s": seen_at - posted_at}


def print_breakdown(result):
    rows, total = result["rows"], result["workers"] * result["wall_s"]
    print(f"where the pipeline's time went: {result['workers']} workers x {result['wall_s']:.1f} s = "
          f"{total:.1f} worker-seconds, {result['chunks']} chunks")
    for name, spent in rows.items():
        print(f"  {name:<40} {spent:7.2f} s {spent / total:6.1%}  ({spent / result['chunks'] * 1000:6.0f} ms a chunk)")
    print(f"  {'(unaccounted)':<40} {total - sum(rows.values()):7.2f} s")
    working = rows["chunk render"] + rows["chunk write"]
    print(f"engine + writes share of the workers' time: {working / total:.1%} "
          f"(the pipeline's own costs, RQ to done: {1 - working / total:.1%}; target <= 10%)")


ETA_CHECKPOINTS = (10, 25, 50)


def eta_errors(etas, finished):
    """{percent: (ETA shown, time that in fact remained, error)} at the first
    poll at or past each checkpoint; error = shown / remained - 1."""
    errors = {}
    for checkpoint in ETA_CHECKPOINTS:
        poll = next(((at, eta) for at, percent, eta in etas if percent >= checkpoint and eta is not None), None)
        if poll:
            remained = max(finished - poll[0], 1e-3)
            errors[checkpoint] = (poll[1], remained, poll[1] / remained - 1)
    return errors


def csrf(site):
    for handler in site.session.handlers:
        jar = getattr(handler, "cookiejar", None)
        if jar is not None:
            return next(c.value for c in jar if c.name == "csrftoken")
    raise RuntimeError("no CSRF cookie")


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--layers", type=Path, default=DEFAULT_LAYERS)
    parser.add_argument("--workers", type=int, default=int(os.environ.get("K2_WORKERS", os.cpu_count() or 1)))
    parser.add_argument("--seconds", type=float, default=8.0, help="engine-alone run time")
    parser.add_argument("--im-count", type=int, default=40, help="ImageMagick images per worker")
    parser.add_argument("--full", action="store_true", help="build the whole classic trophy (128,250 images)")
    parser.add_argument("--settle", type=float, default=SETTLE_S,
                        help="seconds to wait first, so earlier runs' deletions do not slow this one")
    args = parser.parse_args(argv)
    if not args.layers.is_dir():
        print(f"reference layers not found at {args.layers}", file=sys.stderr)
        return 2

    print(f"{args.workers} workers, layers {args.layers}")
    # Deleting many files makes this filesystem slow for a while: every
    # folder written here is removed only after the last measurement.
    scratch = Path(tempfile.mkdtemp(prefix="k2-bench-files."))
    site = Site(args.workers, args.layers)
    try:
        return run(args, site, scratch)
    finally:
        site.remove()
        shutil.rmtree(scratch, ignore_errors=True)
        os.sync()  # the next run starts from a quieter disk


def run(args, site, scratch):
    if args.settle:
        print(f"waiting {args.settle:.0f} s for the disk to settle (--settle 0 skips it)")
        settle_filesystem(args.settle)
    print(f"load averages {load_averages()}")
    floor, engine = measure_floor_and_engine(args.layers, args.workers, args.seconds, "JPEG")
    print(f"encode floor:        {floor['images_per_s']:>8,.0f} images/s  ({floor['ms_per_image']:.2f} ms/image/process, "
          "whole encodes of ready composites)")
    print(f"engine alone:        {engine['images_per_s']:>8,.0f} images/s  ({engine['ms_per_image']:.2f} ms/image/process; "
          f"{engine['images_per_s'] / floor['images_per_s']:.2f}x the floor, "
          f"{floor['cpu_ms_per_image'] / engine['cpu_ms_per_image']:.2f}x in CPU time per image)")
    # The pipeline writes first: each phase that writes makes the next one's
    # files dearer on this disk (bench/README.md), and the build is the
    # figure that matters. The phases after it pay for its files instead.
    pipeline, slug = run_pipeline(args, site, scratch)
    status = pipeline["status"]
    print(f"full pipeline:       {pipeline['images_per_s']:>8,.0f} images/s  "
          f"({slug}: {status['done']:,} images {status['state']} in {pipeline['seconds']:.1f} s, start to done)")
    print_breakdown(pipeline["breakdown"])
    print(f"worker peak RSS:     {pipeline['worker_peak_mb']:>8.0f} MB per process")
    print(f"web RSS:             {pipeline['web_mb_before']:>8.0f} MB before, {pipeline['web_mb_after']:.0f} MB after "
          f"{pipeline['polls']} status polls during the build")
    if args.full:
        print(f"classic built in     {pipeline['seconds']:>8.1f} s (target <= 10 s)")
        for checkpoint in ETA_CHECKPOINTS:
            shown = pipeline["eta_errors"].get(checkpoint)
            print(f"ETA at {checkpoint:>2}%:         " + (f"{shown[0]:>8.1f} s shown, {shown[1]:.1f} s remained: "
                  f"{shown[2]:+.0%} (target within 15%)" if shown else "not seen"))
    os.sync()  # the build's files are written back now, not during the next phase
    print(report(measure_costs(args.layers, min(args.seconds, 5.0), "JPEG", scratch)))
    os.sync()
    with_files = measure_engine(args.layers, args.workers, args.seconds, "JPEG", out_dir=scratch)
    print(f"engine + file writes:{with_files['images_per_s']:>8,.0f} images/s  "
          f"({with_files['images_per_s'] / engine['images_per_s']:.0%} of engine alone: atomic writes, no RQ, "
          "after the build's files)")
    print(f"pipeline / engine:   {pipeline['images_per_s'] / engine['images_per_s']:>8.0%}   "
          f"(pipeline / engine + file writes: {pipeline['images_per_s'] / with_files['images_per_s']:.0%})")
    print(f"load averages {load_averages()}")
    try:
        magick = measure_imagemagick(args.layers, args.workers, args.im_count, "JPEG", out_dir=scratch)
    except ImageMagickMissing as missing:
        print(f"ImageMagick baseline: not measured ({missing})")
        return 1 if os.environ.get("CI") else 0
    print(f"ImageMagick CLI:     {magick['images_per_s']:>8,.1f} images/s  (one process per image, "
          f"{args.workers} in parallel; 128,250 would take {128_250 / magick['images_per_s'] / 60:.0f} min)")
    print(f"pipeline / ImageMagick: {pipeline['images_per_s'] / magick['images_per_s']:,.0f}x")
    return 0 if status["state"] == "done" else 1


def run_pipeline(args, site, scratch):
    slug = "classic"
    if not args.full:
        slug = "bench"
        site.manage("shell", "-c", BENCH_TROPHY, capture=True)
    try:
        site.start()
        print(f"file creation now:   {probe_file_cost(scratch / 'probe'):>8.0f} us CPU a file (2 processes, "
              "temporary file + rename)")
        return measure_pipeline(site, slug), slug
    finally:
        site.stop()


if __name__ == "__main__":
    sys.exit(main())
