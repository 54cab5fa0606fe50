"""trophies.jpeg_rows: MCU rows encoded apart splice into the bytes of a
whole encode, and settings that would break that are caught."""
import io
import random

import pytest
from PIL import Image

from trophies.engine import ENCODER_OPTIONS
from trophies.jpeg_rows import RowCodec, RowPicture, RowSpliceError


def noise(size, seed):
    return Image.frombytes("RGB", size, random.Random(seed).randbytes(size[0] * size[1] * 3))


def test_pinned_options_are_spliceable():
    codec = RowCodec((400, 500), ENCODER_OPTIONS["JPEG"])
    assert codec.problem is None and codec.rows == 32


@pytest.mark.parametrize("setting", [
    {"optimize": True}, {"progressive": True}, {"smooth": 20}, {"subsampling": "4:4:4"},
    {"subsampling": "4:2:2"}, {"restart_marker_rows": 0}, {"restart_marker_rows": 2},
])
def test_a_setting_that_breaks_row_independence_is_caught(setting):
    codec = RowCodec((70, 83), {**ENCODER_OPTIONS["JPEG"], **setting})
    assert codec.problem is not None
    # and whole encodes (render_one) still work
    assert codec.encode(Image.new("RGB", (70, 83))).startswith(b"\xff\xd8")


def test_smoothing_really_breaks_splicing():
    """What the check guards against: with smoothing, a row encoded alone is
    not the row of the whole picture (neighbours leak in)."""
    picture = noise((48, 48), 1)
    for smooth, same in [(0, True), (20, False)]:
        options = {**ENCODER_OPTIONS["JPEG"], "smooth": smooth}
        whole = RowCodec((48, 48), options)
        row = RowCodec((48, 48), options).encode_rows(picture.crop((0, 16, 48, 32)))
        assert (row == whole.picture(whole.encode(picture)).segments[1:2]) is same


def test_markers_count_by_position_and_output_decodes():
    """32 rows: RST0..7 four times (the strip's own numbering is replaced)."""
    codec = RowCodec((40, 500), ENCODER_OPTIONS["JPEG"])
    pixels = noise((40, 500), 2)
    picture = codec.picture(codec.encode(Image.new("RGB", (40, 500), "white")))
    for first in (3, 17, 30):  # the last strip holds the short last row
        stop = min(first + 2, 32)
        picture.replace(first, codec.encode_rows(pixels.crop((0, 16 * first, 40, min(16 * stop, 500)))))
    data = picture.tobytes()
    markers = [data[i + 1] - 0xD0 for i in range(codec.header_length, len(data) - 1)
               if data[i] == 0xFF and 0xD0 <= data[i + 1] <= 0xD7]
    assert markers == [k % 8 for k in range(31)]
    dri = data.index(b"\xff\xdd")
    assert int.from_bytes(data[dri + 4:dri + 6], "big") == 3  # one MCU row of 40 px
    decoded = Image.open(io.BytesIO(data))
    decoded.load()
    assert decoded.size == (40, 500) and decoded.format == "JPEG"


def test_strips_that_are_not_whole_rows_are_refused():
    codec = RowCodec((40, 50), ENCODER_OPTIONS["JPEG"])  # last row is 2 px
    for size in [(41, 16), (40, 15), (40, 20)]:
        with pytest.raises(RowSpliceError):
            codec.encode_rows(Image.new("RGB", size))
    assert len(codec.encode_rows(Image.new("RGB", (40, 18)))) == 2
    with pytest.raises(RowSpliceError):
        codec.picture(RowCodec((40, 49), ENCODER_OPTIONS["JPEG"]).encode(Image.new("RGB", (40, 49))))


def test_row_picture_replaces_in_place():
    picture = RowPicture(b"H", [b"a", b"b", b"c"])
    assert picture.tobytes() == b"Ha\xff\xd0b\xff\xd1c\xff\xd9"
    picture.replace(1, [b"X", b"Y"])
    assert picture.tobytes() == b"Ha\xff\xd0X\xff\xd1Y\xff\xd9" and picture.segments == [b"a", b"X", b"Y"]
