"""The build page moves from the event stream: with its polling of
/api/builds/N/ blocked the bar still advances; with the stream blocked it
polls and says so. Served as `k2 serve` serves it (gunicorn + uvicorn)."""
import re

import pytest
from playwright.sync_api import expect

from tests.browser.conftest import STAFF_PASSWORD
from tests.sse_support import WebServer
from trophies.models import Chunk, Trophy
from trophies.services import builds, progress
from trophies.services.demo import create_demo_catalog

STATUS_JSON = re.compile(r"/api/builds/\d+/$")
EVENTS = re.compile(r"/api/builds/\d+/events$")


@pytest.fixture
def site(transactional_db, data_dir, tmp_path):
    server = WebServer(data_dir, tmp_path / "web.log")
    yield server
    server.stop()


@pytest.fixture
def build_page(page, site, staff_user):
    create_demo_catalog()
    build = builds.start_build(Trophy.objects.get(slug="starter"), requested_by="staff")
    page.goto(f"{site.base}/admin/login/?next=/admin/")
    page.fill("#id_username", staff_user.username)
    page.fill("#id_password", STAFF_PASSWORD)
    page.click("input[type=submit]")
    page.wait_for_url(f"{site.base}/admin/")
    page.build = build
    return page


def record(build, rendered):
    progress.record(build.pk, 0, {"rendered": rendered, "skipped": 0, "failed": 0})


def finish(build):
    record(build, 12)
    build.chunks.update(state=Chunk.DONE)
    builds.finish_if_complete(build.pk)


def test_the_bar_moves_from_the_stream_with_polling_blocked(build_page, site):
    polled = []
    build_page.route(STATUS_JSON, lambda route: (polled.append(route.request.url), route.abort()))
    build_page.goto(f"{site.base}/studio/builds/{build_page.build.pk}/")
    bar = build_page.get_by_role("progressbar", name="Build progress")
    expect(build_page.locator("#k2-live")).to_have_text("live")
    record(build_page.build, 6)
    expect(bar).to_have_attribute("aria-valuenow", "50")
    finish(build_page.build)
    expect(bar).to_have_attribute("aria-valuenow", "100")
    expect(build_page.locator("#k2-state")).to_have_text("done")
    assert polled == []  # the page never needed its polling


def test_without_the_stream_it_polls_and_says_so(build_page, site):
    build_page.route(EVENTS, lambda route: route.abort())
    build_page.goto(f"{site.base}/studio/builds/{build_page.build.pk}/")
    expect(build_page.locator("#k2-live")).to_have_text("live updates unavailable, refreshing every 1 s")
    record(build_page.build, 3)
    expect(build_page.get_by_role("progressbar", name="Build progress")).to_have_attribute("aria-valuenow", "25")


def test_the_build_list_follows_the_stream(build_page, site):
    build_page.route(STATUS_JSON, lambda route: route.abort())
    build_page.goto(f"{site.base}/studio/builds/")
    row = build_page.locator(f'tr[data-build="{build_page.build.pk}"]')
    expect(row.locator('[data-field="state"]')).to_have_text("queued")
    finish(build_page.build)
    expect(row.locator('[data-field="state"]')).to_have_text("done")
    expect(row.locator('[data-field="done"]')).to_have_text("12 / 12")
