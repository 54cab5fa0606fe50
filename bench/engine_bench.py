"""Render engine alone vs. the encode floor and ImageMagick, side by side in one run.

    .venv/bin/python bench/engine_bench.py [--layers DIR] [--workers N]
        [--seconds S] [--rounds R] [--im-count C] [--format JPEG|PNG|WEBP]

1. encode floor: N processes, each encoding ready composites of its range
   whole, for S seconds: what every image cost before JPEG row splicing.
2. engine alone: N processes, each rendering (encoding, not writing) its own
   disjoint index range of the trophy for S seconds: the practical limit.
   The two alternate in R turns (S/R seconds each), so that other work on
   shared cores weighs on both alike. Then the engine / floor ratio, in
   images/s and in CPU time per image, and the workers' peak RSS.
3. where an engine image's time goes (bench/engine_costs.py): composite,
   strip encode, splice, write, in one instrumented process.
4. ImageMagick: one `convert` process per image compositing the same layers
   into the same format and writing the file, N in parallel, C images each:
   how the shop's old system worked; and the ratio to it.
Absolute figures move up to 2x between machines and days (and with whatever
else runs: load averages are printed); the ratios from one run compare.

The measuring functions are importable (bench/build_bench.py uses them):
load_reference_slots, measure_engine, measure_floor, measure_floor_and_engine,
measure_imagemagick, find_imagemagick.
"""
from __future__ import annotations

import argparse
import io
import multiprocessing
import os
import re
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from contextlib import nullcontext
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))  # run as a script from anywhere: find `trophies`

from trophies.combinations import count, digits_of  # noqa: E402
from trophies.engine import ENCODER_OPTIONS, FORMATS, Renderer, SlotLayers, load_layer  # noqa: E402
from trophies.services.renders import AtomicWriter  # noqa: E402  (no Django settings needed)

# The reference layer set ships with the repository (bench/layers/README.md).
DEFAULT_LAYERS = Path(os.environ.get("K2_REFERENCE_LAYERS") or REPO / "bench" / "layers")
REFERENCE_ORDER = ["base", "figure", "color", "plate", "engraving"]
LAYER_NAME = re.compile(r"^(?P<slot>.+)_(?P<number>\d+)\.png$")


class ImageMagickMissing(RuntimeError):
    pass


def slot_files(layers_dir) -> list[tuple[str, list[Path]]]:
    """[(slot name, [option files in number order])] in compositing order.

    Slots are named by the file prefix before _NN; the reference names come
    in the reference order, any others after them alphabetically.
    """
    groups: dict[str, list[tuple[int, Path]]] = {}
    for path in Path(layers_dir).iterdir():
        match = LAYER_NAME.match(path.name)
        if match:
            groups.setdefault(match["slot"], []).append((int(match["number"]), path))
    if not groups:
        raise FileNotFoundError(f"no SLOT_NN.png layers in {layers_dir}")

    def order(name):
        return (REFERENCE_ORDER.index(name), "") if name in REFERENCE_ORDER else (len(REFERENCE_ORDER), name)

    return [(name, [path for _, path in sorted(groups[name])]) for name in sorted(groups, key=order)]


def load_reference_slots(layers_dir=DEFAULT_LAYERS) -> list[SlotLayers]:
    """The layer folder as engine slots (every layer at offset 0,0)."""
    return [SlotLayers((0, 0), [load_layer(path) for path in paths]) for _, paths in slot_files(layers_dir)]


def canvas_size(slots) -> tuple[int, int]:
    """The reference layers each cover the whole canvas: take the first one's size."""
    return slots[0].layers[0].size


def _ranges(total, workers):
    """Disjoint contiguous index ranges, one per worker."""
    return [(total * w // workers, total * (w + 1) // workers) for w in range(workers)]


FLOOR_PICTURES = 64  # ready composites per floor worker, encoded in turn


def _engine_worker(layers_dir, fmt, start, stop, seconds, barrier, results, out_dir, floor):
    slots = load_reference_slots(layers_dir)
    renderer = Renderer(canvas_size(slots), slots, fmt)
    pictures = _floor_pictures(renderer, start, stop) if floor else None
    # With out_dir, the same atomic writes a build does (temp file + rename).
    with AtomicWriter(out_dir, f"worker{start}") if out_dir else nullcontext() as writer:
        barrier.wait()  # loading is not measured; all workers start together
        began, cpu_began = time.perf_counter(), time.process_time()
        deadline = began + seconds
        images = size = 0
        if floor:
            for images, data in enumerate(_whole_encodes(pictures, fmt, deadline), 1):
                size += len(data)
        else:
            for _, digits, data in renderer.render_range(start, stop, lambda: time.perf_counter() >= deadline):
                if writer is not None:
                    name = "-".join(map(str, digits[2:])) + renderer.extension
                    writer.write(f"{out_dir}/{digits[0]}/{digits[1]}/{name}", data)
                images += 1
                size += len(data)
    elapsed, cpu = time.perf_counter() - began, time.process_time() - cpu_began
    results.put((images, elapsed, size, resource.getrusage(resource.RUSAGE_SELF).ru_maxrss, cpu))


def _floor_pictures(renderer, start, stop):
    """Composites spread over the range, made before the clock starts."""
    step = max(1, (stop - start) // FLOOR_PICTURES)
    return [renderer.composite(digits_of(index, renderer.radices)) for index in range(start, stop, step)]


def _whole_encodes(pictures, fmt, deadline):
    """Whole encodes of ``pictures`` in turn (the engine's settings) until the deadline."""
    options = ENCODER_OPTIONS[fmt]
    while True:
        for picture in pictures:
            if time.perf_counter() >= deadline:
                return
            out = io.BytesIO()
            picture.save(out, fmt, **options)
            yield out.getvalue()


def measure_engine(layers_dir=DEFAULT_LAYERS, workers=None, seconds=10.0, fmt="JPEG", out_dir=None) -> dict:
    """Images/s of the engine alone in ``workers`` processes (encode, no
    files; with ``out_dir``, also writing each image atomically there)."""
    return _summary([_run_workers(layers_dir, workers, seconds, fmt, out_dir, floor=False)], fmt, layers_dir)


def measure_floor(layers_dir=DEFAULT_LAYERS, workers=None, seconds=10.0, fmt="JPEG") -> dict:
    """Images/s of whole encodes of ready composites in ``workers``
    processes: the floor of any engine that encodes every picture whole."""
    return _summary([_run_workers(layers_dir, workers, seconds, fmt, None, floor=True)], fmt, layers_dir)


def measure_floor_and_engine(layers_dir=DEFAULT_LAYERS, workers=None, seconds=10.0, fmt="JPEG",
                             rounds=2) -> tuple[dict, dict]:
    """Both, in ``rounds`` alternating turns of seconds/rounds each, so
    that other work on shared cores weighs on both about alike."""
    turns = {True: [], False: []}
    for _ in range(rounds):
        for floor in (True, False):
            turns[floor].append(_run_workers(layers_dir, workers, seconds / rounds, fmt, None, floor))
    return _summary(turns[True], fmt, layers_dir), _summary(turns[False], fmt, layers_dir)


def _run_workers(layers_dir, workers, seconds, fmt, out_dir, floor) -> list[tuple]:
    """[(images, wall s, bytes, peak RSS KB, CPU s)] of each worker."""
    workers = workers or os.cpu_count() or 1
    total = count([len(paths) for _, paths in slot_files(layers_dir)])
    barrier, results = multiprocessing.Barrier(workers), multiprocessing.Queue()
    processes = [
        multiprocessing.Process(
            target=_engine_worker,
            args=(str(layers_dir), fmt, start, stop, seconds, barrier, results, out_dir and str(out_dir), floor),
        )
        for start, stop in _ranges(total, workers)
    ]
    for process in processes:
        process.start()
    outcomes = [results.get() for _ in processes]
    for process in processes:
        process.join()
    return outcomes


def _summary(turns, fmt, layers_dir) -> dict:
    """One figure from the workers' outcomes of one or more turns."""
    radices = [len(paths) for _, paths in slot_files(layers_dir)]
    total = count(radices)
    outcomes = [outcome for turn in turns for outcome in turn]
    images = sum(n for n, *_ in outcomes)
    wall = sum(max(elapsed for _, elapsed, *_ in turn) for turn in turns)
    rate = images / wall
    workers = len(turns[0])
    return {
        "workers": workers,
        "format": fmt,
        "radices": radices,
        "total": total,
        "images": images,
        "seconds": wall,
        "images_per_s": rate,
        "ms_per_image": wall * workers / images * 1000,
        # CPU time moves less than wall time when other work shares the cores
        "cpu_ms_per_image": sum(cpu for *_, cpu in outcomes) / images * 1000,
        "projected_s": total / rate,
        "bytes_per_image": sum(size for _, _, size, _, _ in outcomes) / images,
        "peak_rss_mb": max(rss for _, _, _, rss, _ in outcomes) / 1024,
    }


def find_imagemagick() -> list[str] | None:
    """The real ImageMagick command (IM7 `magick` or IM6 `convert`), or None.

    Only binaries that answer -version as ImageMagick count: a stand-in
    `convert` may sit earlier on PATH.
    """
    candidates = [
        os.environ.get("K2_IMAGEMAGICK"),
        "/usr/bin/magick",
        shutil.which("magick"),
        "/usr/bin/convert",
        shutil.which("convert"),
    ]
    for candidate in filter(None, candidates):
        try:
            answer = subprocess.run([candidate, "-version"], capture_output=True, text=True, timeout=10)
        except (OSError, subprocess.SubprocessError):
            continue
        if answer.stdout.startswith("Version: ImageMagick"):
            return [candidate]
    return None


def imagemagick_command(tool, files, fmt, out) -> list[str]:
    """Composite ``files`` bottom first into ``out``, settings like the engine's."""
    command = [*tool, str(files[0])]
    for path in files[1:]:
        command += [str(path), "-composite"]
    if fmt == "JPEG":
        command += ["-background", "white", "-flatten", "-quality", "85"]
    elif fmt == "PNG":
        command += ["-define", "png:compression-level=1"]
    else:
        command += ["-quality", "80", "-define", "webp:method=0"]
    return command + [str(out)]


def measure_imagemagick(
    layers_dir=DEFAULT_LAYERS, workers=None, count_per_worker=60, fmt="JPEG", out_dir=None
) -> dict:
    """Images/s of one ImageMagick process per image, ``workers`` at a time.

    Each worker takes the first ``count_per_worker`` indexes of the same
    range measure_engine gives it. Raises ImageMagickMissing.
    """
    tool = find_imagemagick()
    if tool is None:
        raise ImageMagickMissing(
            "ImageMagick not found (apt-get install imagemagick; or set K2_IMAGEMAGICK to its binary)"
        )
    workers = workers or os.cpu_count() or 1
    slots = slot_files(layers_dir)
    radices = [len(paths) for _, paths in slots]

    def run(start, stop, tmp):
        sizes = []
        for index in range(start, min(start + count_per_worker, stop)):
            files = [paths[digit] for (_, paths), digit in zip(slots, digits_of(index, radices))]
            out = Path(tmp) / f"{index}{FORMATS[fmt]}"
            done = subprocess.run(imagemagick_command(tool, files, fmt, out), capture_output=True, text=True)
            if done.returncode:
                raise RuntimeError(f"{tool[0]} failed: {done.stderr.strip()}")
            sizes.append(out.stat().st_size)
        return sizes

    with tempfile.TemporaryDirectory(dir=out_dir) as tmp:
        began = time.perf_counter()
        # Threads only wait on the child processes; the work is in them.
        with ThreadPoolExecutor(workers) as pool:
            parts = pool.map(lambda r: run(*r, tmp), _ranges(count(radices), workers))
            sizes = [size for part in parts for size in part]
        wall = time.perf_counter() - began
    rate = len(sizes) / wall
    return {
        "tool": tool[0],
        "workers": workers,
        "format": fmt,
        "images": len(sizes),
        "seconds": wall,
        "images_per_s": rate,
        "ms_per_image": wall * workers / len(sizes) * 1000,
        "projected_s": count(radices) / rate,
        "bytes_per_image": sum(sizes) / len(sizes),
    }


def _duration(seconds):
    if seconds < 120:
        return f"{seconds:.1f} s"
    if seconds < 7200:
        return f"{seconds / 60:.1f} min"
    return f"{seconds / 3600:.1f} h"


def _line(name, result):
    return (
        f"{name:<34} {result['images_per_s']:>9,.1f} images/s  {result['ms_per_image']:>7.2f} ms/image/process  "
        f"all in {_duration(result['projected_s']):>9}  {result['bytes_per_image'] / 1024:.1f} KB/image"
    )


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--layers", type=Path, default=DEFAULT_LAYERS)
    parser.add_argument("--workers", type=int, default=os.cpu_count() or 1)
    parser.add_argument("--seconds", type=float, default=10.0, help="floor and engine run time each, per worker")
    parser.add_argument("--rounds", type=int, default=2, help="alternating floor/engine turns the seconds are cut into")
    parser.add_argument("--im-count", type=int, default=60, help="ImageMagick images per worker")
    parser.add_argument("--format", default="JPEG", type=str.upper, choices=list(FORMATS))
    args = parser.parse_args(argv)

    names = slot_files(args.layers)
    radices = [len(paths) for _, paths in names]
    factors = " x ".join(f"{n} {name}" for (name, _), n in zip(names, radices))
    print(f"layers {args.layers}: {factors} = {count(radices):,} combinations, {args.format}, {args.workers} workers")
    print(f"load averages {load_averages()}")
    floor, engine = measure_floor_and_engine(args.layers, args.workers, args.seconds, args.format, args.rounds)
    print(_line(f"encode floor ({floor['images']:,} whole encodes)", floor))
    print(_line(f"engine alone ({engine['images']:,} images)", engine))
    print(f"ratio engine / encode floor: {engine['images_per_s'] / floor['images_per_s']:.2f}x images/s, "
          f"{floor['cpu_ms_per_image'] / engine['cpu_ms_per_image']:.2f}x in CPU time per image "
          f"({floor['cpu_ms_per_image']:.3f} vs {engine['cpu_ms_per_image']:.3f} ms); "
          f"worker peak RSS {engine['peak_rss_mb']:.0f} MB")
    from bench.engine_costs import measure_costs, report  # imports this module: not at the top
    with tempfile.TemporaryDirectory() as scratch:
        print(report(measure_costs(args.layers, min(args.seconds, 5.0), args.format, scratch)))
    print(f"load averages {load_averages()}")
    try:
        magick = measure_imagemagick(args.layers, args.workers, args.im_count, args.format)
    except ImageMagickMissing as missing:
        print(f"ImageMagick baseline skipped: {missing}")
        return 1 if os.environ.get("CI") else 0
    print(_line(f"ImageMagick, process/image ({magick['images']})", magick))
    print(f"ratio engine / ImageMagick: {engine['images_per_s'] / magick['images_per_s']:,.0f}x")
    return 0


def load_averages() -> str:
    """1, 5 and 15 minute load averages: the cores are shared, say how much."""
    return " ".join(f"{load:.2f}" for load in os.getloadavg())


if __name__ == "__main__":
    sys.exit(main())
