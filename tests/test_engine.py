"""The render engine alone: no Django, small layers drawn here."""
import io

import pytest
from PIL import Image, ImageDraw

from trophies.combinations import digits_of
from trophies.engine import (
    ENCODER_OPTIONS,
    ENGINE_VERSION,
    FORMATS,
    PlacementCache,
    Renderer,
    SlotLayers,
    layer_digest,
    load_layer,
)

SIZE = (40, 30)


def make_layer(size, color, box, alpha=255, soft=True):
    """A transparent layer with an opaque-ish ellipse and a softer band.

    Partial alpha everywhere near the edges, so rounding in the composite
    would show.
    """
    layer = Image.new("RGBA", size, (0, 0, 0, 0))
    draw = ImageDraw.Draw(layer)
    draw.ellipse(box, fill=color + (alpha,))
    if soft:
        x0, y0, x1, y1 = box
        draw.rectangle((x0, (y0 + y1) // 2, x1 + 3, y1 + 2), fill=(255 - color[0], color[1], 90, 77))
    return layer


def png_bytes(image):
    out = io.BytesIO()
    image.save(out, "PNG")
    return out.getvalue()


def reference_slots():
    """3 slots of 2, 3 and 4 options: sizes smaller and larger than the
    canvas, negative offsets, parts off the canvas, one empty layer and one
    whose opaque part falls entirely outside the canvas."""
    bottom = SlotLayers((0, 0), [
        make_layer(SIZE, (200, 30, 30), (2, 2, 37, 27)),
        make_layer((20, 20), (30, 200, 30), (0, 0, 19, 19), alpha=180),
    ])
    middle = SlotLayers((-5, 7), [
        make_layer((60, 50), (10, 10, 220), (0, 0, 30, 20), alpha=140),   # larger than canvas
        make_layer((12, 9), (250, 250, 0), (1, 1, 11, 8)),
        make_layer((8, 8), (0, 0, 0), (0, 0, 3, 3)),                      # clipped at left
    ])
    top = SlotLayers((25, -4), [
        make_layer((30, 12), (255, 255, 255), (2, 0, 29, 11), alpha=200),  # off right and top
        Image.new("RGBA", (10, 10), (0, 0, 0, 0)),                          # fully transparent
        make_layer((30, 30), (90, 0, 90), (20, 0, 29, 3), soft=False),     # visible part off canvas
        make_layer((6, 6), (0, 120, 255), (0, 4, 5, 5), alpha=99, soft=False),
    ])
    return [bottom, middle, top]


def naive_composite(slots, digits, size=SIZE):
    """Full-canvas alpha compositing, independent of the engine's tricks."""
    canvas = Image.new("RGBA", size, (0, 0, 0, 0))
    for slot, digit in zip(slots, digits):
        layer = Image.new("RGBA", size, (0, 0, 0, 0))
        layer.paste(load_layer(slot.layers[digit]), slot.offset)  # paste clips
        canvas = Image.alpha_composite(canvas, layer)
    return canvas


def decode(data):
    image = Image.open(io.BytesIO(data))
    image.load()
    return image


@pytest.fixture(scope="module")
def slots():
    return reference_slots()


@pytest.mark.parametrize("fmt", list(FORMATS))
def test_prefix_reuse_equals_from_scratch(slots, fmt):
    renderer = Renderer(SIZE, slots, fmt)
    assert renderer.radices == [2, 3, 4] and renderer.total == 24
    rendered = list(renderer.render_range(0, renderer.total))
    assert [index for index, _, _ in rendered] == list(range(24))
    for index, digits, data in rendered:
        assert digits == digits_of(index, renderer.radices)
        alone = renderer.render_one(digits)
        assert data == alone
        assert decode(data).tobytes() == decode(alone).tobytes()


@pytest.mark.parametrize("fmt", list(FORMATS))
def test_output_format_and_mode(slots, fmt):
    image = decode(Renderer(SIZE, slots, fmt).render_one([0, 0, 0]))
    assert image.format == fmt and image.size == SIZE
    assert image.mode == ("RGB" if fmt == "JPEG" else "RGBA")


def test_png_pixels_match_full_canvas_compositing(slots):
    renderer = Renderer(SIZE, slots, "PNG")
    for index, digits, data in renderer.render_range(0, renderer.total):
        assert decode(data).tobytes() == naive_composite(slots, digits).tobytes(), index


def test_jpeg_is_the_composite_over_white(slots):
    renderer = Renderer(SIZE, slots, "JPEG")
    for index, digits, data in renderer.render_range(0, renderer.total):
        expected = Image.new("RGBA", SIZE, "white")
        expected.alpha_composite(naive_composite(slots, digits))
        expected = expected.convert("RGB").tobytes()
        picture = renderer.composite(digits)
        assert picture.mode == "RGB"
        # A masked paste over opaque RGB rounds differently from
        # alpha_composite by at most one unit; anything wrong is far larger.
        assert max(abs(a - b) for a, b in zip(picture.tobytes(), expected)) <= 1, index
        out = io.BytesIO()
        picture.save(out, "JPEG", **ENCODER_OPTIONS["JPEG"])
        assert out.getvalue() == data


def layer_files(slots, tmp_path):
    """The slots with their layers as PNG files: paths as str or Path in turn."""
    as_files = []
    for number, slot in enumerate(slots):
        paths = []
        for option, layer in enumerate(slot.layers):
            path = tmp_path / f"slot{number}_{option}.png"
            path.write_bytes(png_bytes(layer))
            paths.append(str(path) if option % 2 else path)
        as_files.append(SlotLayers(slot.offset, paths))
    return as_files


@pytest.mark.parametrize("fmt", list(FORMATS))
def test_deterministic_across_renderers_and_sources(slots, fmt, tmp_path):
    from_images = Renderer(SIZE, slots, fmt)
    as_files = layer_files(slots, tmp_path)
    as_bytes = [SlotLayers(s.offset, [png_bytes(layer) for layer in s.layers]) for s in slots]
    first = [data for _, _, data in from_images.render_range(0, 24)]
    assert len(set(first)) > 1
    for slots_from in (slots, as_files, as_bytes):
        again = [data for _, _, data in Renderer(SIZE, slots_from, fmt).render_range(0, 24)]
        assert again == first


@pytest.mark.parametrize("fmt", ["JPEG", "PNG"])
def test_a_placement_cache_gives_the_same_pictures_and_decodes_each_layer_once(slots, fmt, tmp_path):
    as_files = layer_files(slots, tmp_path)
    expected = [data for _, _, data in Renderer(SIZE, as_files, fmt).render_range(0, 24)]
    cache = PlacementCache(max_bytes=10**9)
    for _ in range(2):
        assert [data for _, _, data in Renderer(SIZE, as_files, fmt, cache=cache).render_range(0, 24)] == expected
    layers = sum(len(slot.layers) for slot in as_files)
    assert cache.decoded == layers == len(cache)


def test_a_placement_cache_drops_the_least_recently_used_past_its_budget(tmp_path):
    paths = []
    for number in range(3):
        path = tmp_path / f"layer{number}.png"
        path.write_bytes(png_bytes(make_layer(SIZE, (number * 80, 0, 0), (0, 0, 10, 10), soft=False)))
        paths.append(str(path))
    size = PlacementCache(max_bytes=0).placement(paths[0], (0, 0), SIZE, True).nbytes
    assert size == 11 * 11 * 4  # the visible box only, not the 40x30 canvas
    cache = PlacementCache(max_bytes=2 * size)  # room for two
    first = cache.placement(paths[0], (0, 0), SIZE, True)
    cache.placement(paths[1], (0, 0), SIZE, True)
    assert cache.placement(paths[0], (0, 0), SIZE, True) is first  # used again: now the most recent
    cache.placement(paths[2], (0, 0), SIZE, True)
    assert (len(cache), cache.bytes, cache.decoded) == (2, 2 * size, 3)
    assert cache.placement(paths[0], (0, 0), SIZE, True) is first  # kept
    cache.placement(paths[1], (0, 0), SIZE, True)  # was dropped: decoded again
    assert cache.decoded == 4
    assert cache.placement(paths[1], (5, 0), SIZE, True) is not cache.placement(paths[1], (0, 0), SIZE, True)


def test_sub_range_equals_full_range(slots):
    renderer = Renderer(SIZE, slots, "JPEG")
    full = list(renderer.render_range(0, renderer.total))
    for start, stop in [(0, 1), (5, 6), (3, 17), (11, 24), (23, 24)]:
        assert list(renderer.render_range(start, stop)) == full[start:stop]
    # interleaving generators of one renderer is safe: the cache is restored
    a, b = renderer.render_range(0, 24), renderer.render_range(7, 24)
    for (ia, _, da), (ib, _, db) in zip(a, b):
        assert da == full[ia][2] and db == full[ib][2]


def test_range_boundaries_and_errors(slots):
    renderer = Renderer(SIZE, slots, "PNG")
    assert list(renderer.render_range(0, 0)) == []
    assert list(renderer.render_range(24, 24)) == []
    for start, stop in [(-1, 2), (0, 25), (3, 2), (24, 25)]:
        with pytest.raises(IndexError):
            list(renderer.render_range(start, stop))
    with pytest.raises(ValueError):
        renderer.render_one([0, 0])
    with pytest.raises(IndexError):
        renderer.render_one([0, 3, 0])
    with pytest.raises(ValueError):
        Renderer(SIZE, slots, "GIF")
    with pytest.raises(ValueError):
        Renderer(SIZE, [SlotLayers((0, 0), [])], "PNG")
    with pytest.raises(ValueError):
        Renderer(SIZE, [], "PNG")
    with pytest.raises(ValueError):
        Renderer((0, 10), slots, "PNG")


def test_should_stop_is_checked_between_images(slots):
    renderer = Renderer(SIZE, slots, "JPEG")
    calls = []

    def stop_after_five():
        calls.append(1)
        return len(calls) > 5

    rendered = list(renderer.render_range(2, 24, should_stop=stop_after_five))
    assert [index for index, _, _ in rendered] == [2, 3, 4, 5, 6]
    assert len(calls) == 6
    assert list(renderer.render_range(0, 24, should_stop=lambda: True)) == []


def test_format_name_is_case_insensitive(slots):
    renderer = Renderer(SIZE, slots, "webp")
    assert renderer.format == "WEBP" and renderer.extension == ".webp"


def test_single_slot_and_layer_larger_than_canvas():
    big = make_layer((100, 100), (10, 100, 200), (30, 30, 70, 70))
    slots = [SlotLayers((-35, -38), [big, Image.new("RGBA", (1, 1))])]
    renderer = Renderer((10, 8), slots, "PNG")
    (_, _, first), (_, _, empty) = renderer.render_range(0, 2)
    assert decode(first).tobytes() == naive_composite(slots, [0], (10, 8)).tobytes()
    assert decode(empty).getchannel("A").getextrema() == (0, 0)


def test_load_layer_converts_and_loads(tmp_path):
    palette = Image.new("P", (4, 4), 1)
    palette.putpalette([0, 0, 0, 255, 0, 0])
    out = io.BytesIO()
    palette.save(out, "PNG", transparency=1)
    loaded = load_layer(out.getvalue())
    assert loaded.mode == "RGBA" and loaded.getpixel((0, 0))[3] == 0
    path = tmp_path / "layer.png"
    path.write_bytes(png_bytes(Image.new("RGB", (3, 2), (1, 2, 3))))
    loaded = load_layer(path)
    assert loaded.mode == "RGBA" and loaded.getpixel((2, 1)) == (1, 2, 3, 255)


def test_layer_digest():
    a = make_layer((8, 8), (1, 2, 3), (0, 0, 5, 5))
    assert layer_digest(a) == layer_digest(load_layer(png_bytes(a)))
    b = a.copy()
    b.putpixel((7, 7), (0, 0, 0, 1))
    assert layer_digest(b) != layer_digest(a)
    assert layer_digest(a) != layer_digest(a.crop((0, 0, 8, 7)))
    assert len(layer_digest(a)) == 64 and ENGINE_VERSION
