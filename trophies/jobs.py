"""RQ entry points: ids in, the service does the work."""
import traceback

from rq import get_current_job

from trophies.services import builds


def render_chunk(chunk_id):
    job = get_current_job()
    return builds.render_chunk(chunk_id, job_id=job.id if job else "", worker=job.worker_name if job else "")


def chunk_failed(job, connection, exc_type, exc_value, tb):
    """RQ failure callback, also called for jobs abandoned by a dead worker."""
    error = "".join(traceback.format_exception(exc_type, exc_value, tb)) if tb else f"{exc_type.__name__}: {exc_value}"
    builds.chunk_failed(job.args[0], error, will_retry=(job.retries_left or 0) > 0)
