"""django-rq's dashboard URLs with their indexes and keys checked first.

django-rq looks queues up by position (``/django-rq/queues/5/``) and workers
by key, and answers an index past the end (IndexError) or a worker that is
gone (an ``assert``) with a 500. Each view here is django-rq's own behind a
guard that answers those with a plain-text 404 saying what is missing. Visitors who are
not staff reach django-rq's view unchanged (its login redirect), so the
guard tells nothing to them.
"""
from functools import wraps

from django.http import HttpResponseNotFound
from django.urls import URLPattern
from django_rq import urls as rq_urls
from django_rq.connection_utils import get_unique_connection_configs
from django_rq.queues import get_queue_by_index
from django_rq.settings import get_queues_list
from rq.worker import Worker


def missing(kwargs):
    """What an index or worker key of the URL names that the dashboard does not have, or None."""
    queues = len(get_queues_list())
    for name in ("queue_index", "scheduler_index"):
        if name in kwargs and not 0 <= kwargs[name] < queues:
            return f"There is no queue number {kwargs[name]} (queues are numbered 0 to {queues - 1})."
    if "connection_index" in kwargs and not 0 <= kwargs["connection_index"] < len(get_unique_connection_configs()):
        return f"There is no Redis connection number {kwargs['connection_index']}."
    if "key" in kwargs and "queue_index" in kwargs:
        connection = get_queue_by_index(kwargs["queue_index"]).connection
        try:
            worker = Worker.find_by_key(kwargs["key"], connection=connection)
        except ValueError:  # not even shaped like a worker key (rq:worker:NAME)
            worker = None
        if worker is None:
            return f"There is no worker {kwargs['key']!r} (it may have stopped)."
    return None


def guarded(view):
    @wraps(view)
    def guarded_view(request, *args, **kwargs):
        if getattr(request, "user", None) is not None and request.user.is_staff:
            message = missing(kwargs)
            if message:
                return HttpResponseNotFound(message, content_type="text/plain; charset=utf-8")
        return view(request, *args, **kwargs)

    return guarded_view


def guard_patterns(patterns):
    return [URLPattern(p.pattern, guarded(p.callback), p.default_args, p.name) for p in patterns]


def urlpatterns():
    return guard_patterns(rq_urls.urlpatterns)

