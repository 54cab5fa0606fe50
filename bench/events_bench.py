"""Build event streams under load: N watchers of one build during a build.

    .venv/bin/python bench/events_bench.py [--watchers 500] [--pollers 20]
        [--trophy classic] [--layers DIR] [--worker-nice N]

The site runs as `make run` runs it (bench/api_bench.py's WebSite: gunicorn
with uvicorn workers, render workers niced, embedded Redis, SQLite). Then:
1. the build starts; the web server's CPU time and memory are sampled for a
   few seconds with no watcher (baseline);
2. N streams of GET /api/builds/N/events open (plain asyncio sockets, a
   minimal SSE reader of id/event/data lines) while P other staff clients
   poll GET /api/builds/N/ once a second (paced, latency from when due);
3. this process also subscribes to the Redis channel the progress writes
   publish on: the moment version V was published is the moment of that
   progress write, so an event with id >= V arriving later measures the
   write-to-event delay (throttling included), for the versions published
   while that stream was open. The polls run in a process of their own.
It prints: streams that received the final event, p50/p99 delay, the web
server's extra CPU (% of a core) and memory per 100 watchers over the
baseline, and the status-poll p50/p99 meanwhile.
"""
from __future__ import annotations

import argparse
import asyncio
import bisect
import concurrent.futures
import multiprocessing
import os
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from bench.api_bench import WebSite, _paced, percentile  # noqa: E402
from bench.build_bench import descendants, rss_kb  # noqa: E402
from bench.engine_bench import DEFAULT_LAYERS  # noqa: E402
from k2site.supervisor import WORKER_NICE  # noqa: E402

BASELINE_S = 4.0
CHANNEL = b"k2:build-events"


def web_cpu_and_rss(site):
    """(CPU seconds, RSS kB) of the web server's processes."""
    pids = [site.web.pid, *descendants(site.web.pid)]
    ticks, rss = 0, 0
    for pid in pids:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
            ticks += int(fields[11]) + int(fields[12])
        except (FileNotFoundError, ProcessLookupError):
            continue
        rss += rss_kb(pid)
    return ticks / os.sysconf("SC_CLK_TCK"), rss


async def watch(host, port, path, cookie, arrivals):
    """One EventSource: (versions seen with arrival times, got the final event)."""
    reader, writer = await asyncio.open_connection(host, port)
    # HTTP/1.0: no chunked framing to undo; the server closes at the end.
    writer.write(f"GET {path} HTTP/1.0\r\nHost: {host}:{port}\r\nAccept: text/event-stream\r\n"
                 f"Cookie: sessionid={cookie}\r\n\r\n".encode())
    head = await reader.readuntil(b"\r\n\r\n")
    if b" 200 " not in head.split(b"\r\n", 1)[0]:
        writer.close()
        return False
    final, event, event_id = False, "", None
    while True:
        line = await reader.readline()
        if not line:
            break
        text = line.decode().rstrip("\r\n")
        if text.startswith("event:"):
            event = text[6:].strip()
        elif text.startswith("id:"):
            event_id = int(text[3:].strip())
        elif text == "" and event_id is not None:  # a blank line ends an event
            arrivals.append((event_id, time.time()))
            if event == "final":
                final = True
                break
            event, event_id = "", None
    writer.close()
    return final


async def publications(url, published, stop):
    """Record when each version of the build was published (the progress writes)."""
    import redis.asyncio

    client = redis.asyncio.Redis.from_url(url)
    async with client.pubsub() as pubsub:
        await pubsub.subscribe(CHANNEL)
        while not stop.is_set():
            message = await pubsub.get_message(ignore_subscribe_messages=True, timeout=0.5)
            if message:
                build, _, version = message["data"].decode().partition(":")
                published.setdefault(int(build), []).append((int(version), time.time()))
    await client.aclose()


def delays(published, arrivals):
    """For each version published while a stream was open (after its first
    event), the first arrival of an event with an id >= it there. Versions
    published before a watcher connected are not its delay: the first
    event carries them, but the wait was the watcher's absence."""
    result = []
    for stream in arrivals:
        if not stream:
            continue
        opened = stream[0][1]
        ids = [event_id for event_id, _ in stream]  # increasing: a stream's ids only grow
        for version, at in published:
            if at < opened:
                continue
            position = bisect.bisect_left(ids, version)
            if position < len(ids):
                result.append(stream[position][1] - at)
    return result


def poll_in_own_process(host, port, path, cookie, clients, seconds):
    """The status polls, from a process of their own: sharing this one's
    loop with 500 stream readers, their latency was partly the reader's."""
    return asyncio.run(_paced(host, port, path, cookie, clients, seconds))


async def run(site, args):
    cookie = site.cookie("sessionid")
    build = site.post(f"/api/trophies/{args.trophy}/builds/")
    build_id = build["id"]
    events_path = f"/api/builds/{build_id}/events"
    published, stop = {}, asyncio.Event()
    listener = asyncio.create_task(publications(site.env["REDIS_URL"], published, stop))

    cpu0, rss0 = web_cpu_and_rss(site)
    await asyncio.sleep(BASELINE_S)
    cpu1, rss1 = web_cpu_and_rss(site)
    baseline_cpu = (cpu1 - cpu0) / BASELINE_S

    arrivals = [[] for _ in range(args.watchers)]
    started = time.monotonic()
    watchers = [asyncio.create_task(watch(site.host, site.port, events_path, cookie, arrivals[n]))
                for n in range(args.watchers)]
    await asyncio.sleep(2.0)  # all connected
    cpu2, rss2 = web_cpu_and_rss(site)
    t2 = time.monotonic()
    pollers = concurrent.futures.ProcessPoolExecutor(1, mp_context=multiprocessing.get_context("spawn"))
    poll = asyncio.get_running_loop().run_in_executor(
        pollers, poll_in_own_process, site.host, site.port, f"/api/builds/{build_id}/", cookie,
        args.pollers, args.poll_seconds)
    finals = await asyncio.gather(*watchers, return_exceptions=True)
    cpu3, rss3 = web_cpu_and_rss(site)
    t3 = time.monotonic()
    latencies, errors = await poll
    pollers.shutdown()
    stop.set()
    await listener
    ours = published.get(build_id, [])
    measured = delays(ours, arrivals)
    per_100 = 100 / max(1, args.watchers)
    watching_cpu = (cpu3 - cpu2) / max(1e-6, t3 - t2)
    status = site.get(f"/api/builds/{build_id}/")
    print(f"build {build_id} of {args.trophy}: {status['state']}, {status['done']:,} images "
          f"in {time.monotonic() - started:.1f} s of watching; {len(ours)} progress versions published")
    print(f"streams with the final event: {sum(1 for f in finals if f is True)} / {args.watchers}"
          f" ({sum(1 for f in finals if isinstance(f, Exception))} errors)")
    print(f"write-to-event delay: p50 {percentile(measured, 50) * 1000:.0f} ms, "
          f"p99 {percentile(measured, 99) * 1000:.0f} ms over {len(measured):,} (target p99 < 500 ms)")
    print(f"web server CPU: {baseline_cpu * 100:.1f}% of a core without watchers, {watching_cpu * 100:.1f}% with "
          f"{args.watchers}: +{(watching_cpu - baseline_cpu) * 100 * per_100:.1f}% per 100 watchers")
    print(f"web server memory: {rss1 / 1024:.0f} MB without watchers, {rss2 / 1024:.0f} MB with them: "
          f"+{(rss2 - rss1) / 1024 * per_100:.1f} MB per 100 watchers")
    print(f"status polls meanwhile ({args.pollers} clients, 1/s): p50 {percentile(latencies, 50) * 1000:.1f} ms, "
          f"p99 {percentile(latencies, 99) * 1000:.1f} ms over {len(latencies)} ({len(errors)} errors; "
          f"target p99 < 25 ms)")


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--watchers", type=int, default=500)
    parser.add_argument("--pollers", type=int, default=20)
    parser.add_argument("--poll-seconds", type=float, default=10.0)
    parser.add_argument("--trophy", default="classic")
    parser.add_argument("--layers", type=Path, default=DEFAULT_LAYERS)
    parser.add_argument("--workers", type=int, default=int(os.environ.get("K2_WORKERS", os.cpu_count() or 1)))
    parser.add_argument("--worker-nice", type=int, default=WORKER_NICE)
    args = parser.parse_args(argv)
    site = WebSite(args.workers, args.layers)
    try:
        site.start(args.worker_nice)
        asyncio.run(run(site, args))
    finally:
        site.stop()
        site.remove()
    return 0


if __name__ == "__main__":
    sys.exit(main())
