"""The engine benchmark's cost breakdown runs and adds up (its timers wrap
engine internals by name, so a rename must show here, not in a bench run)."""
import pytest

from bench.engine_costs import PHASES, measure_costs, report
from trophies import engine, jpeg_rows


@pytest.mark.parametrize("fmt", ["JPEG", "PNG"])
def test_cost_breakdown(fmt, tmp_path):
    costs = measure_costs(seconds=0.3, fmt=fmt, out_dir=tmp_path)
    phases = costs["phases"]
    assert costs["images"] > 0 and list(phases) == list(PHASES)
    assert sum(phases.values()) == pytest.approx(costs["us_per_image"])
    encode = "strip encode" if fmt == "JPEG" else "whole encode"
    assert phases[encode] > 0 and phases["composite"] > 0 and phases["write"] > 0
    assert len(list((tmp_path / "costs").rglob("*" + engine.FORMATS[fmt]))) == costs["images"]
    assert "strip encode" in report(costs)


def test_timers_are_removed_afterwards(tmp_path):
    measure_costs(seconds=0.1, out_dir=tmp_path)
    assert engine._SplicedJpeg._strip.__qualname__ == "_SplicedJpeg._strip"
    assert engine._SplicedJpeg._cycle_strip.__qualname__ == "_SplicedJpeg._cycle_strip"
    assert jpeg_rows.RowPicture.tobytes.__qualname__ == "RowPicture.tobytes"
