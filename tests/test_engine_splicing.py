"""The engine's JPEG row splicing: every picture render_range yields is byte
for byte a whole encode of its composite with the same restart markers."""
import io
import random

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from PIL import Image, ImageDraw

from bench.engine_bench import DEFAULT_LAYERS, canvas_size, load_reference_slots
from trophies import engine
from trophies.combinations import digits_of
from trophies.engine import ENCODER_OPTIONS, Renderer, SlotLayers


def whole_encode(picture):
    """The reference: Pillow's own encode of the composite, same settings."""
    out = io.BytesIO()
    picture.save(out, "JPEG", **ENCODER_OPTIONS["JPEG"])
    return out.getvalue()


def assert_all_whole(renderer, rendered):
    assert rendered, "nothing rendered: the test would prove nothing"
    for index, digits, data in rendered:
        assert data == whole_encode(renderer.composite(digits)), (index, digits)


def blob(size, color, box, alpha=255):
    """A layer with one soft-edged shape: partial alpha shows rounding."""
    layer = Image.new("RGBA", size, (0, 0, 0, 0))
    draw = ImageDraw.Draw(layer)
    draw.ellipse(box, fill=color + (alpha,))
    x0, y0, x1, y1 = box
    draw.rectangle((x0, (y0 + y1) // 2, x1, y1), fill=(color[2], color[0], color[1], alpha // 2))
    return layer


def noisy(size, seed, box):
    """A layer of noise inside ``box``: rows are costly and distinct."""
    rng = random.Random(seed)
    layer = Image.frombytes("RGBA", size, rng.randbytes(size[0] * size[1] * 4))
    mask = Image.new("L", size, 0)
    ImageDraw.Draw(mask).rectangle(box, fill=rng.randrange(60, 256))
    layer.putalpha(mask)
    return layer


def offset_slots():
    """Four slots on a 70x83 canvas (neither a multiple of 16): negative and
    large offsets, layers partly and wholly off the canvas, overlapping
    layers, an empty layer, layers reaching the bottom MCU row."""
    return [
        SlotLayers((0, 0), [noisy((70, 83), 1, (0, 0, 69, 82)), blob((70, 83), (20, 90, 200), (5, 5, 60, 80))]),
        SlotLayers((-9, 40), [blob((40, 60), (250, 200, 0), (0, 0, 39, 59), 150),   # down to the bottom
                              noisy((30, 20), 2, (0, 0, 29, 19)),
                              Image.new("RGBA", (5, 5))]),                             # nothing visible
        SlotLayers((30, -12), [noisy((50, 30), 3, (10, 5, 49, 29)),                   # off the top and right
                               blob((20, 20), (0, 0, 0), (0, 0, 19, 19), 90),
                               blob((20, 20), (255, 0, 0), (0, 0, 5, 5)),
                               blob((20, 20), (9, 9, 9), (0, 0, 19, 19))]),
        SlotLayers((2, 60), [blob((60, 30), (200, 30, 200), (0, 0, 20, 10)),          # overlaps slot 1
                             noisy((60, 30), 4, (30, 15, 59, 29)),                     # past the bottom
                             blob((10, 10), (1, 2, 3), (0, 0, 9, 9)),
                             blob((10, 10), (9, 200, 3), (0, 0, 9, 9)),
                             noisy((80, 30), 5, (0, 0, 79, 29))]),
    ]


@pytest.fixture(scope="module")
def reference():
    slots = load_reference_slots(DEFAULT_LAYERS)
    return Renderer(canvas_size(slots), slots, "JPEG")


def test_broken_settings_fall_back_to_whole_encodes(monkeypatch):
    monkeypatch.setitem(ENCODER_OPTIONS, "JPEG", {**ENCODER_OPTIONS["JPEG"], "smooth": 20})
    renderer = Renderer((70, 83), offset_slots(), "JPEG")
    with pytest.warns(RuntimeWarning, match="cannot be spliced"):
        rendered = list(renderer.render_range(0, 30))
    for _, digits, data in rendered:
        assert data == renderer.render_one(digits)


def test_render_range_splices_rather_than_encoding_whole(monkeypatch):
    renderer = Renderer((70, 83), offset_slots(), "JPEG")
    whole, encode = [], renderer._encode
    monkeypatch.setattr(renderer, "_encode", lambda image: whole.append(1) or encode(image))
    assert len(list(renderer.render_range(0, 40))) == 40
    assert len(whole) == 1  # the first picture only


def test_reference_trophy_sample(reference):
    """Windows of classic around every kind of change (top only, plate,
    colour, figure, base), some skipping combinations as a rebuild does."""
    rng = random.Random(15)
    radices = reference.radices
    assert radices == [3, 30, 5, 15, 19]
    starts = [0, 285 - 30, 1425 - 40, 42750 - 20, reference.total - 60] + rng.sample(range(reference.total - 60), 4)
    for number, start in enumerate(starts):
        skip = set(rng.sample(range(start, start + 60), 25)) if number % 2 else set()
        rendered = list(reference.render_range(start, start + 60, wanted=lambda index, _: index not in skip))
        assert [index for index, _, _ in rendered] == [i for i in range(start, start + 60) if i not in skip]
        assert_all_whole(reference, rendered)


def test_reference_render_one_equals_render_range(reference):
    for index, digits, data in reference.render_range(1420, 1430):
        assert reference.render_one(digits) == data, index


@pytest.mark.parametrize("size", [(70, 83), (16, 16), (33, 17), (64, 96), (9, 5)])
def test_offsets_and_overlaps(size):
    renderer = Renderer(size, offset_slots(), "JPEG")
    rendered = list(renderer.render_range(0, renderer.total))
    assert_all_whole(renderer, rendered)
    if size == (70, 83):  # every layer is seen on the canvas
        assert len({data for _, _, data in rendered}) > renderer.total // 2


def test_sub_ranges_equal_the_full_range():
    renderer = Renderer((70, 83), offset_slots(), "JPEG")
    full = list(renderer.render_range(0, renderer.total))
    for start, stop in [(0, 1), (7, 8), (5, 61), (59, 120), (119, 120)]:
        assert list(renderer.render_range(start, stop)) == full[start:stop]


def test_dirty_rows_are_against_the_last_picture_encoded_not_visited():
    """A at row 0, B and C at row 3: encode A, skip B, encode C. Against the
    skipped B only row 3 would change and A would stay in row 0."""
    size = (32, 64)
    slots = [SlotLayers((0, 0), [noisy(size, 7, (0, 0, 31, 63))]),
             SlotLayers((0, 0), [noisy(size, 8, (0, 0, 31, 10)), noisy(size, 9, (0, 50, 31, 60)),
                                 noisy(size, 10, (0, 52, 31, 62))])]
    renderer = Renderer(size, slots, "JPEG")
    rendered = list(renderer.render_range(0, 3, wanted=lambda index, _: index != 1))
    assert [index for index, _, _ in rendered] == [0, 2]
    assert_all_whole(renderer, rendered)


def test_far_apart_changes_are_stacked_into_one_strip():
    """Slot 0 changes in the top rows, slot 1 in the bottom ones: one strip
    of both runs, nothing between them re-encoded."""
    size = (32, 100)
    slots = [SlotLayers((0, 0), [noisy(size, 11, (0, 0, 31, 20)), noisy(size, 12, (0, 2, 31, 12))]),
             SlotLayers((0, 0), [noisy(size, 13, (0, 0, 31, 99))]),
             SlotLayers((0, 70), [noisy((32, 30), 14, (0, 0, 31, 29)), noisy((32, 30), 15, (0, 20, 31, 29))])]
    renderer = Renderer(size, slots, "JPEG")
    splicer = engine._SplicedJpeg(renderer, renderer.total)
    assert splicer._dirty_runs([0, 0, 1], [1, 0, 0], 0) == [(0, 2), (4, 7)]
    assert_all_whole(renderer, list(renderer.render_range(0, renderer.total)))


def count_strips(monkeypatch, renderer):
    strips = []
    encode_rows = renderer._rows.encode_rows
    monkeypatch.setattr(renderer._rows, "encode_rows", lambda strip: strips.append(strip.height) or encode_rows(strip))
    return strips


def test_a_top_slot_cycle_is_encoded_in_one_strip(reference, monkeypatch):
    """Dense: per cycle of 19 engravings, one strip for the plate change (4-6
    rows) and one of 18 pieces of 2 rows for the other 18 engravings."""
    strips = count_strips(monkeypatch, reference)
    rendered = list(reference.render_range(19, 19 * 11))  # a whole encode first; no colour change
    assert len(strips) == 19 and set(strips[::2]) == {18 * 2 * 16} and max(strips[1::2]) <= 6 * 16
    assert_all_whole(reference, rendered)


def test_sparse_ranges_encode_no_cycle_ahead(reference, monkeypatch):
    """A rebuild that skips every other image would waste pieces encoded
    ahead: each image gets a strip of its own rows."""
    strips = count_strips(monkeypatch, reference)
    rendered = list(reference.render_range(19 * 40, 19 * 50, wanted=lambda index, _: index % 2 == 0))
    assert len(strips) == len(rendered) - 1
    assert_all_whole(reference, rendered)


def test_cycles_with_skips_and_far_apart_top_layers():
    """Pieces encoded ahead, then a skip inside the cycle, and top layers
    too far apart for pieces to pay (each gets its own strip)."""
    size = (40, 90)
    near = [noisy((40, 12), seed, (0, 0, 39, 11)) for seed in range(20, 26)]
    slots = [SlotLayers((0, 0), [noisy(size, 16, (0, 0, 39, 89)), noisy(size, 17, (0, 30, 39, 50))]),
             SlotLayers((0, 33), near),
             SlotLayers((0, 0), [noisy(size, 18, (0, 0, 39, 8)), noisy(size, 19, (0, 70, 39, 80)),
                                 Image.new("RGBA", (1, 1))])]
    renderer = Renderer(size, slots, "JPEG")
    skip = {3, 4, 9, 20}
    rendered = list(renderer.render_range(0, renderer.total, wanted=lambda index, _: index not in skip))
    assert_all_whole(renderer, rendered)
    assert_all_whole(renderer, list(renderer.render_range(0, renderer.total)))


def test_single_slot_and_single_row():
    slots = [SlotLayers((-3, -2), [noisy((20, 12), seed, (seed, 0, 19, 11)) for seed in range(6)])]
    for size in [(20, 10), (17, 40)]:
        renderer = Renderer(size, slots, "JPEG")
        assert_all_whole(renderer, list(renderer.render_range(0, 6)))


def layer_sets():
    """Random small trophies: 1-4 slots of 1-4 layers of noise or soft
    shapes anywhere, some off the canvas, some empty."""
    layer = st.builds(
        lambda w, h, seed, kind: (noisy((w, h), seed, (0, 0, w - 1, h - 1)) if kind == 0
                                  else blob((w, h), (seed % 256, 80, 200), (0, 0, w - 1, h - 1), 40 + seed % 200)
                                  if kind == 1 else Image.new("RGBA", (w, h))),
        st.integers(1, 50), st.integers(1, 70), st.integers(0, 10**6), st.sampled_from([0, 0, 1, 1, 2]))
    slot = st.builds(SlotLayers, st.tuples(st.integers(-40, 60), st.integers(-50, 90)),
                     st.lists(layer, min_size=1, max_size=4))
    return st.lists(slot, min_size=1, max_size=4)


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(size=st.tuples(st.integers(1, 60), st.integers(1, 100)), slots=layer_sets(),
       start_share=st.sampled_from([0, 0, 0.3, 0.8]), skip_share=st.sampled_from([0, 0, 0.3, 0.8]),
       seed=st.integers(0, 2**32))
def test_property_spliced_equals_whole(size, slots, start_share, skip_share, seed):
    """Any trophy, a range to its end, skipping a share of combinations."""
    renderer = Renderer(size, slots, "JPEG")
    start = int(renderer.total * start_share)
    rng = random.Random(seed)
    skip = {index for index in range(start, renderer.total) if rng.random() < skip_share}
    rendered = list(renderer.render_range(start, renderer.total, wanted=lambda index, _: index not in skip))
    assert [index for index, _, _ in rendered] == [i for i in range(start, renderer.total) if i not in skip]
    for index, digits, data in rendered:
        assert digits == digits_of(index, renderer.radices)
        assert data == whole_encode(renderer.composite(digits)) == renderer.render_one(digits)
