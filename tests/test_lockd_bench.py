"""bench/lockd_bench.py runs end to end (briefly) and prints its figures:
a benchmark that nobody runs rots."""
import re
import subprocess
import sys

import pytest

from tests.conftest import ROOT

pytestmark = pytest.mark.slow


def test_the_bench_prints_throughput_latency_cpu_and_memory(tmp_path):
    result = subprocess.run([sys.executable, "bench/lockd_bench.py", "--seconds", "1", "--runs", "1", "--memory-ops",
                             "20000", "--cycles", "200", "--rate", "2000"], cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-2000:]
    out = result.stdout
    for label in ("saturation depth 1", "saturation depth 2", "paced at 2,000/s"):
        line = re.search(rf"run 1, {label} .*", out).group(0)
        ops = float(re.search(r": ([\d,]+) ops/s", line).group(1).replace(",", ""))
        assert ops > 1000 if "saturation" in label else 1900 < ops < 2100, line
        assert re.search(r"p50 \d+ us, p99 \d+ us", line) and re.search(r"server CPU [\d.]+ us/op", line), line
        assert " 0 refusals" in line and "load " in line
    assert re.search(r"memory \(RSS\): [\d.]+ MiB .* after [\d,]+ more ops, [\d.]+ MiB after 200 connect", out), out
