"""`k2 serve`: run the embedded Redis, the render workers and gunicorn
together, restart workers and Redis when they exit, and stop everything on
Ctrl-C.

Children run in their own sessions so the terminal's Ctrl-C reaches only us;
we then stop them in order (web, workers, Redis). Each child also gets
PDEATHSIG, so even a SIGKILL of this process leaves no strays behind.
"""
import ctypes
import logging
import os
import signal
import subprocess
import sys
import time

from django.conf import settings

from k2site import redis_server

log = logging.getLogger(__name__)
PR_SET_PDEATHSIG = 1
WORKER_MAX_JOBS = 200  # recycle a worker after this many chunks, like gunicorn's max_requests
WORKER_NICE = 15       # renders yield the CPU to the web server (bench/api_bench.py)


def die_with_parent():
    ctypes.CDLL("libc.so.6", use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGTERM)


def worker_preexec():
    die_with_parent()
    os.nice(WORKER_NICE)


def worker_environment():
    env = dict(os.environ, REDIS_URL=settings.REDIS_URL)
    # One render thread per worker process: the pool is the parallelism.
    for name in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
        env[name] = "1"
    return env


def web_command(host, port):
    """gunicorn with uvicorn workers: an event stream is a coroutine, not a
    thread (README "Serving"); sync views still run in threads. The worker
    class adds read deadlines for slow clients (k2site/web_worker.py)."""
    return [sys.executable, "-m", "gunicorn", "k2site.asgi:application",
            "--worker-class", "k2site.web_worker.K2UvicornWorker",
            "--keep-alive", "5", "--backlog", "2048",
            "--bind", f"{host}:{port}", "--workers", "2",
            "--max-requests", "5000", "--max-requests-jitter", "500",
            "--access-logfile", "-", "--timeout", "60", "--graceful-timeout", "5"]


class Supervisor:
    def __init__(self, out=sys.stdout):
        self.out = out
        self.redis = None
        self.web = None
        self.workers = {}
        self.stopping = False

    def say(self, message):
        print(message, file=self.out, flush=True)

    def start_redis(self):
        if os.environ.get("REDIS_URL"):
            self.say(f"Using Redis at {settings.REDIS_URL}")
            return
        self.redis, url = redis_server.start(settings.K2_EMBEDDED_REDIS_SOCKET.parent, persist=True)
        self.say(f"Embedded Redis on {url}")

    def start_worker(self, number):
        command = [sys.executable, "manage.py", "rqworker", "render", "default",
                   "--worker-class", "trophies.workers.RenderWorker",
                   "--max-jobs", str(WORKER_MAX_JOBS), "--worker-ttl", "17",
                   "--name", f"k2-{os.uname().nodename}-{os.getpid()}-{number}-{int(time.time() * 1000)}"]
        process = subprocess.Popen(command, env=worker_environment(), preexec_fn=worker_preexec,
                                   start_new_session=True, stdin=subprocess.DEVNULL, cwd=settings.BASE_DIR)
        self.workers[number] = process

    def start_web(self):
        host, port = settings.K2_BIND
        command = web_command(host, port)
        self.web = subprocess.Popen(command, env=dict(os.environ, REDIS_URL=settings.REDIS_URL),
                                    preexec_fn=die_with_parent, start_new_session=True,
                                    stdin=subprocess.DEVNULL, cwd=settings.BASE_DIR)
        self.say(f"Web server on http://{host}:{port}/")

    def run(self):
        signal.signal(signal.SIGINT, self.request_stop)
        signal.signal(signal.SIGTERM, self.request_stop)
        try:
            self.start_redis()
            for number in range(settings.K2_WORKERS):
                self.start_worker(number)
            self.say(f"{settings.K2_WORKERS} render workers on queues 'render' (then 'default': prunes after builds)")
            self.start_web()
            self.say("Press Ctrl-C to stop.")
            while not self.stopping:
                self.watch()
                time.sleep(0.5)
        finally:
            self.stop()
        return 0

    def watch(self):
        for number, process in list(self.workers.items()):
            if process.poll() is not None:
                # Recycled after WORKER_MAX_JOBS chunks (exit 0), or crashed.
                log.info("render worker %s exited with %s; starting another", number, process.returncode)
                self.start_worker(number)
        if self.web.poll() is not None:
            self.say(f"web server exited with {self.web.returncode}; stopping")
            self.stopping = True
        if self.redis is not None and self.redis.poll() is not None and not self.stopping:
            # Its append-only file keeps queued chunks and progress; workers and
            # the web server reconnect on their own (RQ retries, redis-py reconnects).
            self.say(f"Redis exited with {self.redis.returncode}; starting it again")
            log.warning("embedded Redis exited with %s; restarting it", self.redis.returncode)
            self.start_redis()

    def request_stop(self, signum, frame):
        self.stopping = True

    def stop(self):
        self.say("Stopping...")
        children = ([self.web] if self.web else []) + list(self.workers.values())
        for process in children:
            if process.poll() is None:
                process.terminate()
        deadline = time.monotonic() + 10
        for process in children:
            try:
                process.wait(max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        if self.redis is not None:
            redis_server.stop(self.redis)
        self.say("Stopped.")
