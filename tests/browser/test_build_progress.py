"""The build page follows a real build of `starter` without reloading."""
import os

import pytest
from playwright.sync_api import expect

from trophies.models import Build, Trophy
from trophies.services import builds
from trophies.services.demo import create_demo_catalog

SHOTS = os.environ.get("K2_SCREENSHOTS")  # a folder to save screenshots in, for people


@pytest.mark.slow
def test_progress_bar_advances_to_100_during_a_real_build(staff_page, live_server, render_workers):
    create_demo_catalog()
    build = builds.start_build(Trophy.objects.get(slug="starter"), requested_by="staff")
    staff_page.goto(f"{live_server.url}/studio/builds/{build.pk}/")
    bar = staff_page.get_by_role("progressbar", name="Build progress")
    # No worker runs yet: the build waits at 0 %.
    expect(bar).to_have_attribute("aria-valuenow", "0")
    expect(staff_page.locator("#k2-state")).to_have_text("queued")
    render_workers.start(2)
    expect(bar).to_have_attribute("aria-valuenow", "100", timeout=60_000)
    expect(staff_page.locator("#k2-state")).to_have_text("done")
    expect(staff_page.locator('[data-field="done"]')).to_have_text("12")
    expect(staff_page.locator('[data-field="remaining"]')).to_have_text("0")
    expect(staff_page.locator("#k2-cancel")).to_be_hidden()
    assert Build.objects.get(pk=build.pk).state == Build.DONE
    # The chart was drawn from the progress samples.
    expect(staff_page.locator("#k2-chart polyline")).to_have_count(1)
    staff_page.reload()
    expect(staff_page.locator(".k2-gallery img")).to_have_count(12)
    if SHOTS:
        staff_page.screenshot(path=f"{SHOTS}/build-page.png", full_page=True)
        staff_page.goto(f"{live_server.url}/studio/builds/")
        staff_page.screenshot(path=f"{SHOTS}/build-list.png", full_page=True)
        staff_page.goto(f"{live_server.url}/studio/queues/")
        staff_page.screenshot(path=f"{SHOTS}/queues.png", full_page=True)
