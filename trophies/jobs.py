"""RQ entry points: ids in, the service does the work."""
import traceback

from rq import get_current_job

from trophies.services import builds

TRACEBACK_CHARS = 3000


def render_chunk(chunk_id):
    job = get_current_job()
    return builds.render_chunk(chunk_id, job_id=job.id if job else "", worker=job.worker_name if job else "")


def chunk_failed(job, connection, exc_type, exc_value, tb):
    """RQ failure callback, also called for jobs abandoned by a dead worker.
    The chunk's error starts with the reason; a traceback follows for
    failures the code did not expect."""
    reason = str(exc_value) if exc_type is builds.ChunkFailed else f"{exc_type.__name__}: {exc_value}"
    if tb is not None and exc_type is not builds.ChunkFailed:
        reason += "\n\n" + "".join(traceback.format_exception(exc_type, exc_value, tb))[-TRACEBACK_CHARS:]
    builds.chunk_failed(job.args[0], reason, will_retry=(job.retries_left or 0) > 0)


def prune_after_build(build_id):
    """Queue "default": remove the settled build's trophy's old renders and
    refresh its disk figures."""
    from trophies.models import Build
    from trophies.services import disk_usage, prune

    slug = Build.objects.filter(pk=build_id).values_list("trophy__slug", flat=True).first()
    if slug is None:
        return {"missing": True}
    result = prune.prune_renders(slug)
    disk_usage.refresh(slug)
    return {"files": result.files, "bytes": result.bytes}
