"""The admin's option pages replace layers through the layer service:
normalised RGBA PNG, a fresh fingerprint, the asset lock, refusals as form errors."""
import io
import threading

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from PIL import Image

from locks import shared
from tests.forms_support import make_catalog
from trophies.models import Component, Option
from trophies.services import layers
from trophies.services.layers import asset_lock_name, pixel_digest


def upload(color=(10, 120, 200), size=(40, 30), mode="RGB", name="new.png"):
    buffer = io.BytesIO()
    Image.new(mode, size, color).save(buffer, "PNG")
    return SimpleUploadedFile(name, buffer.getvalue(), content_type="image/png")


def stored_rgba(option):
    with Image.open(option.layer.path) as image:
        assert image.format == "PNG"
        return image.mode, pixel_digest(image.convert("RGBA"))


def inline_post(component, rows, **extra):
    """The component change form with its option inline rows."""
    data = {"name": component.name, "key": component.key, "options-TOTAL_FORMS": str(len(rows)),
            "options-INITIAL_FORMS": str(sum(1 for row in rows if row.get("id"))),
            "options-MIN_NUM_FORMS": "0", "options-MAX_NUM_FORMS": "1000", **extra}
    for number, row in enumerate(rows):
        for field, value in row.items():
            data[f"options-{number}-{field}"] = value
        data[f"options-{number}-component"] = str(component.pk)
    return data


@pytest.fixture
def figure(db):
    return make_catalog((("figure", 2),))["figure"]


def test_option_added_on_its_admin_page_gets_a_normalised_layer_and_its_digest(admin_client, figure):
    component = figure[0].component
    response = admin_client.post("/admin/trophies/option/add/", {
        "component": component.pk, "position": 5, "key": "gold", "label": "Gold", "layer": upload()})
    assert response.status_code == 302, response.content.decode()[-3000:]
    option = Option.objects.get(key="gold")
    expected = pixel_digest(Image.new("RGB", (40, 30), (10, 120, 200)).convert("RGBA"))
    assert option.layer_digest == expected
    assert stored_rgba(option) == ("RGBA", expected)
    assert option.layer.name == f"layers/figure/gold-{expected[:12]}.png"


def test_layer_replaced_on_the_option_page_changes_the_fingerprint(admin_client, figure):
    option = figure[0]
    old_digest, old_name = option.layer_digest, option.layer.name
    response = admin_client.post(f"/admin/trophies/option/{option.pk}/change/", {
        "component": option.component.pk, "position": 0, "key": option.key, "label": "Renamed",
        "layer": upload((1, 2, 3))})
    assert response.status_code == 302
    option.refresh_from_db()
    assert option.label == "Renamed" and option.layer_digest != old_digest
    assert stored_rgba(option) == ("RGBA", option.layer_digest)
    assert option.layer.storage.exists(old_name)  # kept for builds that started with it
    # Saving without a new file keeps layer and fingerprint.
    response = admin_client.post(f"/admin/trophies/option/{option.pk}/change/", {
        "component": option.component.pk, "position": 0, "key": option.key, "label": "Again"})
    assert response.status_code == 302
    again = Option.objects.get(pk=option.pk)
    assert (again.label, again.layer_digest, again.layer.name) == ("Again", option.layer_digest, option.layer.name)


def test_layers_added_and_replaced_in_the_component_inline(admin_client, figure):
    component = figure[0].component
    rows = [{"id": str(o.pk), "position": str(o.position), "key": o.key, "label": o.label} for o in figure]
    rows[1]["layer"] = upload((200, 0, 0))
    rows.append({"position": "9", "key": "new-one", "label": "New one", "layer": upload((0, 200, 0), mode="RGBA")})
    response = admin_client.post(f"/admin/trophies/component/{component.pk}/change/", inline_post(component, rows))
    assert response.status_code == 302, response.content.decode()[-3000:]
    unchanged, replaced = Option.objects.get(pk=figure[0].pk), Option.objects.get(pk=figure[1].pk)
    assert unchanged.layer_digest == figure[0].layer_digest
    assert replaced.layer_digest == pixel_digest(Image.new("RGB", (40, 30), (200, 0, 0)).convert("RGBA"))
    assert stored_rgba(replaced) == ("RGBA", replaced.layer_digest)
    new = Option.objects.get(key="new-one")
    assert new.layer_digest == pixel_digest(Image.new("RGBA", (40, 30), (0, 200, 0)))
    assert stored_rgba(new) == ("RGBA", new.layer_digest)


def test_a_layer_over_the_pixel_limit_is_a_form_error(admin_client, figure):
    component = figure[0].component
    response = admin_client.post("/admin/trophies/option/add/", {
        "component": component.pk, "position": 0, "key": "huge", "label": "Huge",
        "layer": upload(0, size=(4001, 4000), mode="L")})
    assert response.status_code == 200
    assert "Not accepted as a layer: the image is 4001x4000 pixels" in response.content.decode()
    assert not Option.objects.filter(key="huge").exists()
    rows = [{"position": "0", "key": "huge", "label": "Huge", "layer": upload(0, size=(4001, 4000), mode="L")}]
    response = admin_client.post(f"/admin/trophies/component/{component.pk}/change/", inline_post(component, rows))
    assert response.status_code == 200 and "the image is 4001x4000 pixels" in response.content.decode()
    assert not Option.objects.filter(key="huge").exists()


def test_a_busy_asset_lock_saves_nothing_and_says_so(admin_client, figure, monkeypatch):
    option = figure[0]
    monkeypatch.setattr(layers, "ASSET_LOCK_TIMEOUT_S", 0.2)
    holding, release = threading.Event(), threading.Event()

    def reader():
        with shared(asset_lock_name("figure"), owner="test render"):
            holding.set()
            release.wait(10)

    thread = threading.Thread(target=reader)
    thread.start()
    try:
        assert holding.wait(5)
        response = admin_client.post(f"/admin/trophies/option/{option.pk}/change/", {
            "component": option.component.pk, "position": 0, "key": option.key, "label": "Busy",
            "layer": upload((5, 5, 5))}, follow=True)
    finally:
        release.set()
        thread.join()
    assert "The layers of Figure are busy" in response.content.decode()
    assert Option.objects.get(pk=option.pk).layer_digest == option.layer_digest
    assert Component.objects.count() == 1
