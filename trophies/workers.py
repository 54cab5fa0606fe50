"""The render worker: rq's forking Worker, tuned so a dead worker's chunk
runs again within seconds instead of RQ's default ~13 minutes.

- The heartbeat TTL of a running job is jmi + 3 s instead of RQ's
  hard-coded jmi + 60 s, so an abandoned job's registry entry expires fast;
  maintenance (which re-queues abandoned jobs through their Retry) runs
  every few seconds on every worker.
- RQ's registry-cleaning lock lasts 899 s: a worker that dies while
  cleaning (SIGKILL, or Redis killed under it) would stop every worker's
  maintenance, and so the rerun of abandoned chunks, for 15 minutes. We cap
  a lock found with a longer life to MAINTENANCE_LOCK_S.
- Before forking a chunk's horse, the worker decodes the layers the chunk
  uses into its own cache (renderer.worker_cache), so every horse
  inherits them instead of decoding them again (~0.2 s per classic chunk).
- Maintenance also queues again a chunk whose job has vanished from Redis
  while the chunk waits (builds.requeue_lost_chunks), so a job lost in a
  Redis crash cannot leave its build running for ever.
- The horse (the forked process running the job) dies with its parent
  (PDEATHSIG), so a killed worker never leaves a horse rendering unwatched
  while its chunk runs again elsewhere.
- A horse killed under a live parent: the parent fails the job at once and
  RQ's Retry re-queues it at the front; we record that on the chunk.
- SIGTERM (a stop by systemd or `k2 serve`) is a stop, not a crash: the
  horse finishes the image it is on, puts its chunk back at the front of
  the queue (not failed, counts overwritten when it runs again) and the
  worker exits.
get_heartbeat_ttl is not public rq API: recheck on rq upgrades.
"""
import ctypes
import logging
import os
import signal

from django.db import connections
from rq import Worker

from trophies.services import builds, progress

PR_SET_PDEATHSIG = 1
JOB_MONITORING_INTERVAL = 2
MAINTENANCE_INTERVAL = 3
HEARTBEAT_GRACE = 3
MAINTENANCE_LOCK_S = 15     # cleaning takes milliseconds; a lock older than this was left by a dead worker
LOST_CHUNKS_LOCK = "k2:lost-chunks-lock"
log = logging.getLogger(__name__)


class RenderWorker(Worker):
    def __init__(self, *args, **kwargs):
        kwargs.setdefault("job_monitoring_interval", JOB_MONITORING_INTERVAL)
        kwargs.setdefault("maintenance_interval", MAINTENANCE_INTERVAL)
        super().__init__(*args, **kwargs)

    def register_birth(self):
        super().register_birth()
        log.info("worker %s started (pid %s, queues %s)", self.name, os.getpid(), ", ".join(self.queue_names()))

    def register_death(self):
        log.info("worker %s stopping after %s jobs", self.name, self.successful_job_count + self.failed_job_count)
        super().register_death()

    def clean_registries(self):
        for queue in self.queues:
            if queue.connection.ttl(queue.registry_cleaning_key) > MAINTENANCE_LOCK_S:
                queue.connection.expire(queue.registry_cleaning_key, MAINTENANCE_LOCK_S)
        super().clean_registries()
        # One worker at a time looks for chunks whose job was lost.
        if self.connection.set(LOST_CHUNKS_LOCK, self.name, nx=True, ex=MAINTENANCE_INTERVAL):
            try:
                builds.requeue_lost_chunks()
            except Exception:  # the database or Redis is away: the next round looks again
                log.warning("looking for lost chunks failed", exc_info=True)
            finally:
                connections.close_all()  # never inherited by a horse

    def get_heartbeat_ttl(self, job, working_time=0.0):
        remaining = (job.timeout - working_time) if job.timeout and job.timeout > 0 else self.job_monitoring_interval
        return int(min(remaining, self.job_monitoring_interval)) + HEARTBEAT_GRACE

    def setup_work_horse_signals(self):
        super().setup_work_horse_signals()
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGKILL)
        # SIGTERM (systemd sends it to every process of the unit; the worker
        # passes it on) stops the chunk at the next image instead of killing it.
        signal.signal(signal.SIGTERM, lambda signum, frame: builds.request_stop())

    def fork_work_horse(self, job, queue):
        if job.func_name == "trophies.jobs.render_chunk":
            try:
                builds.preload_chunk_layers(job.args[0])
            except Exception:  # the chunk's own process loads what it needs
                log.warning("job %s: layers could not be preloaded", job.id, exc_info=True)
            finally:
                connections.close_all()  # never inherited by the horse
        super().fork_work_horse(job, queue)

    def handle_warm_shutdown_request(self):
        super().handle_warm_shutdown_request()
        if self.horse_pid:
            try:
                os.kill(self.horse_pid, signal.SIGTERM)
            except ProcessLookupError:
                pass

    def handle_work_horse_killed(self, job, retpid, ret_val, rusage):
        super().handle_work_horse_killed(job, retpid, ret_val, rusage)
        if job.func_name != "trophies.jobs.render_chunk":
            return
        try:
            builds.chunk_failed(job.args[0], f"worker process killed (wait status {ret_val})",
                                will_retry=(job.retries_left or 0) > 0)
        finally:
            # Horses are forked from this process: they must not inherit
            # (and later close) a database connection opened here.
            connections.close_all()
            progress.reset_client()
