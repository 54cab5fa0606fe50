"""The render engine: composites option layers into encoded trophy pictures.

Pure Pillow + stdlib (no Django), so it can be tested and benchmarked alone.

A trophy is a canvas size and an ordered list of slots (compositing order,
bottom first); each slot has an offset and one RGBA layer per option. A
combination picks one option per slot and is numbered in mixed-radix order
(:mod:`trophies.combinations`, last slot changes fastest).

Why it is fast (figures from one 2-core machine, 400x500 reference layers):

* Prefix reuse. :meth:`Renderer.render_range` walks indexes in order and
  keeps the composite of every slot level below the top; moving to the next
  combination recomposites only from the first changed slot upward. With the
  reference trophy (3x30x5x15x19) 18 of 19 images touch only the top slot.
* Bounding boxes. The layers' opaque parts are small (an engraving is about
  113x15 px of a 400x500 canvas), so each layer is cropped once, at load, to
  its alpha bounding box clipped to the canvas, and only that box is
  composited. For PNG/WebP's top slot the pixels under the box are saved,
  the layer pasted, the canvas encoded and the pixels restored: no 400x500
  copy per image.
* JPEG row splicing (:mod:`trophies.jpeg_rows`). A JPEG has a restart
  marker after every row of 16x16 MCUs, which makes each row's bytes depend
  on that row's pixels alone. render_range keeps the rows of the last
  picture it encoded; for the next one it encodes only the MCU rows under
  the old and the new layer of each slot that changed since that picture
  (skipped combinations do not count), as one strip (the rows' pixels,
  stacked if apart), and puts the strip's rows in place of the old ones.
  In the reference trophy that is 2 of 32 rows for 18 images in 19 (the
  engraving), 4-6 for the 19th (plate). The bytes are those of a whole
  encode with the same settings, which is what :meth:`Renderer.render_one`
  does. A libjpeg call costs ~17 us before its first row, about one row's
  worth, so while a range is rendered densely the rows for the rest of a
  top-slot cycle (the 18 engravings after the first) are encoded ahead as
  one strip of 18 pieces: -16-20% CPU per image. A range that skips
  (a rebuild) gets a strip per image, so it never encodes pieces it skips.
  PNG and WebP are encoded whole: their filters and predictions reach
  across rows.
* JPEG keeps every level as opaque RGB over white and uses
  ``paste(rgb, box, mask=alpha)``: over an opaque background that *is* the
  "over" operator, with no alpha channel to carry. PNG/WebP keep RGBA over
  transparent and use ``alpha_composite`` (a masked paste would blend the
  alpha channel instead of uniting it).

Measured per image and core (bench/engine_bench.py, reference trophy, 2
processes on a 2-core machine shared with other test suites): JPEG ~0.07 ms
of CPU against ~0.56 ms for a whole encode of a ready composite (the floor
before splicing), 7.7-8.9x in CPU time and 7.3-14x in images/s in one run;
of the engine's own time the strip encode is about half, the level and
strip composites a third, the splice 6%. PNG ~9 ms, WebP ~14 ms.

Encoder settings (fixed: output bytes feed fingerprints, see ENGINE_VERSION):

* JPEG quality 85, 4:2:0, no optimize, baseline, no smoothing, a restart
  marker every MCU row: row splicing needs all of them (jpeg_rows.PINNED;
  a Renderer checks them on first use and encodes whole pictures, with a
  RuntimeWarning, if its encoder's rows turn out not to be independent).
  ``optimize=True`` would save 7% bytes for +85% time, progressive 7% for
  +380%; 4:4:4 costs +50%. The markers add 0.7% to the bytes and nothing
  to a whole encode's time.
* PNG compress_level 1: level 0 is 6 ms but 5x the bytes (800 KB), zlib
  strategies (compress_type) are no faster; the row filtering dominates.
* WebP quality 80, method 0 (method 1: +75% time for 6% fewer bytes),
  lossless alpha (alpha_quality 100). Lossy alpha halves the time but bands
  the soft edges shoppers see, so it is not used.
"""
from __future__ import annotations

import hashlib
import io
import warnings
from collections import OrderedDict
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

from PIL import Image

from trophies import jpeg_rows
from trophies.combinations import count, digits_of, first_changed, index_of

ENGINE_VERSION = "2"  # bump when output bytes change; part of fingerprints

FORMATS = {"JPEG": ".jpg", "PNG": ".png", "WEBP": ".webp"}

ENCODER_OPTIONS = {
    "JPEG": {"quality": 85, **jpeg_rows.PINNED},  # restart markers: rows are spliced
    "PNG": {"compress_level": 1},
    "WEBP": {"quality": 80, "method": 0, "alpha_quality": 100},
}


@dataclass(frozen=True)
class SlotLayers:
    """One slot: where its layers go and one layer per option.

    A layer may be an RGBA image, PNG bytes or a file path (loaded with
    :func:`load_layer`).
    """
    offset: tuple[int, int]
    layers: Sequence[Image.Image | bytes | str | Path]


def load_layer(source: Image.Image | bytes | str | Path) -> Image.Image:
    """An RGBA image, fully loaded (the file is closed on return)."""
    if isinstance(source, Image.Image):
        image = source
    elif isinstance(source, (bytes, bytearray, memoryview)):
        image = Image.open(io.BytesIO(source))
    else:
        with Image.open(source) as opened:
            opened.load()
            image = opened.copy() if opened.mode == "RGBA" else opened.convert("RGBA")
        return image
    image.load()
    return image if image.mode == "RGBA" else image.convert("RGBA")


def layer_digest(image: Image.Image) -> str:
    """sha256 hex of a layer's pixels (mode, size and raw RGBA bytes)."""
    if image.mode != "RGBA":
        image = image.convert("RGBA")
    digest = hashlib.sha256(f"RGBA {image.width}x{image.height}\n".encode())
    digest.update(image.tobytes())
    return digest.hexdigest()


class _Placement:
    """A layer cropped to its visible box on the canvas, ready to composite."""

    __slots__ = ("dest", "box", "pixels", "mask", "rows", "nbytes")

    def __init__(self, layer, offset, canvas_size, opaque_background):
        self.pixels = None  # None: nothing visible, compositing is a no-op
        self.rows = None  # MCU rows [first, stop) it touches, for JPEG splicing
        self.nbytes = 0
        alpha_box = layer.getchannel("A").getbbox()
        if alpha_box is None:
            return
        ox, oy = offset
        width, height = canvas_size
        # Visible part in canvas coordinates: the layer's opaque box, shifted
        # by the offset, clipped to the canvas.
        left, top = max(alpha_box[0] + ox, 0), max(alpha_box[1] + oy, 0)
        right, bottom = min(alpha_box[2] + ox, width), min(alpha_box[3] + oy, height)
        if left >= right or top >= bottom:
            return
        self.dest = (left, top)
        self.box = (left, top, right, bottom)
        self.rows = jpeg_rows.mcu_rows(top, bottom)
        crop = layer.crop((left - ox, top - oy, right - ox, bottom - oy))
        if opaque_background:
            self.pixels, self.mask = crop.convert("RGB"), crop.getchannel("A")
        else:
            self.pixels, self.mask = crop, None
        self.nbytes = (right - left) * (bottom - top) * 4

    def apply(self, canvas):
        """Composite onto ``canvas`` in place."""
        if self.mask is not None:
            canvas.paste(self.pixels, self.dest, self.mask)
        else:
            canvas.alpha_composite(self.pixels, self.dest)


class PlacementCache:
    """Layers decoded and cropped for compositing, kept across the renderers
    of one process (a render worker's chunks), least recently used first out
    past ``max_bytes`` of pixels.

    Keyed by file path, offset and canvas: only for layer files named by
    their content (the app's are), whose pixels never change under a name.
    """

    def __init__(self, max_bytes: int):
        self.max_bytes = max_bytes
        self.bytes = 0
        self.decoded = 0  # layers decoded so far (entries not found)
        self._entries: OrderedDict = OrderedDict()

    def __len__(self):
        return len(self._entries)

    def placement(self, path, offset, canvas_size, opaque_background) -> _Placement:
        key = (str(path), tuple(offset), tuple(canvas_size), opaque_background)
        found = self._entries.get(key)
        if found is not None:
            self._entries.move_to_end(key)
            return found
        found = self._entries[key] = _Placement(load_layer(path), offset, canvas_size, opaque_background)
        self.decoded += 1
        self.bytes += found.nbytes
        while self.bytes > self.max_bytes and len(self._entries) > 1:
            _, dropped = self._entries.popitem(last=False)
            self.bytes -= dropped.nbytes
        return found


class Renderer:
    """Renders the combinations of one trophy into encoded image bytes.

    Not thread-safe: :meth:`render_range` briefly modifies its cached
    composites (restored before each yield). Use one renderer per process.
    """

    def __init__(self, size: tuple[int, int], slots: Sequence[SlotLayers], fmt: str = "JPEG",
                 cache: PlacementCache | None = None):
        fmt = fmt.upper()
        if fmt not in FORMATS:
            raise ValueError(f"unknown format {fmt!r}; expected one of {', '.join(FORMATS)}")
        width, height = size
        if width <= 0 or height <= 0:
            raise ValueError(f"canvas size must be positive, got {width}x{height}")
        if not slots:
            raise ValueError("a trophy needs at least one slot")
        for position, slot in enumerate(slots):
            if not slot.layers:
                raise ValueError(f"slot {position} has no options")
        self.size = (width, height)
        self.format = fmt
        self.extension = FORMATS[fmt]
        self._options = ENCODER_OPTIONS[fmt]
        opaque = fmt == "JPEG"
        if opaque:
            self._background = Image.new("RGB", self.size, (255, 255, 255))
        else:
            self._background = Image.new("RGBA", self.size, (0, 0, 0, 0))
        # A layer given as None is not loaded (a caller rendering a sub-range
        # that never uses it); using it anyway raises instead of drawing wrong.
        def placement(layer, offset):
            if layer is None:
                return None
            if cache is not None and isinstance(layer, (str, Path)):
                return cache.placement(layer, offset, self.size, opaque)
            return _Placement(load_layer(layer), offset, self.size, opaque)

        self._placements = [[placement(layer, tuple(slot.offset)) for layer in slot.layers] for slot in slots]
        self.radices = [len(slot.layers) for slot in slots]
        self.total = count(self.radices)
        self._rows = jpeg_rows.RowCodec(self.size, self._options) if opaque else None

    def _encode(self, canvas) -> bytes:
        out = io.BytesIO()
        canvas.save(out, self.format, **self._options)
        return out.getvalue()

    def _placement(self, position, digit):
        placement = self._placements[position][digit]
        if placement is None:
            raise LookupError(f"option {digit} of slot {position} was not loaded")
        return placement

    def _composite(self, below, position, digit):
        """A new image: ``below`` with the chosen layer of slot ``position``."""
        placement = self._placement(position, digit)
        if placement.pixels is None:
            return below  # nothing visible: share the image, never modified
        canvas = below.copy()
        placement.apply(canvas)
        return canvas

    def composite(self, digits: Sequence[int]) -> Image.Image:
        """One combination's picture before encoding, from scratch.

        RGB over white for JPEG, RGBA otherwise. The caller owns the image.
        """
        index_of(digits, self.radices)  # validates length and ranges
        canvas = self._background
        for position, digit in enumerate(digits):
            canvas = self._composite(canvas, position, digit)
        return canvas.copy() if canvas is self._background else canvas

    def render_one(self, digits: Sequence[int]) -> bytes:
        """One combination composited from scratch and encoded (no cached state)."""
        return self._encode(self.composite(digits))

    def render_range(
        self, start: int, stop: int, should_stop: Callable[[], bool] | None = None,
        wanted: Callable[[int, list[int]], bool] | None = None,
    ) -> Iterator[tuple[int, list[int], bytes]]:
        """Yield ``(index, digits, encoded)`` for indexes start..stop-1 in order.

        ``should_stop`` is called before each image; when it returns true the
        iteration ends. ``wanted(index, digits)`` may skip combinations (ones
        already on disk) at no compositing cost. Bytes are identical to
        :meth:`render_one`'s.
        """
        if not 0 <= start <= stop <= self.total:
            raise IndexError(f"range {start}..{stop} is outside 0..{self.total}")
        top = len(self.radices) - 1
        # levels[p]: composite of slots 0..p-1 (levels[0] is the background).
        levels = [self._background] + [None] * top
        encode = self._range_encoder(stop)
        previous = None  # digits of the last picture encoded (skipped ones are not)
        for index in range(start, stop):
            if should_stop is not None and should_stop():
                return
            digits = digits_of(index, self.radices)
            if wanted is not None and not wanted(index, digits):
                continue
            changed = 0 if previous is None else first_changed(previous, digits)
            for position in range(changed, top):
                levels[position + 1] = self._composite(levels[position], position, digits[position])
            data = encode(levels[top], previous, digits, changed, index)
            previous = digits
            yield index, digits, data

    def _range_encoder(self, stop):
        """``encode(below, previous, digits, changed, index)`` for one render_range."""
        if self._rows is not None:
            problem = self._rows.problem
            if problem is None:
                return _SplicedJpeg(self, stop).encode
            warnings.warn(f"JPEG rows cannot be spliced ({problem}): encoding whole pictures", RuntimeWarning)
        return lambda below, previous, digits, changed, index: self._encode_top(below, digits[-1])

    def _encode_top(self, below, digit) -> bytes:
        """Encode ``below`` + the top slot's layer without copying the canvas.

        The pixels under the layer are saved and put back afterwards, so
        ``below`` is unchanged on return (same pixels as a copy would give).
        """
        placement = self._placement(len(self._placements) - 1, digit)
        if placement.pixels is None:
            return self._encode(below)
        saved = below.crop(placement.box)
        placement.apply(below)
        try:
            return self._encode(below)
        finally:
            below.paste(saved, placement.dest)


class _SplicedJpeg:
    """One render_range's JPEG encoder: keeps the rows of the last picture it
    encoded and re-encodes only the MCU rows under the old and new layers of
    the slots that changed since, as one strip spliced into that picture.

    While the range is rendered densely, the rows of the rest of a top-slot
    cycle (the combinations that differ only in the top slot) are encoded
    ahead in one tall strip, one piece per top option: a libjpeg call costs
    ~17 us before its first row, more than the engraving's two rows each."""

    def __init__(self, renderer, stop):
        self._renderer = renderer
        self._rows = renderer._rows
        self._width, self._height = renderer.size
        self._top = len(renderer.radices) - 1
        self._top_radix = renderer.radices[-1]
        self._stop = stop
        self._picture = None
        self._last_index = None
        self._top_runs = {}  # (old, new) top digit -> dirty runs: most images
        self._cycle_below = None  # what the cycle's pieces were made over (held: its identity is its own)
        self._cycle_run = None  # their MCU rows [first, stop)
        self._cycle = {}  # top digit -> its piece's segments
        self._cycle_canvas = None  # the pieces' strip, kept: a new one costs more than its pastes

    def encode(self, below, previous, digits, changed, index) -> bytes:
        renderer, top = self._renderer, self._top
        dense, self._last_index = index - 1 == self._last_index, index
        if previous is None:
            data = renderer._encode_top(below, digits[top])
            self._picture = self._rows.picture(data)
            return data
        if changed == top:
            key = (previous[top], digits[top])
            runs = self._top_runs.get(key)
            if runs is None:
                runs = self._top_runs[key] = self._dirty_runs(previous, digits, top)
            segments = self._from_cycle(below, previous[top], digits[top], runs, dense, index)
            if segments is not None:
                self._picture.replace(self._cycle_run[0], segments)
                return self._picture.tobytes()
        else:
            runs = self._dirty_runs(previous, digits, changed)
        if runs:
            segments = self._rows.encode_rows(self._strip(below, renderer._placement(top, digits[top]), runs))
            if len(runs) == 1:
                self._picture.replace(runs[0][0], segments)
            else:
                for first, stop in runs:
                    self._picture.replace(first, segments[:stop - first])
                    del segments[:stop - first]
        return self._picture.tobytes()

    def _from_cycle(self, below, old, new, runs, dense, index):
        """The segments of the cycle's rows for top option ``new`` over
        ``below``, encoded ahead if need be; None where a strip of ``runs``
        alone is the better way."""
        if below is self._cycle_below and new in self._cycle:
            first, stop = self._cycle_run
            rows = self._renderer._placement(self._top, old).rows
            if rows is None or first <= rows[0] and rows[1] <= stop:
                return self._cycle[new]
        count = min(self._top_radix - new, self._stop - index)
        if not dense or count < 2 or not runs:  # a rebuild that skips would waste pieces
            return None
        digits = range(new, new + count)
        spans = [placement.rows for placement in map(self._placement_of_top, (old, *digits))
                 if placement.rows is not None]
        first, stop = min(span[0] for span in spans), max(span[1] for span in spans)
        if stop - first > sum(b - a for a, b in runs) + 1:
            return None  # pieces would be taller than the rows one image needs: no gain
        if stop * jpeg_rows.MCU_SIZE > self._height:
            return None  # a short last row cannot be stacked above another piece
        segments, rows = self._rows.encode_rows(self._cycle_strip(below, digits, first, stop)), stop - first
        self._cycle = {digit: segments[number * rows:(number + 1) * rows] for number, digit in enumerate(digits)}
        self._cycle_below, self._cycle_run = below, (first, stop)
        return self._cycle[new]

    def _placement_of_top(self, digit):
        return self._renderer._placement(self._top, digit)

    def _cycle_strip(self, below, digits, first, stop):
        """One piece per top digit, stacked: rows first..stop-1 of ``below``
        with that digit's layer (which lies inside them: they cover all of
        its rows)."""
        y0, height = first * jpeg_rows.MCU_SIZE, (stop - first) * jpeg_rows.MCU_SIZE
        base = below.crop((0, y0, self._width, y0 + height))
        size = (self._width, height * len(digits))
        strip = self._cycle_canvas
        if strip is None or strip.size != size:  # every pixel is pasted over: reuse it
            strip = self._cycle_canvas = Image.new("RGB", size)
        for number, digit in enumerate(digits):
            strip.paste(base, (0, number * height))
            placement = self._placement_of_top(digit)
            if placement.pixels is not None:
                strip.paste(placement.pixels, (placement.dest[0], placement.dest[1] - y0 + number * height),
                            placement.mask)
        return strip

    def _dirty_runs(self, previous, digits, changed):
        """Sorted, disjoint [first, stop) MCU row runs where the picture may
        differ: under the old and the new layer of every slot that changed."""
        spans = sorted(
            placement.rows
            for position in range(changed, len(digits)) if previous[position] != digits[position]
            for placement in (self._renderer._placement(position, previous[position]),
                              self._renderer._placement(position, digits[position]))
            if placement.rows is not None
        )
        runs = []
        for first, stop in spans:
            if runs and first <= runs[-1][1]:
                runs[-1][1] = max(runs[-1][1], stop)
            else:
                runs.append([first, stop])
        return [tuple(run) for run in runs]

    def _strip(self, below, top_placement, runs):
        """The picture's pixels in ``runs``, stacked: ``below`` with the top
        slot's layer. A new image; ``below`` is not modified."""
        pieces = []
        for first, stop in runs:
            y0, y1 = first * jpeg_rows.MCU_SIZE, min(stop * jpeg_rows.MCU_SIZE, self._height)
            piece = below.crop((0, y0, self._width, y1))
            if top_placement.pixels is not None:  # paste clips what falls outside
                piece.paste(top_placement.pixels, (top_placement.dest[0], top_placement.dest[1] - y0),
                            top_placement.mask)
            pieces.append(piece)
        if len(pieces) == 1:
            return pieces[0]
        strip = Image.new("RGB", (self._width, sum(piece.height for piece in pieces)))
        y = 0
        for piece in pieces:
            strip.paste(piece, (0, y))
            y += piece.height
        return strip
