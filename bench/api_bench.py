"""GET /api/builds/N/ under load, busy (a classic build on both cores) and idle.

    .venv/bin/python bench/api_bench.py [--layers DIR] [--seconds S]
        [--saturation-seconds S] [--clients 50] [--worker-nice N]

The site runs as `make run` runs it: gunicorn with 2 uvicorn worker processes,
2 render workers (niced like k2site.supervisor does), the embedded Redis,
SQLite, in a throwaway K2_DATA_DIR on loopback. A staff session polls.

Per phase it prints:
- paced: 50 clients each polling once a second (open loop, each on its own
  phase, keep-alive). Latency counts from the moment a request was due, so a
  slow server is not hidden by clients that wait for it (no coordinated
  omission). Target: p99 < 25 ms while the build keeps both cores busy.
- saturation: wrk (Debian's /usr/bin/wrk, 1 thread, 50 connections) as fast
  as the server answers: requests/s and wrk's latency percentiles.
- CPU busy share of the whole machine during the phase, and the build's
  progress, to show the build really ran.
Busy phases run first, while the build renders; then the build is cancelled
and the same is measured idle.
"""
from __future__ import annotations

import argparse
import asyncio
import json
import math
import os
import re
import shutil
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from bench.build_bench import Site, csrf, free_port, login  # noqa: E402
from bench.engine_bench import DEFAULT_LAYERS  # noqa: E402
from k2site.supervisor import WORKER_NICE, web_command  # noqa: E402

WRK = os.environ.get("K2_WRK", "/usr/bin/wrk")
TARGET_P99_MS = 25.0


class WebSite(Site):
    """build_bench's throwaway site, started like k2site.supervisor does."""

    def start(self, worker_nice):
        port = free_port()
        log = open(self.dir / "processes.log", "ab")

        def niced():
            os.nice(worker_nice)

        for number in range(self.worker_count):
            self.workers.append(subprocess.Popen(
                [sys.executable, "manage.py", "rqworker", "render", "--worker-class", "trophies.workers.RenderWorker",
                 "--worker-ttl", "17", "--name", f"api-bench-{os.getpid()}-{number}"],
                cwd=REPO, env=self.env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
                preexec_fn=niced))
        self.web = subprocess.Popen(
            web_command("127.0.0.1", port),
            cwd=REPO, env=self.env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
        self.host, self.port = "127.0.0.1", port
        self.base = f"http://127.0.0.1:{port}"
        self.session = login(self.base)

    def cookie(self, name):
        for handler in self.session.handlers:
            jar = getattr(handler, "cookiejar", None)
            if jar is not None:
                return next(c.value for c in jar if c.name == name)
        raise RuntimeError(f"no {name} cookie")

    def post(self, path):
        request = urllib.request.Request(f"{self.base}{path}", b"", method="POST",
                                         headers={"X-CSRFToken": csrf(self), "Referer": self.base + "/"})
        return json.load(self.session.open(request))

    def get(self, path):
        return json.load(self.session.open(f"{self.base}{path}"))


# -- load ------------------------------------------------------------------------


async def _read_response(reader):
    head = await reader.readuntil(b"\r\n\r\n")
    status = int(head.split(b" ", 2)[1])
    match = re.search(rb"(?i)\r\ncontent-length:\s*(\d+)", head)
    body = await reader.readexactly(int(match.group(1))) if match else b""
    return status, body, re.search(rb"(?i)\r\nconnection:\s*close", head) is not None


async def _paced(host, port, path, cookie, clients, seconds):
    loop = asyncio.get_running_loop()
    request = (f"GET {path} HTTP/1.1\r\nHost: {host}:{port}\r\nAccept: application/json\r\n"
               f"Cookie: sessionid={cookie}\r\n\r\n").encode()
    latencies, errors = [], []
    begin = loop.time() + 0.3

    async def client(number):
        connection = None
        due = begin + number / clients  # spread the clients over the second
        while due < begin + seconds:
            await asyncio.sleep(max(0.0, due - loop.time()))
            try:
                if connection is None:
                    connection = await asyncio.open_connection(host, port)
                reader, writer = connection
                writer.write(request)
                status, _, close = await _read_response(reader)
                latencies.append(loop.time() - due)
                if status != 200:
                    errors.append(status)
                if close:
                    writer.close()
                    connection = None
            except (OSError, asyncio.IncompleteReadError) as error:
                errors.append(repr(error))
                connection = None
            due += 1.0
        if connection:
            connection[1].close()

    await asyncio.gather(*(client(n) for n in range(clients)))
    return latencies, errors


def percentile(values, p):
    ordered = sorted(values)
    if not ordered:
        return float("nan")
    return ordered[max(0, math.ceil(p / 100 * len(ordered)) - 1)]  # nearest rank


def paced(site, path, clients, seconds):
    latencies, errors = asyncio.run(_paced(site.host, site.port, path, site.cookie("sessionid"), clients, seconds))
    if errors:
        print(f"  paced errors: {sorted(set(map(str, errors)))[:5]}")
    return {"requests": len(latencies), "errors": len(errors), "rate": len(latencies) / seconds,
            "p50_ms": percentile(latencies, 50) * 1000, "p90_ms": percentile(latencies, 90) * 1000,
            "p99_ms": percentile(latencies, 99) * 1000, "max_ms": max(latencies, default=float("nan")) * 1000}


def _ms(text):
    value, unit = re.match(r"([\d.]+)(us|ms|s)", text).groups()
    return float(value) * {"us": 0.001, "ms": 1.0, "s": 1000.0}[unit]


def saturation(site, path, seconds, connections):
    output = subprocess.run(
        [WRK, "-t1", f"-c{connections}", f"-d{seconds}s", "--latency", "--timeout", "5s",
         "-H", f"Cookie: sessionid={site.cookie('sessionid')}", "-H", "Accept: application/json",
         f"{site.base}{path}"], capture_output=True, text=True, check=True).stdout
    result = {"rate": float(re.search(r"Requests/sec:\s*([\d.]+)", output).group(1))}
    for p in ("50", "99"):
        result[f"p{p}_ms"] = _ms(re.search(rf"^\s*{p}%\s+(\S+)", output, re.M).group(1))
    bad = re.search(r"Non-2xx or 3xx responses:\s*(\d+)", output)
    result["errors"] = int(bad.group(1)) if bad else 0
    errors = re.search(r"Socket errors:.*", output)
    result["socket_errors"] = errors.group(0) if errors else ""
    return result


def cpu_times():
    fields = [int(v) for v in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    idle = fields[3] + fields[4]
    return sum(fields), idle


def measure(site, build_id, label, args):
    path = f"/api/builds/{build_id}/"
    before, cpu0 = site.get(path), cpu_times()
    load = paced(site, path, args.clients, args.seconds)
    cpu1 = cpu_times()
    sat = saturation(site, path, args.saturation_seconds, args.clients)
    cpu2, after = cpu_times(), site.get(path)
    busy = lambda a, b: 1 - (b[1] - a[1]) / max(1, b[0] - a[0])  # noqa: E731
    return {"label": label, "paced": load, "saturation": sat, "cpu_paced": busy(cpu0, cpu1),
            "cpu_saturation": busy(cpu1, cpu2), "before": before, "after": after}


def wait_state(site, build_id, states, timeout=120):
    deadline = time.monotonic() + timeout
    while True:
        status = site.get(f"/api/builds/{build_id}/")
        if status["state"] in states:
            return status
        if time.monotonic() > deadline:
            raise RuntimeError(f"build {build_id} stayed {status['state']}")
        time.sleep(0.2)


def report(rows, args):
    print()
    print(f"GET /api/builds/N/, staff session; paced = {args.clients} clients x 1 req/s for {args.seconds:g} s, "
          f"saturation = wrk 1 thread x {args.clients} connections for {args.saturation_seconds:g} s")
    print(f"{'':26}" + "".join(f"{row['label']:>22}" for row in rows))
    lines = [
        ("paced requests (errors)", lambda r: f"{r['paced']['requests']} ({r['paced']['errors']})"),
        ("paced p50 ms", lambda r: f"{r['paced']['p50_ms']:.1f}"),
        ("paced p90 ms", lambda r: f"{r['paced']['p90_ms']:.1f}"),
        ("paced p99 ms", lambda r: f"{r['paced']['p99_ms']:.1f}"),
        ("paced max ms", lambda r: f"{r['paced']['max_ms']:.1f}"),
        ("CPU busy, paced", lambda r: f"{r['cpu_paced']:.0%}"),
        ("saturation req/s", lambda r: f"{r['saturation']['rate']:,.0f}"),
        ("saturation p50 / p99 ms", lambda r: f"{r['saturation']['p50_ms']:.1f} / {r['saturation']['p99_ms']:.1f}"),
        ("saturation non-2xx", lambda r: f"{r['saturation']['errors']}"),
        ("CPU busy, saturation", lambda r: f"{r['cpu_saturation']:.0%}"),
        ("build state at start/end", lambda r: f"{r['before']['state']}/{r['after']['state']}"),
        ("build images/s at end", lambda r: f"{r['after']['rate_per_s']:,.0f}"),
        ("build done at start/end", lambda r: f"{r['before']['percent']:.0f}%/{r['after']['percent']:.0f}%"),
    ]
    for name, cell in lines:
        print(f"{name:26}" + "".join(f"{cell(row):>22}" for row in rows))
    busy, idle = rows
    p99 = busy["paced"]["p99_ms"]
    print(f"\nbusy p99 {p99:.1f} ms vs target {TARGET_P99_MS:g} ms: {'met' if p99 < TARGET_P99_MS else 'MISSED'}; "
          f"busy/idle p99 {p99 / idle['paced']['p99_ms']:.1f}x; "
          f"saturation busy/idle {busy['saturation']['rate'] / idle['saturation']['rate']:.0%}")
    return p99 < TARGET_P99_MS


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--layers", type=Path, default=DEFAULT_LAYERS)
    parser.add_argument("--seconds", type=float, default=15.0, help="paced phase length")
    parser.add_argument("--saturation-seconds", type=int, default=8)
    parser.add_argument("--clients", type=int, default=50)
    parser.add_argument("--worker-nice", type=int, default=WORKER_NICE,
                        help=f"render workers' niceness (make run: {WORKER_NICE})")
    args = parser.parse_args(argv)
    if not shutil.which(WRK):
        print(f"wrk not found at {WRK} (apt-get install wrk)", file=sys.stderr)
        return 2
    if not args.layers.is_dir():
        print(f"reference layers not found at {args.layers}", file=sys.stderr)
        return 2
    print(f"setting up a throwaway site (layers {args.layers}) ...", flush=True)
    site = WebSite(2, args.layers)
    try:
        site.start(args.worker_nice)
        build_id = site.post("/api/trophies/classic/builds/")["id"]
        status = wait_state(site, build_id, ("running", "done", "failed", "cancelled"))
        time.sleep(2.0)  # both workers are rendering
        print(f"classic build {build_id} {status['state']}; measuring busy ...", flush=True)
        busy = measure(site, build_id, "busy (classic build)", args)
        if busy["after"]["state"] in ("queued", "running"):
            site.post(f"/api/builds/{build_id}/cancel/")
        wait_state(site, build_id, ("done", "failed", "cancelled"))
        time.sleep(2.0)  # running chunks stop at their next image
        print("measuring idle ...", flush=True)
        idle = measure(site, build_id, "idle", args)
    finally:
        site.stop()
    return 0 if report([busy, idle], args) else 1


if __name__ == "__main__":
    sys.exit(main())
