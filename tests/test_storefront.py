"""The public configurator, images by choice (rendered on demand once),
and the files under /renders/ and /media/."""
import threading
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from trophies.models import Trophy
from trophies.services import builds, storefront
from trophies.services.demo import create_demo_catalog
from trophies.services.renders import relative_path


@pytest.fixture
def starter(db):
    create_demo_catalog()
    return Trophy.objects.get(slug="starter")


def choice_query(trophy, index):
    return {slot.key: option.key for slot, option in trophy.choices_for_index(index)}


def test_configurator_page_is_public_with_one_select_per_slot(client, starter):
    response = client.get("/t/starter/")
    assert response.status_code == 200
    html = response.content.decode()
    for slot in starter.ordered_slots():
        assert f'name="{slot.key}"' in html
    assert 'id="k2-configurator-data"' in html and "configurator.js" in html


def test_configurator_data_names_every_image_like_the_layout(starter):
    data = storefront.configurator(starter)
    layout, slots = storefront.layout_for(starter)
    for index in range(starter.combinations):
        chosen = choice_query(starter, index)
        _, digits = storefront.digits_for(starter, chosen, slots)
        tokens = [slot["options"][d]["token"] for slot, d in zip(data["slots"], digits)]
        built = data["url_root"] + relative_path(data["settings_token"], tokens, data["extension"])
        assert built == layout.url(digits)
    assert [s["key"] for s in data["slots"]] == [s.key for s in slots]
    assert data["slots"][0]["options"][0]["label"]


def test_unknown_trophy_is_404(client, db):
    assert client.get("/t/nope/").status_code == 404
    assert client.get("/t/nope/image?base=00").status_code == 404


@pytest.mark.parametrize("query, reason", [
    ({"base": "00", "figure": "00", "plate": "00", "wing": "00"}, "unknown slot 'wing'"),
    ({"base": "00", "figure": "99", "plate": "00"}, "unknown option '99' for slot 'figure'"),
    ({"base": "00", "figure": "00"}, "no option chosen for slot 'plate'"),
])
def test_bad_choices_answer_400_with_the_reason(client, starter, query, reason):
    response = client.get("/t/starter/image", query)
    assert response.status_code == 400
    assert reason in response.content.decode()


def test_image_renders_on_demand_and_redirects_to_the_versioned_file(client, starter, settings):
    query = choice_query(starter, 7)
    response = client.get("/t/starter/image", query)
    assert response.status_code == 302
    index, digits, layout = storefront.locate(starter, query)
    assert index == 7
    assert response["Location"] == layout.url(digits)
    renderer, _ = builds.load_renderer(starter)
    assert Path(layout.path(digits)).read_bytes() == renderer.render_one(digits)
    image = client.get(response["Location"])
    assert image.status_code == 200
    assert image["Content-Type"] == "image/jpeg"
    assert image["Cache-Control"] == "public, max-age=31536000, immutable"
    assert image["X-Content-Type-Options"] == "nosniff"
    assert b"".join(image.streaming_content) == Path(layout.path(digits)).read_bytes()
    # A second request finds the file and does not render again.
    assert storefront.ensure_image(starter, query)[2] is False


@pytest.mark.django_db(transaction=True)
def test_two_concurrent_requests_render_once(live_server, monkeypatch):
    create_demo_catalog()
    starter = Trophy.objects.get(slug="starter")
    loads = []
    real_load = builds.load_renderer

    def slow_load(*args, **kwargs):
        loads.append(args[1:])
        # Long enough that the second request arrives while the first renders.
        threading.Event().wait(0.5)
        return real_load(*args, **kwargs)

    monkeypatch.setattr(builds, "load_renderer", slow_load)
    query = "&".join(f"{k}={v}" for k, v in choice_query(starter, 5).items())
    results, start = [], threading.Barrier(2)

    class NoRedirect(urllib.request.HTTPRedirectHandler):
        def redirect_request(self, *args):
            return None

    def fetch():
        start.wait()
        try:
            urllib.request.build_opener(NoRedirect).open(f"{live_server.url}/t/starter/image?{query}")
        except urllib.error.HTTPError as error:
            results.append((error.code, error.headers["Location"]))

    threads = [threading.Thread(target=fetch) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    assert [code for code, _ in results] == [302, 302]
    assert results[0][1] == results[1][1]
    assert loads == [(5, 6)]


def test_render_files_refuse_traversal_and_scratch_files(client, starter, settings):
    root = Path(settings.K2_RENDER_DIR)
    (root / "starter" / ".tmp").mkdir(parents=True)
    (root / "starter" / ".tmp" / "x.jpg").write_bytes(b"partial")
    secret = Path(settings.K2_RENDER_DIR).parent / "secret.txt"
    secret.write_text("no")
    for path in ["/renders/../secret.txt", "/renders/%2e%2e/secret.txt", "/renders/starter/.tmp/x.jpg",
                 "/renders/starter/missing.jpg", "/renders//etc/passwd"]:
        assert client.get(path).status_code == 404, path


def test_media_serves_layers_only_with_a_short_cache(client, starter, settings):
    option = starter.ordered_slots()[0].allowed_options()[0]
    response = client.get(f"/media/{option.layer.name}")
    assert response.status_code == 200
    assert response["Cache-Control"] == "public, max-age=300"
    assert response["Content-Type"] == "image/png"
    (Path(settings.MEDIA_ROOT) / "private.txt").write_text("no")
    assert client.get("/media/private.txt").status_code == 404


def test_configurator_and_images_need_no_login_but_a_post_is_refused(client, starter):
    assert client.get("/t/starter/").status_code == 200
    assert client.post("/t/starter/").status_code == 405
