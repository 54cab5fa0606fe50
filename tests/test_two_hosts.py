"""Two hosts simulated on this machine: two worker pools with their own host
names and lock directories that share only PostgreSQL (K2_LOCK_BACKEND=
postgres), Redis and the data dir. Runs in the K2_TEST_POSTGRES=1 pass
(a lock directory per host shares nothing on flock: that is what postgres
is for). A killed holder on one host freeing its lock for the other is in
tests/test_locks_backends.py."""
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest
from django.db import connection

from locks.inspect import snapshot
from tests.builds_support import expected_files, medium_trophy, rendered_files, wait_settled
from tests.conftest import ROOT, WorkerPool, child_environment, wait_until
from trophies.models import Build, Chunk
from trophies.services import builds, plans, progress
from trophies.services.demo import create_demo_catalog

pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True)]

# A start through the JSON API of one host: waits for "go" so both race.
START = """
import sys, django
django.setup()
from django.contrib.auth import get_user_model
from django.test import Client
client = Client(HTTP_HOST="localhost")
client.force_login(get_user_model().objects.get(username="starter"))
print("ready", flush=True)
sys.stdin.readline()
print(client.post("/api/trophies/starter/builds/").status_code, flush=True)
"""


@pytest.fixture
def hosts(settings, data_dir, tmp_path):
    if connection.vendor != "postgresql":
        pytest.skip("two hosts meet in PostgreSQL: the K2_TEST_POSTGRES=1 pass")
    settings.K2_LOCK_BACKEND = "postgres"
    envs = {name: dict(K2_LOCK_BACKEND="postgres", K2_HOST_NAME=name, K2_LOCK_DIR=str(tmp_path / f"{name}-locks"))
            for name in ("host-a", "host-b")}
    yield envs
    from locks.backends import pgsessions

    pgsessions.close_all()
    for name in envs:
        assert not (tmp_path / f"{name}-locks").exists(), "a lock file: the hosts did not lock through PostgreSQL"


def test_two_starts_of_one_trophy_through_each_host_give_one_build_and_one_409(hosts, data_dir, django_user_model):
    create_demo_catalog()
    django_user_model.objects.create_superuser("starter", "s@example.com", "pw-starter-1")
    starts = [subprocess.Popen([sys.executable, "-c", START], cwd=ROOT, env=dict(child_environment(data_dir), **env), text=True,
                               stdin=subprocess.PIPE, stdout=subprocess.PIPE) for env in hosts.values()]
    for start in starts:
        assert start.stdout.readline().strip() == "ready"
    for start in starts:
        start.stdin.write("go\n")
        start.stdin.flush()
    codes = sorted(int(start.communicate(timeout=60)[0].strip()) for start in starts)
    assert codes == [202, 409]
    assert Build.objects.filter(trophy__slug="starter").count() == 1


def test_a_sigkill_drill_over_both_hosts_completes_with_identical_files(hosts, data_dir, settings, tmp_path,
                                                                       monkeypatch):
    trophy = medium_trophy()
    monkeypatch.setattr(builds, "CHUNKS_PER_WORKER", 2)  # 4 chunks over 2 workers
    pools = {}
    for name, env in hosts.items():
        (tmp_path / f"{name}-logs").mkdir()
        pools[name] = WorkerPool(data_dir, tmp_path / f"{name}-logs", **env)
        pools[name].start(1)
    try:
        build = builds.start_build(trophy)
        workers = {worker: name for name, pool in pools.items() for worker in pool.by_name}

        def both_hosts_rendering():
            running = Chunk.objects.filter(build=build, state=Chunk.RUNNING).values_list("worker", flat=True)
            hosts_busy = {workers.get(worker) for worker in running}
            return progress.totals(build.pk)["rendered"] > 200 and {"host-a", "host-b"} <= hosts_busy
        wait_until(both_hosts_rendering, timeout=90, message="a chunk running on each host",
                   on_timeout=lambda: "\n".join(p.logs() for p in pools.values()))
        (victim,) = pools["host-a"].processes
        os.kill(victim.pid, signal.SIGKILL)  # host a's worker dies mid-chunk, its horse with it
        victim.wait()
        done = wait_settled(build, timeout=180, workers=pools["host-b"])
        assert done.state == Build.DONE, pools["host-b"].logs()
        ran_on = set(Chunk.objects.filter(build=build).values_list("worker", flat=True))
        assert ran_on <= set(pools["host-b"].by_name) | set(pools["host-a"].by_name)
        assert any(worker in pools["host-b"].by_name for worker in ran_on)
    finally:
        for pool in pools.values():
            pool.stop()
    root = Path(settings.K2_RENDER_DIR) / trophy.slug
    assert rendered_files(root) == expected_files(plans.capture(trophy))
    assert not list(root.glob(".tmp/*/*")), "temporary files left behind"
    held = snapshot()
    assert held["exclusive"] == [] and held["shared"] == []
