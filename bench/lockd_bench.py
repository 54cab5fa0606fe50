"""The lockd server under load: throughput, latency, CPU per op, memory.

    .venv/bin/python bench/lockd_bench.py [--seconds 10] [--runs 3]
        [--depth 2] [--backend flock|postgres] [--no-memory]

Starts `manage.py lockd` (the real server, uvloop) on a free loopback port
in a throwaway K2_DATA_DIR and drives it with bench/lockd_load.c (compiled
here with cc -O2: one epoll thread, so the load costs less CPU than the
server it measures). Per run:

- saturation: 50 connections loop g/r on a name of their own and 50 loop
  sg/sr on one shared name, as fast as the server answers, for --seconds.
  Depth 2 sends each get and its release in one write, as a pipelining
  client does; depth 1 waits for every reply before the next command
  (--depth both, the default, measures both). This gives the most ops/s
  and the CPU per op; its latency is only queueing (100 connections
  always waiting: latency = in flight / rate).
- paced: the same 100 connections sending when due, at --rate commands/s
  in all (default 80,000, the target), for --seconds, g+r pairs pipelined
  (--paced-depth 2, default) or one command at a time (1); latency counts
  from when a command was due, so a stall shows in full. This is the
  p50/p99 to hold against the target.
- the server's CPU (utime + stime from /proc/PID/stat) per operation.
- the server's RSS at start, after 1,000,000 operations and after 10,000
  connect/"g"/disconnect cycles (memory must stay flat).
- `uptime`'s load averages: the 2 cores are shared, so read figures
  with the load they were measured under.

Targets on the 2-core machine: >= 80,000 ops/s, p99 <= 2 ms, <= 12 us of
server CPU per op, flat memory. --backend postgres starts its own
PostgreSQL cluster (tests/postgres_server.py) and measures that face.
"""
import argparse
import os
import re
import resource
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

TARGETS = {"ops_per_s": 80_000, "p99_us": 2_000, "cpu_us_per_op": 12.0}
CLK_TCK = os.sysconf("SC_CLK_TCK")


def compile_client(directory):
    cc = shutil.which("cc") or shutil.which("gcc")
    if not cc:
        sys.exit("lockd_bench: a C compiler (cc) is needed for the load client: apt-get install gcc")
    binary = directory / "lockd_load"
    subprocess.run([cc, "-O2", "-o", str(binary), str(REPO / "bench" / "lockd_load.c")], check=True)
    return binary


def load():
    return open("/proc/loadavg").read().split()[:3]


def cpu_seconds(pid):
    stat = open(f"/proc/{pid}/stat").read()
    fields = stat[stat.rindex(")") + 2:].split()
    return (int(fields[11]) + int(fields[12])) / CLK_TCK  # utime, stime


def rss_mib(pid):
    status = open(f"/proc/{pid}/status").read()
    return int(re.search(r"VmRSS:\s+(\d+)", status).group(1)) / 1024


class Server:
    def __init__(self, data_dir, env):
        self.process = subprocess.Popen([sys.executable, "manage.py", "lockd", "--bind", "127.0.0.1:0"], cwd=REPO,
                                        env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        line = self.process.stdout.readline()
        if not line.startswith("lockd listening on "):
            sys.exit(f"lockd_bench: the server did not start: {line}{self.process.stdout.read()[-2000:]}")
        self.port = int(line.split()[3].rsplit(":", 1)[1])
        self.pid = self.process.pid

    def stop(self):
        self.process.terminate()
        self.process.wait(10)


def drive(client, port, seconds, max_ops, depth):
    result = subprocess.run([str(client), "run", str(port), "50", "50", str(seconds), str(max_ops), str(depth)],
                            capture_output=True, text=True)
    if result.returncode not in (0, 1):
        sys.exit(f"lockd_bench: load client failed: {result.stderr}")
    return {key: float(value) for key, value in (pair.split("=") for pair in result.stdout.split())}


def pace(client, port, seconds, rate, depth):
    result = subprocess.run([str(client), "paced", str(port), "50", "50", str(seconds), str(rate), str(depth)],
                            capture_output=True, text=True)
    if result.returncode not in (0, 1):
        sys.exit(f"lockd_bench: load client failed: {result.stderr}")
    return {key: float(value) for key, value in (pair.split("=") for pair in result.stdout.split())}


def measure(server, client, seconds, depth, rate=None):
    before_load = load()
    cpu_before = cpu_seconds(server.pid)
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    client_before = children.ru_utime + children.ru_stime
    if rate:
        figures = pace(client, server.port, seconds, rate, depth)
    else:
        figures = drive(client, server.port, seconds, 0, depth)
    cpu = cpu_seconds(server.pid) - cpu_before
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    figures["client_cpu_share"] = (children.ru_utime + children.ru_stime - client_before) / figures["elapsed_s"]
    figures["cpu_us_per_op"] = cpu / figures["ops"] * 1e6
    figures["server_cpu_share"] = cpu / figures["elapsed_s"]
    figures["load"] = f"{' '.join(before_load)} -> {' '.join(load())}"
    return figures


def verdict(figures, paced):
    missed = []
    if figures["ops_per_s"] < TARGETS["ops_per_s"] * (0.98 if paced else 1):
        missed.append("ops/s")
    if paced and figures["p99_us"] > TARGETS["p99_us"]:
        missed.append("p99")
    if figures["cpu_us_per_op"] > TARGETS["cpu_us_per_op"]:
        missed.append("CPU/op")
    if figures["failures"]:
        missed.append("refusals")
    return "meets the targets" if not missed else "misses: " + ", ".join(missed)


def print_run(label, figures, paced=False):
    late = f", {figures['late_sends']:.0f} sends >1 ms late" if paced else ""
    print(f"{label}: {figures['ops_per_s']:,.0f} ops/s, p50 {figures['p50_us']:.0f} us, p99 {figures['p99_us']:.0f} us, "
          f"max {figures['max_us']:.0f} us, server CPU {figures['cpu_us_per_op']:.2f} us/op "
          f"({figures['server_cpu_share']:.0%} of a core; load client {figures['client_cpu_share']:.0%}), "
          f"{figures['failures']:.0f} refusals{late}; "
          f"load {figures['load']}; {verdict(figures, paced)}", flush=True)


def memory(server, client, operations, cycles):
    start = rss_mib(server.pid)
    done = 0
    while done < operations:
        done += drive(client, server.port, 60, operations - done, 2)["ops"]
    after_ops = rss_mib(server.pid)
    readings = []
    for _ in range(2):  # twice: growth that goes on shows as a second step
        subprocess.run([str(client), "cycles", str(server.port), str(cycles)], check=True, capture_output=True)
        readings.append(rss_mib(server.pid))
    print(f"memory (RSS): {start:.1f} MiB at start of this phase, {after_ops:.1f} MiB after {done:,.0f} more ops, "
          f"{readings[0]:.1f} MiB after {cycles:,} connect/g/disconnect cycles, {readings[1]:.1f} MiB after "
          f"{cycles:,} more; load {' '.join(load())}", flush=True)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--depth", choices=("1", "2", "both", "none"), default="both", help="saturation phases to run")
    parser.add_argument("--rate", type=float, default=80_000, help="commands/s of the paced phase (0: skip it)")
    parser.add_argument("--paced-depth", choices=("1", "2"), default="2", help="the paced phase's depth")
    parser.add_argument("--backend", choices=("flock", "postgres"), default="flock")
    parser.add_argument("--no-memory", action="store_true", help="skip the memory phase")
    parser.add_argument("--memory-ops", type=int, default=1_000_000, help="operations before the second RSS reading")
    parser.add_argument("--cycles", type=int, default=10_000, help="connect/disconnect cycles before the third")
    args = parser.parse_args()
    if args.seconds <= 0 or args.runs < 1:
        parser.error("--seconds must be positive and --runs at least 1")
    depths = {"both": ("2", "1"), "none": ()}.get(args.depth, (args.depth,))
    with tempfile.TemporaryDirectory(prefix="k2-lockd-bench.") as temp:
        temp = Path(temp)
        client = compile_client(temp)
        env = dict(os.environ, K2_DATA_DIR=str(temp / "data"), K2_LOCK_BACKEND=args.backend)
        env.pop("K2_LOCK_DIR", None)
        postgres = None
        if args.backend == "postgres":
            from tests import postgres_server

            postgres = postgres_server.start(port=5433)
            env["DATABASE_URL"] = postgres[2].rsplit("/", 1)[0] + "/postgres"
            subprocess.run([sys.executable, "manage.py", "migrate", "--noinput", "-v0"], cwd=REPO, env=env, check=True)
        server = Server(temp / "data", env)
        try:
            print(f"lockd (backend {args.backend}, pid {server.pid}) on 127.0.0.1:{server.port}; "
                  f"{os.cpu_count()} CPUs; RSS {rss_mib(server.pid):.1f} MiB idle", flush=True)
            for run in range(1, args.runs + 1):
                for depth in depths:
                    kind = "pipelined g+r pairs" if depth == "2" else "one command at a time"
                    print_run(f"run {run}, saturation depth {depth} ({kind})",
                              measure(server, client, args.seconds, int(depth)))
                if args.rate:
                    kind = "pipelined g+r pairs" if args.paced_depth == "2" else "one command at a time"
                    print_run(f"run {run}, paced at {args.rate:,.0f}/s ({kind}; latency from due time)",
                              measure(server, client, args.seconds, int(args.paced_depth), args.rate), paced=True)
            if not args.no_memory:
                memory(server, client, args.memory_ops, args.cycles)
        finally:
            server.stop()
            if postgres:
                postgres_server.stop(postgres[0], postgres[1])


if __name__ == "__main__":
    main()
