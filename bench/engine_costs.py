"""Where an engine image's time goes: composite, strip encode, splice, write.

    .venv/bin/python bench/engine_costs.py [--layers DIR] [--seconds S] [--format F]

One process renders the reference trophy from index 0 for S seconds, writing
every image atomically as a build does, with timers wrapped around the
engine's steps for the run (the engine itself carries no timing code):

* composite: the slot levels below the top and the strips, including the
  pieces of a top-slot cycle encoded ahead (or, for PNG and WebP, the top
  layer pasted for a whole encode);
* strip encode: libjpeg encoding the dirty rows; whole encode: the first
  picture of a range (and every picture for PNG/WebP);
* splice: checking and splitting a strip into rows, putting them in place,
  joining the file;
* write: the atomic file write (temporary file + rename);
* rest: the loop, digits, callbacks, and the timers themselves (about 0.3 us
  per timed call, some 6 a picture).

bench/engine_bench.py prints this after its parallel runs.
"""
from __future__ import annotations

import argparse
import sys
import tempfile
import time
from contextlib import ExitStack, contextmanager, nullcontext
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from bench.engine_bench import DEFAULT_LAYERS, canvas_size, load_reference_slots  # noqa: E402
from trophies import engine, jpeg_rows  # noqa: E402
from trophies.engine import FORMATS, Renderer  # noqa: E402
from trophies.services.renders import AtomicWriter  # noqa: E402

PHASES = ("composite", "strip encode", "whole encode", "splice", "write", "rest")


@contextmanager
def _patched(owner, name, phase, spent):
    """``owner.name`` adds its time to ``spent[phase]`` until exit."""
    original = getattr(owner, name)
    clock = time.perf_counter

    def timed(*args, **kwargs):
        began = clock()
        try:
            return original(*args, **kwargs)
        finally:
            spent[phase] += clock() - began

    setattr(owner, name, timed)
    try:
        yield
    finally:
        if isinstance(owner, type):
            setattr(owner, name, original)
        else:
            delattr(owner, name)  # the instance falls back to its class's method


def _timers(renderer, writer, spent):
    """The engine's steps, timed; none of them calls another timed one."""
    stack = ExitStack()
    steps = [(renderer, "_composite", "composite"), (renderer, "_encode", "whole encode"),
             (writer, "write", "write")]
    if renderer.format == "JPEG":
        steps += [(engine._SplicedJpeg, "_strip", "composite"), (engine._SplicedJpeg, "_cycle_strip", "composite"),
                  (renderer._rows, "encode_strip", "strip encode"),
                  (renderer._rows, "split_strip", "splice"), (jpeg_rows.RowPicture, "replace", "splice"),
                  (jpeg_rows.RowPicture, "tobytes", "splice")]
    else:
        steps += [(renderer, "_encode_top", "composite")]  # minus its whole encode, below
    for owner, name, phase in steps:
        stack.enter_context(_patched(owner, name, phase, spent))
    return stack


def measure_costs(layers_dir=DEFAULT_LAYERS, seconds=5.0, fmt="JPEG", out_dir=None) -> dict:
    """Microseconds per image of each phase in PHASES, one process, with
    atomic writes to ``out_dir``/costs, left for the caller to delete (mass
    deletions slow the filesystem for a while); None: a temporary directory."""
    slots = load_reference_slots(layers_dir)
    renderer = Renderer(canvas_size(slots), slots, fmt)
    with nullcontext(out_dir) if out_dir else tempfile.TemporaryDirectory() as root:
        scratch = f"{root}/costs"
        with AtomicWriter(scratch, "writer") as writer:
            spent, images, elapsed = _timed_run(renderer, writer, scratch, seconds)
    if fmt != "JPEG":
        spent["composite"] -= spent["whole encode"]  # _encode_top's time includes its encode
    spent["rest"] = elapsed - sum(spent.values())
    return {"images": images, "seconds": elapsed, "us_per_image": elapsed / images * 1e6,
            "phases": {phase: spent[phase] / images * 1e6 for phase in PHASES}}


def _timed_run(renderer, writer, scratch, seconds):
    spent = dict.fromkeys(PHASES, 0.0)
    with _timers(renderer, writer, spent):
        began = time.perf_counter()
        deadline = began + seconds
        images = 0
        for _, digits, data in renderer.render_range(0, renderer.total, lambda: time.perf_counter() >= deadline):
            name = "-".join(map(str, digits[2:])) + renderer.extension
            writer.write(f"{scratch}/{digits[0]}/{digits[1]}/{name}", data)
            images += 1
        return spent, images, time.perf_counter() - began


def report(costs) -> str:
    lines = [f"costs per image, 1 process, timed ({costs['images']:,} images, "
             f"{costs['us_per_image']:.1f} us/image with timers and writes):"]
    for phase, us in costs["phases"].items():
        lines.append(f"  {phase:<13} {us:>7.1f} us  {us / costs['us_per_image']:>4.0%}")
    return "\n".join(lines)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--layers", type=Path, default=DEFAULT_LAYERS)
    parser.add_argument("--seconds", type=float, default=5.0)
    parser.add_argument("--format", default="JPEG", type=str.upper, choices=list(FORMATS))
    args = parser.parse_args(argv)
    print(report(measure_costs(args.layers, args.seconds, args.format)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
