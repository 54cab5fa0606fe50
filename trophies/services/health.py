"""`k2 health`: is everything a build needs reachable? Each check returns
(ok, detail) and never raises."""
import shutil

import redis
from django.conf import settings
from django.db import connection
from rq import Worker

from trophies.services.builds import QUEUE

MIN_FREE_BYTES = 1024**3


def check_database():
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1")
    return True, f"{connection.vendor} answers"


def check_redis():
    client = redis.Redis.from_url(settings.REDIS_URL, socket_timeout=2)
    try:
        client.ping()
        return True, f"{settings.REDIS_URL} answers"
    finally:
        client.close()


def check_workers():
    client = redis.Redis.from_url(settings.REDIS_URL, socket_timeout=2)
    try:
        workers = [w for w in Worker.all(connection=client) if QUEUE in w.queue_names()]
    finally:
        client.close()
    if not workers:
        return False, f"no worker listens on queue {QUEUE!r}"
    return True, f"{len(workers)} workers on queue {QUEUE!r}"


def check_disk():
    path = settings.K2_DATA_DIR
    path.mkdir(parents=True, exist_ok=True)
    free = shutil.disk_usage(path).free
    return free >= MIN_FREE_BYTES, f"{free / 1024**3:.1f} GiB free under {path}"


CHECKS = {"database": check_database, "redis": check_redis, "workers": check_workers, "disk": check_disk}


def check_health():
    report = {}
    for name, check in CHECKS.items():
        try:
            report[name] = check()
        except Exception as error:  # a health check reports, it does not crash
            report[name] = (False, f"{type(error).__name__}: {error}")
    return report
