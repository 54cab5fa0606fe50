"""A build's states, driven in this process chunk by chunk (no worker): when
it settles and how, failures, retries, cancels and stops. Fast enough for
mutation testing (make mutation), which cannot see into worker processes."""
from datetime import timedelta

import django_rq
import pytest
from django.utils import timezone
from rq import Worker

from tests.builds_support import medium_trophy
from trophies.models import Build, Chunk, Trophy
from trophies.services import builds, progress
from trophies.services.build_status import stalled_since, status_of
from trophies.services.demo import create_demo_catalog


@pytest.fixture
def starter(db):
    create_demo_catalog()
    return Trophy.objects.get(slug="starter")


@pytest.fixture
def two_chunks(db, monkeypatch):
    """A build of 8,550 combinations in two chunks, queued, no worker."""
    monkeypatch.setattr(builds, "CHUNKS_PER_WORKER", 1)
    monkeypatch.setattr(builds, "MAX_CHUNK", 5000)
    build = builds.start_build(medium_trophy())
    first, second = build.chunks.order_by("number")
    return build, first, second


def state_of(build):
    return Build.objects.get(pk=build.pk).state


def queue():
    return django_rq.get_queue(builds.QUEUE)


def test_a_build_settles_only_when_its_last_chunk_ends(two_chunks, monkeypatch):
    build, first, second = two_chunks
    monkeypatch.setattr(builds, "load_renderer", lambda *a, **k: (_NoImages(), _Layout()))
    builds.render_chunk(first.pk)
    assert state_of(build) == Build.RUNNING
    assert Chunk.objects.get(pk=first.pk).state == Chunk.DONE
    builds.render_chunk(second.pk)
    done = Build.objects.get(pk=build.pk)
    assert done.state == Build.DONE and done.finished_at is not None
    assert (done.rendered, done.skipped, done.failed) == (0, 0, 0)


class _NoImages:
    """A renderer with nothing to render: the states are what these tests look at."""

    def render_range(self, start, stop, should_stop, wanted):
        return iter(())


class _Layout:
    root = "/nonexistent-k2-test"


def test_a_failed_chunk_is_queued_again_while_it_has_retries_then_fails_the_build(two_chunks):
    build, first, second = two_chunks
    Chunk.objects.filter(pk=second.pk).update(state=Chunk.DONE)
    builds.chunk_failed(first.pk, "writing image 7 failed: No space left on device\n\ntraceback", will_retry=True)
    chunk = Chunk.objects.get(pk=first.pk)
    assert chunk.state == Chunk.QUEUED and chunk.finished_at is None
    assert chunk.error.startswith("writing image 7 failed: No space left on device")
    assert state_of(build) == Build.QUEUED
    builds.chunk_failed(first.pk, "x" * 5000, will_retry=False)
    chunk = Chunk.objects.get(pk=first.pk)
    assert chunk.state == Chunk.FAILED and chunk.finished_at is not None and len(chunk.error) == 4000
    assert state_of(build) == Build.FAILED
    # A chunk that is done stays done, whatever arrives late.
    builds.chunk_failed(second.pk, "late", will_retry=False)
    assert Chunk.objects.get(pk=second.pk).state == Chunk.DONE


def test_retry_queues_the_failed_chunks_again_and_refuses_what_it_cannot(two_chunks):
    build, first, second = two_chunks
    with pytest.raises(builds.BuildError, match=f"build {build.pk} has no failed chunks"):
        builds.retry_failed_chunks(build)
    queue().empty()
    Chunk.objects.filter(pk=second.pk).update(state=Chunk.DONE)
    builds.chunk_failed(first.pk, "boom", will_retry=False)
    assert builds.retry_failed_chunks(Build.objects.get(pk=build.pk)) == 1
    again = Build.objects.get(pk=build.pk)
    assert again.state == Build.RUNNING and again.finished_at is None and again.rendered is None
    chunk = Chunk.objects.get(pk=first.pk)
    assert chunk.state == Chunk.QUEUED and chunk.finished_at is None
    assert queue().get_job_ids() == [chunk.job_id]
    assert Chunk.objects.get(pk=second.pk).state == Chunk.DONE


def test_retry_refuses_while_another_build_of_the_trophy_runs(two_chunks):
    build, first, _ = two_chunks
    builds.chunk_failed(first.pk, "boom", will_retry=False)
    Chunk.objects.filter(build=build, state=Chunk.QUEUED).update(state=Chunk.DONE)
    builds.finish_if_complete(build.pk)
    other = Build.objects.create(trophy=build.trophy, total=1, chunk_size=1, state=Build.QUEUED)
    with pytest.raises(builds.BuildError, match="another build of drill is running"):
        builds.retry_failed_chunks(Build.objects.get(pk=build.pk))
    assert other.pk and state_of(build) == Build.FAILED


def test_a_retry_that_cannot_be_queued_leaves_the_build_failed(two_chunks, settings):
    build, first, second = two_chunks
    Chunk.objects.filter(pk=second.pk).update(state=Chunk.DONE)
    builds.chunk_failed(first.pk, "boom", will_retry=False)
    settings.RQ_QUEUES = {name: {**config, "URL": "unix:///nonexistent/redis.sock"}
                          for name, config in settings.RQ_QUEUES.items()}
    with pytest.raises(builds.BuildUnavailable, match="could not be queued again"):
        builds.retry_failed_chunks(Build.objects.get(pk=build.pk))
    assert state_of(build) == Build.FAILED
    assert Chunk.objects.get(pk=first.pk).state == Chunk.FAILED


def test_cancel_settles_this_build_only_and_tells_running_chunks(two_chunks, starter):
    build, first, second = two_chunks
    other = builds.start_build(starter)
    assert builds.cancel_build(Build.objects.get(pk=build.pk)) is True
    cancelled = Build.objects.get(pk=build.pk)
    assert cancelled.state == Build.CANCELLED and cancelled.finished_at is not None
    assert progress.cancel_requested(build.pk) and not progress.cancel_requested(other.pk)
    assert state_of(other) == Build.QUEUED
    assert builds.cancel_build(cancelled) is False
    # A chunk that starts after the cancel ends at once, and the build stays cancelled.
    assert builds.render_chunk(first.pk) == {"cancelled": True}
    assert Chunk.objects.get(pk=first.pk).state == Chunk.CANCELLED
    assert state_of(build) == Build.CANCELLED


def test_a_cancel_request_ends_the_chunks_and_settles_the_build_cancelled(two_chunks):
    build, first, second = two_chunks
    progress.request_cancel(build.pk)  # as seen by a worker: the flag in Redis, the row still queued
    assert builds.render_chunk(first.pk) == {"cancelled": True}
    assert state_of(build) == Build.QUEUED
    assert builds.render_chunk(second.pk) == {"cancelled": True}
    assert state_of(build) == Build.CANCELLED


def test_a_stop_puts_the_chunk_back_at_the_front_of_the_queue(two_chunks, monkeypatch):
    build, first, second = two_chunks
    monkeypatch.setattr(builds, "_stop_requested", False)
    builds.request_stop()
    assert builds._stop_requested is True
    queue().empty()
    queue().enqueue("operator.add", 1, 2, job_id="someone-else")
    counts = builds.render_chunk(first.pk)
    assert counts == {"rendered": 0, "skipped": 0, "failed": 0, "requeued": True}
    chunk = Chunk.objects.get(pk=first.pk)
    assert chunk.state == Chunk.QUEUED and chunk.attempts == 1 and chunk.error == ""
    assert queue().get_job_ids()[0] == chunk.job_id == f"k2-build{build.pk}-chunk0-1"
    assert state_of(build) == Build.RUNNING


def test_progress_that_moves_is_not_a_stall(starter, settings):
    settings.K2_STALL_AFTER_S = 1
    build = builds.start_build(starter)
    Build.objects.filter(pk=build.pk).update(state=Build.RUNNING, started_at=timezone.now() - timedelta(minutes=5))
    rq_queue = queue()
    worker = Worker([rq_queue], connection=rq_queue.connection, name="k2-test-stall-worker")
    worker.register_birth()
    try:
        build.chunks.update(state=Chunk.RUNNING, worker=worker.name)
        row = Build.objects.get(pk=build.pk)
        assert stalled_since(row) == row.started_at  # no progress since the start
        progress.record(build.pk, 0, {"rendered": 3, "skipped": 0, "failed": 0}, moved=True)
        assert stalled_since(row) is None
        assert status_of(row)["stalled_since"] is None
    finally:
        worker.register_death()


def test_a_build_without_a_stored_plan_takes_the_trophy_once_and_alone(starter):
    old = [Build.objects.create(trophy=starter, total=12, chunk_size=12) for _ in range(2)]
    plan = builds.plan_of(old[0])
    assert plan.total == 12 and Build.objects.get(pk=old[0].pk).plan == plan.to_json()
    assert Build.objects.get(pk=old[1].pk).plan is None


def test_progress_keys_expire(starter):
    build = builds.start_build(starter)
    progress.record(build.pk, 0, {"rendered": 1, "skipped": 0, "failed": 0}, moved=True)
    client = progress.client()
    assert all(0 < client.ttl(key) <= progress.ACTIVE_TTL_S for key in progress.keys_of(build.pk)[:2])
    assert 0 < client.ttl(progress.moved_key(build.pk)) <= progress.ACTIVE_TTL_S
    progress.settled(build.pk)
    assert 0 < client.ttl(progress.counters_key(build.pk)) <= progress.SETTLED_TTL_S


def test_a_chunk_samples_its_start_so_the_rate_counts_its_first_images(two_chunks):
    from trophies.services import throughput

    build, first, _ = two_chunks
    builds.render_chunk(first.pk)
    raw = progress.client().zrange(progress.samples_key(build.pk), 0, -1)
    samples = [(at, count) for at, chunk, count in throughput.parse_samples(raw, "rendered") if chunk == first.number]
    # From 0 at its start to all of it: a window holding its samples counts every image.
    assert samples[0][1] == 0 and samples[-1][1] == first.stop - first.start


def test_a_queued_chunk_whose_job_vanished_is_queued_again(two_chunks):
    """A Redis crash can lose a job between the steps that move it: the
    workers' maintenance notices the chunk waiting for nothing."""
    build, first, second = two_chunks
    progress.client().delete(builds.LOST_KEY)
    queue().remove(first.job_id)
    queue().connection.delete(f"rq:job:{first.job_id}")
    assert builds.requeue_lost_chunks(now=1000.0) == []  # first seen: maybe in flight
    assert builds.requeue_lost_chunks(now=1000.0 + builds.LOST_AFTER_S - 1) == []
    again = builds.requeue_lost_chunks(now=1000.0 + builds.LOST_AFTER_S)
    assert [c.pk for c in again] == [first.pk]
    job = queue().fetch_job(Chunk.objects.get(pk=first.pk).job_id)
    assert job.get_status() == "queued" and queue().get_job_ids()[0] == job.id  # at the front
    # The chunk whose job waits in the queue was never touched, and nothing is suspect now.
    assert builds.requeue_lost_chunks(now=5000.0) == []
    assert Chunk.objects.get(pk=second.pk).job_id == second.job_id
    assert not progress.client().hgetall(builds.LOST_KEY)
