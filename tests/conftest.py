import importlib
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
import redis
from django.conf import settings
from django.db import connection

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(autouse=True)
def fresh_redis():
    """Every test starts with an empty Redis (ids restart after a flush)."""
    client = redis.Redis.from_url(settings.REDIS_URL)
    client.flushdb()
    from trophies.services import progress

    progress.reset_client()
    yield client
    client.close()


@pytest.fixture(autouse=True)
def data_dir(settings, tmp_path):
    """A K2_DATA_DIR of the test's own for files (layers, renders, locks);
    the database and Redis stay the session's."""
    data = tmp_path / "data"
    settings.MEDIA_ROOT = data / "media"
    settings.K2_RENDER_DIR = data / "renders"
    settings.K2_LOCK_DIR = data / "locks"
    return data


def studio_group():
    """The "K2 studio" group as its migration makes it (a transactional
    test's flush empties the tables the migration filled)."""
    from django.contrib.auth.models import Group, Permission

    migration = importlib.import_module("trophies.migrations.0008_k2_studio_group")
    group, created = Group.objects.get_or_create(name=migration.GROUP)
    if created:
        group.permissions.set(Permission.objects.filter(content_type__app_label="trophies",
                                                        codename__in=migration.CODENAMES))
    return group


def logged_in_staff(django_user_model, username, permissions=(), groups=()):
    """A client logged in as a staff user (not a superuser) holding exactly
    these permissions ("trophies.start_build") and groups."""
    from django.contrib.auth.models import Permission
    from django.test import Client

    user = django_user_model.objects.create_user(username, f"{username}@example.com", "pw-staff-1", is_staff=True)
    for name in permissions:
        app_label, codename = name.split(".")
        user.user_permissions.add(Permission.objects.get(content_type__app_label=app_label, codename=codename))
    user.groups.set(groups)
    client = Client()
    client.force_login(user)
    return client


@pytest.fixture
def staff_client(db, django_user_model):
    """A test client logged in as a staff user of the "K2 studio" group
    (every studio permission), who is not a superuser."""
    return logged_in_staff(django_user_model, "staff", groups=[studio_group()])


@pytest.fixture
def bare_staff_client(db, django_user_model):
    """A staff user with no permission at all: may look, may not change."""
    return logged_in_staff(django_user_model, "bare-staff")


def database_url_for_children():
    """Worker processes must open the test database, not the real one."""
    db = connection.settings_dict
    if db["ENGINE"].endswith("sqlite3"):
        return f"sqlite:///{db['NAME']}"
    host = str(db["HOST"]).replace("/", "%2F")
    return f"postgres://{db['USER']}@{host}:{db['PORT']}/{db['NAME']}"


def child_environment(data_dir):
    """Environment of a process that must see what this test sees."""
    return dict(os.environ, DATABASE_URL=database_url_for_children(), K2_DATA_DIR=str(data_dir),
                K2_LOCK_DIR=str(data_dir / "locks"), PYTHONUNBUFFERED="1")


def run_in_own_loop(coroutine):
    """asyncio.run(coroutine) in a thread of its own: the browser tests'
    Playwright keeps an event loop running in the main thread."""
    import asyncio
    import concurrent.futures

    with concurrent.futures.ThreadPoolExecutor(1) as pool:
        return pool.submit(asyncio.run, coroutine).result()


def wait_until(condition, timeout=30.0, interval=0.02, message="condition", on_timeout=None):
    """Poll ``condition`` until it returns a truthy value (returned);
    ``on_timeout()`` adds what it says (worker logs) to the failure."""
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() > deadline:
            detail = f"\n{on_timeout()}" if on_timeout else ""
            raise AssertionError(f"timed out after {timeout} s waiting for {message}{detail}")
        time.sleep(interval)


class WorkerPool:
    """Real `manage.py rqworker` processes on queue render, as make run starts them."""

    def __init__(self, data_dir, log_dir, **extra_env):
        self.env = dict(child_environment(data_dir), **extra_env)
        self.log_dir = log_dir
        self.processes = []
        self.by_name = {}

    def start(self, count=2, burst=False):
        for _ in range(count):
            number = len(self.processes)
            log = open(self.log_dir / f"worker{number}.log", "wb")
            name = f"test-worker-{os.getpid()}-{number}-{time.monotonic_ns()}"
            command = [sys.executable, "manage.py", "rqworker", "render",
                       "--worker-class", "trophies.workers.RenderWorker", "--worker-ttl", "17", "--name", name]
            if burst:
                command.append("--burst")
            process = subprocess.Popen(command, cwd=ROOT, env=self.env, stdout=log,
                                       stderr=subprocess.STDOUT, start_new_session=True)
            self.processes.append(process)
            self.by_name[name] = process
        started = self.processes[-count:]
        if not burst:
            self.wait_listening(started)
        return started

    def wait_listening(self, processes):
        """Until RQ lists these workers: a build started earlier could be
        rendered whole by the first worker up while the next still boots."""
        import django_rq
        from rq import Worker

        names = {name for name, process in self.by_name.items() if process in processes}
        connection = django_rq.get_queue("render").connection

        def listening():
            for process in processes:
                assert process.poll() is None, f"a worker exited at start:\n{self.logs()}"
            return names <= {worker.name for worker in Worker.all(connection=connection)}
        wait_until(listening, timeout=60, interval=0.05, message="the workers to listen")

    def logs(self, tail=3000):
        """The workers' logs, the last ``tail`` characters of each (None: all)."""
        texts = (p.read_text(errors="replace") for p in sorted(self.log_dir.glob("worker*.log")))
        return "\n".join(text[-tail:] if tail else text for text in texts)

    def stop(self):
        for process in self.processes:
            if process.poll() is None:
                process.terminate()
        for process in self.processes:
            try:
                process.wait(10)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


@pytest.fixture
def render_workers(data_dir, tmp_path, transactional_db):
    (tmp_path / "logs").mkdir()
    pool = WorkerPool(data_dir, tmp_path / "logs")
    yield pool
    pool.stop()
