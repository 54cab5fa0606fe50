"""bench/build_bench.py's breakdown of a build's time: every worker-second
from the POST to the done state lands in exactly one row."""
import pytest

from bench.build_bench import PHASES, breakdown


def chunk(worker, began_at, ended_at, **spent):
    phases = dict.fromkeys(PHASES, 0.0)
    phases.update(spent)
    return {"worker": worker, "began_at": began_at, "ended_at": ended_at, **phases}


def test_the_rows_add_up_to_the_workers_time_and_name_the_gaps():
    chunks = [
        chunk("a", 10.5, 12.0, render=1.0, write=0.5),
        chunk("b", 10.6, 12.4, render=1.2, write=0.6),
        chunk("a", 12.1, 13.0, render=0.6, write=0.3),
        chunk("b", 12.5, 14.0, render=1.0, write=0.5),
    ]
    result = breakdown(chunks, posted_at=10.0, seen_at=14.2)
    rows = result["rows"]
    assert rows["start (POST to a worker's first chunk)"] == pytest.approx(0.5 + 0.6)
    assert rows["between chunks (RQ, preload, fork)"] == pytest.approx(0.1 + 0.1)
    assert rows["chunk render"] == pytest.approx(3.8) and rows["chunk write"] == pytest.approx(1.9)
    assert rows["tail (worker out of chunks)"] == pytest.approx(1.0)  # a waited from 13.0 to 14.0
    assert rows["finish (last chunk to done seen)"] == pytest.approx(2 * 0.2)
    assert result["workers"] == 2 and result["wall_s"] == pytest.approx(4.2)
    assert sum(rows.values()) == pytest.approx(2 * 4.2)
