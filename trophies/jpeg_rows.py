"""Baseline JPEGs spliced together from MCU rows encoded apart.

With a restart marker after every MCU row, the entropy-coded bytes of a row
depend on that row's pixels alone: at each marker the coder flushes its bit
buffer and resets its DC predictions. So when a picture differs from the
previous one only in some rows, those rows can be encoded alone as a strip
and their segments put in place of the old ones. Restart markers are numbered
by position (RST0..RST7, then again), so they are written here rather than
taken from the strip. The result is byte for byte a whole encode of the new
picture with the same settings. Pillow and browsers decode it as an ordinary
baseline JPEG.

That holds only with these encoder settings (:data:`PINNED`, measured on
Pillow 13 / libjpeg-turbo):

* 4:2:0 subsampling: an MCU is 16x16 pixels, so a row of MCUs is 16 pixel
  rows and chroma is averaged over 2x2 pixels inside it;
* no chroma smoothing (``smooth=0``): smoothing mixes in neighbouring rows;
* fixed Huffman tables (``optimize=False``): optimised tables depend on the
  statistics of the whole picture;
* baseline (``progressive=False``): progressive scans code the picture's
  coefficients band by band, not row by row;
* integer DCT: libjpeg's default (JDCT_ISLOW); Pillow's encoder offers no
  other, so it cannot change by accident.

The last MCU row is padded by repeating the picture's bottom pixel row, so a
strip that holds it must end at the picture's true bottom; every other row
of a strip is whole. Rows need not be adjacent: a strip may stack any rows,
in order, and its segments are still theirs.

:attr:`RowCodec.problem` encodes a noise picture whole and row by row, once,
and says whether the rows really are independent; the engine asks before it
splices, so a setting or a library change that breaks them is caught before
any spliced file is written. Every strip is also checked to carry the
picture's own tables.

Only JPEG works this way: PNG's row filters and deflate window and WebP's
prediction reach across rows, so the engine encodes those whole.
"""
from __future__ import annotations

import io
import random
import re
from collections.abc import Sequence
from functools import cached_property

from PIL import Image

MCU_SIZE = 16  # pixel rows in one MCU row at 4:2:0

PINNED = {"subsampling": "4:2:0", "restart_marker_rows": 1, "optimize": False, "progressive": False, "smooth": 0}

_RESTART = re.compile(rb"\xff[\xd0-\xd7]")  # entropy data stuffs 0xFF as FF 00
_MARKERS = [bytes((0xFF, 0xD0 + k)) for k in range(8)]
_EOI = b"\xff\xd9"
_SOF0, _SOS = 0xC0, 0xDA


class RowSpliceError(ValueError):
    """Encoded output that cannot be cut into independent MCU rows."""


def mcu_rows(top: int, bottom: int) -> tuple[int, int]:
    """The MCU rows [first, stop) that hold pixel rows top..bottom-1."""
    return top // MCU_SIZE, -(-bottom // MCU_SIZE)


def _parse_header(data: bytes) -> tuple[int, int]:
    """(length of everything before the entropy-coded data, offset of the
    frame's height field). RowSpliceError unless it is one baseline scan."""
    if not data.startswith(b"\xff\xd8"):
        raise RowSpliceError("not a JPEG")
    position, height_at = 2, None
    while position + 4 <= len(data) and data[position] == 0xFF:
        marker = data[position + 1]
        if marker == _SOF0:
            height_at = position + 5  # FF C0, length(2), precision(1), height(2)
        elif 0xC1 <= marker <= 0xCF and marker not in (0xC4, 0xC8, 0xCC):
            raise RowSpliceError(f"not a baseline JPEG (frame marker FF{marker:02X})")
        position += 2 + int.from_bytes(data[position + 2:position + 4], "big")
        if marker == _SOS:
            if height_at is None:
                break
            return position, height_at
    raise RowSpliceError("no baseline frame and scan header found")


class RowPicture:
    """One encoded picture as header, row segments, markers, EOI: rows can be
    replaced in place and the file joined without re-splitting anything."""

    __slots__ = ("_parts",)

    def __init__(self, header: bytes, segments: Sequence[bytes]):
        parts = [header]
        for number, segment in enumerate(segments):
            parts += (segment, _MARKERS[number & 7])
        parts[-1] = _EOI  # no marker after the last row
        self._parts = parts

    def replace(self, first_row: int, segments: list[bytes]) -> None:
        """Put ``segments`` in place of rows first_row.. (as many as given)."""
        self._parts[2 * first_row + 1:2 * (first_row + len(segments)) + 1:2] = segments

    @property
    def segments(self) -> list[bytes]:
        """The rows' entropy-coded bytes, top first."""
        return self._parts[1::2]

    def tobytes(self) -> bytes:
        return b"".join(self._parts)


class RowCodec:
    """Encodes RGB pictures of one size with a restart marker after every MCU
    row: whole (:meth:`encode`), or as strips of rows (:meth:`encode_rows`)."""

    def __init__(self, size: tuple[int, int], options: dict):
        self.width, self.height = size
        self.rows = -(-self.height // MCU_SIZE)
        self.options = dict(options)
        self._last_row_height = self.height - (self.rows - 1) * MCU_SIZE
        self._strip_headers: dict[int, bytes] = {}
        self._header_problem: str | None = None
        probe = Image.new("RGB", size, (255, 255, 255))
        whole = self.encode(probe)
        # Strips go through tobytes() with the arguments save() just gave the
        # encoder: the same bytes without save()'s file handling, ~10 us of a
        # ~50 us strip. _check() makes sure the bytes are the same.
        self._encoder_args = ("RGB", *probe.encoderconfig)
        try:
            self.header_length, self._height_at = _parse_header(whole)
        except RowSpliceError as error:  # whole encodes still work
            self._header_problem = str(error)
            return
        self.header = whole[:self.header_length]

    def encode(self, image: Image.Image) -> bytes:
        """A whole picture, encoded with this codec's options."""
        out = io.BytesIO()
        image.save(out, "JPEG", **self.options)
        return out.getvalue()

    @cached_property
    def problem(self) -> str | None:
        """Why rows of this encoder cannot be spliced, or None if they can.
        Checked once, on first use (render_one never needs it)."""
        return self._header_problem or _check(self)

    def picture(self, data: bytes) -> RowPicture:
        """A whole encode (from :meth:`encode`) cut into its rows."""
        if not data.startswith(self.header) or not data.endswith(_EOI):
            raise RowSpliceError("not a picture of this codec")
        segments = _RESTART.split(data[self.header_length:-2])
        if len(segments) != self.rows:
            raise RowSpliceError(f"expected {self.rows} rows, found {len(segments)}")
        return RowPicture(self.header, segments)

    def encode_rows(self, strip: Image.Image) -> list[bytes]:
        """The row segments of ``strip``: MCU rows of a picture stacked in
        order, each 16 pixels high except a last row of the picture's own
        height if the strip holds it."""
        return self.split_strip(self.encode_strip(strip), strip.height)

    def encode_strip(self, strip: Image.Image) -> bytes:
        """``strip`` encoded as a JPEG of its own (see :meth:`encode_rows`)."""
        tail = strip.height % MCU_SIZE
        if strip.width != self.width or (tail and tail != self._last_row_height):
            raise RowSpliceError(f"a {strip.width}x{strip.height} strip is not whole rows of this picture")
        return strip.tobytes("jpeg", self._encoder_args)

    def split_strip(self, data: bytes, height: int) -> list[bytes]:
        """The row segments of a strip ``height`` pixels high encoded by
        :meth:`encode_strip`, checked to fit this codec's pictures."""
        header = self._strip_headers.get(height) or self._strip_header(height)
        if not data.startswith(header) or not data.endswith(_EOI):
            raise RowSpliceError("the strip's tables differ from the picture's")
        segments = _RESTART.split(data[self.header_length:-2])
        if len(segments) != -(-height // MCU_SIZE):
            raise RowSpliceError(f"a {height} px strip gave {len(segments)} rows")
        return segments

    def _strip_header(self, height: int) -> bytes:
        """The picture's header with the strip's height: everything else in
        it (tables, restart interval) must be the same for rows to fit."""
        at = self._height_at
        header = self.header[:at] + height.to_bytes(2, "big") + self.header[at + 2:]
        self._strip_headers[height] = header
        return header


def _check(codec: RowCodec) -> str | None:
    """Encode a noise picture of the codec's width whole and row by row (the
    last row as short as the codec's) and compare: noise makes every
    dependence between rows show."""
    height = 2 * MCU_SIZE + codec._last_row_height
    pixels = random.Random(15).randbytes(codec.width * height * 3)
    noise = Image.frombytes("RGB", (codec.width, height), pixels)
    probe = RowCodec((codec.width, height), codec.options)
    if probe._header_problem:
        return probe._header_problem
    try:
        whole = probe.encode(noise)
        if noise.tobytes("jpeg", probe._encoder_args) != whole:
            return "tobytes() and save() encode differently"
        rows = probe.picture(whole).segments
        for first, stop in [(0, 1), (1, 2), (2, 3), (1, 3)]:
            strip = noise.crop((0, first * MCU_SIZE, codec.width, min(stop * MCU_SIZE, height)))
            if probe.encode_rows(strip) != rows[first:stop]:
                return f"rows {first}..{stop - 1} encoded alone differ from the whole picture's"
        stacked = Image.new("RGB", (codec.width, height - MCU_SIZE))
        stacked.paste(noise.crop((0, 0, codec.width, MCU_SIZE)), (0, 0))
        stacked.paste(noise.crop((0, 2 * MCU_SIZE, codec.width, height)), (0, MCU_SIZE))
        if probe.encode_rows(stacked) != [rows[0], rows[2]]:
            return "rows stacked out of place encode differently"
    except RowSpliceError as error:
        return str(error)
    return None
