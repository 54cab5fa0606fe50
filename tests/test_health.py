"""`k2 health` speaks the nagios plugin format; /healthz says the same in JSON."""
import re
import socket
import subprocess
import sys
import time
from datetime import timedelta

import django_rq
import pytest
from django.core.management import call_command
from django.utils import timezone
from rq import Worker

from tests.conftest import ROOT, child_environment
from trophies.models import Build, Trophy
from trophies.services import builds, health
from trophies.services.demo import create_demo_catalog

# "K2 STATUS - text | label=value[unit];warn;crit;min;max ..." (nagios plugin guidelines)
PERF = r"'?[A-Za-z_][^=' ]*'?=-?[0-9.]+(s|%|B)?(;[-0-9.:~@]*){0,4}"
NAGIOS_LINE = re.compile(rf"^K2 (OK|WARNING|CRITICAL) - [^|\n]+( \| {PERF}( {PERF})*)?$")


@pytest.fixture
def worker(db):
    queue = django_rq.get_queue("render")
    alive = Worker([queue], connection=queue.connection, name="k2-test-health-worker")
    alive.register_birth()
    alive.heartbeat()
    yield alive
    alive.register_death()


def run_health(capsys):
    with pytest.raises(SystemExit) as exit_info:
        call_command("k2", "health")
    line = capsys.readouterr().out.strip()
    assert NAGIOS_LINE.match(line), line
    return exit_info.value.code, line


def test_no_worker_is_critical(db, capsys):
    code, line = run_health(capsys)
    assert code == 2
    assert line.startswith("K2 CRITICAL - no render worker is alive on queue 'render'")
    assert " workers=0;;1:;0" in line


def test_ok_with_a_worker_and_perfdata(worker, capsys):
    code, line = run_health(capsys)
    assert code == 0, line
    assert line.startswith("K2 OK - 1 render worker; 0 queued chunks; ")
    for perf in ("workers=1;;1:;0", "queued_chunks=0;;;0", "oldest_queued=0.0s;600;;0", "stalled_builds=0;0;;0"):
        assert perf in line.split(" | ")[1].split(), perf


def test_a_chunk_waiting_too_long_warns(worker, capsys, monkeypatch):
    create_demo_catalog()
    monkeypatch.setattr(health, "QUEUE_WAIT_WARN_S", 0)
    builds.start_build(Trophy.objects.get(slug="starter"))
    code, line = run_health(capsys)
    assert code == 1 and line.startswith("K2 WARNING - the oldest queued chunk has waited "), line
    assert "queued_chunks=1;" in line


def test_a_stalled_build_warns(worker, capsys, settings):
    create_demo_catalog()
    settings.K2_STALL_AFTER_S = 1
    build = builds.start_build(Trophy.objects.get(slug="starter"))
    Build.objects.filter(pk=build.pk).update(state=Build.RUNNING, started_at=timezone.now() - timedelta(minutes=2))
    build.chunks.update(state="running", worker=worker.name)
    django_rq.get_queue("render").empty()
    code, line = run_health(capsys)
    assert code == 1 and f"stalled: build {build.pk} of starter since " in line, line


def test_a_nearly_full_disk_warns(worker, capsys, monkeypatch):
    monkeypatch.setattr(health, "FREE_WARN_PERCENT", 100.1)
    code, line = run_health(capsys)
    assert code == 1 and line.startswith("K2 WARNING - disk nearly full: "), line


def health_subprocess(data_dir, **env):
    began = time.monotonic()
    result = subprocess.run([sys.executable, "manage.py", "k2", "health"], cwd=ROOT, capture_output=True,
                            text=True, timeout=30, env={**child_environment(data_dir), **env})
    return result, time.monotonic() - began


@pytest.mark.slow
def test_a_hanging_redis_is_critical_within_5_seconds(db, data_dir):
    hung = socket.socket()
    hung.bind(("127.0.0.1", 0))
    hung.listen(8)  # connections are accepted by the kernel and never answered
    try:
        result, took = health_subprocess(data_dir, REDIS_URL=f"redis://127.0.0.1:{hung.getsockname()[1]}/0")
    finally:
        hung.close()
    assert result.returncode == 2, result.stdout + result.stderr
    assert result.stdout.startswith("K2 CRITICAL - Redis unreachable at redis://127.0.0.1:"), result.stdout
    assert took < 5, f"took {took:.1f} s"


@pytest.mark.slow
def test_an_unreachable_database_is_critical(db, data_dir):
    result, _ = health_subprocess(data_dir, DATABASE_URL="postgres://k2@127.0.0.1:1/k2")
    assert result.returncode == 2, result.stdout + result.stderr
    assert result.stdout.startswith("K2 CRITICAL - database unreachable (OperationalError"), result.stdout
    assert NAGIOS_LINE.match(result.stdout.strip())


def test_healthz_json_and_status_codes(client, worker):
    response = client.get("/healthz")
    assert response.status_code == 200
    body = response.json()
    assert body["status"] == "OK" and body["perfdata"]["workers"] == 1 and body["problems"] == []
    worker.register_death()
    response = client.get("/healthz")
    assert response.status_code == 503 and response.json()["status"] == "CRITICAL"
    assert client.get("/healthz", REMOTE_ADDR="203.0.113.7").json() == {"status": "CRITICAL"}
