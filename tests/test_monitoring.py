"""The queue dashboard, /api/stats/ and /metrics: shapes and access rules."""
import operator

import django_rq
import pytest
from django.http import HttpRequest
from rq import Queue, SimpleWorker, Worker

from trophies.models import Build, Trophy
from trophies.services import progress
from trophies.services.demo import create_demo_catalog

from tests.metrics_support import sample, scrape


@pytest.fixture
def failed_job(db):
    """A job that really failed in a real (in-process) worker."""
    # A plain rq Queue: django-rq's would wait for the test's transaction to commit.
    queue = Queue("default", connection=django_rq.get_connection("default"))
    job = queue.enqueue(operator.truediv, 1, 0, description="divide by zero")
    SimpleWorker([queue], connection=queue.connection).work(burst=True)
    return job


@pytest.fixture
def idle_worker(db):
    queue = django_rq.get_queue("render")
    worker = Worker([queue], connection=queue.connection, name="k2-test-idle-worker")
    worker.register_birth()
    worker.set_state("idle")
    worker.heartbeat()
    yield worker
    worker.register_death()


def test_api_stats_shape(admin_client, failed_job, idle_worker):
    create_demo_catalog()
    starter = Trophy.objects.get(slug="starter")
    # A settled build counts from its row (Redis may have forgotten it); a running one from Redis.
    Build.objects.create(trophy=starter, total=12, chunk_size=200, state=Build.DONE, rendered=7, skipped=2, failed=0)
    running = Build.objects.create(trophy=starter, total=12, chunk_size=200, state=Build.RUNNING)
    progress.record(running.pk, 0, {"rendered": 3, "skipped": 0, "failed": 0})
    data = admin_client.get("/api/stats/").json()
    assert set(data) == {"queues", "workers", "failed_jobs", "builds", "images", "generated_at"}
    queues = {q["name"]: q for q in data["queues"]}
    assert set(queues) == {"default", "render"}
    assert set(queues["default"]) == {"name", "index", "queued", "started", "finished", "failed", "deferred", "scheduled"}
    assert queues["default"]["failed"] == 1 and queues["default"]["index"] == 0
    worker = next(w for w in data["workers"] if w["name"] == "k2-test-idle-worker")
    assert worker["state"] == "idle" and worker["queues"] == ["render"] and worker["current_job"] is None
    assert worker["last_heartbeat"] and set(worker) >= {"hostname", "pid", "successful_jobs", "failed_jobs", "build"}
    [failure] = data["failed_jobs"]
    assert failure["id"] == failed_job.id and failure["queue"] == "default"
    assert "ZeroDivisionError" in failure["traceback"]
    assert data["builds"]["done"] == 1 and data["builds"]["running"] == 1
    assert data["images"] == {"rendered": 10, "skipped": 2, "failed": 0}


def test_queue_page_shows_queues_workers_tracebacks_and_links_to_django_rq(admin_client, failed_job, idle_worker):
    response = admin_client.get("/studio/queues/")
    assert response.status_code == 200
    html = response.content.decode()
    assert "k2-test-idle-worker" in html and "ZeroDivisionError" in html
    assert 'href="/django-rq/"' in html
    assert f'href="/django-rq/queues/0/{failed_job.id}/"' in html
    assert 'href="/django-rq/queues/1/failed/"' in html  # render is queue 1 in django-rq's numbering


def test_metrics_prometheus_text(client, db, failed_job, idle_worker):
    create_demo_catalog()
    trophy = Trophy.objects.get(slug="starter")
    from datetime import timedelta

    from django.utils import timezone

    now = timezone.now()
    Build.objects.create(trophy=trophy, total=12, chunk_size=200, state=Build.DONE,
                         started_at=now - timedelta(seconds=42), finished_at=now, rendered=12, skipped=0, failed=0)
    response = client.get("/metrics")
    assert response["Content-Type"] == "text/plain; version=0.0.4; charset=utf-8"
    samples, families = scrape(client)
    assert sample(samples, "k2_queue_jobs", queue="render", state="queued") == 0
    assert sample(samples, "k2_queue_jobs", queue="default", state="failed") == 1
    assert sample(samples, "k2_workers", state="idle") == 1
    assert sample(samples, "k2_workers", state="busy") == 0
    assert sample(samples, "k2_images_total", result="rendered") == 12
    assert families["k2_images"].type == "counter"
    assert sample(samples, "k2_builds", state="done") == 1
    assert sample(samples, "k2_build_duration_seconds_bucket", le="30.0") == 0
    assert sample(samples, "k2_build_duration_seconds_bucket", le="60.0") == 1
    assert sample(samples, "k2_build_duration_seconds_count") == 1
    assert sample(samples, "k2_build_duration_seconds_sum") == pytest.approx(42, abs=0.01)
    assert families["k2_build_duration_seconds"].type == "histogram"
    assert families["k2_lock_waits"].type == "counter"
    assert sample(samples, "k2_locks_held", mode="exclusive") == 0


def test_metrics_speak_openmetrics_when_the_scraper_asks(client, db):
    from prometheus_client.openmetrics.parser import text_string_to_metric_families

    response = client.get("/metrics", HTTP_ACCEPT="application/openmetrics-text; version=1.0.0")
    assert response["Content-Type"].startswith("application/openmetrics-text; version=1.0.0")
    text = response.content.decode()
    assert text.endswith("# EOF\n")
    names = {family.name for family in text_string_to_metric_families(text)}
    assert {"k2_queue_jobs", "k2_images", "k2_build_duration_seconds", "k2_lock_waits"} <= names


def test_metrics_need_loopback_or_the_token(client, db, settings):
    settings.K2_METRICS_TOKEN = "s3cret-token"
    remote = {"REMOTE_ADDR": "203.0.113.9"}
    assert client.get("/metrics", **remote).status_code == 403
    assert client.get("/metrics", HTTP_AUTHORIZATION="Bearer wrong", **remote).status_code == 403
    assert client.get("/metrics", HTTP_AUTHORIZATION="Bearer s3cret-token", **remote).status_code == 200
    assert client.get("/metrics", **{"REMOTE_ADDR": "::1"}).status_code == 200
    settings.K2_METRICS_TOKEN = None
    assert client.get("/metrics", HTTP_AUTHORIZATION="Bearer s3cret-token", **remote).status_code == 403


def test_staff_only_pages_and_json(client, django_user_model):
    assert client.get("/studio/queues/").status_code == 302
    assert client.get("/studio/queues/")["Location"].startswith("/admin/login/")
    response = client.get("/api/stats/")
    assert response.status_code == 403 and response.json() == {"error": "staff login required"}
    django_user_model.objects.create_user("shopper", password="pw-123456789")
    assert client.login(request=HttpRequest(), username="shopper", password="pw-123456789")  # axes needs a request
    assert client.get("/api/stats/").status_code == 403
    assert client.get("/studio/queues/").status_code == 302
