"""The parts library forms: components, options and layer uploads (decoded by
Pillow within limits, stored as RGBA PNG, replaced under the asset lock)."""
import html
import io
import re
import threading

import pytest
from PIL import Image

from tests.forms_support import make_catalog, option_controls, png_bytes, post_controls
from trophies import engine
from trophies.models import Component, Option, Slot, Tier, Trophy
from trophies.services import plans
from trophies.services import layers
from trophies.services.renderer import load_renderer


@pytest.fixture
def client(staff_client):
    return staff_client


@pytest.fixture
def figure(db):
    return Component.objects.create(key="figure", name="Figure")


def text_of(response):
    return html.unescape(response.content.decode())


def post_option(client, url, controls):
    return post_controls(client, url, controls, "multipart")


def jpeg_bytes(size=(30, 20)):
    buffer = io.BytesIO()
    Image.new("RGB", size, (10, 200, 30)).save(buffer, "JPEG")
    return buffer.getvalue()


def test_add_component(client, db):
    controls = [("name", "Figure"), ("key", "figure"), ("save", "save")]
    response = post_controls(client, "/studio/parts/new/", controls, "multipart")
    assert response.status_code == 302 and response["Location"] == "/studio/parts/figure/"
    assert Component.objects.get(key="figure").name == "Figure"


def test_component_key_rules(client, figure):
    response = post_controls(client, "/studio/parts/new/", [("name", "Other"), ("key", "figure")])
    assert response.status_code == 200 and "The key figure is taken by another component." in text_of(response)
    response = post_controls(client, "/studio/parts/new/", [("name", "Other"), ("key", "no spaces")])
    assert response.status_code == 200 and "Use only letters" in text_of(response)
    # Renaming keeps the key free for itself.
    response = post_controls(client, "/studio/parts/figure/", [("name", "Figures"), ("key", "figure")])
    assert response.status_code == 302
    assert Component.objects.get(key="figure").name == "Figures"


@pytest.mark.parametrize("data,filename", [(png_bytes(mode="RGBA"), "a.png"), (jpeg_bytes(), "a.jpg")])
def test_add_option_stores_rgba_png(client, figure, data, filename):
    response = post_option(client, "/studio/parts/figure/options/new/",
                           option_controls(upload=(filename, data, "image/png")))
    assert response.status_code == 302, text_of(response)[-3000:]
    option = Option.objects.get(component=figure, key="gold")
    with option.layer.open("rb") as handle:
        stored = Image.open(io.BytesIO(handle.read()))
        assert stored.format == "PNG" and stored.mode == "RGBA"
    assert option.layer.name.endswith(".png") and len(option.layer_digest) == 64
    # The parts library shows its thumbnail, served from the layer.
    page = text_of(client.get("/studio/parts/"))
    match = re.search(r'src="(/studio/parts/figure/options/gold/layer\.png\?v=[0-9a-f]+)"', page)
    assert match
    thumb = client.get(match.group(1))
    assert thumb.status_code == 200 and thumb["Content-Type"] == "image/png"


@pytest.mark.parametrize("data,reason", [
    (b"this is not an image", "the file is not a picture this site can read"),
    (b"GIF89a" + b"\x00" * 20, "the file is not a picture this site can read"),
])
def test_non_images_are_refused_with_the_reason(client, figure, data, reason):
    response = post_option(client, "/studio/parts/figure/options/new/",
                           option_controls(upload=("x.png", data, "image/png")))
    assert response.status_code == 200
    assert "Not accepted as a layer: " + reason in text_of(response)
    assert not Option.objects.exists()


def test_decompression_bomb_is_refused(client, figure):
    buffer = io.BytesIO()
    Image.new("1", (5000, 5000)).save(buffer, "PNG")  # tiny file, 25 million pixels
    assert len(buffer.getvalue()) < 100_000
    response = post_option(client, "/studio/parts/figure/options/new/",
                           option_controls(upload=("bomb.png", buffer.getvalue(), "image/png")))
    assert response.status_code == 200
    assert "the image is 5000x5000 pixels; the limit is 16,000,000 pixels" in text_of(response)
    assert not Option.objects.exists()


def test_too_many_bytes_is_refused(client, figure, monkeypatch):
    monkeypatch.setattr(layers, "MAX_LAYER_BYTES", 50)
    response = post_option(client, "/studio/parts/figure/options/new/",
                           option_controls(upload=("a.png", png_bytes(size=(40, 40)), "image/png")))
    assert response.status_code == 200 and "the limit is 50" in text_of(response)


def test_new_option_needs_a_layer(client, figure):
    response = post_option(client, "/studio/parts/figure/options/new/", option_controls())
    assert response.status_code == 200 and "Required" in text_of(response)


def test_upload_is_kept_when_another_field_is_wrong(client, figure):
    response = post_option(client, "/studio/parts/figure/options/new/",
                           option_controls(label="", upload=("kept.png", png_bytes(), "image/png")))
    page = text_of(response)
    assert response.status_code == 200 and "Required" in page and "kept.png" in page
    uid = re.search(r'name="uid" value="([A-Z0-9]+)"', page).group(1)
    preview = re.search(r'src="(/studio/uploads/[A-Z0-9]+/)"', page).group(1)
    assert client.get(preview).status_code == 200
    response = post_option(client, "/studio/parts/figure/options/new/", option_controls(uid=uid))
    assert response.status_code == 302
    assert Option.objects.get(key="gold").layer_digest


def test_someone_elses_upload_uid_is_not_reachable(client, figure):
    response = post_option(client, "/studio/parts/figure/options/new/", option_controls(uid="ABCDEFGHIJ"))
    assert response.status_code == 200 and "Required" in text_of(response)
    assert client.get("/studio/uploads/ABCDEFGHIJ/").status_code == 404


def test_replace_layer_and_keep_layer(client, db):
    parts = make_catalog((("figure", 1),))
    option = parts["figure"][0]
    old_digest, old_name = option.layer_digest, option.layer.name
    url = f"/studio/parts/figure/options/{option.key}/"
    page = text_of(client.get(url))
    assert 'value="Figure 0"' in page and "Current layer" in page
    response = post_option(client, url, option_controls(label="Renamed", key=option.key))
    assert response.status_code == 302
    option.refresh_from_db()
    assert (option.label, option.layer_digest, option.layer.name) == ("Renamed", old_digest, old_name)
    response = post_option(client, url, option_controls(label="Renamed", key=option.key,
                                                        upload=("new.png", png_bytes((1, 2, 3, 255)), "image/png")))
    assert response.status_code == 302
    option.refresh_from_db()
    assert option.layer_digest != old_digest and option.layer.name != old_name
    # The old file stays for builds that started with it, until k2 prune finds nothing naming it.
    assert option.layer.storage.exists(old_name)


def test_replacing_a_layer_while_a_build_reads_the_assets_says_busy(client, db, monkeypatch):
    parts = make_catalog((("figure", 1),))
    option = parts["figure"][0]
    old_digest = option.layer_digest
    trophy = Trophy.objects.create(slug="cup", name="Cup")
    slot = Slot.objects.create(tier=Tier.objects.create(trophy=trophy), key="figure", component=option.component)
    slot.options.set([option])
    monkeypatch.setattr(layers, "ASSET_LOCK_TIMEOUT_S", 0.3)
    reading, release = threading.Event(), threading.Event()
    real_load_layer = engine.load_layer

    def slow_load_layer(source):  # a render, stopped while it reads the layer files
        reading.set()
        release.wait(10)
        return real_load_layer(source)

    monkeypatch.setattr(engine, "load_layer", slow_load_layer)
    render = threading.Thread(target=load_renderer, args=(plans.capture(trophy),))
    render.start()
    try:
        assert reading.wait(5)
        url = f"/studio/parts/figure/options/{option.key}/"
        response = post_option(client, url, option_controls(label="Typed label", key=option.key,
                                                            upload=("new.png", png_bytes((9, 9, 9, 255)), "image/png")))
    finally:
        release.set()
        render.join()
    page = text_of(response)
    assert response.status_code == 200
    assert "The layers of Figure are busy (a build is reading them); nothing was saved." in page
    assert 'value="Typed label"' in page and "new.png" in page  # what was typed is kept
    option.refresh_from_db()
    assert option.layer_digest == old_digest and option.label == "Figure 0"
    # Once the lock is free, the kept upload goes through.
    uid = re.search(r'name="uid" value="([A-Z0-9]+)"', page).group(1)
    response = post_option(client, url, option_controls(label="Typed label", key=option.key, uid=uid))
    assert response.status_code == 302
    option.refresh_from_db()
    assert option.layer_digest != old_digest


def test_file_sent_where_text_belongs_is_refused(client, figure):
    controls = option_controls(upload=("a.png", png_bytes(), "image/png"))
    controls[2] = ("label", ("label.txt", b"x", "text/plain"))
    response = post_option(client, "/studio/parts/figure/options/new/", controls)
    assert response.status_code == 200 and "wrong kind of value for label" in text_of(response)


def test_upload_sent_urlencoded_is_refused(client, figure):
    response = post_controls(client, "/studio/parts/figure/options/new/", option_controls())
    assert response.status_code == 200
    assert not Option.objects.exists()


def test_a_refused_upload_is_not_kept(client, figure):
    response = post_option(client, "/studio/parts/figure/options/new/",
                           option_controls(upload=("bad.png", b"nope", "image/png")))
    page = text_of(response)
    assert "Not accepted as a layer" in page
    assert 'name="uid"' not in page and "Kept from your last submission" not in page
