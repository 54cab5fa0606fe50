"""The public configurator, images by choice (rendered on demand once),
and the files under /renders/ and /media/."""
import io
import json
import re
import subprocess
import threading
import urllib.error
import urllib.request
from contextlib import ExitStack
from pathlib import Path

import pytest
from PIL import Image
from django.db import connection
from django.test.utils import CaptureQueriesContext

from locks import exclusive
from locks.notes import WAITING, read_notes
from locks.paths import lock_file_name
from tests.conftest import ROOT, wait_until
from trophies.models import Component, Option, Slot, Tier, Trophy
from trophies.services import plans, storefront
from trophies.services.demo import create_demo_catalog
from trophies.services.renderer import load_renderer

# The page's own script, run by Node with just enough of a DOM to load.
JS_IMAGE_URLS = """
const fs = require("fs");
global.window = {};
global.document = {getElementById: (id) => id === "k2-configurator-data" ? {textContent: "{}"} : null};
eval(fs.readFileSync(process.argv[1], "utf8"));
const input = JSON.parse(fs.readFileSync(0, "utf8"));
console.log(JSON.stringify(input.digits.map((d) => window.K2Configurator.imageUrl(input.data, d))));
"""


@pytest.fixture
def starter(db):
    create_demo_catalog()
    return plans.capture(Trophy.objects.get(slug="starter"))


@pytest.fixture
def four_slots(db):
    """2 x 2 x 2 x 2 combinations: more slots than image names have folders."""
    create_demo_catalog()
    trophy = Trophy.objects.create(slug="four", name="Four", width=400, height=500, published=True)
    tier = Tier.objects.create(trophy=trophy)
    for position, key in enumerate(["base", "figure", "plate", "engraving"]):
        slot = Slot.objects.create(tier=tier, key=key, component=Component.objects.get(key=key), position=position)
        slot.options.set(Option.objects.filter(component__key=key, key__in=["00", "01"]))
    return plans.capture(trophy)


def choice_query(plan, index):
    return {slot.key: option.key for slot, option in plan.choices(plan.digits_of(index))}


def js_image_urls(data, digits):
    """The URLs configurator.js computes for these digits."""
    result = subprocess.run(["node", "-e", JS_IMAGE_URLS, str(ROOT / "static/k2/configurator.js")],
                            input=json.dumps({"data": data, "digits": digits}), capture_output=True,
                            text=True, timeout=30, check=True)
    return json.loads(result.stdout)


def test_configurator_page_is_public_with_a_picture_per_option(client, starter):
    response = client.get("/t/starter/")
    assert response.status_code == 200
    html = response.content.decode()
    for slot in starter.slots:
        for option in slot.options:
            assert f'name="{slot.key}" value="{option.key}"' in html
    thumbnails = re.findall(r'<img src="(/media/thumbs/[0-9a-f]{24}\.png)" alt="([^"]+)"', html)
    assert len(thumbnails) == sum(len(slot.options) for slot in starter.slots)
    thumb = client.get(thumbnails[0][0])
    assert thumb.status_code == 200 and thumb["Content-Type"] == "image/png"
    with Image.open(io.BytesIO(b"".join(thumb.streaming_content))) as image:
        assert image.size == (64, 64) and image.getchannel("A").getbbox() is not None
    assert 'id="k2-configurator-data"' in html and "configurator.js" in html


def test_the_urls_the_page_computes_serve_the_rendered_pictures(client, four_slots):
    """Checked against the files on disk through /renders/, with the page's
    own JavaScript naming them: not with the server code that names files."""
    plan = four_slots
    digits = [plan.digits_of(index) for index in range(plan.total)]
    for index in range(plan.total):
        assert client.get("/t/four/image", choice_query(plan, index)).status_code == 302
    renderer, _ = load_renderer(plan)
    data = storefront.configurator(plan)
    assert (data["slug"], data["name"], data["width"], data["height"]) == ("four", "Four", 400, 500)
    urls = js_image_urls(data, digits)
    assert len(set(urls)) == plan.total
    for url, combination in zip(urls, digits):
        response = client.get(url)
        assert response.status_code == 200, url
        assert b"".join(response.streaming_content) == renderer.render_one(combination)


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


def test_a_trophy_without_slots_has_no_pictures_and_no_500(client, db):
    trophy = Trophy.objects.create(slug="empty", name="Empty", published=True)  # published with no slots
    page = client.get("/t/empty/")
    assert page.status_code == 200 and "no parts to choose yet" in page.content.decode()
    response = client.get("/t/empty/image")
    assert response.status_code == 404
    assert "empty has no pictures yet" in response.content.decode()
    Tier.objects.create(trophy=trophy)
    assert client.get("/t/empty/image?x=1").status_code == 404


def test_image_renders_on_demand_and_redirects_to_the_versioned_file(client, starter, settings):
    query = choice_query(starter, 7)
    response = client.get("/t/starter/image", query)
    assert response.status_code == 302
    index, digits, layout = storefront.locate(starter, query)
    assert index == 7
    assert response["Location"] == layout.url(digits)
    renderer, _ = load_renderer(starter)
    assert Path(layout.path(digits)).read_bytes() == renderer.render_one(digits)
    image = client.get(response["Location"])
    assert image.status_code == 200
    assert image["Content-Type"] == "image/jpeg"
    assert image["Cache-Control"] == "public, max-age=31536000, immutable"
    assert image["X-Content-Type-Options"] == "nosniff"
    assert b"".join(image.streaming_content) == Path(layout.path(digits)).read_bytes()
    # A second request finds the file and does not render again.
    assert storefront.ensure_image(starter, query)[2] is False


def test_on_demand_renders_leave_a_bounded_number_of_lock_files(client, starter, settings):
    for index in range(starter.total):
        client.get("/t/starter/image", choice_query(starter, index))
    lock_files = list(Path(settings.K2_LOCK_DIR).glob("render_starter*.lock"))
    assert 0 < len(lock_files) <= storefront.RENDER_LOCK_STRIPES


def test_a_picture_on_disk_costs_no_query(client, starter):
    query = choice_query(starter, 3)
    assert client.get("/t/starter/image", query).status_code == 302  # renders it, caches the plan
    with CaptureQueriesContext(connection) as queries:
        for _ in range(3):
            assert client.get("/t/starter/image", query).status_code == 302
            assert client.get("/t/starter/").status_code == 200
    assert len(queries) == 0, [q["sql"] for q in queries]


def test_a_catalog_change_reaches_the_cached_plan(client, starter):
    assert client.get("/t/starter/image", choice_query(starter, 0)).status_code == 302
    trophy = Trophy.objects.get(slug="starter")
    trophy.name = "Renamed starter"
    trophy.save()
    assert "Renamed starter" in client.get("/t/starter/").content.decode()
    figure = trophy.tiers.get(position=1).slots.get(key="figure")
    figure.options.remove(figure.options.order_by("position").last())
    response = client.get("/t/starter/image", {"base": "00", "figure": "02", "plate": "00"})
    assert response.status_code == 400 and "unknown option '02'" in response.content.decode()


def test_a_busy_render_lock_answers_503_with_retry_after(client, starter, monkeypatch):
    monkeypatch.setattr(storefront, "RENDER_LOCK_TIMEOUT_S", 0.2)
    with exclusive(storefront.render_lock_name(starter, 4), timeout=0, owner="test"):
        response = client.get("/t/starter/image", choice_query(starter, 4))
    assert response.status_code == 503 and response["Retry-After"] == "2"
    assert "being rendered" in response.content.decode()
    assert client.get("/t/starter/image", choice_query(starter, 4)).status_code == 302


@pytest.mark.django_db(transaction=True)
def test_two_concurrent_requests_render_once(live_server, monkeypatch):
    create_demo_catalog()
    starter = plans.capture(Trophy.objects.get(slug="starter"))
    loads, release = [], threading.Event()
    real_load = storefront.load_renderer

    def held_load(*args, **kwargs):
        loads.append(args[1:3])
        assert release.wait(30), "the second request never waited for the lock"
        return real_load(*args, **kwargs)

    monkeypatch.setattr(storefront, "load_renderer", held_load)
    query = "&".join(f"{k}={v}" for k, v in choice_query(starter, 5).items())
    results = []

    class NoRedirect(urllib.request.HTTPRedirectHandler):
        def redirect_request(self, *args):
            return None

    def fetch():
        try:
            urllib.request.build_opener(NoRedirect).open(f"{live_server.url}/t/starter/image?{query}")
        except urllib.error.HTTPError as error:
            results.append((error.code, error.headers["Location"]))

    first = threading.Thread(target=fetch)
    first.start()
    wait_until(lambda: loads, message="the first request to hold the render lock")
    second = threading.Thread(target=fetch)
    second.start()
    lock_file = lock_file_name(storefront.render_lock_name(starter, 5))
    wait_until(lambda: any(n["state"] == WAITING for n in read_notes(lock_file)),
               message="the second request to wait for the lock")
    release.set()
    for thread in (first, second):
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
    layer = starter.slots[0].options[0].layer
    response = client.get(f"/media/{layer}")
    assert response.status_code == 200
    assert response["Cache-Control"] == "public, max-age=300"
    assert response["Content-Type"] == "image/png"
    (Path(settings.MEDIA_ROOT) / "private.txt").write_text("no")
    assert client.get("/media/private.txt").status_code == 404


def test_configurator_and_images_need_no_login_but_a_post_is_refused(client, starter):
    assert client.get("/t/starter/").status_code == 200
    assert client.post("/t/starter/").status_code == 405


def test_renders_of_pictures_not_built_are_rate_limited_per_client(client, starter, monkeypatch):
    monkeypatch.setattr(storefront, "RENDERS_PER_CLIENT", 3)
    for index in range(3):
        assert client.get("/t/starter/image", choice_query(starter, index)).status_code == 302
    refused = client.get("/t/starter/image", choice_query(starter, 3))
    assert refused.status_code == 429
    assert 1 <= int(refused["Retry-After"]) <= storefront.RATE_WINDOW_S
    assert "too many new pictures" in refused.content.decode()
    # Pictures on disk are not limited; other clients are not either.
    assert client.get("/t/starter/image", choice_query(starter, 0)).status_code == 302
    assert client.get("/t/starter/image", choice_query(starter, 3), REMOTE_ADDR="192.0.2.8").status_code == 302


def test_a_process_renders_a_bounded_number_of_pictures_at_once(client, starter, monkeypatch):
    monkeypatch.setattr(storefront, "RENDER_SLOT_WAIT_S", 0.1)
    with ExitStack() as taken:
        for _ in range(storefront.RENDERS_AT_ONCE):  # small canvases: the count is the bound
            taken.enter_context(storefront.render_budget.reserve(16, 16, timeout=1))
        busy = client.get("/t/starter/image", choice_query(starter, 1))
        assert busy.status_code == 503 and busy["Retry-After"] == "2"
    assert client.get("/t/starter/image", choice_query(starter, 1)).status_code == 302


def test_head_answers_as_get_without_a_body(client, starter):
    for path in ["/t/starter/", "/t/starter/image?" + "&".join(f"{k}={v}" for k, v in choice_query(starter, 2).items())]:
        got, head = client.get(path), client.head(path)
        assert head.status_code == got.status_code and head.status_code in (200, 302), path
        assert head.content == b"" and head.get("Location") == got.get("Location"), path
    location = client.get("/t/starter/image", choice_query(starter, 2))["Location"]
    head = client.head(location)
    assert head.status_code == 200 and head["Content-Type"] == "image/jpeg"
    assert head["Cache-Control"] == "public, max-age=31536000, immutable"
    assert client.head(f"/media/{starter.slots[0].options[0].layer}").status_code == 200
