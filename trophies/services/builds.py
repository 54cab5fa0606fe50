"""Builds: plan, start, render a chunk, finish, cancel, retry.

The path of a build: `start_build` (view, command) plans chunks and enqueues
`trophies.jobs.render_chunk` per chunk; a worker runs `render_chunk` below,
which renders the chunk's index range through the engine; the last chunk to
finish marks the build done. States are stored at each transition.
"""
import logging
import math
import os
import socket
import time

import django_rq
from django.conf import settings
from django.db import transaction
from django.utils import timezone
from rq import Callback, Retry

from locks import LockLost, LockTimeout, exclusive
from trophies import combinations
from trophies.models import Build, Chunk
from trophies.services import build_history, plans, progress, prune
from trophies.services.database_wait import waits_for_database
from trophies.services.renderer import load_renderer, worker_cache
from trophies.services.renders import AtomicWriter, ExistingFiles

log = logging.getLogger(__name__)

QUEUE = "render"
CHUNKS_PER_WORKER = 8         # enough chunks that workers finish together
MIN_CHUNK, MAX_CHUNK = 1000, 5000  # a chunk costs ~60 ms to start and end (bench/README.md)
PROGRESS_EVERY_S = 0.25       # how often a chunk publishes counts and checks for cancel
RETRIES = 3


class BuildError(Exception):
    """A build that cannot start; the message says why."""


class BuildUnavailable(BuildError):
    """The queue could not take the build (Redis down); nothing was started."""


class BuildWouldNotFit(BuildError):
    """The disk is expected too small for the build; staff may confirm anyway."""


class BuildAlreadyRunning(BuildError):
    def __init__(self, build):
        super().__init__(f"build {build.pk} of {build.trophy.slug} is already {build.state}")
        self.build = build


def chunk_size_for(total, workers):
    wanted = math.ceil(total / max(1, workers * CHUNKS_PER_WORKER))
    return max(MIN_CHUNK, min(MAX_CHUNK, wanted))


def plan_chunks(total, size):
    """(number, start, stop) ranges covering 0..total-1 once, in order."""
    return [(n, start, min(start + size, total)) for n, start in enumerate(range(0, total, size))]


def start_build(trophy, requested_by="", confirm_disk=False):
    """Plan and enqueue a build; one per trophy at a time. All or nothing:
    a build that cannot be queued leaves no trace and raises BuildError.
    ``confirm_disk``: start even when the disk looks too small."""
    try:
        with exclusive(f"build:{trophy.slug}", timeout=5, owner=f"start by {requested_by or 'system'}") as held:
            return _start_locked(trophy, requested_by, confirm_disk, held)
    except LockTimeout as error:
        raise BuildError(f"another build of {trophy.slug} is being started: {error}") from None
    except LockLost as error:
        raise BuildError(f"the start of a build of {trophy.slug} was overtaken by another ({error})") from None


def _start_locked(trophy, requested_by, confirm_disk, held):
    running = trophy.builds.filter(state__in=Build.ACTIVE).order_by("-id").first()
    if running:
        raise BuildAlreadyRunning(running)
    plan = plans.capture(trophy)  # what every chunk of this build renders
    total = plan.total
    if total == 0:
        raise BuildError(f"{trophy.slug} has no combinations: every slot needs at least one option")
    if total > settings.K2_MAX_COMBINATIONS:
        raise BuildError(f"{trophy.slug} has {total:,} combinations; the limit is {settings.K2_MAX_COMBINATIONS:,}")
    if not confirm_disk:
        ensure_disk_space(plan)
    size = chunk_size_for(total, settings.K2_WORKERS)
    with transaction.atomic():
        # Fencing: if we lost the lock while planning (a long pause, a dropped
        # PostgreSQL session), the next holder may have started a build.
        held.ensure_newest()
        build = Build.objects.create(trophy=trophy, total=total, chunk_size=size, requested_by=requested_by,
                                     plan=plan.to_json())
        Chunk.objects.bulk_create(
            Chunk(build=build, number=n, start=a, stop=b) for n, a, b in plan_chunks(total, size)
        )
    try:
        progress.reset(build.pk)
        enqueue_chunks(build, list(build.chunks.all()))
    except Exception as error:
        forget_unqueued(build)
        raise BuildUnavailable(f"the build of {trophy.slug} could not be queued, so it was not started "
                         f"({type(error).__name__}: {error})") from error
    log.info("build %s of %s started by %s: %s combinations in %s chunks", build.pk, trophy.slug,
             requested_by or "system", total, build.chunks.count())
    return build


def ensure_disk_space(plan):
    from trophies.services import disk_space

    try:
        disk_space.check_fits(plan)
    except disk_space.DiskFull as error:
        raise BuildWouldNotFit(str(error)) from None


def forget_unqueued(build):
    """Undo a start whose enqueueing failed: jobs that did reach the queue
    find no chunk and end at once; the build row goes."""
    try:
        queue = django_rq.get_queue(QUEUE)
        for job_id in build.chunks.exclude(job_id="").values_list("job_id", flat=True):
            queue.remove(job_id)
    except Exception:  # Redis is what failed: the rows matter, the jobs cannot start anything
        log.warning("build %s: queued jobs could not be removed", build.pk, exc_info=True)
    build.delete()


def enqueue_chunks(build, chunks, at_front=False):
    from trophies.jobs import chunk_failed, render_chunk

    queue = django_rq.get_queue(QUEUE)
    jobs = [
        queue.prepare_data(
            render_chunk, args=(chunk.pk,), job_id=job_id_of(build, chunk),
            retry=Retry(max=RETRIES, enqueue_at_front=True), on_failure=Callback(chunk_failed),
            timeout=600, result_ttl=3600, failure_ttl=7 * 24 * 3600, at_front=at_front,
            description=f"render {build.trophy.slug} build {build.pk} chunk {chunk.number} [{chunk.start}, {chunk.stop})",
        )
        for chunk in chunks
    ]
    for chunk, job in zip(chunks, jobs):
        chunk.job_id = job.job_id
    Chunk.objects.bulk_update(chunks, ["job_id"])  # before Redis: a failed start knows what to remove
    queue.enqueue_many(jobs)


def job_id_of(build, chunk):
    return f"k2-build{build.pk}-chunk{chunk.number}-{chunk.attempts}"


def plan_of(build):
    """The plan a build renders: captured at its start. (A build queued by a
    version that stored no plan takes the trophy as it is now, once.)"""
    if build.plan is None:
        Build.objects.filter(pk=build.pk, plan__isnull=True).update(plan=plans.capture(build.trophy).to_json())
        build.refresh_from_db(fields=["plan"])
    return plans.Plan.from_json(build.plan)


_stop_requested = False


def request_stop():
    """The process is asked to stop (a worker's SIGTERM): the running chunk
    stops at the next image and goes back to the queue."""
    global _stop_requested
    _stop_requested = True


class ChunkFailed(Exception):
    """A chunk could not write all its images; the message says why."""


def render_chunk(chunk_id, job_id="", worker=""):
    """Render one chunk (runs in a worker). Returns its counts and where its
    time went (``"seconds"``); raises ChunkFailed when an image could not be
    written (RQ retries the chunk)."""
    clock = PhaseClock()
    chunk, plan, nothing_to_do = begin_chunk(chunk_id, job_id, worker)
    if nothing_to_do:
        return nothing_to_do
    build = chunk.build
    clock.lap("begin")
    decoded_before = worker_cache.decoded
    renderer, layout = load_renderer(plan, chunk.start, chunk.stop, owner=f"build {build.pk} chunk {chunk.number}",
                                     cache=worker_cache)
    decoded = worker_cache.decoded - decoded_before
    clock.lap("layers")
    counts = dict.fromkeys(progress.KINDS, 0)
    # A sample at 0 when rendering starts: the rate counts a chunk's first
    # images too (without it, the first quarter second of every chunk went
    # uncounted and the ETA ran ~10% long).
    progress.record(build.pk, chunk.number, counts, moved=False)
    next_report = time.monotonic() + PROGRESS_EVERY_S
    cancelled = False
    reported = None
    clock.lap("progress")

    def should_stop():
        nonlocal next_report, cancelled, reported
        if _stop_requested:
            return True
        if time.monotonic() < next_report:
            return False
        clock.lap("render")
        now_counts = tuple(counts.values())
        progress.record(build.pk, chunk.number, counts, moved=now_counts != reported)
        log.debug("build %s chunk %s: %s", build.pk, chunk.number, counts)
        reported = now_counts
        next_report = time.monotonic() + PROGRESS_EVERY_S
        cancelled = progress.cancel_requested(build.pk)
        clock.lap("progress")
        return cancelled

    existing = ExistingFiles()
    path = None

    def wanted(index, digits):
        # The name is the fingerprint: an existing file is already right.
        nonlocal path
        path = layout.path(digits)
        if path in existing:
            counts["skipped"] += 1
            return False
        return True

    failure = None
    with AtomicWriter(layout.root, f"build{build.pk}-chunk{chunk.number}") as writer:
        for index, digits, data in renderer.render_range(chunk.start, chunk.stop, should_stop, wanted):
            clock.lap("render")
            try:
                writer.write(path, data)
            except OSError as error:
                # The disk will not take the next image either: stop, fail, let a retry go on.
                counts["failed"] += 1
                failure = f"writing image {index} failed: {error.strerror or error} ({path})"
                break
            finally:
                clock.lap("write")
            counts["rendered"] += 1
    clock.lap("render")
    progress.record(build.pk, chunk.number, counts)
    clock.lap("progress")
    log.info("build %s chunk %s ended: %s rendered, %s skipped, %s failed in %.2f s (%.0f images/s; %s; "
             "%s layers decoded here), job %s", build.pk, chunk.number, counts["rendered"], counts["skipped"],
             counts["failed"], clock.total(), (counts["rendered"] + counts["skipped"]) / max(clock.total(), 1e-9),
             clock, decoded, job_id or chunk.job_id)
    if failure:
        raise ChunkFailed(failure)
    if _stop_requested and not cancelled and sum(counts.values()) < chunk.stop - chunk.start:
        requeue(build, chunk)
        return {**counts, "requeued": True}
    end_chunk(chunk, Chunk.CANCELLED if cancelled else Chunk.DONE)
    clock.lap("end")
    return {**counts, "seconds": clock.report()}


class PhaseClock:
    """Where a chunk's time goes: each lap adds the time since the last one
    to a phase (a perf_counter call costs ~0.1 us; an image ~100 us)."""

    PHASES = ("begin", "layers", "render", "write", "progress", "end")

    def __init__(self):
        self.began_at = time.time()  # the wall clock: comparable between processes
        self.last = self.start = time.perf_counter()
        self.spent = dict.fromkeys(self.PHASES, 0.0)

    def lap(self, phase):
        now = time.perf_counter()
        self.spent[phase] += now - self.last
        self.last = now

    def total(self):
        return self.last - self.start

    def report(self):
        return {**{phase: round(spent, 4) for phase, spent in self.spent.items()},
                "began_at": round(self.began_at, 4), "ended_at": round(self.began_at + self.total(), 4)}

    def __str__(self):
        return ", ".join(f"{phase} {self.spent[phase]:.2f} s" for phase in self.PHASES[1:5])


# The worker's heartbeat for the chunk waits while it preloads (its TTL is
# a few seconds): never long. 32 Mpx decode in ~0.5 s here (classic's 72
# layers are 14 Mpx); bigger sets are left to the chunk's own process.
PRELOAD_LOCK_TIMEOUT_S = 1
PRELOAD_MAX_PIXELS = 32_000_000


def preload_chunk_layers(chunk_id):
    """In a render worker, before it forks the process that renders the
    chunk: the layers the chunk uses, into the worker's cache, which that
    process and every later one inherit. Best effort and brief: a layer
    busy being replaced is left for the chunk's own process to read."""
    chunk = Chunk.objects.select_related("build").filter(pk=chunk_id).first()
    if chunk is None or chunk.build.state not in Build.ACTIVE:
        return
    plan = plan_of(chunk.build)
    layers = sum(len(set(digits)) for digits in combinations.digits_used(plan.radices, chunk.start, chunk.stop))
    if layers * plan.width * plan.height > PRELOAD_MAX_PIXELS:
        log.debug("chunk %s: %s layers of %sx%s are too many to preload", chunk_id, layers, plan.width, plan.height)
        return
    try:
        load_renderer(plan, chunk.start, chunk.stop, owner=f"worker preloading chunk {chunk.number}",
                      cache=worker_cache, lock_timeout=PRELOAD_LOCK_TIMEOUT_S)
    except LockTimeout:
        log.debug("chunk %s: layers busy, not preloaded", chunk_id)


@waits_for_database
def begin_chunk(chunk_id, job_id, worker):
    """(chunk, plan, None) with the chunk marked running, or (None, None,
    the job's result) when there is nothing to render."""
    chunk = Chunk.objects.select_related("build__trophy").filter(pk=chunk_id).first()
    if chunk is None:  # its build was deleted, or never started
        log.info("chunk %s no longer exists; nothing to do", chunk_id)
        return None, None, {"missing": True}
    build = chunk.build
    if build.state not in Build.ACTIVE or progress.cancel_requested(build.pk):
        end_chunk(chunk, Chunk.CANCELLED)
        return None, None, {"cancelled": True}
    now = timezone.now()
    Chunk.objects.filter(pk=chunk.pk).update(
        state=Chunk.RUNNING, attempts=chunk.attempts + 1, started_at=now, job_id=job_id or chunk.job_id,
        worker=worker or f"{socket.gethostname()}:{os.getpid()}", error="",
    )
    if Build.objects.filter(pk=build.pk, state=Build.QUEUED).update(state=Build.RUNNING, started_at=now):
        notify_watchers(build.pk)
    log.info("build %s chunk %s started: [%s, %s), attempt %s, job %s", build.pk, chunk.number, chunk.start,
             chunk.stop, chunk.attempts + 1, job_id or chunk.job_id)
    return chunk, plan_of(build), None


@waits_for_database
def end_chunk(chunk, state):
    Chunk.objects.filter(pk=chunk.pk).update(state=state, finished_at=timezone.now())
    finish_if_complete(chunk.build_id)


@waits_for_database
def requeue(build, chunk):
    """A chunk interrupted by a stop goes back to the front of the queue: not
    failed, and its counts are overwritten when it runs again."""
    chunk.refresh_from_db()
    Chunk.objects.filter(pk=chunk.pk).update(state=Chunk.QUEUED, finished_at=None)
    enqueue_chunks(build, [chunk], at_front=True)
    log.info("build %s chunk %s: stopped by a shutdown, queued again", build.pk, chunk.number)


def finish_if_complete(build_id):
    """Called after each chunk ends: the last one settles the build's state.

    Each chunk commits its own state first, so of two chunks ending at once
    at least the later one sees every chunk ended; the conditional update
    makes settling happen once."""
    chunks = Chunk.objects.filter(build_id=build_id)
    if chunks.filter(state__in=(Chunk.QUEUED, Chunk.RUNNING)).exists():
        return None
    store_final_counts(build_id)  # also after a cancel, when the last chunk stops
    if chunks.filter(state=Chunk.FAILED).exists():
        state = Build.FAILED
    elif chunks.filter(state=Chunk.CANCELLED).exists() or progress.cancel_requested(build_id):
        state = Build.CANCELLED
    else:
        state = Build.DONE
    if Build.objects.filter(pk=build_id, state__in=Build.ACTIVE).update(state=state, finished_at=timezone.now()):
        final = Build.objects.filter(pk=build_id).values("rendered", "skipped", "failed").first() or {}
        log.info("build %s settled %s: %s rendered, %s skipped, %s failed", build_id, state,
                 final.get("rendered"), final.get("skipped"), final.get("failed"))
        on_settled(build_id)
        if state == Build.DONE:
            prune.enqueue_after_build(build_id)  # old fingerprints' files, in the background
    return state


@waits_for_database
def chunk_failed(chunk_id, error, will_retry):
    """A chunk's job raised or its worker died. RQ retries it while it has
    retries left; after the last one the chunk is failed for good."""
    state = Chunk.QUEUED if will_retry else Chunk.FAILED
    log.warning("chunk %s failed (%s): %s", chunk_id, "RQ retries it" if will_retry else "for good",
                error.splitlines()[0] if error else "no reason given")
    Chunk.objects.filter(pk=chunk_id).exclude(state=Chunk.DONE).update(
        state=state, error=error[:4000], finished_at=None if will_retry else timezone.now()
    )
    if not will_retry:
        build_id = Chunk.objects.filter(pk=chunk_id).values_list("build_id", flat=True).first()
        if build_id:
            finish_if_complete(build_id)


LOST_AFTER_S = 20          # a queued chunk's job missing this long is lost, not in flight
LOST_KEY = "k2:chunks-without-job"
WAITING = ("queued", "started", "scheduled", "deferred")


def requeue_lost_chunks(now=None):
    """Queue again the chunks of active builds whose RQ job has gone while
    the chunk waits (run by the workers' maintenance). A job can be lost
    in a Redis crash between the steps that move it; without this its
    build would stay running for ever. Returns the chunks queued again."""
    now = time.time() if now is None else now
    queue = django_rq.get_queue(QUEUE)
    connection = queue.connection
    suspects = {int(k): float(v) for k, v in connection.hgetall(LOST_KEY).items()}
    # In the queue, or taken from it by a worker that has not registered it yet (rq's intermediate queue).
    listed = {job_id.decode() for job_id in connection.lrange(queue.key, 0, -1)}
    listed.update(job_id.decode() for job_id in connection.lrange(queue.intermediate_queue_key, 0, -1))
    lost, missing_jobs = [], set()
    for chunk in Chunk.objects.filter(state=Chunk.QUEUED, build__state__in=Build.ACTIVE).select_related("build__trophy"):
        job = queue.fetch_job(chunk.job_id) if chunk.job_id else None
        status = job.get_status(refresh=False) if job is not None else None
        if status in WAITING and (status != "queued" or job.id in listed):
            continue
        missing_jobs.add(chunk.pk)
        first_seen = suspects.get(chunk.pk)
        if first_seen is None:
            connection.hsetnx(LOST_KEY, chunk.pk, now)
        elif now - first_seen >= LOST_AFTER_S:
            log.warning("build %s chunk %s: its job %s is %s; queued again", chunk.build_id, chunk.number,
                        chunk.job_id, status or "gone")
            if job is not None:
                job.delete()
            enqueue_chunks(chunk.build, [chunk], at_front=True)
            lost.append(chunk)
            missing_jobs.discard(chunk.pk)
    forgotten = [pk for pk in suspects if pk not in missing_jobs]
    if forgotten:
        connection.hdel(LOST_KEY, *forgotten)
    return lost


def cancel_build(build):
    """Queued chunks will not start; running ones stop at the next image."""
    if not build.is_active:
        return False
    progress.request_cancel(build.pk)
    Chunk.objects.filter(build=build, state=Chunk.QUEUED).update(state=Chunk.CANCELLED, finished_at=timezone.now())
    queue = django_rq.get_queue(QUEUE)
    for job_id in build.chunks.filter(state=Chunk.CANCELLED).values_list("job_id", flat=True):
        job = queue.fetch_job(job_id) if job_id else None
        if job is not None and job.get_status() == "queued":
            job.cancel()
    Build.objects.filter(pk=build.pk, state__in=Build.ACTIVE).update(
        state=Build.CANCELLED, finished_at=timezone.now())
    store_final_counts(build.pk)
    on_settled(build.pk)
    return True


def on_settled(build_id):
    """The build's figures for later comparison, then the news."""
    build_history.store_figures(build_id)
    notify_watchers(build_id)


def notify_watchers(build_id):
    """A state change reaches event streams and `k2 build --wait` at once;
    if Redis cannot tell them, they still see it on their next check."""
    try:
        progress.announce(build_id)
    except Exception:
        log.warning("build %s: watchers could not be told of a state change", build_id, exc_info=True)


def store_final_counts(build_id):
    """The build's counts go to its row; Redis then forgets them after a while."""
    Build.objects.filter(pk=build_id).update(**progress.totals(build_id))
    progress.settled(build_id)


def retry_failed_chunks(build):
    """Run a failed build's failed chunks again (one build per trophy still)."""
    slug = build.trophy.slug
    try:
        with exclusive(f"build:{slug}", timeout=5, owner=f"retry build {build.pk}") as held:
            chunks = _retry_locked(build, held)
    except LockTimeout as error:
        raise BuildError(f"another build of {slug} is being started: {error}") from None
    except LockLost as error:
        raise BuildError(f"the retry of build {build.pk} was overtaken by another start ({error})") from None
    notify_watchers(build.pk)
    return len(chunks)


def _retry_locked(build, held):
    if build.trophy.builds.filter(state__in=Build.ACTIVE).exclude(pk=build.pk).exists():
        raise BuildError(f"another build of {build.trophy.slug} is running")
    chunks = list(build.chunks.filter(state=Chunk.FAILED))
    if not chunks:
        raise BuildError(f"build {build.pk} has no failed chunks")
    with transaction.atomic():
        held.ensure_newest()  # fencing, as at a start
        Chunk.objects.filter(pk__in=[c.pk for c in chunks]).update(state=Chunk.QUEUED, finished_at=None)
        Build.objects.filter(pk=build.pk).update(state=Build.RUNNING, finished_at=None, error="",
                                                 rendered=None, skipped=None, failed=None)
    try:
        enqueue_chunks(build, chunks)
    except Exception as error:  # all or nothing, as a start
        Chunk.objects.filter(pk__in=[c.pk for c in chunks]).update(state=Chunk.FAILED, finished_at=timezone.now())
        Build.objects.filter(pk=build.pk).update(state=Build.FAILED, finished_at=timezone.now())
        store_final_counts(build.pk)
        raise BuildUnavailable(f"build {build.pk} could not be queued again ({type(error).__name__}: {error})") from error
    return chunks
